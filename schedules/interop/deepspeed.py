"""DeepSpeed's ``scheduler`` block: export a design as one, import one as a design.

DeepSpeed is not installed here; its schedulers are re-implemented from their documented
definitions (``deepspeed/runtime/lr_schedules.py``, ``deepspeed.readthedocs.io`` "Learning Rate
Schedulers") in :func:`deepspeed_factor`, including **how the engine steps them**:
``DeepSpeedEngine`` calls ``lr_scheduler.step()`` after every optimizer step (never before the
first one), and the constructors set the first lr.  So, with ``F(i)`` the documented lr at
``last_batch_iteration = i``, optimizer step ``k`` uses

============  =================================================================================
row 0         what the constructor set: ``warmup_min_lr`` (WarmupLR, WarmupDecayLR),
              ``0.0`` for the first param group (WarmupCosineLR), ``cycle_min_lr`` (OneCycle),
              ``lr_range_test_min_lr`` (LRRangeTest)
row k >= 1    ``F(k - 1)``
============  =================================================================================

``F`` for the warmup types, ``W = max(2, warmup_num_steps)``, ``T' = total_num_steps``:

- warmup ``i < W``: ``gamma = i / W`` (``"linear"``) or ``log(i + 1) / log(W)`` (``"log"``, the default)
- ``WarmupLR``: ``min + (max - min) * gamma``, ``gamma = 1`` after warmup
- ``WarmupDecayLR``: after warmup ``gamma = max(0, (T' - i) / max(1, T' - W))``: decays to ``min``
- ``WarmupCosineLR``: ratios of the optimizer's lr: warmup ``r_min + (1 - r_min) * gamma``; after,
  ``max(0, c + (1 - c) * (1 + cos(pi * (i - W + 1) / (T' - W))) / 2)`` with ``c = cos_min_ratio``
- ``OneCycle``: triangle ``cycle_min_lr -> cycle_max_lr -> cycle_min_lr`` over
  ``cycle_first_step_size + cycle_second_step_size`` with ``batch_iteration = i + 1``, then
  ``cycle_min_lr / (1 + decay_lr_rate * (i - size + 1) / decay_step_size)``
- ``LRRangeTest``: ``min_lr * (1 + step_rate * i / step_size)`` (``floor`` of the quotient with
  ``staircase``)

Consequences an exporter has to state: DeepSpeed's first two steps share one lr (the constructor's
and ``F(0)``), its warmups end one step late, a ``WarmupCosineLR`` never returns the peak lr
itself (its cosine starts at ``i - W + 1 = 1``), and ``WarmupDecayLR`` decays to its warmup start.
Each export therefore picks the parameters (natural or shifted by one step) whose curve is nearest
the design and reports the remaining difference.  Imports reproduce DeepSpeed exactly: as torch
scheduler classes when they can, otherwise as one ``LambdaLR`` expression of DeepSpeed's formula.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..build import decay_kwargs, load_config
from ..curve import Curve, compute_curve, curve_of
from ..design import ConfigError, Plan, Problem, ScheduleConfig
from .common import cannot, compare, get_number, num, read_json_object, unique
from .detect import ignored_deepspeed_keys, looks_like, require_format

TARGET = "DeepSpeed"
DS_TYPES = ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest")

#: Documented defaults of each type's params.
DS_DEFAULTS: dict[str, dict[str, Any]] = {
    "WarmupLR": {
        "warmup_min_lr": 0.0,
        "warmup_max_lr": 0.001,
        "warmup_num_steps": 1000,
        "warmup_type": "log",
    },
    "WarmupDecayLR": {
        "total_num_steps": None,
        "warmup_min_lr": 0.0,
        "warmup_max_lr": 0.001,
        "warmup_num_steps": 1000,
        "warmup_type": "log",
    },
    "WarmupCosineLR": {
        "total_num_steps": None,
        "warmup_min_ratio": 0.0,
        "warmup_num_steps": 1000,
        "cos_min_ratio": 0.0001,
        "warmup_type": "log",
    },
    "OneCycle": {
        "cycle_min_lr": None,
        "cycle_max_lr": None,
        "decay_lr_rate": 0.0,
        "cycle_first_step_size": 2000,
        "cycle_second_step_size": None,
        "cycle_first_stair_count": 0,
        "cycle_second_stair_count": None,
        "decay_step_size": 0,
        "cycle_momentum": True,
        "cycle_min_mom": 0.8,
        "cycle_max_mom": 0.9,
        "decay_mom_rate": 0.0,
    },
    "LRRangeTest": {
        "lr_range_test_min_lr": 0.001,
        "lr_range_test_step_size": 2000,
        "lr_range_test_step_rate": 1.0,
        "lr_range_test_staircase": False,
    },
}

# --------------------------------------------------------------------------------------------------
# DeepSpeed's schedules


def _params(block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = block.get("type")
    if kind not in DS_TYPES:
        raise ConfigError(Problem("scheduler.type", f"must be one of {', '.join(DS_TYPES)}", kind))
    params = block.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(Problem("scheduler.params", "must be an object", params))
    for key, value in params.items():
        if value == "auto":
            raise ConfigError(
                Problem(
                    f"scheduler.params.{key}",
                    "must be a number: 'auto' is filled in by HF Trainer from TrainingArguments "
                    "(import those with the HF importer)",
                    value,
                )
            )
        if key not in DS_DEFAULTS[kind]:
            raise ConfigError(
                Problem(
                    f"scheduler.params.{key}",
                    f"is not a parameter of {kind} (allowed: {', '.join(DS_DEFAULTS[kind])})",
                    value,
                )
            )
    merged = {**DS_DEFAULTS[kind], **params}
    _check_numbers(kind, merged)
    return kind, merged


#: Lengths DeepSpeed divides by: they must be at least 1 (a 0 is a ZeroDivisionError in DeepSpeed too).
_POSITIVE_LENGTHS = ("cycle_first_step_size", "cycle_second_step_size", "lr_range_test_step_size")


def _check_numbers(kind: str, p: dict[str, Any]) -> None:
    """Every numeric parameter a finite number (a list of them for per-group lrs), lengths >= 1."""
    for key, default in DS_DEFAULTS[kind].items():
        value = p.get(key)
        if value is None or isinstance(default, bool | str):
            continue
        path = f"scheduler.params.{key}"
        items = value if isinstance(value, list) and key.endswith("_lr") else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
                raise ConfigError(Problem(path, "must be a finite number", value))
        if key in _POSITIVE_LENGTHS and value < 1:
            raise ConfigError(Problem(path, "must be a number >= 1", value))


def _per_group(value: Any, groups: int, path: str) -> np.ndarray:
    if isinstance(value, list | tuple):
        if len(value) != groups:
            raise ConfigError(Problem(path, f"must have one value per param group ({groups})", value))
        return np.asarray(value, dtype=np.float64)
    return np.full(groups, float(value))


def _gamma_warmup(i: np.ndarray, warmup: int, kind: str) -> np.ndarray:
    if kind == "linear":
        return i / warmup
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 / math.log(warmup)) * np.log(i + 1.0)


def deepspeed_curve(block: dict[str, Any], group_lrs: list[float], total: int) -> np.ndarray:
    """The lr of every param group at every optimizer step under DeepSpeed, shape (total, groups).

    ``group_lrs``: each group's lr when the scheduler is built (the optimizer block's lr).
    """
    kind, p = _params(block)
    groups = len(group_lrs)
    org = np.asarray(group_lrs, dtype=np.float64)
    k = np.arange(total, dtype=np.float64)
    i = k - 1.0  # last_batch_iteration after k engine steps
    out = np.empty((total, groups))
    if kind in ("WarmupLR", "WarmupDecayLR"):
        max_default = p["warmup_max_lr"] if p["warmup_max_lr"] is not None else org[0]
        low = _per_group(p["warmup_min_lr"], groups, "scheduler.params.warmup_min_lr")
        high = _per_group(max_default, groups, "scheduler.params.warmup_max_lr")
        w = max(2, int(p["warmup_num_steps"]))
        wtype = p["warmup_type"] if p["warmup_type"] in ("linear", "log") else "log"
        gamma = np.where(i < w, _gamma_warmup(np.maximum(i, 0), w, wtype), 1.0)
        if kind == "WarmupDecayLR":
            t = _total(p)
            gamma = np.where(i < w, gamma, np.maximum(0.0, (t - i) / max(1.0, t - w)))
        out[:] = low[None, :] + (high - low)[None, :] * gamma[:, None]
        out[0] = low
    elif kind == "WarmupCosineLR":
        t = _total(p)
        w = max(2, int(p["warmup_num_steps"]))
        if t <= w:
            raise ConfigError(
                Problem("scheduler.params.total_num_steps", f"must be > warmup_num_steps ({w})", t)
            )
        wtype = p["warmup_type"] if p["warmup_type"] in ("linear", "log") else "log"
        r_min, c = float(p["warmup_min_ratio"]), float(p["cos_min_ratio"])
        up = r_min + _gamma_warmup(np.maximum(i, 0), w, wtype) * (1.0 - r_min)
        down = np.maximum(0.0, c + (1.0 - c) * ((1 + np.cos(math.pi * (i - w + 1) / (t - w))) / 2))
        ratio = np.where(i < w, up, down)
        out[:] = ratio[:, None] * org[None, :]
        out[0] = org
        out[0, 0] = 0.0  # get_lr() before the first step returns [0.0]: only the first group is set
    elif kind == "OneCycle":
        lo = float(p["cycle_min_lr"] if p["cycle_min_lr"] is not None else org[0])
        hi = float(p["cycle_max_lr"] if p["cycle_max_lr"] is not None else org[0])
        first = float(p["cycle_first_step_size"])
        second = float(p["cycle_second_step_size"]) if p["cycle_second_step_size"] is not None else first
        size = first + second
        ratio = first / size
        bi = k  # batch_iteration = last_batch_iteration + 1
        cycle = np.floor(1 + bi / size)
        x = 1.0 + bi / size - cycle
        scale = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        lr = lo + (hi - lo) * scale
        rate, dstep = float(p["decay_lr_rate"]), float(p["decay_step_size"])
        if not (math.isclose(rate, 0) or math.isclose(dstep, 0)):
            with np.errstate(divide="ignore", invalid="ignore"):
                decayed = lo / (1 + rate * ((k - size) / dstep))
        else:
            decayed = np.full_like(k, lo)
        out[:] = np.where(i < size, lr, decayed)[:, None]
    else:  # LRRangeTest
        lo = _per_group(p["lr_range_test_min_lr"], groups, "scheduler.params.lr_range_test_min_lr")
        q = np.maximum(i, 0) / float(p["lr_range_test_step_size"])
        if p["lr_range_test_staircase"]:
            q = np.floor(q)
        out[:] = lo[None, :] * (1 + float(p["lr_range_test_step_rate"]) * q)[:, None]
    return out


def _total(p: dict[str, Any]) -> int:
    t = p.get("total_num_steps")
    if t is None:
        raise ConfigError(Problem("scheduler.params.total_num_steps", "is required", None, has_value=False))
    return int(
        get_number(p, "total_num_steps", None, path="scheduler.params.total_num_steps", integer=True, low=1)
    )


# --------------------------------------------------------------------------------------------------
# export


def _pack(values: np.ndarray) -> float | list[float]:
    vals = [float(v) for v in values]
    return vals[0] if all(v == vals[0] for v in vals) else vals


def _candidates(
    cfg: ScheduleConfig, plan: Plan, final: float | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Scheduler blocks worth trying for a design, and what DeepSpeed cannot express about it.

    ``final``: the design's last lr (first group), a floor worth trying (computed when left out)."""
    out: list[str] = []
    base = np.asarray(cfg.optimizer.base_lrs())
    T, w, h = plan.total_steps, plan.warmup_steps, plan.hold_steps
    s = cfg.warmup.start_factor if cfg.warmup is not None and w > 0 else 1.0
    if cfg.wsd is not None and w > 0:
        s = cfg.wsd.warmup_start if cfg.wsd.warmup_start is not None else cfg.wsd.min_lr_ratio
    decay = cfg.decay
    if decay is not None and decay.interval == "epoch":
        out.append(
            cannot(
                TARGET, "decay.interval='epoch'", "the engine steps the scheduler after every optimizer step"
            )
        )
    if cfg.plateau is not None:
        out.append(cannot(TARGET, "ReduceLROnPlateau", "DeepSpeed has no metric-driven scheduler"))
    if h > 0:
        out.append(cannot(TARGET, _hold_field(cfg, h), "no stable phase between warmup and decay"))
    if cfg.wsd is not None:
        out += _wsd_shapes(cfg.wsd, w)

    def warm(
        kind: str, shift: bool, extra: dict[str, Any], floor: np.ndarray | None = None
    ) -> dict[str, Any]:
        ww = max(w - 1, 0) if shift else w
        start = base * (s + (1 - s) / w) if (shift and w > 0) else base * s
        low = floor if floor is not None else (start if w > 0 else base)
        return {
            "type": kind,
            "params": {
                "warmup_min_lr": _pack(low),
                "warmup_max_lr": _pack(base),
                # DeepSpeed (0.19.8, lr_schedules.py) rejects warmup_num_steps <= 0 and uses max(2, it)
                # anyway: 1 is the same curve as 0 and a config the engine accepts.
                "warmup_num_steps": max(ww, 1),
                "warmup_type": "linear",
                **extra,
            },
        }

    name = decay.scheduler if decay is not None else None
    if w > 0 and name not in ("CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR"):
        out.append(
            cannot(
                TARGET,
                f"a warmup whose first two steps differ ({num(s)}x, then {num(s + (1 - s) / w)}x of the lr)",
                "the engine's first two steps both use warmup_min_lr: the constructor sets it and the first step() returns it",
            )
        )
    blocks: list[dict[str, Any]] = []
    kw = decay_kwargs(cfg, plan) if decay is not None else {}
    if name is None:
        blocks += [warm("WarmupLR", False, {}), warm("WarmupLR", True, {})]
    elif name in ("LinearLR", "PolynomialLR"):
        end = kw.get("end_factor", 0.0) if name == "LinearLR" else 0.0
        if name == "PolynomialLR" and kw["power"] != 1.0:
            out.append(cannot(TARGET, f"PolynomialLR power={kw['power']:g}", "WarmupDecayLR decays linearly"))
        if w > 0 and not math.isclose(s, end):
            out.append(
                cannot(
                    TARGET,
                    f"a warmup from {s:g}x with a decay to {end:g}x",
                    "WarmupDecayLR decays to its warmup_min_lr",
                )
            )
        floor = base * end
        for shift in (False, True):
            for total in sorted({T, max(T - 1, 1)}):
                blocks.append(warm("WarmupDecayLR", shift, {"total_num_steps": total}, floor))
                blocks.append(warm("WarmupDecayLR", shift, {"total_num_steps": total}))
    elif name in ("CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR"):
        eta = float(kw.get("eta_min", 0.0) or 0.0)
        if name != "CosineAnnealingLR":
            out.append(
                cannot(
                    TARGET,
                    f"decay.scheduler='{name}'",
                    "WarmupCosineLR has one cosine, no restarts or cycles",
                )
            )
        ratios = {eta / b for b in base}
        if len(ratios) > 1:
            out.append(
                cannot(
                    TARGET,
                    "an absolute eta_min with per-group lr_scale",
                    "cos_min_ratio is relative to each group",
                )
            )
        c = eta / float(base[0])
        if w > 0:
            out.append(
                cannot(
                    TARGET,
                    "the peak lr at the end of warmup",
                    "WarmupCosineLR's warmup stops one step short of the peak and its cosine starts one step past it",
                )
            )
        else:
            out.append(
                cannot(
                    TARGET, "a cosine without warmup", "WarmupCosineLR always warms up for at least 2 steps"
                )
            )
        for ww in {max(w, 2), max(w - 1, 2)}:
            for total in (T, T + 1, T - 1):
                for r_min in {s if w > 0 else 1.0, (s + (1 - s) / w) if w > 0 else 1.0}:
                    if total > ww:
                        blocks.append(
                            {
                                "type": "WarmupCosineLR",
                                "params": {
                                    "total_num_steps": total,
                                    "warmup_min_ratio": r_min,
                                    "warmup_num_steps": ww,
                                    "cos_min_ratio": c,
                                    "warmup_type": "linear",
                                },
                            }
                        )
    elif name == "CyclicLR" and w == 0:
        lo, hi = np.asarray(_as_list(kw["base_lr"], len(base))), np.asarray(_as_list(kw["max_lr"], len(base)))
        up = int(kw["step_size_up"])
        down = int(kw.get("step_size_down") or up)
        if kw.get("mode", "triangular") != "triangular":
            out.append(cannot(TARGET, f"CyclicLR mode='{kw.get('mode')}'", "OneCycle is a plain triangle"))
        if T > up + down + 1:
            out.append(
                cannot(TARGET, "more than one CyclicLR cycle", "OneCycle holds cycle_min_lr after its cycle")
            )
        if len(set(lo.tolist())) > 1 or len(set(hi.tolist())) > 1:
            out.append(
                cannot(TARGET, "per-group CyclicLR bounds", "OneCycle has one cycle_min_lr and cycle_max_lr")
            )
        if kw.get("cycle_momentum", True):
            out.append(cannot(TARGET, "CyclicLR's momentum cycling", "exported with cycle_momentum false"))
        blocks.append(
            {
                "type": "OneCycle",
                "params": {
                    "cycle_min_lr": float(lo[0]),
                    "cycle_max_lr": float(hi[0]),
                    "cycle_first_step_size": up,
                    "cycle_second_step_size": down,
                    "decay_lr_rate": 0.0,
                    "cycle_momentum": False,
                },
            }
        )
    else:
        out.append(cannot(TARGET, f"decay.scheduler='{name}'", "no DeepSpeed scheduler has this shape"))
    # Every DeepSpeed schedule competes (the export keeps the nearest): the warmup family with the
    # design's warmup, decaying to 0 or to the design's final lr.
    final = float(compute_curve(cfg).lrs[-1, 0]) if final is None else final
    floors = {0.0, *([final / float(base[0])] if 0 < final < float(base[0]) else [])}
    family: list[dict[str, Any]] = [warm("WarmupLR", False, {}), warm("WarmupLR", True, {})]
    for ratio in sorted(floors):
        family.append(warm("WarmupDecayLR", False, {"total_num_steps": T}, base * ratio))
        family.append(
            {
                "type": "WarmupCosineLR",
                "params": {
                    "total_num_steps": T if T > max(w, 2) else max(w, 2) + 1,
                    "warmup_min_ratio": s if w > 0 else 1.0,
                    "warmup_num_steps": max(w, 2),
                    "cos_min_ratio": ratio,
                    "warmup_type": "linear",
                },
            }
        )
    # ... with DeepSpeed's default log warmup too
    family += [{**b, "params": {**b["params"], "warmup_type": "log"}} for b in family]
    blocks += family
    return blocks, out


