"""Fit a loss law on runs, predict the loss of any lr sequence, with a bootstrap band.

**Fit points.**  Per run, the logged losses after the warmup (rows past the peak) are grouped into
at most ``points`` consecutive groups (boundaries half uniform, half geometric in the step, so the
steep start is resolved); a group's target is its mean loss and the law is evaluated at its mean
row.  Fewer logged values than ``points``: every value is a point.

**Objective.**  Huber loss (``delta`` = :data:`HUBER_DELTA`) on log residuals
``ln L_law(t) - ln L_logged(t)`` over the points of every run, minimised with
``scipy.optimize.least_squares`` (trust-region reflective, analytic Jacobian, box bounds).

**Initialisation.**  The law is linear in ``L0, A, B`` (``C`` for the annealing law), so a grid of the
nonlinear parameters spanning orders of magnitude (``C`` from 1e-2 to 1e2 times the value that makes
``C x = 1`` at a tenth of the runs' area, ``alpha``, ``beta``, ``gamma`` over their usual ranges; ``lam``
from 0.9 to 0.9999) is screened with a non-negative least-squares solve for the linear ones on a
coarse subset; the best :data:`STARTS` grid points start a full fit each, and the lowest cost wins.
The amplitudes therefore come out at whatever scale the data needs (``B`` in the hundreds when the lr
is about 1e-4).  Deterministic: no random starts.

**Band.**  A moving-block bootstrap over the fit points (blocks of about an eighth of a run's points,
resampled with replacement within each run; ``numpy.random.default_rng(seed)``), refitted from the
fitted parameters.  The band of a prediction is the 5th..95th percentile of the replicates' loss
relative to the fit's, times the fitted loss.  It says how firmly the runs pin the parameters down;
it is *not* the law's own error on schedules unlike the fitted ones (see the validation numbers in
docs/forecast.md).

The result is a plain JSON-serialisable dict (see :func:`fit_runs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls

from ..design import ConfigError, Problem
from .laws import (
    AN_PARAMS,
    MP_PARAMS,
    Bins,
    Sequence,
    an_value,
    make_bins,
    momentum_area,
    mp_annealing,
    mp_value,
    prepare,
)
from .runs import Run, check_lr
from .validity import scope_of

FORMAT = "lr-forecast/v1"
LAWS = ("multi-power", "annealing")
HUBER_DELTA = 1e-3
#: Fit points per run, drop bins per run in the fit, full fits started from the best grid points.
POINTS = 256
FIT_BINS = 512
STARTS = 3
#: Bootstrap replicates and band level.
BOOTSTRAP = 16
BAND = (5.0, 95.0)
#: Drop bins and rows evaluated exactly when predicting (other rows interpolate the annealing term).
PREDICT_BINS = 1024
PREDICT_ROWS = 1024
BAND_ROWS = 256
BAND_BINS = 256
#: A run "decays" when its lr falls by at least this fraction of its peak before its last loss.
MIN_DECREASE = 0.01

Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------------
# parameters


def _bounds(law: str, y_max: float) -> tuple[np.ndarray, np.ndarray]:
    if law == "multi-power":  # L0, ln A, alpha, ln B, ln C, beta, gamma
        return (
            np.array([0.0, -50.0, 1e-3, -50.0, -50.0, 1e-3, 0.0]),
            np.array([y_max, 50.0, 3.0, 50.0, 50.0, 5.0, 1.5]),
        )
    return (  # L0, ln A, alpha, ln C, lam
        np.array([0.0, -50.0, 1e-3, -50.0, 0.0]),
        np.array([y_max, 50.0, 3.0, 50.0, 0.99999]),
    )


def params_of(law: str, theta: np.ndarray) -> dict[str, float]:
    t = [float(v) for v in theta]
    if law == "multi-power":
        L0, lnA, alpha, lnB, lnC, beta, gamma = t
        values = [L0, math.exp(lnA), alpha, math.exp(lnB), math.exp(lnC), beta, gamma]
        return dict(zip(MP_PARAMS, values, strict=True))
    L0, lnA, alpha, lnC, lam = t
    return dict(zip(AN_PARAMS, [L0, math.exp(lnA), alpha, math.exp(lnC), lam], strict=True))


def theta_of(law: str, params: dict[str, float]) -> np.ndarray:
    p = params
    tiny = 1e-300
    if law == "multi-power":
        return np.array(
            [
                p["L0"],
                math.log(max(p["A"], tiny)),
                p["alpha"],
                math.log(max(p["B"], tiny)),
                math.log(max(p["C"], tiny)),
                p["beta"],
                p["gamma"],
            ]
        )
    return np.array([p["L0"], math.log(max(p["A"], tiny)), p["alpha"], math.log(max(p["C"], tiny)), p["lam"]])


def _check_params(law: str, params: Any, path: str) -> dict[str, float]:
    names = MP_PARAMS if law == "multi-power" else AN_PARAMS
    if not isinstance(params, dict) or set(params) != set(names):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ConfigError(Problem(path, f"must hold exactly {', '.join(names)} ({law} law)", got))
    for name in names:
        v = params[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(Problem(f"{path}.{name}", "must be a finite number", v))
    return {n: float(params[n]) for n in names}


def check_fit(data: Any, source: str = "fit") -> dict[str, Any]:
    """A fit read back (``forecast --load-fit``, an upload): the dict :func:`predict` can use, or a
    ConfigError naming the field (``<source>: params.alpha: must be a finite number, got 'x'``)."""
    if not isinstance(data, dict):
        raise ConfigError(
            Problem(source, "must be a JSON object written by forecast --save-fit", type(data).__name__)
        )
    if data.get("format") != FORMAT:
        raise ConfigError(Problem(f"{source}: format", f"must be {FORMAT!r}", data.get("format")))
    law = data.get("law")
    if law not in LAWS:
        raise ConfigError(Problem(f"{source}: law", f"must be one of {', '.join(LAWS)}", law))
    out = {**data, "params": _check_params(law, data.get("params"), f"{source}: params")}
    band = data.get("band")
    if band is not None:
        if not isinstance(band, dict) or not isinstance(band.get("params", []), list):
            raise ConfigError(Problem(f"{source}: band", "must be an object with a params list", band))
        reps = band.get("params", [])
        if len(reps) > 200:
            raise ConfigError(
                Problem(f"{source}: band.params", "must hold at most 200 replicates", len(reps))
            )
        level = band.get("level", list(BAND))
        if not (
            isinstance(level, list)
            and len(level) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in level)
            and 0 <= level[0] < level[1] <= 100
        ):
            raise ConfigError(
                Problem(f"{source}: band.level", "must be [low, high] with 0 <= low < high <= 100", level)
            )
        out["band"] = {
            **band,
            "level": [float(v) for v in level],
            "params": [_check_params(law, r, f"{source}: band.params[{i}]") for i, r in enumerate(reps)],
        }
    return out


def check_law(law: str) -> str:
    if law not in LAWS:
        raise ConfigError(Problem("law", f"must be one of {', '.join(LAWS)}", law))
    return law


# --------------------------------------------------------------------------------------------------
# fit points


@dataclass
class Points:
    """One run's fit points, prepared for a law."""

    seq: Sequence
    rows: np.ndarray  # float rows (group means)
    area: np.ndarray  # S at those rows (interpolated for fractional rows)
    y: np.ndarray  # target losses
    bins: Bins | None = None


