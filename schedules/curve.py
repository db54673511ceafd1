"""The lr curve: step the real schedulers from :func:`build_scheduler` and record every row.

Row ``k`` (``k = 0 .. T-1``) is ``param_groups[g]["lr"]`` read just before optimizer step ``k`` in the
canonical loop ``optimizer.step(); schedule.step(); optimizer.zero_grad()`` (CONTRACT.md section 3).
The optimizer is the configured class on one-element dummy tensors and is never stepped: only the
schedulers are, so the values are the torch objects' own, bit for bit.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .budget import CHECK_EVERY, Deadline, length_field
from .build import (
    Evaluation,
    Event,
    LRSchedule,
    build_scheduler,
    dummy_optimizer,
    load_config,
    quiet_scheduler_warnings,
)
from .design import ConfigError, Plan, Problem, ScheduleConfig

ProgressFn = Callable[[int, int], None]


@dataclass
class Curve:
    """A computed schedule: the per-step frame plus what a chart needs to mark on it."""

    config: ScheduleConfig
    plan: Plan
    frame: pd.DataFrame  # step, epoch, samples, lr, [lr/<group> ...]
    lrs: np.ndarray  # shape (T, groups)
    group_names: list[str]
    events: list[Event]
    evaluations: list[Evaluation]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The numbers of the designer's summary card."""
        lr = self.lrs[:, 0]
        p = self.plan
        return {
            "total_steps": p.total_steps,
            "warmup_steps": p.warmup_steps,
            "hold_steps": p.hold_steps,
            "steps_per_epoch": p.steps_per_epoch,
            "micro_batches_per_epoch": p.micro_batches_per_epoch,
            "epochs": p.total_epochs,
            "effective_batch": p.effective_batch,
            "samples": int(self.frame["samples"].iloc[-1]),
            "peak_lr": float(lr.max()),
            "peak_step": int(lr.argmax()),
            "final_lr": float(lr[-1]),
            "min_lr": float(lr.min()),
            "plateau_reductions": sum(1 for e in self.events if e.kind == "plateau_reduction"),
            "restarts": sum(1 for e in self.events if e.kind == "restart"),
        }

    def summary_figures(self) -> tuple[list[tuple[str, str, str]], str]:
        """The designer's summary card as text: its figures ``(label, value, explanation)`` and the note
        line under them (epochs, samples, and the hold, restarts and plateau reductions there are).

        :meth:`summary` is computed once here.  With several param groups, the peak and final lr are
        the group's with the largest base lr (the one the lr knob is), named in the label.  The strings
        are plain text: whoever renders them escapes them (a param group's name is the user's).
        """
        s = self.summary()
        g = max(range(len(self.group_names)), key=lambda i: self.config.optimizer.base_lrs()[i])
        lr = self.lrs[:, g]
        which = f" ({self.group_names[g]})" if len(self.group_names) > 1 else ""
        figures = [
            ("Total steps", f"{s['total_steps']:,}", "Optimizer steps in the run."),
            ("Warmup steps", f"{s['warmup_steps']:,}", "Optimizer steps of linear warmup."),
            (
                "Steps / epoch",
                f"{s['steps_per_epoch']:,}",
                f"ceil(micro-batches per epoch {s['micro_batches_per_epoch']:,} / accumulation steps).",
            ),
            (
                "Effective batch",
                f"{s['effective_batch']:,}",
                "micro_batch_size x accumulation_steps x world_size.",
            ),
            ("Peak lr" + which, format_lr(float(lr.max())), f"First reached at step {int(lr.argmax()):,}."),
            ("Final lr" + which, format_lr(float(lr[-1])), "The lr of the last optimizer step."),
        ]
        extra = [f"{s['epochs']} epoch(s)", f"{s['samples']:,} samples"]
        if self.plan.tokens_per_sample is not None:
            extra.append(f"{s['samples'] * self.plan.tokens_per_sample:,} tokens")
        if self.plan.batch_ramp:
            first = self.plan.batch_ramp[0][0]
            extra.append(
                f"batch ramp {first:,} -> {s['effective_batch']:,} over the first "
                f"{self.plan.batch_ramp[-1][1]:,} samples ({self.plan.ramp_steps:,} steps)"
            )
        if s["hold_steps"]:
            extra.append(f"hold {s['hold_steps']:,} steps")
        if s["restarts"]:
            extra.append(f"{s['restarts']} restart(s)")
        if self.config.plateau is not None:
            extra.append(
                f"{s['plateau_reductions']} plateau reduction(s) in {len(self.evaluations)} evaluations"
            )
        return figures, " · ".join(extra)

    def events_frame(self, exclude: tuple[str, ...] = (), limit: int | None = None) -> pd.DataFrame:
        """One row per event (``kind, step, label`` and the event's data), leaving out the kinds in
        ``exclude``; only the first ``limit`` of them when given (a design can have an event at every
        step: the table shows a bounded number of rows)."""
        events = [e for e in self.events if e.kind not in exclude] if exclude else self.events
        rows = [{"kind": e.kind, "step": e.step, "label": e.label, **e.data} for e in events[:limit]]
        return pd.DataFrame(rows, columns=None if rows else ["kind", "step", "label"])

    def evaluations_frame(self, limit: int | None = None) -> pd.DataFrame:
        """One row per plateau evaluation (the first ``limit`` when given), built column by column
        (one C-level pass over the evaluations: a design can have one at every step)."""
        cols = ["index", "step", "metric", "best", "num_bad_epochs", "in_cooldown", "reduced"]
        types = [np.int64, np.int64, np.float64, np.float64, np.int64, bool, bool]
        rows = list(map(operator.attrgetter(*cols), self.evaluations[:limit]))
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(cols)
        return pd.DataFrame({c: np.array(v, dtype=t) for c, t, v in zip(cols, types, columns, strict=True)})


