"""What every stack shares: the design's scheduler as one torch object, and the recorder.

A stack is a rule that says, for each optimizer step the framework takes, how many times it has called
``scheduler.step()`` before that step (and whether the step itself was skipped by AMP).  The lr the
step uses is then the lr of the design's *real* torch schedulers (:func:`schedules.build_scheduler`)
after that many steps: :func:`record` steps them and reads ``param_groups``.  Each stack module states
its rule with the library file it comes from, and its tests run the real library (a tiny model on
CPU) and compare the lrs bit for bit.

:class:`DesignScheduler` is how a user hands the design to a framework: one
``torch.optim.lr_scheduler.LRScheduler`` whose ``step()`` is one optimizer step of the design
(warmup, hold, decay at its interval, plateau fed by the design's metric source).  The frameworks
accept it wherever they accept a torch scheduler (HF ``Trainer(optimizers=...)``,
``accelerator.prepare``, Lightning's ``configure_optimizers``, ``deepspeed.initialize``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.optim import lr_scheduler as tls

from ..build import LRSchedule, build_scheduler, dummy_optimizer, quiet_scheduler_warnings
from ..design import Plan, ScheduleConfig, StackConfig

#: Most scheduler steps one stack run takes (accelerate with many processes multiplies them).
MAX_SCHEDULER_STEPS = 4_000_000


class DesignScheduler(tls.LRScheduler):
    """The design as one torch ``LRScheduler``: each ``step()`` advances it by one optimizer step.

    ``scale`` > 1 builds it "for num_training_steps x scale": the design advances once every ``scale``
    calls (what a scheduler sized from a dataloader ``scale`` times longer does at those points).
    ``with_plateau=False`` leaves the design's ``ReduceLROnPlateau`` out (see :func:`plateau_scheduler`).
    A metric passed to ``step()`` goes to the design's plateau when an evaluation is due
    (:attr:`needs_metric`); without one the plateau reads the design's own metric source.

    The constructor does not call ``LRScheduler.__init__`` (which would step once and wrap
    ``optimizer.step``); it sets the attributes the frameworks read (``optimizer``, ``last_epoch``,
    ``_step_count``, ``base_lrs``, ``get_last_lr()``, ``state_dict()``).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        config: ScheduleConfig,
        scale: int = 1,
        with_plateau: bool = True,
    ):
        self.optimizer = optimizer
        self.schedule: LRSchedule = build_scheduler(optimizer, config)
        if not with_plateau:
            # the design's plateau is handed to the framework as its own ReduceLROnPlateau
            # (plateau_scheduler), which steps it at evaluations: this object leaves it out
            self.schedule._eval_every = None
        self.scale = int(scale)
        self.calls = 0
        self.last_epoch = 0
        self._step_count = 1
        self.base_lrs = [float(lr) for lr in config.optimizer.base_lrs()]
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]

    def get_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    @property
    def needs_metric(self) -> bool:
        """True when the design's next optimizer step ends an evaluation period (pass the metric)."""
        return self.schedule.needs_metric

    def step(self, metric: float | None = None, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002
        self.calls += 1
        self._step_count += 1
        self.last_epoch += 1
        if self.calls % self.scale == 0:
            with quiet_scheduler_warnings():
                self.schedule.step(metric)
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "scale": self.scale, "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = state["calls"]
        self.scale = state["scale"]
        self.schedule.load_state_dict(state["schedule"])


def plateau_scheduler(optimizer: torch.optim.Optimizer, config: ScheduleConfig) -> tls.ReduceLROnPlateau:
    """The design's plateau as the framework's own ``ReduceLROnPlateau`` (HF's evaluation step,
    Lightning's ``monitor`` config), on the same optimizer as ``DesignScheduler(with_plateau=False)``."""
    assert config.plateau is not None
    return tls.ReduceLROnPlateau(optimizer, **config.plateau.torch_kwargs())


@dataclass
class Ticks:
    """A stack's rule applied to one design: its optimizer steps and scheduler calls.

    ``calls[k]``: ``scheduler.step()`` calls made before optimizer step ``k`` reads its lr;
    ``samples[k]``: training samples (all ranks) through step ``k``; ``epoch[k]``: 0-based epoch;
    ``skipped[k]``: the optimizer step was skipped (AMP overflow); ``total_calls``: calls by the end.

    When the framework steps the design's plateau itself (its own ``ReduceLROnPlateau``):
    ``plateau_calls[k]``: its ``step(metric)`` calls before step ``k`` reads its lr (made after that
    boundary's scheduler calls, as the frameworks do); ``plateau_metric[j]``: the evaluation whose
    metric call ``j`` passes.  ``None``: the plateau is inside the design's scheduler.
    """

    calls: np.ndarray
    samples: np.ndarray
    epoch: np.ndarray
    skipped: np.ndarray
    total_calls: int
    notes: list[str] = field(default_factory=list)
    plateau_calls: np.ndarray | None = None
    plateau_metric: np.ndarray | None = None


def design_windows(plan: Plan) -> np.ndarray:
    """Micro-batches in each optimizer step's accumulation window (the design's windows)."""
    return plan.micro_batches_array()


def amp_skipped(steps: int, settings: StackConfig) -> np.ndarray:
    """``torch.amp.GradScaler``: the first ``amp_skipped_steps`` optimizer steps find inf/NaN
    gradients (the initial scale 2**16 is too high for fp16), so ``scaler.step`` skips
    ``optimizer.step()`` and ``scaler.update()`` halves the scale (torch/amp/grad_scaler.py)."""
    out = np.zeros(steps, dtype=bool)
    out[: min(steps, settings.amp_skipped_steps)] = True
    return out


def exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    if len(values) > 1:
        np.cumsum(values[:-1], out=out[1:])
    return out


def calls_after_steps_that_ran(skipped: np.ndarray, per: int = 1) -> tuple[np.ndarray, int]:
    """A stack that calls ``scheduler.step()`` ``per`` times after every optimizer step that ran (none
    after a step AMP skipped): the calls made before each step reads its lr, and the calls by the end."""
    ran = (~skipped).astype(np.int64)
    return per * exclusive_cumsum(ran), per * int(ran.sum())


def with_plateau_steps(ticks: Ticks, stepped: np.ndarray) -> Ticks:
    """``ticks`` with the framework's own ``ReduceLROnPlateau`` stepped after each optimizer step where
    ``stepped`` is 1, with the metric of one evaluation after another (see :class:`Ticks`)."""
    ticks.plateau_calls = exclusive_cumsum(stepped)
    ticks.plateau_metric = np.arange(int(stepped.sum()), dtype=np.int64)
    return ticks


def record(
    config: ScheduleConfig,
    design_steps: np.ndarray,
    plateau_calls: np.ndarray | None = None,
    plateau_metric: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """The design's lrs (every group) after ``design_steps[k]`` steps of its real schedulers.

    ``design_steps`` must be non-decreasing.  With ``plateau_calls`` (see :class:`Ticks`) the
    design's plateau is left out of those steps and stepped on its own, ``plateau_calls[k]`` times
    before row ``k``, with the design's metric of evaluation ``plateau_metric[j]`` at call ``j``.
    When torch refuses to go on (``OneCycleLR`` stepped past ``total_steps`` raises, as in the
    user's loop), the remaining rows are NaN and the note says why.
    """
    optimizer = dummy_optimizer(config)
    schedule = build_scheduler(optimizer, config)
    separate = plateau_calls is not None and schedule.plateau is not None
    if separate:
        schedule._eval_every = None  # as DesignScheduler(with_plateau=False)
        plateau, feed = schedule.plateau, schedule._feed
    groups = optimizer.param_groups
    out = np.full((len(design_steps), len(groups)), np.nan)
    note = ""
    done = 0
    evals = 0
    k = 0
    try:
        with quiet_scheduler_warnings():
            for k, target in enumerate(design_steps.tolist()):
                if target > MAX_SCHEDULER_STEPS:
                    note = f"stopped at optimizer step {k}: more than {MAX_SCHEDULER_STEPS:,} scheduler steps"
                    break
                while done < target:
                    schedule.step()
                    done += 1
                while separate and evals < plateau_calls[k]:
                    value = feed(int(plateau_metric[evals]))
                    if value is not None:
                        plateau.step(value)
                    evals += 1
                out[k] = [g["lr"] for g in groups]
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        note = f"torch raised at optimizer step {k} (scheduler step {done + 1}): {exc}"
    return out, note


def ticks_frame(config: ScheduleConfig, ticks: Ticks, scale: int) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Rows ``step, epoch, samples, lr, [lr/<group>], skipped, scheduler_calls`` for a stack run."""
    design_steps = ticks.calls // scale
    lrs, note = record(config, design_steps, ticks.plateau_calls, ticks.plateau_metric)
    names = [g.name for g in config.optimizer.groups()]
    data: dict[str, Any] = {
        "step": np.arange(len(ticks.calls), dtype=np.int64),
        "epoch": ticks.epoch,
        "samples": ticks.samples,
        "lr": lrs[:, 0],
    }
    if len(names) > 1:
        for i, name in enumerate(names):
            data[f"lr/{name}"] = lrs[:, i]
    data["skipped"] = ticks.skipped
    data["scheduler_calls"] = ticks.calls
    return pd.DataFrame(data), design_steps, note