def fit_points(run: Run, points: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, targets)``: group means of the logged losses after the warmup (see the module doc)."""
    seq = prepare(run.lr)
    keep = (run.loss_rows > seq.peak) & (run.loss_rows >= 1)
    rows, loss = run.loss_rows[keep], run.loss[keep]
    n = len(rows)
    if n <= points:
        return rows.astype(np.float64), loss
    lo, hi = float(rows[0]), float(rows[-1]) + 1.0
    half = points // 2 + 1
    edges = np.concatenate([np.linspace(lo, hi, half), np.geomspace(max(lo, 1.0), hi, points - half + 2)])
    edges = np.unique(np.searchsorted(rows, edges, side="left"))
    edges = edges[(edges > 0) & (edges < n)]
    starts = np.concatenate([[0], edges])
    counts = np.diff(np.concatenate([starts, [n]]))
    r = np.add.reduceat(rows.astype(np.float64), starts) / counts
    y = np.add.reduceat(loss, starts) / counts
    return r, y


def _area_at(seq: Sequence, rows: np.ndarray) -> np.ndarray:
    return np.interp(rows, np.arange(len(seq.area), dtype=np.float64), seq.area)


def _prepare_points(runs: Seq[Run], law: str, points: int, bins: int) -> list[Points]:
    out = []
    for run in runs:
        seq = prepare(run.lr)
        rows, y = fit_points(run, points)
        out.append(
            Points(seq, rows, _area_at(seq, rows), y, make_bins(seq, bins) if law == "multi-power" else None)
        )
    return out


def _law_values(law: str, theta: np.ndarray, pts: Points, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if law == "multi-power":
        return mp_value(theta, pts.area, pts.bins, jac)
    # The annealing law at fractional rows: interpolate between the integer rows around them.
    lo = np.floor(pts.rows).astype(np.int64)
    frac = pts.rows - lo
    hi = np.minimum(lo + 1, pts.seq.steps)
    if not frac.any():
        return an_value(theta, pts.seq, lo, jac)
    both = np.concatenate([lo, hi])
    v, J = an_value(theta, pts.seq, both, jac)
    n = len(lo)
    val = (1 - frac) * v[:n] + frac * v[n:]
    if J is None:
        return val, None
    return val, (1 - frac)[:, None] * J[:n] + frac[:, None] * J[n:]


# --------------------------------------------------------------------------------------------------
# checks


def check_runs(runs: Seq[Run]) -> None:
    """Refuse runs the laws cannot be fitted on, with a message that says why."""
    if not runs:
        raise ConfigError(Problem("runs", "needs at least one run to fit on", 0))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(Problem("runs", "must have distinct names", names))
    total = 0
    decays = []
    for run in runs:
        seq = prepare(run.lr)
        after = run.loss_rows[(run.loss_rows > seq.peak) & (run.loss_rows >= 1)]
        total += len(after)
        if len(after) == 0:
            continue
        last = int(after[-1])
        # the lr that rows up to `last` saw: lr[0 .. last-1]
        seen = run.lr[seq.peak : max(last, seq.peak + 1)]
        decays.append(float(seq.peak_lr - seen.min()) / seq.peak_lr >= MIN_DECREASE)
    if total < 8:
        raise ConfigError(
            Problem(
                "runs",
                "need at least 8 logged loss values after the warmup (past the peak lr), over all runs",
                total,
            )
        )
    if not any(decays):
        raise ConfigError(
            Problem(
                "runs",
                "cannot identify the annealing term: no run's lr decreases after its peak (by at least "
                f"{MIN_DECREASE:.0%} before its last logged loss); add a run whose lr decays "
                "(cosine, linear, WSD cooldown or a step decay)",
                ", ".join(names),
            )
        )


# --------------------------------------------------------------------------------------------------
# the fit


class _Problem:
    """Residuals and Jacobian of one least-squares problem (cached per theta)."""

    def __init__(self, law: str, pts: list[Points], weights: list[np.ndarray] | None = None):
        self.law, self.pts = law, pts
        self.ly = np.concatenate([np.log(p.y) for p in pts])
        w = np.concatenate(weights) if weights is not None else np.ones(len(self.ly))
        self.sw = np.sqrt(w)

    def predict(self, theta: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
        vals, jacs = [], []
        for p in self.pts:
            v, J = _law_values(self.law, theta, p, jac)
            vals.append(v)
            jacs.append(J)
        return np.concatenate(vals), (np.concatenate(jacs) if jac else None)

    def fun(self, theta: np.ndarray) -> np.ndarray:
        v, _ = self.predict(theta, False)
        return self.sw * (np.log(np.maximum(v, 1e-12)) - self.ly)

    def jac(self, theta: np.ndarray) -> np.ndarray:
        v, J = self.predict(theta, True)
        return (self.sw / np.maximum(v, 1e-12))[:, None] * J


def _solve(law: str, problem: _Problem, x0: np.ndarray, bounds, max_nfev: int) -> Any:
    lo, hi = bounds
    x0 = np.clip(x0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
    return least_squares(
        problem.fun,
        x0,
        jac=problem.jac,
        bounds=bounds,
        method="trf",
        loss="huber",
        f_scale=HUBER_DELTA,
        x_scale="jac",
        max_nfev=max_nfev,
        xtol=1e-10,
        ftol=1e-6,
        gtol=1e-10,
    )


def _screen(law: str, pts: list[Points]) -> list[np.ndarray]:
    """Grid of the nonlinear parameters x NNLS for the linear ones; the best STARTS thetas."""
    y = np.concatenate([p.y for p in pts])
    ly = np.log(y)
    area = np.concatenate([p.area for p in pts])
    log_area = np.log(area)
    alphas = (0.1, 0.25, 0.4, 0.6, 0.9)
    feats: list[tuple[tuple[float, ...], np.ndarray]] = []  # (nonlinear, annealing feature)
    if law == "multi-power":
        peak = max(p.seq.peak_lr for p in pts)
        post = np.mean([p.seq.area[-1] - p.seq.area[p.seq.peak] for p in pts])
        s_typ = max(0.1 * post, 1e-300)
        for beta, gamma in product((0.3, 0.6, 1.2), (0.2, 0.5, 0.8)):
            c0 = 1.0 / (peak**-gamma * s_typ)
            for cf in (1e-2, 1e-1, 1.0, 1e1, 1e2):
                C = c0 * cf
                g = np.concatenate([mp_annealing(p.area, p.bins, C, beta, gamma)[0] for p in pts])
                feats.append(((math.log(C), beta, gamma), g))
    else:
        for lam in (0.9, 0.99, 0.995, 0.999, 0.9995, 0.9999):
            g = []
            for p in pts:
                s2, _ = momentum_area(p.seq, lam)
                g.append(np.interp(p.rows, np.arange(len(s2), dtype=np.float64), s2))
            feats.append(((lam,), np.concatenate(g)))
    scored = []
    for alpha in alphas:
        f = np.exp(-alpha * log_area)
        for nonlin, g in feats:
            X = np.stack([np.ones_like(y), f, -g], axis=1) / y[:, None]
            coef, _ = nnls(X, np.ones_like(y), maxiter=200)
            pred = X @ coef * y
            if not (pred > 0).all():
                continue
            score = float(np.sum((np.log(pred) - ly) ** 2))
            scored.append((score, alpha, nonlin, coef, float(np.max(np.abs(g)) or 1.0)))
    scored.sort(key=lambda s: s[0])
    starts = []
    for _, alpha, nonlin, coef, gmax in scored[:STARTS]:
        L0, A, Bc = (float(c) for c in coef)
        A = max(A, 1e-12)
        Bc = max(Bc, 1e-3 * float(np.mean(y)) / gmax)  # a small annealing term keeps its gradient
        if law == "multi-power":
            lnC, beta, gamma = nonlin
            starts.append(np.array([L0, math.log(A), alpha, math.log(Bc), lnC, beta, gamma]))
        else:
            (lam,) = nonlin
            starts.append(np.array([L0, math.log(A), alpha, math.log(Bc), lam]))
    if not starts:  # every grid point predicted a non-positive loss somewhere: a neutral start
        base = [float(np.min(y)) * 0.5, math.log(float(np.mean(y))), 0.3]
        starts.append(np.array(base + ([0.0, 0.0, 0.5, 0.5] if law == "multi-power" else [0.0, 0.999])))
    return starts


def _block_weights(n: int, rng: np.random.Generator) -> np.ndarray:
    block = max(1, int(round(n / 8)))
    blocks = int(math.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=blocks)
    w = np.zeros(n)
    for s in starts:
        w[s : s + block] += 1.0
    return w * (n / w.sum())


def fit_runs(
    runs: Seq[Run],
    law: str = "multi-power",
    *,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    points: int = POINTS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit ``law`` on ``runs``; a plain dict (JSON-serialisable)::

        {"format": "lr-forecast/v1", "law": ..., "params": {...}, "runs": [names],
         "cost": ..., "error": {"mean_rel": ..., "runs": {name: {...}}},
         "band": {"method": ..., "level": [5, 95], "seed": ..., "params": [{...}, ...]},
         "settings": {...}}

    ``progress(fraction, message)`` is called as the work advances.
    """
    check_law(law)
    check_runs(runs)
    if not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap > 200:
        raise ConfigError(Problem("bootstrap", "must be an integer between 0 and 200", bootstrap))
    say = progress or (lambda f, m: None)
    say(0.0, "preparing the runs")
    pts = _prepare_points(runs, law, points, FIT_BINS)
    coarse = _prepare_points(runs, law, 48, 128)
    y_max = float(max(p.y.max() for p in pts))
    bounds = _bounds(law, y_max)
    say(0.05, "screening starting points")
    starts = _screen(law, coarse)
    problem = _Problem(law, pts)
    best = None
    for i, x0 in enumerate(starts):
        say(0.1 + 0.5 * i / len(starts), f"fitting from start {i + 1} of {len(starts)}")
        res = _solve(law, problem, x0, bounds, max_nfev=300)
        if best is None or res.cost < best.cost:
            best = res
    theta = best.x
    replicates = []
    rng = np.random.default_rng(seed)
    for b in range(bootstrap):
        say(0.6 + 0.38 * b / max(bootstrap, 1), f"bootstrap replicate {b + 1} of {bootstrap}")
        weights = [_block_weights(len(p.y), rng) for p in pts]
        res = _solve(law, _Problem(law, pts, weights), theta, bounds, max_nfev=60)
        replicates.append(params_of(law, res.x))
    result = {
        "format": FORMAT,
        "law": law,
        "params": params_of(law, theta),
        "runs": [r.name for r in runs],
        "cost": float(best.cost),
        "band": {
            "method": "moving-block bootstrap over fit points (blocks of 1/8 of a run's points), refitted",
            "level": list(BAND),
            "seed": seed,
            "replicates": bootstrap,
            "params": replicates,
        },
        "settings": {"huber_delta": HUBER_DELTA, "points": points, "bins": FIT_BINS},
        "scope": scope_of(runs),
    }
    result["error"] = fit_error(result, runs)
    say(1.0, "done")
    return result