def _hold_field(cfg: ScheduleConfig, h: int) -> str:
    """The setting that makes the ``h`` steps at the peak: the ``wsd`` section's stable phase (set, or
    inferred as total - warmup - decay) or the decay's hold."""
    if cfg.wsd is not None:
        if cfg.wsd.stable_steps is not None:
            return f"wsd.stable_steps={h}"
        return f"the wsd stable phase of {h} steps (wsd.stable_steps inferred: total - warmup - decay)"
    if cfg.decay is not None and cfg.decay.hold_ratio is not None:
        return f"decay.hold_ratio={cfg.decay.hold_ratio:g} ({h} steps)"
    return f"decay.hold_steps={h}"


def _wsd_shapes(ws: Any, w: int) -> list[str]:
    """What DeepSpeed's schedulers cannot do of a ``wsd`` section's warmup and decay shapes."""
    out: list[str] = []
    if w > 0 and ws.warmup_type != "linear":
        out.append(
            cannot(TARGET, f"wsd.warmup_type='{ws.warmup_type}'", "DeepSpeed warms up linearly or by log")
        )
    if ws.decay_type == "1-sqrt":  # linear and cosine: WarmupDecayLR / WarmupCosineLR when h == 0
        out.append(cannot(TARGET, "wsd.decay_type='1-sqrt'", "no DeepSpeed scheduler has this shape"))
    return out


