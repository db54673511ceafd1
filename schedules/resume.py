"""Resume from a checkpoint: what a training loop that saves and restores at step N actually does.

Every function here runs the *real* objects: :func:`~schedules.build.build_scheduler` on the
configured optimizer class (one-element dummy tensors, as the curve engine does), ``torch.save`` of
``{"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}`` into memory, and
``torch.load`` with its default ``weights_only`` into a fresh optimizer, as a new process would.

=====================  ==========================================================================
how the loop restores  what it does
=====================  ==========================================================================
``build_first``        ``build_scheduler``; ``optimizer.load_state_dict``; ``schedule.load_state_dict``
``optimizer_first``    ``optimizer.load_state_dict``; ``build_scheduler``; ``schedule.load_state_dict``
``fresh``              ``build_scheduler``; ``optimizer.load_state_dict``; the schedule's state is
                       never loaded: it starts again from its step 0 (the warmup restarts)
``torch_wrong_order``  ``optimizer.load_state_dict``, then the torch schedulers are constructed and
                       their own ``load_state_dict`` called: torch's schedulers do not save the lr,
                       so the constructors' lr (0 for a warmup from 0) stays until a closed form
                       recomputes it, and a chainable decay continues from the wrong value forever
=====================  ==========================================================================

``build_first`` and ``optimizer_first`` both continue the curve bit for bit (the schedule's state
carries every group's lr); the other two are the traps, drawn on the Compare page and by
``python -m schedules plot CONFIG --mistake resume_fresh|resume_wrong_order --at N``.
``python -m schedules resume-check CONFIG --at N`` checks a design in both good orders.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from .budget import Deadline
from .build import LRSchedule, build_scheduler, dummy_optimizer, load_config, quiet_scheduler_warnings
from .command import EXIT_ERROR, EXIT_OK, command
from .curve import compute_curve
from .design import ConfigError, Problem, ScheduleConfig

RestoreOrder = Literal["build_first", "optimizer_first", "fresh", "torch_wrong_order"]
ORDERS: tuple[str, ...] = ("build_first", "optimizer_first", "fresh", "torch_wrong_order")

#: order -> (short label, what the loop does), for legends and help text.
RESUME_TRAPS: dict[str, tuple[str, str]] = {
    "fresh": (
        "resumed with a freshly built scheduler",
        "After a restart at step N the optimizer state is loaded but the scheduler's is not: the "
        "schedule starts again from its step 0, so the warmup restarts.",
    ),
    "torch_wrong_order": (
        "resumed with the wrong restore order (torch schedulers)",
        "optimizer.load_state_dict(), then the torch schedulers constructed, then their "
        "load_state_dict(): torch's schedulers do not save the lr, so the constructors' lr is used "
        "(build_scheduler's schedule saves and restores it, so with it every order is right).",
    ),
}


def check_at(config: ScheduleConfig, at: int) -> int:
    total = config.plan.total_steps
    if isinstance(at, bool) or not isinstance(at, int) or not 1 <= at <= total - 1:
        raise ConfigError(
            Problem("--at", f"must be an integer >= 1 and <= {total - 1} (the design has {total} steps)", at)
        )
    return at


def _save(optimizer: torch.optim.Optimizer, schedule: LRSchedule) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # plain data only (the default from torch 2.6 on)


def _lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    return [float(g["lr"]) for g in optimizer.param_groups]


def resumed_lrs(
    config: ScheduleConfig | dict[str, Any] | str,
    at: int,
    order: RestoreOrder,
    deadline: Deadline | None = None,
) -> np.ndarray:
    """The lr of every group at every optimizer step, shape (T, groups), of a run saved after ``at``
    steps and restored the ``order`` way (see the module docstring).  Rows before ``at`` are the
    first run's.  ``deadline``: checked every 256 steps (the app's time budget)."""
    cfg = load_config(config)
    at = check_at(cfg, at)
    if order not in ORDERS:
        raise ConfigError(Problem("order", f"must be one of {', '.join(ORDERS)}", order))
    total = cfg.plan.total_steps
    out = np.empty((total, len(cfg.optimizer.base_lrs())))
    with quiet_scheduler_warnings():
        optimizer = dummy_optimizer(cfg)
        schedule = build_scheduler(optimizer, cfg)
        for k in range(at):
            if deadline is not None and k % 256 == 0:
                deadline.check(k)
            out[k] = _lrs(optimizer)
            schedule.step()
        checkpoint = _save(optimizer, schedule)
        optimizer = dummy_optimizer(cfg)  # a new process
        if order in ("build_first", "fresh"):
            schedule = build_scheduler(optimizer, cfg)
            optimizer.load_state_dict(checkpoint["optimizer"])
        else:
            optimizer.load_state_dict(checkpoint["optimizer"])
            schedule = build_scheduler(optimizer, cfg)
        if order in ("build_first", "optimizer_first"):
            schedule.load_state_dict(checkpoint["schedule"])
        elif order == "torch_wrong_order":
            # Only the torch objects' own states: what a loop with torch's schedulers restores.
            state = {k: v for k, v in checkpoint["schedule"].items() if k != "param_groups"}
            schedule.load_state_dict(state)
        for k in range(at, total):
            if deadline is not None and k % 256 == 0:
                deadline.check(k)
            out[k] = _lrs(optimizer)
            schedule.step()
    return out


@dataclass(frozen=True)
class ResumeCheck:
    """Whether a save/restore at ``at`` continues the curve, in each restore order."""

    at: int
    total_steps: int
    differing: dict[str, int]  # order -> rows that differ from the curve (0: identical)
    first_difference: dict[str, tuple[int, float, float] | None]  # order -> (step, curve lr, resumed lr)

    @property
    def ok(self) -> bool:
        return not any(self.differing.values())

    def lines(self) -> list[str]:
        out = []
        for order, count in self.differing.items():
            if count == 0:
                out.append(
                    f"{order}: resumed at step {self.at}: identical to the curve ({self.total_steps} steps)"
                )
            else:
                step, want, got = self.first_difference[order]
                out.append(
                    f"{order}: resumed at step {self.at}: {count} step{'s' if count != 1 else ''} differ{'s' if count == 1 else ''} from the curve, first at step "
                    f"{step}: curve lr {want!r}, resumed {got!r}"
                )
        return out


def resume_check(
    config: ScheduleConfig | dict[str, Any] | str,
    at: int,
    orders: tuple[str, ...] = ("build_first", "optimizer_first"),
) -> ResumeCheck:
    """Save after ``at`` steps, restore in each of ``orders``, continue: compare with the curve bit for bit."""
    cfg = load_config(config)
    at = check_at(cfg, at)
    want = compute_curve(cfg).lrs
    differing: dict[str, int] = {}
    first: dict[str, tuple[int, float, float] | None] = {}
    for order in orders:
        got = resumed_lrs(cfg, at, order)  # type: ignore[arg-type]
        bad = np.flatnonzero((got != want).any(axis=1))
        differing[order] = int(bad.size)
        first[order] = None if not bad.size else (int(bad[0]), float(want[bad[0], 0]), float(got[bad[0], 0]))
    return ResumeCheck(at, int(want.shape[0]), differing, first)


# --------------------------------------------------------------------------------------------------
# CLI: python -m schedules resume-check CONFIG --at N


def _resume_check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument(
        "--at", type=int, required=True, help="the optimizer step to save at and resume from (1 .. total - 1)"
    )
    p.add_argument(
        "--order",
        action="append",
        choices=ORDERS,
        default=None,
        help="restore order(s) to check (repeatable; default: build_first and optimizer_first, the two "
        "orders build_scheduler supports; fresh and torch_wrong_order show the traps)",
    )


@command(
    "resume-check",
    "save after N optimizer steps, restore (both orders), continue: exit 0 when the lrs equal the curve, else 1",
    _resume_check_args,
)
def cmd_resume_check(args: argparse.Namespace) -> int:
    orders = tuple(dict.fromkeys(args.order)) if args.order else ("build_first", "optimizer_first")
    result = resume_check(args.config, args.at, orders)
    for line in result.lines():
        print(line)
    if result.ok:
        return EXIT_OK
    print(f"resume at step {result.at} does not continue the curve", file=sys.stderr)
    return EXIT_ERROR