# --------------------------------------------------------------------------------------------------
# prediction


def _grid(seq: Sequence, n: int) -> np.ndarray:
    """Rows where the annealing term is computed exactly: all when few, else a uniform grid plus
    dense rows after every large lr change (the term then moves fast)."""
    T = seq.steps
    if T + 1 <= n:
        return np.arange(T + 1)
    rows = [np.linspace(0, T, n).round().astype(np.int64)]
    big = np.flatnonzero(np.abs(seq.drops) > 0.02 * seq.peak_lr)
    if len(big):
        offsets = np.unique(
            np.concatenate([np.arange(0, 16), np.geomspace(16, max(T, 17), 48).astype(np.int64)])
        )
        for k in big[:256]:
            rows.append(k + offsets)
    grid = np.unique(np.concatenate(rows))
    return grid[(grid >= 0) & (grid <= T)]


def law_curve(
    fit: dict[str, Any], lr: np.ndarray, rows: int = PREDICT_ROWS, bins: int = PREDICT_BINS
) -> np.ndarray:
    """The law's loss at every row ``0 .. T-1`` of ``lr`` (NaN where no lr area has built up yet)."""
    return _curve(fit["law"], fit["params"], prepare(lr), rows, bins)


def _curve(
    law: str, params: dict[str, float], seq: Sequence, rows: int, bins: int, at: np.ndarray | None = None
) -> np.ndarray:
    theta = theta_of(law, params)
    T = seq.steps
    at = np.arange(T) if at is None else at
    area = seq.area[at]
    if law == "multi-power":
        p = params
        grid = at if len(at) <= rows else _grid(seq, rows)
        ann, _ = mp_annealing(
            seq.area[grid].astype(np.float64), make_bins(seq, bins), p["C"], p["beta"], p["gamma"]
        )
        ld = p["B"] * np.interp(at, grid, ann)
        with np.errstate(divide="ignore"):
            out = p["L0"] + p["A"] * area ** -p["alpha"] - ld
    else:
        out, _ = an_value(theta, seq, at)
    return np.where(area > 0, out, np.nan)


