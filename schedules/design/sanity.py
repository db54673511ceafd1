"""Sanity warnings: designs that are valid but almost surely not meant (no torch).

A valid design can still be nonsense: a warmup longer than the run, a plateau watching a loss in
``max`` mode, a cosine floor above its peak.  :func:`sanity_warnings` names each such problem by
its field path, says what happens and why, and how to fix it.  ``python -m schedules validate``
prints them as ``warning: <field path>: <text>`` lines (exit stays 0) and the Designer shows the same
lines above the chart.  No preset ever warns.

Each check is a pure function of the design and its step accounting (:attr:`ScheduleConfig.plan`),
cheap enough for every rerun of the Designer:

===============================  ==================================================================
warmup too long                  the warmup takes the whole run (``w >= T``): the peak is never
                                 reached and the decay never runs
plateau mode against the metric  ``mode: max`` on the synthetic metric (a loss); pasted values that
                                 never improve on the first one in the chosen mode and move the
                                 other way (an accuracy in ``min`` mode, a loss in ``max`` mode)
cosine floor at the peak         a cosine decay's ``eta_min`` (or WSD's ``min_lr_ratio``) at or
                                 above a param group's peak lr: that group never decays
``T_max`` shorter than the decay  ``CosineAnnealingLR`` is periodic: past ``T_max`` its lr climbs
                                 back up within the run (restarts are ``CosineAnnealingWarmRestarts``)
decay ends long before the run   ``LinearLR``/``PolynomialLR``'s ``total_iters`` (or WSD's explicit
                                 phases) end with more than :data:`EARLY_END_FRACTION` of the run
                                 (and more than one row) left at the final lr
===============================  ==================================================================
"""

from __future__ import annotations

from typing import NamedTuple

from .decay import resolved_eta_min
from .plan import Plan
from .spec import ScheduleConfig

__all__ = ["EARLY_END_FRACTION", "SanityWarning", "decay_end_row", "last_decay_step_shown", "sanity_warnings"]

#: A decay that ends with more than this fraction of the run still to go "ends long before the run".
EARLY_END_FRACTION = 0.1


class SanityWarning(NamedTuple):
    """One warning: the field it is about (a path, as in error messages) and what and why."""

    path: str
    text: str

    def line(self) -> str:
        return f"{self.path}: {self.text}"


def _num(value: float) -> str:
    return f"{value:.4g}"


def _steps(n: int) -> str:
    return f"{n:,} optimizer step{'s' if n != 1 else ''}"


def last_decay_step_shown(plan: Plan) -> int:
    """The largest number of steps the decay scheduler has taken on any row of the curve (-1 when no
    row of the curve is in the decay).

    ``interval="step"``: rows ``decay_start .. T-1`` have taken ``0 .. T-1-decay_start`` steps.
    ``interval="epoch"``: the decay is built at row ``w`` (the warmup's end) and steps after each epoch's
    last step ``k >= w``; that shows from row ``k + 1``, so epoch ends at ``T - 1`` never show.
    """
    t = plan.total_steps
    if plan.decay_interval == "epoch":
        w = plan.warmup_steps
        if w > t - 1:
            return -1
        ends = plan.epoch_ends_from(w)
        if t % plan.steps_per_epoch == 0 and t - 1 >= w:
            ends -= 1  # the last step ends an epoch: its scheduler step shows on no row
        return ends
    return t - 1 - plan.decay_start