def _as_list(value: Any, groups: int) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)] * groups


def _distance(design: np.ndarray, target: np.ndarray) -> tuple[int, float]:
    """Rows that differ (0 when exact), then the mean squared difference relative to the peak: the
    block that differs at the fewest optimizer steps, the nearest by least squares among those."""
    mismatch = compare(design, target)
    peak = float(np.max(np.abs(design))) or 1.0
    mse = float(np.mean(((design - target) / peak) ** 2))
    return (0 if mismatch is None else mismatch.rows_differing, mse if math.isfinite(mse) else math.inf)


def to_deepspeed(
    config: ScheduleConfig | dict[str, Any] | str, *, curve: Curve | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A DeepSpeed config fragment (``optimizer``, ``scheduler``, batch sizes) for the design, and
    what DeepSpeed cannot express.  Of the blocks that fit the design's shape, the one whose
    curve (under the engine's stepping) is nearest the design's is returned."""
    cfg = load_config(config)
    curve = curve_of(cfg, curve)
    plan = curve.plan
    blocks, warnings = _candidates(cfg, plan, float(curve.lrs[-1, 0]))
    lrs = cfg.optimizer.base_lrs()
    best = min(blocks, key=lambda b: _distance(curve.lrs, deepspeed_curve(b, lrs, plan.total_steps)))
    payload: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": cfg.training.micro_batch_size,
        "gradient_accumulation_steps": cfg.training.accumulation_steps,
        "optimizer": _optimizer_block(cfg, warnings),
        "scheduler": best,
    }
    if len(lrs) > 1:
        warnings.append(
            "note: build the optimizer with the design's param groups (lr = optimizer lr x lr_scale) and pass it "
            "to deepspeed.initialize(optimizer=...); the optimizer block sets one lr"
        )
    mismatch = compare(curve.lrs, deepspeed_curve(best, lrs, plan.total_steps))
    if mismatch is not None:
        warnings.append(mismatch.describe(TARGET))
    return payload, unique(warnings)


def _optimizer_block(cfg: ScheduleConfig, warnings: list[str]) -> dict[str, Any]:
    opt = cfg.optimizer
    params: dict[str, Any] = {"lr": opt.lr}
    kwargs = dict(opt.kwargs)
    if opt.name in ("Adam", "AdamW"):
        kind = "AdamW" if opt.name == "AdamW" else "Adam"
        for key in ("betas", "eps", "weight_decay"):
            if key in kwargs:
                params[key] = kwargs.pop(key)
        if opt.name == "Adam":
            params["adam_w_mode"] = False  # DeepSpeed's "Adam" is AdamW unless told otherwise
    elif opt.name in ("SGD", "Adagrad", "Lamb"):
        kind = opt.name
        params.update(kwargs)
        kwargs = {}
    else:
        kind = opt.name
        warnings.append(
            cannot(
                TARGET,
                f"optimizer.name='{opt.name}' as a config block",
                "pass the torch optimizer to deepspeed.initialize(optimizer=...)",
            )
        )
        params.update(kwargs)
        kwargs = {}
    for key, value in kwargs.items():
        warnings.append(
            cannot(TARGET, f"optimizer.kwargs.{key}={value!r}", f"not a parameter of DeepSpeed's {kind}")
        )
    return {"type": kind, "params": params}


# --------------------------------------------------------------------------------------------------
# import


def ds_expression(block: dict[str, Any], base_lr: float) -> str:
    """DeepSpeed's lr at optimizer step ``step`` divided by ``base_lr``, as an ``lr_lambda``
    expression (the engine's stepping included: ``step`` 0 is the constructor's lr)."""
    kind, p = _params(block)
    b = num(base_lr)
    i = "(step - 1)"

    def warm_gamma(w: int, wtype: str) -> str:
        if wtype == "linear":
            return f"{i} / {w}"
        return f"{num(1.0 / math.log(w))} * log({i} + 1)"

    if kind in ("WarmupLR", "WarmupDecayLR"):
        low, high = (
            _scalar(p["warmup_min_lr"], "warmup_min_lr"),
            _scalar(p["warmup_max_lr"] if p["warmup_max_lr"] is not None else base_lr, "warmup_max_lr"),
        )
        w = max(2, int(p["warmup_num_steps"]))
        wtype = p["warmup_type"] if p["warmup_type"] in ("linear", "log") else "log"
        after = "1.0"
        if kind == "WarmupDecayLR":
            t = _total(p)
            after = f"max(0.0, ({t} - {i}) / {num(max(1.0, t - w))})"
        gamma = f"({warm_gamma(w, wtype)} if {i} < {w} else {after})"
        lr = f"({num(low)} + {num(high - low)} * {gamma})"
        return f"({num(low)} if step < 1 else {lr}) / {b}"
    if kind == "WarmupCosineLR":
        t = _total(p)
        w = max(2, int(p["warmup_num_steps"]))
        wtype = p["warmup_type"] if p["warmup_type"] in ("linear", "log") else "log"
        r, c = float(p["warmup_min_ratio"]), float(p["cos_min_ratio"])
        up = f"{num(r)} + ({warm_gamma(w, wtype)}) * {num(1.0 - r)}"
        down = f"max(0.0, {num(c)} + {num(1.0 - c)} * ((1 + cos(pi * ({i} - {w} + 1) / {t - w})) / 2))"
        return f"(0.0 if step < 1 else ({up} if {i} < {w} else {down}))"
    if kind == "OneCycle":
        lo = float(p["cycle_min_lr"] if p["cycle_min_lr"] is not None else base_lr)
        hi = float(p["cycle_max_lr"] if p["cycle_max_lr"] is not None else base_lr)
        first = float(p["cycle_first_step_size"])
        second = float(p["cycle_second_step_size"]) if p["cycle_second_step_size"] is not None else first
        size = first + second
        ratio = first / size
        x = f"(1.0 + step / {num(size)} - floor(1 + step / {num(size)}))"
        scale = f"({x} / {num(ratio)} if {x} <= {num(ratio)} else ({x} - 1) / {num(ratio - 1)})"
        rate, dstep = float(p["decay_lr_rate"]), float(p["decay_step_size"])
        if not (math.isclose(rate, 0) or math.isclose(dstep, 0)):
            decayed = f"{num(lo)} / (1 + {num(rate)} * ((step - {num(size)}) / {num(dstep)}))"
        else:
            decayed = num(lo)
        return f"(({num(lo)} + {num(hi - lo)} * {scale}) if {i} < {num(size)} else {decayed}) / {b}"
    lo = _scalar(p["lr_range_test_min_lr"], "lr_range_test_min_lr")
    q = f"(max({i}, 0) / {num(float(p['lr_range_test_step_size']))})"
    if p["lr_range_test_staircase"]:
        q = f"floor{q}"
    return f"{num(lo)} * (1 + {num(float(p['lr_range_test_step_rate']))} * {q}) / {b}"


def _scalar(value: Any, key: str) -> float:
    if isinstance(value, list | tuple):
        return float(value[0])
    return float(value)


def from_deepspeed(
    source: str | bytes | dict[str, Any],
    *,
    base: ScheduleConfig | dict[str, Any] | str | None = None,
    total_steps: int | None = None,
    exact: bool = True,
    default_total_steps: int | None = None,
) -> tuple[ScheduleConfig, list[str]]:
    """A design from a DeepSpeed config (``ds_config.json``) or its ``scheduler`` block.

    The run length is ``total_steps`` when given; else the block's own ``total_num_steps`` (when
    ``base`` runs within one step of it, ``base``'s length: exports may size it one step off, see the
    module doc); else ``default_total_steps``; else ``base``'s.  The optimizer comes from the
    config's ``optimizer`` block, else ``base``; batch sizes from ``train_micro_batch_size_per_gpu`` /
    ``gradient_accumulation_steps``, else ``base``.  ``exact``: reproduce DeepSpeed's curve at every
    step (a ``LambdaLR`` expression where no torch class does); ``False`` gives the nearest warmup +
    decay made of torch classes, with a warning saying how far it is.  A document that looks like
    another format (HF ``TrainingArguments``, a design) is refused saying so; every top-level key
    the import does not use is named in a warning.
    """
    doc = read_json_object(source, "a DeepSpeed config")
    if looks_like(doc) in ("hf", "design"):
        require_format(doc, "deepspeed")
    block = doc.get("scheduler", doc) if "type" not in doc else doc
    if not isinstance(block, dict) or "type" not in block:
        raise ConfigError(Problem("scheduler", "must be an object with 'type' and 'params'", block))
    kind, p = _params(block)
    warnings: list[str] = ignored_deepspeed_keys(doc)
    base_cfg = load_config(base) if base is not None else load_config({})
    data = base_cfg.to_dict()
    data.update({"name": f"DeepSpeed {kind}", "warmup": None, "decay": None, "plateau": None})
    data.pop("wsd", None)  # the imported scheduler replaces the base's whole schedule
    training = data["training"]
    if "train_micro_batch_size_per_gpu" in doc:
        training["micro_batch_size"] = get_number(
            doc, "train_micro_batch_size_per_gpu", 1, integer=True, low=1
        )
    if "gradient_accumulation_steps" in doc:
        training["accumulation_steps"] = get_number(
            doc, "gradient_accumulation_steps", 1, integer=True, low=1
        )
    own = p.get("total_num_steps")
    if own is not None:
        own = int(
            get_number(
                p, "total_num_steps", None, path="scheduler.params.total_num_steps", integer=True, low=1
            )
        )
    t = total_steps
    if t is None and own is not None:
        t = own
        if base is not None:
            base_total = compute_total(load_config(data))
            if abs(base_total - own) <= 1:
                t = base_total
    if t is None:
        t = default_total_steps
    if t is not None:
        training["max_steps"] = int(
            get_number({"t": t}, "t", None, path="total_num_steps", integer=True, low=1)
        )
    elif base is None:
        warnings.append(
            f"no total_num_steps: the run length is the default design's ({load_config(data).training.epochs} epochs)"
        )

    optimizer = data["optimizer"]
    opt_block = doc.get("optimizer")
    if isinstance(opt_block, dict):
        optimizer.update(_optimizer_from_block(opt_block, warnings))
    lr = _peak(kind, p, optimizer["lr"])
    groups = len(base_cfg.optimizer.groups())
    scales = _group_scales(kind, p, groups, warnings)
    optimizer["lr"] = lr
    if scales is not None and optimizer.get("param_groups"):
        optimizer["param_groups"] = [
            {"name": g["name"], "lr_scale": sc}
            for g, sc in zip(optimizer["param_groups"], scales, strict=True)
        ]
    if kind in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR") and p["warmup_type"] == "log":
        warnings.append(
            "DeepSpeed's 'log' warmup has no torch scheduler class"
            + (": imported as a LambdaLR expression" if exact else ": imported as a linear warmup")
        )
    if kind == "OneCycle" and p.get("cycle_momentum", True):
        warnings.append(
            "OneCycle's momentum cycling (cycle_min_mom .. cycle_max_mom) is not part of a design"
        )
    data["optimizer"] = optimizer
    cfg0 = load_config(data)
    plan_total = compute_total(cfg0)
    target = deepspeed_curve(block, cfg0.optimizer.base_lrs(), plan_total)
    native = _native(kind, p, lr, plan_total)
    cfg = None
    if native is not None:
        try:
            cand = load_config({**data, **native})
            if compare(compute_curve(cand).lrs, target) is None or not exact:
                cfg = cand
        except ConfigError:
            cfg = None
    if cfg is None:
        data["decay"] = {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": ds_expression(block, lr)}}
        cfg = load_config(data)
    mismatch = compare(compute_curve(cfg).lrs, target)
    if mismatch is not None:
        warnings.append(
            mismatch.describe("the imported design").replace(
                "the imported design gives", "the imported design (torch classes) gives"
            )
        )
    return cfg, unique(warnings)


def compute_total(cfg: ScheduleConfig) -> int:

    return cfg.plan.total_steps


def _optimizer_from_block(block: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    kind = str(block.get("type", "AdamW"))
    params = dict(block.get("params") or {})
    names = {"adam": "AdamW", "adamw": "AdamW", "sgd": "SGD", "adagrad": "Adagrad", "lamb": None}
    name = names.get(kind.lower(), kind)
    if kind.lower() == "adam" and params.pop("adam_w_mode", True) is False:
        name = "Adam"
    params.pop("adam_w_mode", None)
    params.pop("torch_adam", None)
    if name is None:
        warnings.append(f"optimizer type '{kind}' has no torch.optim class: imported as AdamW")
        name = "AdamW"
    out: dict[str, Any] = {"name": name}
    if "lr" in params:
        out["lr"] = get_number(params, "lr", None, path="optimizer.params.lr", low=0, high=10)
    kwargs = {
        k: v for k, v in params.items() if k in ("betas", "eps", "weight_decay", "momentum", "nesterov")
    }
    for k in params:
        if k not in kwargs and k != "lr":
            warnings.append(f"optimizer.params.{k} dropped (not a {name} argument)")
    out["kwargs"] = kwargs
    return out


def _peak(kind: str, p: dict[str, Any], lr: float) -> float:
    """The design's base lr for a block: the lr the block peaks at (first group)."""
    if kind in ("WarmupLR", "WarmupDecayLR") and p["warmup_max_lr"] is not None:
        return _scalar(p["warmup_max_lr"], "warmup_max_lr")
    if kind == "OneCycle" and p["cycle_max_lr"] is not None:
        return float(p["cycle_max_lr"])
    if kind == "LRRangeTest":
        return _scalar(p["lr_range_test_min_lr"], "lr_range_test_min_lr")
    return float(lr)


def _group_scales(kind: str, p: dict[str, Any], groups: int, warnings: list[str]) -> list[float] | None:
    key = {
        "WarmupLR": "warmup_max_lr",
        "WarmupDecayLR": "warmup_max_lr",
        "LRRangeTest": "lr_range_test_min_lr",
    }.get(kind)
    if key is None or not isinstance(p.get(key), list | tuple):
        return None
    values = [float(v) for v in p[key]]
    if len(values) != groups:
        raise ConfigError(
            Problem(
                f"scheduler.params.{key}",
                f"must have one value per param group of the base design ({groups})",
                values,
            )
        )
    if kind != "LRRangeTest":
        lows = p.get("warmup_min_lr")
        if isinstance(lows, list | tuple) and len({lo / hi for lo, hi in zip(lows, values, strict=True)}) > 1:
            warnings.append(
                "per-group warmup_min_lr / warmup_max_lr ratios differ: the design scales one shape per group"
            )
    return [v / values[0] for v in values]


def _native(kind: str, p: dict[str, Any], lr: float, total: int) -> dict[str, Any] | None:
    """Warmup + decay sections of torch classes nearest the block (natural reading: warmup over
    warmup_num_steps steps from warmup_min_lr)."""
    if kind not in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR"):
        return None
    w = int(p["warmup_num_steps"])
    if kind == "WarmupCosineLR":
        start = float(p["warmup_min_ratio"])
        floor = float(p["cos_min_ratio"]) * lr
    else:
        low = _scalar(p["warmup_min_lr"], "warmup_min_lr")
        start = low / lr if lr else 0.0
        floor = low
    same = kind == "WarmupLR" and math.isclose(start, 1.0)
    warmup = (
        None
        if (w <= 0 or same)
        else {"steps": max(2, w), "ratio": None, "start_factor": min(max(start, 0.0), 1.0)}
    )
    if kind == "WarmupLR":
        return {"warmup": warmup, "decay": None}
    if kind == "WarmupDecayLR":
        return {
            "warmup": warmup,
            "decay": {
                "scheduler": "LinearLR",
                "kwargs": {"start_factor": 1.0, "end_factor": floor / lr if lr else 0.0},
            },
        }
    return {"warmup": warmup, "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": floor}}}
