"""Which schedule a run's lrs follow: the family, its warmup, peak, floor and length.

:func:`infer_family` fits the families the studio designs, on points ``(x, lr)``: ``x`` is the
scheduler's own step count (a trace's cumulated ``scheduler_steps``) or the optimizer step (a log):

===============  ===================================================================================
family           lr after a linear warmup from ``start_factor * peak`` over ``warmup`` steps
===============  ===================================================================================
``constant``     ``peak``
``linear``       ``peak + (end - peak) * min(1, u / length)``, ``u`` = steps since the warmup ended
``cosine``       ``end + (peak - end) * (1 + cos(pi * u / length)) / 2`` (periodic past ``length``,
                 as torch's ``CosineAnnealingLR`` and transformers' cosine lambda are)
``wsd``          ``peak`` for ``hold`` steps, then a linear / cosine / 1-sqrt decay over ``length``
                 steps to ``end``, then ``end`` (transformers' ``get_wsd_schedule``)
``step``         ``peak * gamma ** floor(u / step_size)`` (``StepLR``)
``multistep``    ``peak * gamma ** (milestones passed)`` (``MultiStepLR``)
``exponential``  ``peak * gamma ** u`` (``ExponentialLR``)
===============  ===================================================================================

The warmup line comes from the points before the peak; the continuous decays are then fitted with
``scipy.optimize.least_squares`` (peak, floor and length; the peak itself may fall between two
points when the scheduler is stepped several times per row); the stepwise ones are read from the
ratios between neighbours.  A family fits when every point is within :data:`EXACT` of the peak
(float64 traces) or :data:`CLOSE` (float32 logs); :func:`design_of` turns a fit into an
``lr-schedule/v1`` design sized to a run of ``total`` optimizer steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A fit whose largest error is at most this fraction of the peak reproduces the run.
EXACT = 1e-6
#: ... at most this: close (a float32 log, rounded printing).
CLOSE = 1e-3
FAMILIES = ("constant", "linear", "cosine", "wsd", "step", "multistep", "exponential")
WSD_SHAPES = ("linear", "cosine", "1-sqrt")


@dataclass
class Family:
    """A fitted schedule (see the module docstring); lengths in the units of the fitted ``x``."""

    name: str
    peak: float
    start_factor: float = 1.0
    warmup: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    error: float = math.inf

    @property
    def fits(self) -> bool:
        return self.error <= CLOSE

    @property
    def exact(self) -> bool:
        return self.error <= EXACT

    @property
    def end(self) -> float | None:
        """Where the decay ends (warmup + hold + length) for the families that have an end."""
        if self.name in ("linear", "cosine", "wsd"):
            return self.warmup + self.params.get("hold", 0.0) + self.params["length"]
        return None

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _predict(
            self.name, self.peak, self.start_factor, self.warmup, self.params, np.asarray(x, float)
        )

    def text(self) -> str:
        w = f"warmup {self.warmup:g} steps from {self.start_factor:g} x peak, " if self.warmup > 0 else ""
        p = self.params
        body = {
            "constant": "then constant",
            "linear": f"then linear to {p.get('end', 0):.3g} over {p.get('length', 0):g} steps",
            "cosine": f"then cosine to {p.get('end', 0):.3g} over {p.get('length', 0):g} steps",
            "wsd": f"then stable {p.get('hold', 0):g} steps, {p.get('decay_type')} decay to "
            f"{p.get('end', 0):.3g} over {p.get('length', 0):g} steps",
            "step": f"then x{p.get('gamma', 1):.3g} every {p.get('step_size', 0):g} steps",
            "multistep": f"then x{p.get('gamma', 1):.3g} at {p.get('milestones', [])}",
            "exponential": f"then x{p.get('gamma', 1):.6g} per step",
        }.get(self.name, "(no known family fits)")
        return f"{self.name}: peak {self.peak:.3g}, {w}{body}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "peak": self.peak,
            "start_factor": self.start_factor,
            "warmup": self.warmup,
            "params": dict(self.params),
            "error": self.error if math.isfinite(self.error) else None,
            "end": self.end,
            "text": self.text(),
        }


def _warmup_part(x: np.ndarray, peak: float, start: float, warmup: float) -> np.ndarray:
    if warmup <= 0:
        return np.full(len(x), peak)
    return peak * (start + (1.0 - start) * np.minimum(x / warmup, 1.0))


def _shape(kind: str, progress: np.ndarray) -> np.ndarray:
    """Decay factor from 1 to 0 over progress 0..1 (cosine stays periodic past 1, the others clip)."""
    if kind == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * progress))
    p = np.clip(progress, 0.0, 1.0)
    if kind == "linear":
        return 1.0 - p
    return 1.0 - np.sqrt(p)  # 1-sqrt


def _predict(
    name: str, peak: float, start: float, warmup: float, p: dict[str, Any], x: np.ndarray
) -> np.ndarray:
    out = _warmup_part(x, peak, start, warmup)
    after = x >= warmup
    u = x[after] - warmup
    if name == "constant" or name == "unknown":
        vals = np.full(len(u), peak)
    elif name in ("linear", "cosine"):
        end, length = p["end"], max(p["length"], 1e-12)
        vals = end + (peak - end) * _shape(name, u / length)
    elif name == "wsd":
        end, length, hold = p["end"], max(p["length"], 1e-12), p["hold"]
        kind = p["decay_type"]
        prog = (u - hold) / length
        f = np.where(prog < 0, 1.0, _shape(kind, np.minimum(prog, 1.0)))
        vals = end + (peak - end) * f
    elif name == "step":
        vals = peak * p["gamma"] ** np.floor(u / p["step_size"])
    elif name == "multistep":
        passed = np.searchsorted(np.asarray(p["milestones"], float), u, side="right")
        vals = peak * p["gamma"] ** passed
    elif name == "exponential":
        vals = peak * p["gamma"] ** u
    else:
        vals = np.full(len(u), np.nan)
    out[after] = vals
    return out


def _error(pred: np.ndarray, y: np.ndarray, peak: float) -> float:
    if len(y) == 0 or not np.all(np.isfinite(pred)):
        return math.inf
    return float(np.max(np.abs(pred - y)) / (abs(peak) or 1.0))


def _snap(value: float) -> float:
    """A length or step count read from floats: the integer when within 1e-6 of one."""
    r = round(value)
    return float(r) if abs(value - r) <= 1e-6 * max(1.0, abs(value)) else float(value)


def _warmup_line(x: np.ndarray, y: np.ndarray, top: int) -> tuple[float, float] | None:
    """``(a, b)`` of the warmup line ``a + b x`` through the points before index ``top``."""
    if top < 1:
        return None
    if top == 1:
        return (float(y[0]), 0.0) if x[0] == 0 else None
    b = (y[top - 1] - y[0]) / (x[top - 1] - x[0])
    a = y[0] - b * x[0]
    line = a + b * x[:top]
    if b <= 0 or np.max(np.abs(line - y[:top])) > CLOSE * max(abs(y[:top]).max(), 1e-300):
        return None
    return float(a), float(b)


def _stepwise(x: np.ndarray, y: np.ndarray, peak: float, start: float, warmup: float) -> list[Family]:
    """Constant, step, multistep and exponential, read from the points after the warmup."""
    after = x >= warmup
    xs, ys = x[after] - warmup, y[after]
    out: list[Family] = []
    if len(ys) == 0:
        return out
    tol = CLOSE * peak
    if np.all(np.abs(ys - peak) <= tol):
        return [Family("constant", peak, start, warmup)]
    ratios = ys[1:] / np.where(ys[:-1] == 0, np.nan, ys[:-1])
    drops = np.flatnonzero(np.abs(ratios - 1.0) > 1e-9)
    if len(drops) == 0:
        return out
    dx = np.diff(xs)
    if (
        len(drops) == len(ratios)
        and len(dx)
        and np.allclose(dx, dx[0])
        and np.allclose(ratios, ratios[0], rtol=1e-6)
    ):
        gamma = float(ratios[0] ** (1.0 / dx[0]))
        return [Family("exponential", peak, start, warmup, {"gamma": gamma})]
    gammas = ratios[drops]
    if np.allclose(gammas, gammas[0], rtol=1e-6) and gammas[0] < 1:
        gamma = float(gammas[0])
        # a drop between points i and i+1: the milestone is in (xs[i], xs[i+1]]; the later bound when
        # the scheduler steps once per row (x consecutive), which is exact there
        milestones = [_snap(float(xs[i + 1])) for i in drops]
        out.append(Family("multistep", peak, start, warmup, {"gamma": gamma, "milestones": milestones}))
        gaps = np.diff([0.0, *milestones])
        if len(gaps) and np.allclose(gaps, gaps[0]):
            out.append(
                Family("step", peak, start, warmup, {"gamma": gamma, "step_size": _snap(float(gaps[0]))})
            )
    return out


def _continuous(
    x: np.ndarray, y: np.ndarray, line: tuple[float, float] | None, top: int, end_at: float | None = None
) -> list[Family]:
    """Linear, cosine and WSD decays, fitted with least squares (peak, floor, length[, hold]).

    ``end_at``: the decay must end there (``length = end_at - warmup - hold``); tried first by the
    caller, because a decay cut short by the run's end fits as well with a lower floor and a longer
    length as with the intended ones (a linear or 1-sqrt decay's two readings agree on every row)."""
    from scipy.optimize import least_squares

    peak0 = float(y.max())
    span = float(x[-1] - x[0]) or 1.0
    out: list[Family] = []

    def warm(peak: float) -> tuple[float, float]:
        if line is None:
            return 1.0, 0.0
        a, b = line
        if b == 0:  # one point before the peak, at x = 0: the peak is reached at the next point
            return a / peak, float(x[top])
        return a / peak, (peak - a) / b

    tail = y[top:]
    floor0 = float(tail.min()) if len(tail) else 0.0
    # the plateau at the peak right after the warmup (a WSD's stable phase)
    flat = top
    while flat + 1 < len(y) and abs(y[flat + 1] - peak0) <= EXACT * peak0:
        flat += 1
    hold0 = float(x[flat] - x[top]) if flat > top else 0.0
    for name in ("cosine", "linear", "wsd"):
        if name == "wsd" and hold0 <= 0:
            continue
        for shape in WSD_SHAPES if name == "wsd" else (name,):
            found = False
            for floor_init, frac in (
                (floor0, 1.0),
                (0.0, 1.0),
                (floor0, 0.5),
                (floor0, 2.0),
                (floor0, 0.25),
                (floor0, 4.0),
            ):
                if end_at is not None and frac != 1.0:
                    break

                def unpack(
                    theta: np.ndarray, shape: str = shape, name: str = name
                ) -> tuple[float, float, float, dict[str, Any]]:
                    peak, end = float(theta[0]), float(theta[1])
                    start, warmup = warm(peak)
                    hold = float(theta[-1]) if name == "wsd" else 0.0
                    length = float(end_at - warmup - hold) if end_at is not None else float(theta[2])
                    params: dict[str, Any] = {"end": end, "length": length}
                    if name == "wsd":
                        params.update(hold=hold, decay_type=shape)
                    return peak, start, warmup, params

                def residual(theta: np.ndarray, name: str = name) -> np.ndarray:
                    peak, start, warmup, params = unpack(theta)
                    params["length"] = max(params["length"], 1e-9)
                    return (_predict(name, peak, start, warmup, params, x) - y) / peak0

                theta0 = [peak0, min(floor_init, peak0 * 0.999)]
                lower, upper = [peak0 * 0.5, 0.0], [peak0 * 2.0, peak0]
                if end_at is None:
                    theta0.append(max(1.0, (span - hold0) * frac))
                    lower.append(1e-9)
                    upper.append(span * 1e6)
                if name == "wsd":
                    theta0.append(hold0)
                    lower.append(0.0)
                    upper.append(span * 10)
                try:
                    fit = least_squares(
                        residual,
                        theta0,
                        bounds=(lower, upper),
                        xtol=1e-15,
                        ftol=1e-15,
                        gtol=1e-15,
                        max_nfev=200,
                    )
                except (ValueError, FloatingPointError):
                    continue
                peak, start, warmup, params = unpack(fit.x)
                if params["length"] <= 0:
                    continue
                params["length"] = _snap(params["length"])
                if "hold" in params:
                    params["hold"] = _snap(params["hold"])
                if abs(params["end"]) <= EXACT * peak:
                    params["end"] = 0.0
                fam = Family(name, peak, _unit(start), _snap(warmup), params)
                fam.error = _error(fam.predict(x), y, peak)
                out.append(fam)
                if fam.exact:
                    found = True
                    break
            if found:
                return out
    return out


def _unit(value: float) -> float:
    """A start factor read from floats: 0 or 1 when within 1e-9 of them, else clipped to [0, 1]."""
    if abs(value) <= 1e-9:
        return 0.0
    if abs(value - 1.0) <= 1e-9:
        return 1.0
    return min(1.0, max(0.0, value))


def _fits(
    x: np.ndarray,
    y: np.ndarray,
    peak: float,
    line: tuple[float, float] | None,
    top: int,
    end_at: float | None,
) -> list[Family]:
    if line is None:
        start, warmup = 1.0, 0.0
    elif line[1] == 0:
        start, warmup = line[0] / peak, float(x[top])
    else:
        start, warmup = line[0] / peak, _snap((peak - line[0]) / line[1])
    start = _unit(start)
    candidates = []
    for fam in _stepwise(x, y, peak, start, warmup):
        fam.error = _error(fam.predict(x), y, peak)
        candidates.append(fam)
    if not any(c.exact for c in candidates) and end_at is not None:
        candidates += _continuous(x, y, line, top, end_at)
    if not any(c.exact for c in candidates):
        candidates += _continuous(x, y, line, top)
    return candidates


def infer_family(x: np.ndarray, y: np.ndarray, end_at: float | None = None) -> Family:
    """The family the points ``(x, y)`` follow best (see the module docstring); ``name`` is
    ``"unknown"`` when fewer than 3 points or no family comes within :data:`CLOSE`.

    ``end_at``: where the intended decay ends (the run's last step + 1, in ``x``'s units); a decay
    that fits exactly ending there is preferred to an equally exact reading that ends elsewhere."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(y) < 3 or not np.any(y > 0):
        return Family("unknown", float(y.max()) if len(y) else 0.0)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    x, first = np.unique(x, return_index=True)  # a scheduler not stepped between rows: one point
    y = y[first]
    if len(y) < 3:
        return Family("unknown", float(y.max()))
    peak = float(y.max())
    top = int(np.argmax(y >= peak * (1 - 1e-12)))
    line = _warmup_line(x, y, top)
    if top > 0 and line is None:
        return Family("unknown", peak, error=math.inf)
    lines = [line]
    if top == 0 and x[0] > 0:
        # the first point is already the peak: no warmup, or one that ended by then (a scheduler
        # stepped several times before the first optimizer step); both are tried
        lines.append((0.0, peak / float(x[0])))
    candidates: list[Family] = []
    for line in lines:
        candidates += _fits(x, y, peak, line, top, end_at)
        if any(c.exact for c in candidates):
            break
    if not candidates:
        return Family("unknown", peak)
    simple = {name: i for i, name in enumerate(FAMILIES)}
    best = min(candidates, key=lambda f: (not f.exact, f.error if not f.exact else 0.0, simple[f.name]))
    if not best.fits:
        return Family("unknown", peak, error=best.error, params={"closest": best.name})
    return best


# --------------------------------------------------------------------------------------------------
# a fit as a design


def design_of(
    family: Family,
    total: int,
    *,
    accumulation: int = 1,
    world_size: int = 1,
    optimizer: str = "AdamW",
    group_scales: dict[str, float] | None = None,
    name: str = "inferred",
) -> dict[str, Any]:
    """An ``lr-schedule/v1`` design of ``family`` for a run of ``total`` optimizer steps: the warmup,
    peak and floor as fitted, the decay sized to end at the run's end (the intended schedule).

    ``accumulation`` and ``world_size`` set the design's batching so its plan has ``total`` steps
    (``micro_batch_size`` 1, ``dataset_size = total * accumulation * world_size``, one epoch)."""
    peak = family.peak
    warmup = int(round(family.warmup))
    p = family.params
    design: dict[str, Any] = {
        "format": "lr-schedule/v1",
        "name": name,
        "optimizer": {"name": optimizer, "lr": peak},
        "training": {
            "dataset_size": int(total) * accumulation * world_size,
            "micro_batch_size": 1,
            "accumulation_steps": accumulation,
            "world_size": world_size,
            "epochs": 1,
        },
    }
    if group_scales and len(group_scales) > 1:
        design["optimizer"]["param_groups"] = [{"name": k, "lr_scale": v} for k, v in group_scales.items()]
    warm = {"steps": warmup, "start_factor": min(1.0, max(0.0, family.start_factor))} if warmup > 0 else None
    if family.name == "wsd":
        design["wsd"] = {
            "warmup_steps": warmup,
            "warmup_start": min(1.0, max(0.0, family.start_factor)) if warmup > 0 else 0.0,
            "decay_steps": max(1, int(round(p["length"]))),
            "decay_type": p["decay_type"],
            "min_lr_ratio": min(1.0, max(0.0, p["end"] / peak)),
        }
        return design
    design["warmup"] = warm
    if family.name == "cosine":
        design["decay"] = {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": max(0.0, p["end"])}}
    elif family.name == "linear":
        design["decay"] = {
            "scheduler": "LinearLR",
            "kwargs": {"start_factor": 1.0, "end_factor": min(1.0, max(0.0, p["end"] / peak))},
        }
    elif family.name == "step":
        design["decay"] = {
            "scheduler": "StepLR",
            "kwargs": {"step_size": max(1, int(round(p["step_size"]))), "gamma": p["gamma"]},
        }
    elif family.name == "multistep":
        design["decay"] = {
            "scheduler": "MultiStepLR",
            "kwargs": {"milestones": [max(1, int(round(m))) for m in p["milestones"]], "gamma": p["gamma"]},
        }
    elif family.name == "exponential":
        design["decay"] = {"scheduler": "ExponentialLR", "kwargs": {"gamma": p["gamma"]}}
    else:
        design["decay"] = None
    return design
