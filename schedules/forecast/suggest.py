"""Which schedule ends lower: predicted final losses of designs, and a suggested schedule.

:func:`candidates` builds, from a design, the schedules the suggestion searches: warmup + cosine to a
final lr, and warmup-stable-decay (WSD) with a cooldown over a fraction of the run, shaped linear
(``LinearLR``), cosine (``CosineAnnealingLR``) or 1-sqrt (a ``LambdaLR`` expression
``1 - (1 - f) * sqrt(step / n)``), to a final lr.  The design's optimizer, training and warmup are
kept; a plateau section is dropped (the laws have no metric feedback).  Every candidate is an
ordinary ``lr-schedule/v1`` config, so applying one to the Designer shows exactly the curve that was
scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..build import load_config
from ..design import ScheduleConfig
from .fit import final_loss
from .validity import caveats

#: Cooldown lengths (fraction of the run), shapes and final lrs (fraction of the peak) searched.
DECAY_FRACTIONS = (0.1, 0.2, 0.3, 0.5)
SHAPES = ("linear", "cosine", "1-sqrt")
FINAL_FACTORS = (0.0, 0.1)

LrOf = Callable[[ScheduleConfig], np.ndarray]


def _lr_of(config: ScheduleConfig) -> np.ndarray:
    from ..curve import lr_curve

    return lr_curve(config)["lr"].to_numpy(dtype=np.float64)


def _to(final: float) -> str:
    return f"to {final:g} x lr" if final else "to 0"


def decay_section(shape: str, final: float, peak: float) -> dict[str, Any]:
    if shape == "linear":
        return {"scheduler": "LinearLR", "kwargs": {"start_factor": 1.0, "end_factor": final}}
    if shape == "cosine":
        return {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": final * peak}}
    expr = f"1 - {1 - final:g} * sqrt(step / n)"
    return {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": expr}}


def candidates(config: ScheduleConfig) -> list[dict[str, Any]]:
    """``[{"name", "family", "decay_fraction", "shape", "final_lr", "config"}]`` for ``config``."""
    base = config.to_dict()
    base["plateau"] = None
    peak = float(config.optimizer.lr)
    plan = config.plan
    total, warm = plan.total_steps, plan.warmup_steps
    out = []
    for final in FINAL_FACTORS:
        data = {**base, "decay": {**decay_section("cosine", final, peak), "interval": "step"}}
        data["name"] = f"warmup + cosine {_to(final)}"
        out.append(
            {
                "name": data["name"],
                "family": "cosine",
                "decay_fraction": 1.0,
                "shape": "cosine",
                "final_lr": final,
                "config": data,
            }
        )
    for frac in DECAY_FRACTIONS:
        n = max(1, round(frac * total))
        hold = max(0, total - warm - n)
        for shape in SHAPES:
            for final in FINAL_FACTORS:
                data = {
                    **base,
                    "decay": {**decay_section(shape, final, peak), "interval": "step", "hold_steps": hold},
                }
                data["name"] = f"WSD: {shape} cooldown over the last {frac:.0%} {_to(final)}"
                out.append(
                    {
                        "name": data["name"],
                        "family": "WSD",
                        "decay_fraction": frac,
                        "shape": shape,
                        "final_lr": final,
                        "config": data,
                    }
                )
    for c in out:
        c["config"] = load_config(c["config"])
    return out


def ends_lower(
    fit: dict[str, Any], lrs: dict[str, np.ndarray], batches: dict[str, int | None] | None = None
) -> pd.DataFrame:
    """Predicted final loss of each named lr sequence, lowest first: ``design, steps, final_lr,
    loss_pred, loss_low, loss_high, vs_best`` (relative to the lowest), ``caveats`` (where the design
    lies outside the fitted runs, :func:`schedules.forecast.validity.caveats`; ``batches`` gives the
    designs' effective batches) and ``clear``: its band does not overlap the lowest one's *and* neither
    has a caveat (a ranking is never more certain than the fit behind it)."""
    rows = []
    for name, lr in lrs.items():
        pred, low, high = final_loss(fit, lr)
        rows.append(
            {
                "design": name,
                "steps": len(lr),
                "final_lr": float(lr[-1]),
                "loss_pred": pred,
                "loss_low": low,
                "loss_high": high,
                "caveats": "; ".join(caveats(fit, lr, (batches or {}).get(name))),
            }
        )
    frame = pd.DataFrame(rows).sort_values("loss_pred", kind="stable").reset_index(drop=True)
    if len(frame):
        best = frame.iloc[0]
        frame["vs_best"] = frame.loss_pred / best.loss_pred - 1
        frame["clear"] = (frame.loss_low > best.loss_high) & (frame.caveats == "") & (best.caveats == "")
        frame.loc[0, "clear"] = False
    return frame


def suggest(fit: dict[str, Any], config: ScheduleConfig, lr_of: LrOf | None = None) -> pd.DataFrame:
    """Every candidate of :func:`candidates` with its predicted final loss, lowest first; the column
    ``config`` holds the candidate's config JSON."""
    lr_of = lr_of or _lr_of
    rows = []
    for c in candidates(config):
        lr = lr_of(c["config"])
        pred, low, high = final_loss(fit, lr)
        rows.append(
            {
                "name": c["name"],
                "family": c["family"],
                "decay_fraction": c["decay_fraction"],
                "shape": c["shape"],
                "final_lr": c["final_lr"],
                "loss_pred": pred,
                "loss_low": low,
                "loss_high": high,
                "config": c["config"].to_json(),
            }
        )
    return pd.DataFrame(rows).sort_values("loss_pred", kind="stable").reset_index(drop=True)
