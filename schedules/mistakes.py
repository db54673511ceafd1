"""What a training loop with a classic stepping mistake actually does to the lr.

Each variant steps the *real* schedulers that :func:`~schedules.build.build_scheduler` makes for the
config (on a dummy optimizer, as the curve does), only in the wrong places, and records the lr each
optimizer step uses.  The rows are the correct loop's optimizer steps (``plan.total_steps`` of them,
with the same ``samples``), so the variants overlay the true curve on a shared samples axis.

=========================  ==========================================================================
kind                       the loop
=========================  ==========================================================================
``correct``                ``optimizer.step(); scheduler.step()`` once per optimizer step (the curve)
``per_micro_batch``        ``scheduler.step()`` after every micro-batch: optimizer step ``k`` uses the
                           lr after ``(micro-batches through window k) - 1`` scheduler steps
``before_optimizer_step``  ``scheduler.step(); optimizer.step()``: step ``k`` uses the lr after
                           ``k + 1`` scheduler steps (warmup starts one step late; the first lr is
                           never used)
``unadjusted_accumulation`` the schedule is sized for accumulation 1 (lengths counted in
                           micro-batches: ``max_steps * A`` when set, ``warmup.ratio`` and the
                           default decay lengths of that longer run) but stepped correctly once per
                           optimizer step, so training ends ``1/A`` of the way through it
=========================  ==========================================================================

Worked example: lr 1, warmup 4 steps from 0, constant after, accumulation 4 (one window = 4
micro-batches):

=======================  =====  =====  =====  =====  =====
step                       0      1      2      3      4
correct                  0.00   0.25   0.50   0.75   1.00
per_micro_batch          0.75   1.00   1.00   1.00   1.00
before_optimizer_step    0.25   0.50   0.75   1.00   1.00
=======================  =====  =====  =====  =====  =====

Two more kinds show the resume traps (:mod:`schedules.resume`): a run saved after ``at`` optimizer
steps (default: half way) and restored in a new process, ``resume_fresh`` (the scheduler's state is
never loaded: the warmup restarts) and ``resume_wrong_order`` (``optimizer.load_state_dict``, then
torch's schedulers constructed and their ``load_state_dict``: the constructors' lr is used).

When torch itself refuses to go on (``OneCycleLR`` stepped past ``total_steps`` raises, exactly as
it would in the user's loop), the remaining rows are NaN and ``frame.attrs["note"]`` says why.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .budget import CHECK_EVERY, ComputeTimeout, Deadline, length_field
from .build import build_scheduler, dummy_optimizer, load_config, quiet_scheduler_warnings
from .curve import ProgressFn, compute_curve, lr_curve
from .design import ConfigError, Plan, Problem, ScheduleConfig

MistakeKind = Literal["correct", "per_micro_batch", "before_optimizer_step", "unadjusted_accumulation"]

#: kind -> (short label, what the loop does), for legends and help text.
MISTAKES: dict[str, tuple[str, str]] = {
    "per_micro_batch": (
        "scheduler stepped per micro-batch",
        "scheduler.step() runs after every micro-batch instead of after every optimizer step, so the "
        "schedule advances accumulation_steps times too fast (warmup ends early, decay finishes early).",
    ),
    "before_optimizer_step": (
        "scheduler stepped before optimizer.step()",
        "scheduler.step() runs before optimizer.step(), so every optimizer step uses the next step's lr: "
        "the initial lr is skipped and the whole curve is shifted one step early.",
    ),
    "unadjusted_accumulation": (
        "accumulation without adjusting warmup/total steps",
        "The schedule's lengths were computed in micro-batches (as for accumulation 1), but it is "
        "stepped once per optimizer step: training stops 1/accumulation_steps of the way through.",
    ),
}


#: Resume traps: kind -> the restore order of :func:`schedules.resume.resumed_lrs` it draws.
RESUME_KINDS: dict[str, str] = {"resume_fresh": "fresh", "resume_wrong_order": "torch_wrong_order"}
#: kind -> (short label, what the loop does), like :data:`MISTAKES`.
RESUME_MISTAKES: dict[str, tuple[str, str]] = {
    "resume_fresh": (
        "resumed with a freshly built scheduler",
        "The run is saved at step N and restarted; the optimizer state is loaded but the scheduler's is "
        "not, so the schedule starts again from its step 0 (the warmup restarts).",
    ),
    "resume_wrong_order": (
        "resumed with the wrong restore order",
        "The run is saved at step N and restarted with optimizer.load_state_dict(), then torch's schedulers "
        "constructed, then their load_state_dict(): torch's schedulers do not save the lr, so the "
        "constructors' lr is used (build_scheduler's schedule restores it: with it every order is right).",
    ),
}


def default_resume_step(plan: Plan) -> int:
    """Where the resume traces restart by default: half way (at least step 1)."""
    return max(1, plan.total_steps // 2)


def unadjusted_config(config: ScheduleConfig) -> ScheduleConfig:
    """The config as someone sizes it who forgets gradient accumulation: lengths in micro-batches.

    Accumulation becomes 1 (so a "step" is a micro-batch); an explicit ``max_steps`` is multiplied
    by the accumulation steps (the same run, counted in micro-batches).  Explicit step counts
    (``warmup.steps``, ``T_max`` ...) are kept as written; ratios and default lengths follow the
    longer count.
    """
    a = config.training.accumulation_steps
    data = config.to_dict()
    training = data["training"]
    training["accumulation_steps"] = 1
    training.pop("batch_ramp", None)  # its stages are batches of the accumulated run
    if training["max_steps"] is not None:
        training["max_steps"] = training["max_steps"] * a
    return load_config(data)


def micro_batches_per_step(plan: Plan) -> np.ndarray:
    """Micro-batches in each optimizer step's accumulation window (``plan.window(k).micro_batches``)."""
    return plan.micro_batches_array()


