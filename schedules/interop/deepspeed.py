"""DeepSpeed's schedulers as the engine steps them: :func:`deepspeed_curve` and :func:`ds_expression`.

DeepSpeed is not installed here; its schedulers are re-implemented from their documented
definitions (``deepspeed/runtime/lr_schedules.py``, ``deepspeed.readthedocs.io`` "Learning Rate
Schedulers") in :func:`deepspeed_curve`, including **how the engine steps them**:
``DeepSpeedEngine`` calls ``lr_scheduler.step()`` after every optimizer step (never before the
first one), and the constructors set the first lr.  So, with ``F(i)`` the documented lr at
``last_batch_iteration = i``, optimizer step ``k`` uses

============  =================================================================================
row 0         what the constructor set: ``warmup_min_lr`` (WarmupLR, WarmupDecayLR),
              ``0.0`` for every param group (WarmupCosineLR: ``get_lr()`` before the first step
              returns 0 for each group), ``cycle_min_lr`` (OneCycle), ``lr_range_test_min_lr``
              (LRRangeTest)
row k >= 1    ``F(k - 1)``
============  =================================================================================

``F`` for the warmup types, ``W = max(2, warmup_num_steps)``, ``T' = total_num_steps``:

- warmup ``i < W``: ``gamma = i / W`` (``"linear"``) or ``log(i + 1) / log(W)`` (``"log"``, the default)
- ``WarmupLR``: ``min + (max - min) * gamma``, ``gamma = 1`` after warmup (``warmup_max_lr``
  unset: each group's own lr)
- ``WarmupDecayLR``: after warmup ``gamma = max(0, (T' - i) / max(1, T' - W))``: decays to ``min``
- ``WarmupCosineLR``: ratios of each group's lr: warmup ``r_min + (1 - r_min) * gamma``; after,
  ``max(0, c + (1 - c) * (1 + cos(pi * p)) / 2)`` with ``p = min(1, (i - W + 1) / max(1, T' - W))``
  and ``c = cos_min_ratio`` (DeepSpeed 0.19.8 clamps ``p``: the lr stays at the floor past ``T'``)
- ``OneCycle``: triangle ``cycle_min_lr -> cycle_max_lr -> cycle_min_lr`` over
  ``cycle_first_step_size + cycle_second_step_size`` with ``batch_iteration = i + 1`` (in stairs
  with ``cycle_*_stair_count``), then
  ``cycle_min_lr / (1 + decay_lr_rate * (i - size + 1) / decay_step_size)``
- ``LRRangeTest``: ``min_lr * (1 + step_rate * (i + 1) / step_size)`` (``floor`` of the quotient
  with ``staircase``)

Checked against DeepSpeed 0.19.8's own scheduler classes (``tests/test_deepspeed_schedulers_real.py``).

Consequences an exporter has to state: DeepSpeed's first two steps share one lr (the constructor's
and ``F(0)``), its warmups end one step late, a ``WarmupCosineLR`` never returns the peak lr
itself (its cosine starts at ``i - W + 1 = 1``), and ``WarmupDecayLR`` decays to its warmup start.
Each export (:mod:`schedules.interop.deepspeed_export`) therefore picks the parameters (natural or
shifted by one step) whose curve is nearest the design and reports the remaining difference.
Imports (:mod:`schedules.interop.deepspeed_import`) reproduce DeepSpeed exactly: as torch scheduler
classes when they can, otherwise as one ``LambdaLR`` expression of DeepSpeed's formula
(:func:`ds_expression`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..design import ConfigError, Problem
from .common import get_number, num

__all__ = [
    "DS_DEFAULTS",
    "DS_TYPES",
    "block_params",
    "deepspeed_curve",
    "ds_expression",
    "scalar",
    "total_num_steps",
]

#: DeepSpeed's scheduler types (``deepspeed/runtime/lr_schedules.py``).
DS_TYPES = ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest")

#: Documented defaults of each type's params.
DS_DEFAULTS: dict[str, dict[str, Any]] = {
    "WarmupLR": {
        "warmup_min_lr": 0.0,
        "warmup_max_lr": None,
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


def block_params(block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A scheduler block's type and its params over the documented defaults, checked: a
    :class:`ConfigError` names an unknown type, an unknown or ``"auto"`` param, a non-number."""
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


def _warmup(p: dict[str, Any]) -> tuple[int, str]:
    """The warmup types' ``(W, warmup_type)``: DeepSpeed warms up over at least 2 steps, and any
    ``warmup_type`` but ``"linear"`` is ``"log"``."""
    w = max(2, int(p["warmup_num_steps"]))
    return w, p["warmup_type"] if p["warmup_type"] in ("linear", "log") else "log"