def decay_end_row(plan: Plan, length: int) -> int | None:
    """The first row at which a decay of ``length`` scheduler steps has taken all of them (its final
    value shows from there on), or None when the run ends first."""
    t = plan.total_steps
    if plan.decay_interval == "epoch":
        w, s = plan.warmup_steps, plan.steps_per_epoch
        if length == 0:
            row = w
        else:
            first = -(-(w + 1) // s)  # the first epoch m (1-based) whose last step m*s - 1 is >= w
            row = (first + length - 1) * s  # the step after the length-th such epoch end
    else:
        row = plan.decay_start + length
    return row if row <= t - 1 else None


# --------------------------------------------------------------------------------------------------
# the checks


def _warmup_too_long(cfg: ScheduleConfig) -> list[SanityWarning]:
    plan = cfg.plan
    t = plan.total_steps
    if cfg.wsd is not None:
        w, _, _ = cfg.wsd.lengths(t)
        path = "wsd.warmup_steps" if cfg.wsd.warmup_steps is not None else "wsd.warmup_ratio"
        given = cfg.wsd.warmup_steps
    elif cfg.warmup is not None:
        w = plan.warmup_steps
        path = "warmup.steps" if cfg.warmup.steps is not None else "warmup.ratio"
        given = cfg.warmup.steps
    else:
        return []
    if w == 0 or w < t:
        return []
    text = (
        f"the warmup ({_steps(w)}) is as long as or longer than the run ({_steps(t)}): the peak lr is never "
        "reached and the decay never runs"
    )
    a = plan.accumulation_steps
    if given is not None and a > 1:
        text += (
            f"; counted in micro-batches? warmup counts optimizer steps: {w:,} micro-batches are "
            f"{-(-w // a):,} optimizer steps at accumulation_steps {a}"
        )
    elif given is not None:
        text += "; warmup counts optimizer steps (not micro-batches or samples)"
    return [SanityWarning(path, text)]


def values_move_against(values: list[float], mode: str) -> bool:
    """True when no value improves on the first one in ``mode`` and some value moves the other way:
    ``min`` with values that never fall below the first and rise above it (an accuracy), ``max`` with
    values that never rise above the first and fall below it (a loss)."""
    if len(values) < 2:
        return False
    first, rest = values[0], values[1:]
    if mode == "min":
        return min(rest) >= first and max(rest) > first
    return max(rest) <= first and min(rest) < first


def _plateau_mode(cfg: ScheduleConfig) -> list[SanityWarning]:
    p = cfg.plateau
    if p is None:
        return []
    if p.metric.synthetic is not None:
        if p.mode != "max":
            return []
        return [
            SanityWarning(
                "plateau.mode",
                "mode 'max' treats a higher metric as better, but the synthetic metric is a validation loss "
                "(lower is better): every evaluation where the loss improves counts as bad, so the lr is "
                "cut while training still improves; use mode 'min'",
            )
        ]
    values = p.metric.values or []
    if not values_move_against(values, p.mode):
        return []
    if p.mode == "min":
        text = (
            f"mode 'min' treats a lower metric as better, but the values you pasted never go below the first "
            f"({_num(values[0])}) and rise (to {_num(max(values))}), like an accuracy: no evaluation counts "
            "as an improvement, so the lr is cut every patience + 1 evaluations; use mode 'max' for a "
            "metric where higher is better"
        )
    else:
        text = (
            f"mode 'max' treats a higher metric as better, but the values you pasted never go above the first "
            f"({_num(values[0])}) and fall (to {_num(min(values))}), like a loss: no evaluation counts as an "
            "improvement, so the lr is cut every patience + 1 evaluations; use mode 'min' for a metric "
            "where lower is better"
        )
    return [SanityWarning("plateau.mode", text)]


def _floor_at_peak(cfg: ScheduleConfig) -> list[SanityWarning]:
    groups = cfg.optimizer.groups()
    peaks = cfg.optimizer.base_lrs()
    lowest = min(range(len(peaks)), key=lambda i: peaks[i])
    which = f" of param group '{groups[lowest].name}'" if len(groups) > 1 else ""
    d = cfg.decay
    if d is not None and d.scheduler in ("CosineAnnealingLR", "CosineAnnealingWarmRestarts"):
        eta = resolved_eta_min(d.kwargs, cfg.optimizer.lr)
        if eta is None or eta < peaks[lowest]:
            return []
        ratio = d.kwargs.get("eta_min_ratio") is not None
        path = "decay.kwargs.eta_min_ratio" if ratio else "decay.kwargs.eta_min"
        given = (
            f"eta_min_ratio {_num(d.kwargs['eta_min_ratio'])} (eta_min {_num(eta)})"
            if ratio
            else (f"eta_min {_num(eta)}")
        )
        return [
            SanityWarning(
                path,
                f"{given} is at or above the peak lr{which} ({_num(peaks[lowest])}): the {d.scheduler} "
                "goes from the peak to eta_min, so the lr never decays (it stays flat or climbs); eta_min is "
                "the floor, below the peak",
            )
        ]
    if cfg.wsd is not None and cfg.wsd.min_lr_ratio >= 1:
        return [
            SanityWarning(
                "wsd.min_lr_ratio",
                f"min_lr_ratio {_num(cfg.wsd.min_lr_ratio)} puts the floor at the peak lr: the decay phase "
                "never lowers the lr; the floor is a fraction of the peak below 1",
            )
        ]
    return []


def _t_max_too_short(cfg: ScheduleConfig) -> list[SanityWarning]:
    d = cfg.decay
    if d is None or d.scheduler != "CosineAnnealingLR" or d.kwargs.get("T_max") is None:
        return []
    t_max = int(d.kwargs["T_max"])
    plan = cfg.plan
    shown = last_decay_step_shown(plan)
    if t_max >= shown:
        return []
    unit = "epochs" if plan.decay_interval == "epoch" else "optimizer steps"
    climb = decay_end_row(plan, t_max + 1)
    at = f" from step {climb:,}" if climb is not None else ""
    return [
        SanityWarning(
            "decay.kwargs.T_max",
            f"T_max {t_max:,} is shorter than the decay ({plan.decay_length:,} {unit}): CosineAnnealingLR is "
            f"periodic, so after reaching eta_min the lr climbs back up{at}; restarts belong to "
            "CosineAnnealingWarmRestarts; leave T_max empty for one half-period over the whole decay",
        )
    ]


def _decay_ends_early(cfg: ScheduleConfig) -> list[SanityWarning]:
    plan = cfg.plan
    t = plan.total_steps
    d = cfg.decay
    if (
        d is not None
        and d.scheduler in ("LinearLR", "PolynomialLR")
        and d.kwargs.get("total_iters") is not None
    ):
        length = int(d.kwargs["total_iters"])
        end = decay_end_row(plan, length)
        path, what = "decay.kwargs.total_iters", f"{d.scheduler}'s total_iters {length:,}"
        fix = "leave total_iters empty to decay over the rest of the run"
    elif cfg.wsd is not None and cfg.wsd.stable_steps is not None:
        w, s, n = cfg.wsd.lengths(t)
        end = w + s + n if w + s + n <= t - 1 else None
        path, what = "wsd.stable_steps", f"warmup {w:,} + stable {s:,} + decay {n:,} steps"
        fix = "leave stable_steps empty to end the decay with the run"
    else:
        return []
    if end is None:
        return []
    rest = t - end
    if rest <= max(1, EARLY_END_FRACTION * t):  # the last row at the floor is a decay that ends with the run
        return []
    return [
        SanityWarning(
            path,
            f"the decay ends at step {end:,} ({what}), {rest:,} of the run's {t:,} optimizer steps "
            f"({100 * rest / t:.0f}%) before the run ends: the lr then stays at its final value; {fix}",
        )
    ]


_CHECKS = (_warmup_too_long, _plateau_mode, _floor_at_peak, _t_max_too_short, _decay_ends_early)


def sanity_warnings(cfg: ScheduleConfig) -> list[SanityWarning]:
    """Every sanity warning of a valid design, in the order of its sections (none for any preset).

    Args:
        cfg: a validated design.

    Returns:
        ``(path, text)`` pairs (:class:`SanityWarning`); empty when nothing looks wrong.
    """
    out: list[SanityWarning] = []
    for check in _CHECKS:
        out.extend(check(cfg))
    return out