def _record(
    config: ScheduleConfig, kind: str, steps: int, micro: np.ndarray, deadline: Deadline | None = None
) -> tuple[np.ndarray, str]:
    """Record ``steps`` lrs (first group) stepping the real schedule the ``kind`` way.

    One tight loop per kind over chunks of :data:`~schedules.budget.CHECK_EVERY` optimizer steps (the
    deadline is checked between chunks): the per-micro-batch mistake steps the scheduler
    ``accumulation_steps`` times per optimizer step, so its loop is the hot one."""
    optimizer = dummy_optimizer(config)
    schedule = build_scheduler(optimizer, config)
    group = optimizer.param_groups[0]
    out = np.full(steps, np.nan)
    extra = (micro - 1).tolist() if kind == "per_micro_batch" else []  # scheduler steps before the read
    step = schedule.step
    note = ""
    k = start = 0
    buf: list[float] = []
    try:
        with quiet_scheduler_warnings():
            for start in range(0, steps, CHECK_EVERY):
                if deadline is not None:
                    deadline.check(start)
                stop = min(steps, start + CHECK_EVERY)
                buf = []
                record = buf.append
                if kind == "per_micro_batch":
                    for k in range(start, stop):
                        for _ in range(extra[k]):
                            step()
                        record(group["lr"])
                        step()
                elif kind == "before_optimizer_step":
                    for k in range(start, stop):  # noqa: B007 (k: the step torch raised at, for the note)
                        step()
                        record(group["lr"])
                else:
                    for k in range(start, stop):  # noqa: B007
                        record(group["lr"])
                        step()
                out[start:stop] = buf
    except ComputeTimeout:
        raise
    except (ValueError, ZeroDivisionError, OverflowError, ConfigError) as exc:
        out[start : start + len(buf)] = buf  # the rows recorded before torch raised
        note = f"torch raised at optimizer step {k}: {exc}"
    return out, note


def mistake_curve(
    config: ScheduleConfig | dict[str, Any] | str,
    kind: MistakeKind | str,
    at: int | None = None,
    time_limit: float | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """``DataFrame`` with columns ``step``, ``samples``, ``lr`` (first param group) for one loop variant.

    ``step`` and ``samples`` are the correct plan's (one row per optimizer step that training takes);
    ``lr`` is what that step uses in the ``kind`` loop.  See the module docstring for the kinds;
    ``at``: the resume step of the ``resume_*`` kinds (default :func:`default_resume_step`).
    ``progress(done, total)``: called every 50k optimizer steps (the app's progress bar).
    """
    cfg = load_config(config)
    plan = cfg.plan
    base = pd.DataFrame({"step": plan.steps(), "samples": plan.samples_array()})
    note = ""
    deadline = Deadline(
        time_limit, field=length_field(cfg), total=plan.total_steps, what="mistake curve", progress=progress
    )
    if kind == "correct":
        lr = compute_curve(cfg, progress=progress, time_limit=time_limit).frame["lr"].to_numpy()
    elif kind in ("per_micro_batch", "before_optimizer_step"):
        lr, note = _record(cfg, kind, plan.total_steps, micro_batches_per_step(plan), deadline)
    elif kind in RESUME_KINDS:
        from .resume import resumed_lrs

        if plan.total_steps < 2:
            lr, note = lr_curve(cfg)["lr"].to_numpy(), "a design of one step has no step to resume at"
        else:
            step = default_resume_step(plan) if at is None else at
            lr = resumed_lrs(cfg, step, RESUME_KINDS[kind], deadline)[:, 0]
    elif kind == "unadjusted_accumulation":
        try:
            wrong = unadjusted_config(cfg)
        except ConfigError as exc:
            lr, note = np.full(plan.total_steps, np.nan), f"the unadjusted config is invalid: {exc}"
        else:
            lr, note = _record(wrong, "correct", plan.total_steps, np.empty(0), deadline)
    else:
        raise ConfigError(
            Problem("kind", f"must be one of correct, {', '.join([*MISTAKES, *RESUME_MISTAKES])}", kind),
        )
    base["lr"] = lr
    base.attrs["note"] = note
    return base