def _one_cycle(
    p: dict[str, Any], lrs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float, float, tuple[float, float] | None]:
    """OneCycle's ``(cycle_min_lr, cycle_max_lr, first step size, second step size, decay)`` per
    group: an unset bound is the group's lr, an unset ``cycle_second_step_size`` the first; ``decay``
    is ``(decay_lr_rate, decay_step_size)``, ``None`` when either is 0 (the lr then stays at the
    minimum)."""
    groups = len(lrs)
    lo = (
        lrs.copy()
        if p["cycle_min_lr"] is None
        else _per_group(p["cycle_min_lr"], groups, "scheduler.params.cycle_min_lr")
    )
    hi = (
        lrs.copy()
        if p["cycle_max_lr"] is None
        else _per_group(p["cycle_max_lr"], groups, "scheduler.params.cycle_max_lr")
    )
    first = float(p["cycle_first_step_size"])
    second = float(p["cycle_second_step_size"]) if p["cycle_second_step_size"] is not None else first
    rate, dstep = float(p["decay_lr_rate"]), float(p["decay_step_size"])
    decay = None if math.isclose(rate, 0) or math.isclose(dstep, 0) else (rate, dstep)
    return lo, hi, first, second, decay


def _one_cycle_scale(p: dict[str, Any], bi: np.ndarray, first: float, second: float) -> np.ndarray:
    """OneCycle's ``_get_scale_factor`` at ``batch_iteration`` ``bi`` (stairs included)."""
    size = first + second
    ratio = first / size
    cycle = np.floor(1 + bi / size)
    x = 1.0 + bi / size - cycle
    up = x <= ratio
    scale = np.where(up, x / ratio, (x - 1) / (ratio - 1))
    stairs_up = int(p.get("cycle_first_stair_count") or 0)
    second_stairs = p.get("cycle_second_stair_count")
    stairs_down = stairs_up if second_stairs is None else int(second_stairs)
    stairs = np.where(up, stairs_up, stairs_down)
    if (stairs > 0).any():
        ci = np.mod(bi, size)
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = np.where(ci <= first, ci * stairs / first, (size - ci) * stairs / second)
            stepped = np.floor(pos) / stairs
        scale = np.where(stairs > 0, stepped, scale)
    return scale


def deepspeed_curve(block: dict[str, Any], group_lrs: list[float], total: int) -> np.ndarray:
    """The lr of every param group at every optimizer step under DeepSpeed, shape (total, groups).

    ``group_lrs``: each group's lr when the scheduler is built (the optimizer block's lr).
    """
    kind, p = block_params(block)
    groups = len(group_lrs)
    org = np.asarray(group_lrs, dtype=np.float64)
    k = np.arange(total, dtype=np.float64)
    i = k - 1.0  # last_batch_iteration after k engine steps
    out = np.empty((total, groups))
    if kind in ("WarmupLR", "WarmupDecayLR"):
        low = _per_group(p["warmup_min_lr"], groups, "scheduler.params.warmup_min_lr")
        high = (
            org.copy()
            if p["warmup_max_lr"] is None
            else _per_group(p["warmup_max_lr"], groups, "scheduler.params.warmup_max_lr")
        )
        w, wtype = _warmup(p)
        gamma = np.where(i < w, _gamma_warmup(np.maximum(i, 0), w, wtype), 1.0)
        if kind == "WarmupDecayLR":
            t = total_num_steps(p)
            gamma = np.where(i < w, gamma, np.maximum(0.0, (t - i) / max(1.0, t - w)))
        out[:] = low[None, :] + (high - low)[None, :] * gamma[:, None]
        out[0] = low
    elif kind == "WarmupCosineLR":
        t = total_num_steps(p)
        w, wtype = _warmup(p)
        r_min, c = float(p["warmup_min_ratio"]), float(p["cos_min_ratio"])
        up = r_min + _gamma_warmup(np.maximum(i, 0), w, wtype) * (1.0 - r_min)
        progress = np.minimum(1.0, (i - w + 1) / max(1, t - w))
        down = np.maximum(0.0, c + (1.0 - c) * ((1 + np.cos(math.pi * progress)) / 2))
        ratio = np.where(i < w, up, down)
        out[:] = ratio[:, None] * org[None, :]
        out[0] = 0.0  # get_lr() before the first step returns 0.0 for every group (DeepSpeed 0.19.8)
    elif kind == "OneCycle":
        lo, hi, first, second, decay = _one_cycle(p, org)
        size = first + second
        scale = _one_cycle_scale(p, k, first, second)  # batch_iteration = last_batch_iteration + 1
        lr = lo[None, :] + (hi - lo)[None, :] * scale[:, None]
        if decay is not None:
            rate, dstep = decay
            with np.errstate(divide="ignore", invalid="ignore"):
                decayed = lo[None, :] / (1 + rate * ((k - size) / dstep))[:, None]
        else:
            decayed = np.broadcast_to(lo[None, :], (total, groups))
        out[:] = np.where((i < size)[:, None], lr, decayed)
    else:  # LRRangeTest
        lo = _per_group(p["lr_range_test_min_lr"], groups, "scheduler.params.lr_range_test_min_lr")
        q = k / float(p["lr_range_test_step_size"])  # (last_batch_iteration + 1) / step_size
        if p["lr_range_test_staircase"]:
            q = np.floor(q)
        out[:] = lo[None, :] * (1 + float(p["lr_range_test_step_rate"]) * q)[:, None]
    return out