def format_lr(value: float) -> str:
    """Short lr text for figures and messages: ``3e-4``, ``3.73e-11``, ``0.1``, ``0``."""
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 1e3:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def static_events(plan: Plan, max_epoch_marks: int = 500) -> list[Event]:
    """Events known from the plan alone: warmup end, hold end, epoch boundaries."""
    out: list[Event] = []
    t = plan.total_steps
    if 0 < plan.warmup_steps < t:
        out.append(Event("warmup_end", plan.warmup_steps, "warmup end"))
    if plan.hold_steps > 0 and 0 < plan.decay_start < t:
        out.append(Event("hold_end", plan.decay_start, "decay start"))
    starts = plan.epoch_end_steps() + 1
    starts = starts[starts < t]
    if len(starts) <= max_epoch_marks:
        out.extend(Event("epoch", int(s), f"epoch {i + 1}") for i, s in enumerate(starts))
    if plan.batch_ramp and 0 < plan.ramp_steps < t:
        out.append(Event("ramp_end", plan.ramp_steps, "batch ramp end"))
    return out


def step_schedule(
    schedule: LRSchedule, steps: int, progress: ProgressFn | None = None, deadline: Deadline | None = None
) -> np.ndarray:
    """Record ``steps`` rows of lrs, stepping ``schedule`` after each row (so ``steps`` calls).

    The array is column-major, so each group's column is one contiguous block the curve's frame uses
    as it is (no second copy).  ``deadline.check`` runs every :data:`~schedules.budget.CHECK_EVERY`
    steps (:class:`~schedules.budget.ComputeTimeout` past it)."""
    groups = schedule.optimizer.param_groups
    n_groups = len(groups)
    out = np.empty((steps, n_groups), dtype=np.float64, order="F")
    chunk = CHECK_EVERY
    report_every = 50_000
    with quiet_scheduler_warnings():
        if n_groups == 1:
            g0 = groups[0]
            col = out[:, 0]
            step = schedule.step
            for start in range(0, steps, chunk):
                stop = min(steps, start + chunk)
                for k in range(start, stop):
                    col[k] = g0["lr"]
                    step()
                if deadline is not None:
                    deadline.check(stop)
                if progress is not None and (stop % report_every == 0 or stop == steps):
                    progress(stop, steps)
        else:
            for start in range(0, steps, chunk):
                stop = min(steps, start + chunk)
                for k in range(start, stop):
                    out[k] = [g["lr"] for g in groups]
                    schedule.step()
                if deadline is not None:
                    deadline.check(stop)
                if progress is not None and (stop % report_every == 0 or stop == steps):
                    progress(stop, steps)
    return out


def compute_curve(
    config: ScheduleConfig | dict[str, Any] | str,
    progress: ProgressFn | None = None,
    time_limit: float | None = None,
) -> Curve:
    """The full curve of a config, with events and plateau evaluations.

    ``progress(done, total)`` is called every 50k steps (the app shows a progress bar with it).
    ``time_limit``: seconds of wall time after which the computation stops with a
    :class:`~schedules.budget.ComputeTimeout` naming the run length (``None``: no limit).
    """
    cfg = load_config(config)
    optimizer = dummy_optimizer(cfg)
    schedule = build_scheduler(optimizer, cfg)
    plan = schedule.plan
    deadline = Deadline(time_limit, field=length_field(cfg), total=plan.total_steps)
    try:
        lrs = step_schedule(schedule, plan.total_steps, progress, deadline)
    except ConfigError:
        raise
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        path = "decay.kwargs" if cfg.decay is not None else "(config)"
        raise ConfigError(
            Problem(path, f"torch failed at step {schedule.steps_taken}: {exc}", None, has_value=False)
        ) from None
    if not np.isfinite(lrs).all() or (lrs < 0).any():
        bad = int(np.argmax(~np.isfinite(lrs).all(axis=1) | (lrs < 0).any(axis=1)))
        raise ConfigError(
            Problem(
                "decay.kwargs",
                f"must give finite, non-negative lrs; step {bad} has lr {lrs[bad].tolist()}",
                None,
                has_value=False,
            )
        )
    names = [g.name for g in cfg.optimizer.groups()]
    frame = curve_frame(plan, lrs, names)
    # An event after the last step (a restart or reduction at row T) shows on no row: leave it out.
    shown = [e for e in schedule.events if e.step < plan.total_steps]
    events = sorted(static_events(plan) + shown, key=lambda e: (e.step, e.kind))
    return Curve(cfg, plan, frame, lrs, names, events, schedule.evaluations, list(schedule.warnings))