def predict(
    fit: dict[str, Any], lr: np.ndarray, steps: np.ndarray | None = None, name: str = "target"
) -> pd.DataFrame:
    """``step, lr, loss_pred, loss_low, loss_high`` for every row of ``lr``.

    ``loss_pred`` at row ``t`` is the loss after ``t`` optimizer steps; rows before any lr area has
    built up (row 0, a warmup from 0) have no prediction (NaN)."""
    law = check_law(fit["law"])
    lr = np.asarray(lr, dtype=np.float64)
    check_lr(lr, name)
    seq = prepare(lr)
    pred = _curve(law, fit["params"], seq, PREDICT_ROWS, PREDICT_BINS)
    low, high = band(fit, seq, pred)
    return pd.DataFrame(
        {
            "step": np.arange(len(lr)) if steps is None else np.asarray(steps),
            "lr": lr,
            "loss_pred": pred,
            "loss_low": low,
            "loss_high": high,
        }
    )


def band(fit: dict[str, Any], seq: Sequence, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reps = fit.get("band", {}).get("params", [])
    if not reps:
        return pred.copy(), pred.copy()
    law = fit["law"]
    T = seq.steps
    at = np.unique(np.linspace(0, T - 1, min(T, BAND_ROWS)).round().astype(np.int64))
    base = _curve(law, fit["params"], seq, BAND_ROWS, BAND_BINS, at)
    ratios = np.stack([_curve(law, r, seq, BAND_ROWS, BAND_BINS, at) / base for r in reps])
    lo_level, hi_level = fit["band"].get("level", BAND)
    ok = np.isfinite(ratios).all(axis=0)
    r_lo = np.ones(len(at))
    r_hi = np.ones(len(at))
    if ok.any():
        r_lo[ok] = np.percentile(ratios[:, ok], lo_level, axis=0)
        r_hi[ok] = np.percentile(ratios[:, ok], hi_level, axis=0)
    rows = np.arange(T)
    low = np.minimum(pred * np.interp(rows, at, r_lo), pred)
    high = np.maximum(pred * np.interp(rows, at, r_hi), pred)
    return low, high


def fit_error(fit: dict[str, Any], runs: Seq[Run]) -> dict[str, Any]:
    """Relative error of the fitted law against each run's logged loss after the warmup: at the fit
    points (group means) and at every logged value."""
    per = {}
    rels = []
    for run in runs:
        seq = prepare(run.lr)
        rows, y = fit_points(run, fit.get("settings", {}).get("points", POINTS))
        curve = _curve(fit["law"], fit["params"], seq, PREDICT_ROWS, PREDICT_BINS, np.arange(seq.steps + 1))
        at_points = np.interp(rows, np.arange(len(curve)), curve)
        rel = np.abs(at_points - y) / y
        keep = (run.loss_rows > seq.peak) & (run.loss_rows >= 1)
        raw = np.abs(curve[run.loss_rows[keep]] - run.loss[keep]) / run.loss[keep]
        per[run.name] = {
            "points": len(y),
            "mean_rel": float(np.mean(rel)),
            "max_rel": float(np.max(rel)),
            "logged": int(keep.sum()),
            "mean_rel_logged": float(np.mean(raw)),
        }
        rels.append(rel)
    return {"mean_rel": float(np.mean(np.concatenate(rels))), "runs": per}


def final_loss(fit: dict[str, Any], lr: np.ndarray) -> tuple[float, float, float]:
    """``(pred, low, high)`` of the loss at the last row of ``lr`` (computed exactly, no bins)."""
    seq = prepare(np.asarray(lr, dtype=np.float64))
    at = np.array([seq.steps - 1])
    n = seq.steps + 1
    pred = float(_curve(fit["law"], fit["params"], seq, n, n, at)[0])
    reps = fit.get("band", {}).get("params", [])
    if not reps:
        return pred, pred, pred
    vals = np.array([_curve(fit["law"], r, seq, n, n, at)[0] for r in reps])
    lo_level, hi_level = fit["band"].get("level", BAND)
    return (
        pred,
        min(pred, float(np.percentile(vals, lo_level))),
        max(pred, float(np.percentile(vals, hi_level))),
    )
