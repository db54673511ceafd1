"""Where a fitted law may be trusted: the scope of its runs, and the caveats of a prediction outside it.

A loss law is fitted on runs of one model, data, batch size and optimizer that differ in their schedule
only; it predicts what changing the *schedule* does.  The fit records its runs' scope
(:func:`scope_of`: their lengths, peak lrs and effective batches, where known), and every prediction
checks its target against it (:func:`caveats`): a different effective batch (the law does not transfer
across batch sizes: the loss per step and the noise both change), a peak lr outside the fitted ones, a
length outside them.  A fit on one run is flagged as not identifiable: seven parameters from one
schedule trade off against each other, and its bootstrap band says nothing about that.  The pages and
the CLI show these lines beside every prediction and ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .runs import Run

#: Relative slack before a peak lr or a length counts as outside the fitted runs' range.
SLACK = 0.01

ONE_RUN = (
    "fitted on one run: the law's parameters are not identifiable from one schedule (the decay "
    "terms trade off against each other), so its band is too narrow and its ranking a guess; fit on "
    "two or more schedules"
)


def scope_of(runs: Sequence[Run]) -> dict[str, Any]:
    """``{"runs", "steps": [min, max], "peak_lr": [min, max], "batch": [min, max] or None,
    "batch_unknown": [names]}`` of the fitted runs (JSON-serialisable; stored in the fit)."""
    steps = [r.steps for r in runs]
    peaks = [float(np.max(r.lr)) for r in runs]
    known = [r.batch for r in runs if r.batch is not None]
    return {
        "runs": len(runs),
        "steps": [min(steps), max(steps)],
        "peak_lr": [min(peaks), max(peaks)],
        "batch": [min(known), max(known)] if known else None,
        "batch_unknown": [r.name for r in runs if r.batch is None],
    }


def _outside(value: float, low: float, high: float) -> bool:
    return value < low * (1 - SLACK) or value > high * (1 + SLACK)


def _range(low: float, high: float, fmt: str) -> str:
    return format(low, fmt) if low == high else f"{format(low, fmt)} to {format(high, fmt)}"


def caveats(fit: dict[str, Any], lr: np.ndarray, batch: int | None = None) -> list[str]:
    """One line per way the target ``lr`` (of effective batch ``batch``, when known) lies outside the
    fitted runs; ``[]`` when it is inside their scope.  A one-run fit always gets its line."""
    scope = fit.get("scope")
    if not isinstance(scope, dict):
        return ["the fit does not record its runs' lengths, peak lrs and batches (saved before they were)"]
    out = []
    if scope.get("runs", 0) < 2:
        out.append(ONE_RUN)
    lr = np.asarray(lr, dtype=np.float64)
    peak = float(np.max(lr)) if len(lr) else 0.0
    lo, hi = scope["peak_lr"]
    if _outside(peak, lo, hi):
        side = "above" if peak > hi else "below"
        out.append(
            f"peak lr {peak:.4g} is {side} the fitted runs' {_range(lo, hi, '.4g')}: the law was not fitted "
            "there (above it, training may diverge, which the law cannot show)"
        )
    _, hi = scope["steps"]
    if len(lr) > hi * (1 + SLACK):  # a shorter run stays within the lr areas the fit has seen
        out.append(
            f"length {len(lr):,} steps is beyond the fitted runs' longest ({hi:,}): the law extrapolates "
            f"x{len(lr) / hi:.2g} past its data"
        )
    known = scope.get("batch")
    if batch is not None and known is not None and _outside(batch, *known):
        out.append(
            f"effective batch {batch:,} differs from the fitted runs' {_range(known[0], known[1], ',')}: the law "
            "does not transfer across batch sizes (fit on runs at this batch)"
        )
    return out


def scope_notes(fit: dict[str, Any]) -> list[str]:
    """What the fit as a whole cannot check (said once, beside the fit): runs of unknown batch."""
    scope = fit.get("scope")
    if not isinstance(scope, dict):
        return []
    unknown = scope.get("batch_unknown") or []
    if not unknown:
        return []
    return [
        f"the effective batch of {', '.join(unknown)} is not known (a log without its design): predictions "
        "cannot check a target's batch against it, and assume they are the same"
    ]
