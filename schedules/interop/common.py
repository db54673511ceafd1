"""Shared pieces of the exporters and importers: the exactness check, safe expressions, literals.

Every exporter follows one contract: ``to_<target>(config) -> (payload, warnings)``.  The payload is
what the target reads (a dict of keyword arguments, a JSON block or a code snippet); ``warnings`` is
a list of one-line messages, each naming what the target cannot express (``"<Target> cannot express:
<field>=<value> (...)"``).  An empty list means the target reproduces the design's curve, row for
row, within :data:`RTOL` (checked numerically, not assumed: each exporter recomputes the curve the
target will produce with that target's own formulas and compares it with :func:`schedules.lr_curve`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..design import ConfigError, Problem
from ..design.expr import in_language

#: Relative tolerance of "exact": the targets compute the same closed forms with a different
#: order of floating-point operations (torch's recursive forms drift by ~1e-15 per step).
RTOL = 1e-12
#: Absolute floor, as a fraction of the peak lr, for rows whose lr is (almost) zero: a relative
#: difference is meaningless there (cos(pi/2) is 6e-17, not 0).
ATOL_OF_PEAK = 1e-15

#: Largest import document accepted (bytes of JSON text).
MAX_IMPORT_BYTES = 1_000_000


@dataclass(frozen=True)
class Mismatch:
    """Where a target's curve first leaves the design's, and by how much at worst."""

    first_step: int
    worst_step: int
    worst_rel: float
    design_lr: float
    target_lr: float
    rows_differing: int

    def describe(self, target: str) -> str:
        return (
            f"{target} gives a different curve: {self.rows_differing} of the steps differ, first at step "
            f"{self.first_step}; worst at step {self.worst_step}: design lr {self.design_lr:.6g}, "
            f"{target} {self.target_lr:.6g} ({_percent(self.worst_rel)})"
        )


def _percent(rel: float) -> str:
    if not math.isfinite(rel):
        return "a different value"
    if rel >= 0.01:
        return f"{rel:.1%} off"
    return f"{rel:.2e} relative"


def compare(design: np.ndarray, target: np.ndarray) -> Mismatch | None:
    """``None`` when ``target`` equals ``design`` row for row within RTOL (+ ATOL_OF_PEAK * peak)."""
    design = np.asarray(design, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if design.shape != target.shape:
        raise ValueError(f"curves must have the same shape, got {design.shape} and {target.shape}")
    peak = float(np.max(np.abs(design))) if design.size else 0.0
    diff = np.abs(design - target)
    scale = np.maximum(np.abs(design), np.abs(target))
    bad = ~(diff <= RTOL * scale + ATOL_OF_PEAK * peak)
    if not bad.any():
        return None
    rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, diff / scale, 0.0)
    flat = rel.reshape(rel.shape[0], -1).max(axis=1)
    worst = int(np.argmax(np.where(np.isnan(flat), np.inf, flat)))
    d = design.reshape(design.shape[0], -1)[worst]
    t = target.reshape(target.shape[0], -1)[worst]
    col = int(np.argmax(np.abs(d - t)))
    return Mismatch(
        first_step=int(rows[0]),
        worst_step=worst,
        worst_rel=float(flat[worst]),
        design_lr=float(d[col]),
        target_lr=float(t[col]),
        rows_differing=int(rows.size),
    )


C = TypeVar("C")


def nearest(
    candidates: Iterable[C], curve: Callable[[C], np.ndarray], error: Callable[[np.ndarray], float]
) -> C:
    """The candidate whose ``curve`` has the least ``error`` (the first of equals): the closest-schedule
    search of the exports.  A candidate whose curve is not finite everywhere (a formula dividing by
    zero for its arguments) is passed over."""
    best, best_err = None, math.inf
    for candidate in candidates:
        with np.errstate(all="ignore"):
            values = curve(candidate)
        if not np.isfinite(values).all():
            continue
        err = error(values)
        if err < best_err:
            best, best_err = candidate, err
    assert best is not None
    return best


def cannot(target: str, what: str, why: str = "") -> str:
    """The one wording of a warning: ``"<target> cannot express: <what> (<why>)"``."""
    return f"{target} cannot express: {what}" + (f" ({why})" if why else "")


def without_ramp(cfg: Any, target: str) -> tuple[Any, list[str]]:
    """A design with ``training.batch_ramp`` as the frameworks can take it, and the warning that says so.

    The frameworks train with one batch size per run.  The lr curve depends only on the count of
    optimizer steps (a ramp refuses lengths counted in epochs), so the export is made for the same
    design with the ramp left out and ``max_steps`` pinned to its total: the same lr at every optimizer
    step, provided the training loop feeds the ramp's smaller batches itself.  Without a ramp: ``cfg``
    and no warning."""
    plan = cfg.plan
    if not plan.batch_ramp:
        return cfg, []
    from ..build import load_config

    data = cfg.to_dict()
    data["training"].pop("batch_ramp")
    data["training"]["max_steps"] = plan.total_steps
    stages = ", ".join(f"{b:,} until {u:,} samples" for b, u in plan.batch_ramp)
    warning = cannot(
        target,
        f"training.batch_ramp=[{stages}]",
        f"{target} trains with one batch size per run: the export counts the design's {plan.total_steps:,} "
        f"optimizer steps (max_steps), the first {plan.ramp_steps:,} of them with the ramp's smaller "
        "batches, so feed those batches yourself (or train each stage as its own run)",
    )
    return load_config(data), [warning]


def num(value: float) -> str:
    """A float as the shortest text that reads back as the same float."""
    return repr(float(value))


def close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= RTOL * max(abs(a), abs(b))


def unique(lines: list[str]) -> list[str]:
    """``lines`` without repeats, each where it first stands (a warning is said once)."""
    seen: set[str] = set()
    return [x for x in lines if not (x in seen or seen.add(x))]


# --------------------------------------------------------------------------------------------------
# reading import documents


def read_json_object(source: str | bytes | dict[str, Any], what: str) -> dict[str, Any]:
    """A JSON object from text, bytes or a dict; ConfigError naming ``what`` otherwise."""
    if isinstance(source, dict):
        return source
    if isinstance(source, bytes):
        if len(source) > MAX_IMPORT_BYTES:
            raise ConfigError(
                Problem("(file)", f"must be at most {MAX_IMPORT_BYTES} bytes", f"{len(source)} bytes")
            )
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(Problem("(file)", "must be UTF-8 text", f"byte {exc.start}")) from None
    if len(source) > MAX_IMPORT_BYTES:
        raise ConfigError(
            Problem("(file)", f"must be at most {MAX_IMPORT_BYTES} characters", f"{len(source)} characters")
        )
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            Problem(
                "(file)",
                f"must be {what} as JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                None,
                has_value=False,
            )
        ) from None
    except RecursionError:
        raise ConfigError(Problem("(file)", "is nested too deeply", None, has_value=False)) from None
    if not isinstance(data, dict):
        raise ConfigError(Problem("(file)", f"must be {what}: a JSON object", type(data).__name__))
    return data


def get_number(
    data: dict[str, Any],
    key: str,
    default: Any,
    *,
    path: str | None = None,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> Any:
    """``data[key]`` checked to be a (finite) number in [low, high]; ``default`` when absent/None."""
    value = data.get(key, default)
    if value is None:
        return default
    where = path or key
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        kind = "an integer" if integer else "a number"
        raise ConfigError(Problem(where, f"must be {kind}", value))
    if integer and float(value) != int(value):
        raise ConfigError(Problem(where, "must be an integer", value))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = " and ".join(
            x for x in (f">= {low}" if low is not None else "", f"<= {high}" if high is not None else "") if x
        )
        raise ConfigError(Problem(where, f"must be a number {bounds}", value))
    return int(value) if integer else value


# --------------------------------------------------------------------------------------------------
# lr_lambda expressions that are safe to put into generated code


def plain_expression(expression: str) -> bool:
    """True when ``expression`` uses only numbers, the documented names and math functions.

    Generated Python code runs every branch of an expression, so only expressions inside the
    expression language (:func:`schedules.design.expr.in_language`, the same check configs pass) are ever
    written into a snippet.
    """
    return in_language(expression)
