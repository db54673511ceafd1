"""Comparing designs: accumulation variants of one design and a table of what differs.

Pure functions of configs (no Streamlit), used by the app's Compare page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

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
