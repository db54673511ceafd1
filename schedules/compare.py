"""Comparing designs: accumulation variants of one design and a table of what differs.

Pure functions of configs (no Streamlit), used by the app's Compare page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .build import load_config
from .design import ScheduleConfig

Keep = Literal["effective_batch", "micro_batch"]


def accumulation_variant(
    config: ScheduleConfig, accumulation: int, keep: Keep = "effective_batch"
) -> ScheduleConfig:
    """``config`` with ``accumulation_steps = accumulation``.

    ``keep="effective_batch"``: the micro-batch size becomes ``effective_batch / (accumulation * W)``
    (the usual reason to accumulate: the same optimization with less memory); it must divide evenly,
    else :class:`~schedules.design.problems.ConfigError`.  ``keep="micro_batch"``: the micro-batch size stays,
    so the effective batch grows with the accumulation (and there are fewer optimizer steps).
    """
    data = config.to_dict()
    t = data["training"]
    if keep == "effective_batch":
        per_step = t["micro_batch_size"] * t["accumulation_steps"]
        if per_step % accumulation:
            from .design import ConfigError, Problem

            raise ConfigError(
                Problem(
                    "training.accumulation_steps",
                    f"must divide the per-rank batch {per_step} (micro-batch x accumulation) to keep the "
                    "effective batch",
                    accumulation,
                )
            )
        t["micro_batch_size"] = per_step // accumulation
    t["accumulation_steps"] = accumulation
    data["name"] = f"{config.name} · accumulation {accumulation}"
    return load_config(data)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values (shown as JSON)."""
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: "{}"}
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


DERIVED = ("total_steps", "warmup_steps", "steps_per_epoch", "effective_batch")


def parameter_diff(configs: Mapping[str, ScheduleConfig], derived: Sequence[str] = DERIVED) -> pd.DataFrame:
    """One row per config field (dotted path) whose value differs between the named configs, plus
    the derived step counts that differ; one column per config.  ``name`` is left out."""
    flat = {name: flatten(cfg.to_dict()) for name, cfg in configs.items()}
    keys: list[str] = []
    for f in flat.values():
        for k in f:
            if k not in keys and k not in ("name", "format"):
                keys.append(k)
    rows: list[dict[str, Any]] = []
    for k in keys:
        values = [f.get(k) for f in flat.values()]
        if len({json.dumps(v, sort_keys=True) for v in values}) > 1:
            rows.append({"parameter": k, **{n: _show(f.get(k)) for n, f in flat.items()}})
    plans = {name: cfg.plan for name, cfg in configs.items()}
    for d in derived:
        values = [getattr(p, d) for p in plans.values()]
        if len(set(values)) > 1:
            rows.append({"parameter": f"= {d}", **{n: _show(getattr(p, d)) for n, p in plans.items()}})
    return pd.DataFrame(rows, columns=["parameter", *configs])


# --------------------------------------------------------------------------------------------------
# what the overlay hides, and what the batch size asks for


def identical_curves(frames: Mapping[str, pd.DataFrame], x: str = "samples") -> list[list[str]]:
    """Groups (two or more labels, in the given order) of curves that draw the same line: equal ``x``
    columns and equal ``lr`` at every row, the lr compared in float32 (the drawn precision; the Compare
    page keeps its mistake curves as float32).  Each frame has the ``x`` and ``lr`` columns."""
    groups: dict[tuple[int, str], list[str]] = {}
    for label, frame in frames.items():
        xs = np.ascontiguousarray(frame[x].to_numpy(dtype=np.float64))
        lr = np.ascontiguousarray(frame["lr"].to_numpy(dtype=np.float32))
        key = (len(xs), hashlib.sha256(xs.tobytes() + b"|" + lr.tobytes()).hexdigest())
        groups.setdefault(key, []).append(label)
    return [labels for labels in groups.values() if len(labels) > 1]


def lr_per_sample(peak_lr: float, effective_batch: int) -> float:
    """The peak lr per sample of the effective batch, ``peak_lr / effective_batch``: constant across
    batch sizes under the linear scaling rule (Goyal et al. 2017), so designs for different batches
    compare on it."""
    return peak_lr / effective_batch


def same_lr_other_batch(designs: Mapping[str, tuple[float, int]]) -> list[tuple[str, str]]:
    """Pairs ``(a, b)`` of designs (``label -> (peak lr, effective batch)``) whose effective batches
    differ while their peak lrs are equal (relative 1e-12): the lr was probably not rescaled for the new
    batch (linear rule for SGD, square root for Adam; the batch-size assistant proposes one).  ``a`` has
    the smaller batch; pairs in the order of the labels."""
    items = list(designs.items())
    out: list[tuple[str, str]] = []
    for i, (a, (lr_a, batch_a)) in enumerate(items):
        for b, (lr_b, batch_b) in items[i + 1 :]:
            if batch_a != batch_b and abs(lr_a - lr_b) <= 1e-12 * max(abs(lr_a), abs(lr_b)):
                out.append((a, b) if batch_a < batch_b else (b, a))
    return out