def total_num_steps(p: dict[str, Any]) -> int:
    """``total_num_steps`` of a block's params (WarmupDecayLR, WarmupCosineLR): an integer >= 1, and
    required (a :class:`ConfigError` otherwise)."""
    t = p.get("total_num_steps")
    if t is None:
        raise ConfigError(Problem("scheduler.params.total_num_steps", "is required", None, has_value=False))
    return int(
        get_number(p, "total_num_steps", None, path="scheduler.params.total_num_steps", integer=True, low=1)
    )


# --------------------------------------------------------------------------------------------------
# the same formulas as lr_lambda expressions


def ds_expression(block: dict[str, Any], base_lr: float) -> str:
    """DeepSpeed's lr at optimizer step ``step`` divided by ``base_lr``, as an ``lr_lambda``
    expression (the engine's stepping included: ``step`` 0 is the constructor's lr)."""
    kind, p = block_params(block)
    b = num(base_lr)
    i = "(step - 1)"

    def warm_gamma(w: int, wtype: str) -> str:
        if wtype == "linear":
            return f"{i} / {w}"
        return f"{num(1.0 / math.log(w))} * log({i} + 1)"

    if kind in ("WarmupLR", "WarmupDecayLR"):
        low, high = (
            scalar(p["warmup_min_lr"]),
            scalar(p["warmup_max_lr"] if p["warmup_max_lr"] is not None else base_lr),
        )
        w, wtype = _warmup(p)
        after = "1.0"
        if kind == "WarmupDecayLR":
            t = total_num_steps(p)
            after = f"max(0.0, ({t} - {i}) / {num(max(1.0, t - w))})"
        gamma = f"({warm_gamma(w, wtype)} if {i} < {w} else {after})"
        lr = f"({num(low)} + {num(high - low)} * {gamma})"
        return f"({num(low)} if step < 1 else {lr}) / {b}"
    if kind == "WarmupCosineLR":
        t = total_num_steps(p)
        w, wtype = _warmup(p)
        r, c = float(p["warmup_min_ratio"]), float(p["cos_min_ratio"])
        up = f"{num(r)} + ({warm_gamma(w, wtype)}) * {num(1.0 - r)}"
        progress = f"min(1.0, ({i} - {w} + 1) / {max(1, t - w)})"
        down = f"max(0.0, {num(c)} + {num(1.0 - c)} * ((1 + cos(pi * {progress})) / 2))"
        return f"(0.0 if step < 1 else ({up} if {i} < {w} else {down}))"
    if kind == "OneCycle":
        los, his, first, second, decay = _one_cycle(p, np.asarray([base_lr]))
        lo, hi = float(los[0]), float(his[0])
        size, ratio = first + second, first / (first + second)
        x = f"(1.0 + step / {num(size)} - floor(1 + step / {num(size)}))"
        stairs_up = int(p.get("cycle_first_stair_count") or 0)
        second_stairs = p.get("cycle_second_stair_count")
        stairs_down = stairs_up if second_stairs is None else int(second_stairs)

        def stairs(n: int) -> str:
            ci = f"(step % {num(size)})"
            pos = f"({ci} * {n} / {num(first)} if {ci} <= {num(first)} else ({num(size)} - {ci}) * {n} / {num(second)})"
            return f"floor({pos}) / {n}"

        rise = stairs(stairs_up) if stairs_up > 0 else f"{x} / {num(ratio)}"
        fall = stairs(stairs_down) if stairs_down > 0 else f"({x} - 1) / {num(ratio - 1)}"
        scale = f"({rise} if {x} <= {num(ratio)} else {fall})"
        if decay is not None:
            rate, dstep = decay
            decayed = f"{num(lo)} / (1 + {num(rate)} * ((step - {num(size)}) / {num(dstep)}))"
        else:
            decayed = num(lo)
        return f"(({num(lo)} + {num(hi - lo)} * {scale}) if {i} < {num(size)} else {decayed}) / {b}"
    lo = scalar(p["lr_range_test_min_lr"])
    q = f"(step / {num(float(p['lr_range_test_step_size']))})"
    if p["lr_range_test_staircase"]:
        q = f"floor{q}"
    return f"{num(lo)} * (1 + {num(float(p['lr_range_test_step_rate']))} * {q}) / {b}"


def scalar(value: Any) -> float:
    """A per-group parameter's value for the first group (the value itself when it is one number)."""
    if isinstance(value, list | tuple):
        return float(value[0])
    return float(value)