def curve_of(config: ScheduleConfig, curve: Curve | None = None) -> Curve:
    """``curve`` when it is the curve of ``config`` (the app passes its cached one), else computed."""
    if curve is not None and curve.config == config:
        return curve
    return compute_curve(config)


def curve_frame(plan: Plan, lrs: np.ndarray, names: list[str]) -> pd.DataFrame:
    data: dict[str, Any] = {
        "step": plan.steps(),
        "epoch": plan.epochs_array(),
        "samples": plan.samples_array(),
        "lr": lrs[:, 0],
    }
    if plan.tokens_per_sample is not None:  # optional column, after samples (CONTRACT.md section 4)
        data = {
            **dict(list(data.items())[:3]),
            "tokens": data["samples"] * plan.tokens_per_sample,
            "lr": data["lr"],
        }
    if len(names) > 1:
        for i, name in enumerate(names):
            data[f"lr/{name}"] = lrs[:, i]
    # copy=False: the lr columns are the (column-major) lrs array's own memory, not a second copy.
    return pd.DataFrame(data, copy=False)


def lr_curve(config: ScheduleConfig | dict[str, Any] | str) -> pd.DataFrame:
    """``DataFrame`` with columns ``step, epoch, samples, lr`` and ``lr/<group>`` per group when more
    than one (CONTRACT.md section 4).  Use :func:`compute_curve` for events and evaluations too."""
    return compute_curve(config).frame


def plateau_note(curve: Curve) -> str | None:
    """One line on why ``ReduceLROnPlateau`` did or did not cut the lr in this curve (None without a
    plateau): the best metric so far and the longest run of bad evaluations against ``patience``.

    torch counts an evaluation as bad when the metric is not better than the best so far by
    ``threshold`` (``threshold_mode``), and cuts the lr when the count exceeds ``patience``, i.e. at
    the ``patience + 1``-th bad evaluation in a row (then the count restarts, after any ``cooldown``).
    """
    p = curve.config.plateau
    if p is None:
        return None
    ev = curve.evaluations
    if not ev:
        every = "each epoch" if p.eval_every == "epoch" else f"every {p.eval_every} optimizer steps"
        return (
            f"No reduction: the metric is evaluated {every} and this run of {curve.plan.total_steps} steps "
            "ends before the first evaluation."
        )
    need = p.patience + 1
    rule = f"threshold {p.threshold:g} {p.threshold_mode}, mode {p.mode}"
    reductions = [e for e in ev if e.reduced]
    if reductions:
        first = reductions[0]
        steps = ", ".join(str(e.step + 1) for e in reductions[:5]) + (", ..." if len(reductions) > 5 else "")
        return (
            f"{len(reductions)} reduction{'s' if len(reductions) > 1 else ''} in {len(ev)} evaluations "
            f"(from step {steps}): each after {need} evaluations in a row not better than the best so far "
            f"({first.best:.4g} before the first cut; {rule}), more than patience {p.patience}."
        )
    longest, run, skipped = 0, 0, 0
    prev_best, prev_bad = math.inf, 0
    for i, e in enumerate(ev):
        run = e.num_bad_epochs
        longest = max(longest, run)
        if i and e.best == prev_best and run == 0 and prev_bad == p.patience and not e.reduced:
            skipped += 1  # torch cut nothing: the lr is at min_lr, or the cut is below eps
            longest = max(longest, need)
        prev_best, prev_bad = e.best, run
    best_at = next(i for i, e in enumerate(ev) if e.best == ev[-1].best)  # where the best was set
    if skipped:
        return (
            f"No reduction: {skipped} time{'s' if skipped > 1 else ''} {need} evaluations in a row were not "
            f"better than the best so far ({ev[-1].best:.4g}), but the lr is already at min_lr (or the cut "
            "would be smaller than eps)."
        )
    return (
        f"No reduction in {len(ev)} evaluations: the best so far is {ev[-1].best:.4g} (evaluation "
        f"{best_at + 1}), and the longest run of evaluations not better than the best was {longest}; a cut "
        f"needs {need} in a row (more than patience {p.patience}; {rule})."
    )
