"""The live run: train a small model on synthetic data with the designed schedule, step by step.

:func:`train` returns a :class:`Training`, an iterator of one :class:`StepRecord` per *optimizer*
step.  The scheduler comes from :func:`~schedules.build.build_scheduler`, so for the correct loop the
recorded ``lr`` column equals ``schedules.lr_curve(config)["lr"]`` exactly.  :class:`LiveRun` runs
one or more trainings in a background thread (the app's Live page), and ``python -m schedules train``
is the headless form (CONTRACT.md section 4).

**The loop** (``variant="correct"``), one iteration per optimizer step ``k``::

    window = plan.window(k)                       # micro-batch counts and samples (plan.py)
    for x, y in micro_batches(window):            # fewer than A at the end of an epoch
        (loss_sum(model(x), y) / window.samples).backward()
    lrs = [g["lr"] for g in optimizer.param_groups]   # recorded: the lr this step uses
    optimizer.step(); schedule.step(val_loss if schedule.needs_metric else None); optimizer.zero_grad()

- **Loss normalisation.** Each micro-batch's summed per-sample loss is divided by the *window's*
  sample count, so the accumulated gradient is the mean over the window's actual samples: a short
  last window is not under-weighted, and a 16x4 window equals a 64x1 batch up to float rounding.
  The recorded ``loss`` is the window's summed loss (accumulated in float64) over its samples.
- **Sample order.** One permutation of the training set per epoch, from a ``torch.Generator`` seeded
  with ``(seed, epoch)``; micro-batch ``m`` of an epoch takes permutation entries
  ``[m*b*W, (m+1)*b*W)``.  The samples of optimizer step ``k`` therefore do not depend on how a
  window is split into micro-batches: 64x1 and 16x4 see the same samples at every step.
- **World size.** ``W`` ranks are emulated in one process: a micro-batch holds ``b * W`` samples (the
  union of the ranks' micro-batches), and dividing by the window's samples gives the gradient that
  DDP's all-reduce mean gives when every rank holds the same number of samples.
  :mod:`schedules.distributed` runs the ranks as real processes instead (:func:`live_run_for` and
  the CLI do so whenever the world size is within its cap).
- **Param groups.** The model's layers are split into the config's groups (body layers in order,
  the last group is the head; see :mod:`schedules.models`).
- **Evaluation.** ``val_loss`` is the mean loss on the held-out split (:mod:`schedules.data`).  With
  a ``plateau`` section it is computed whenever ``schedule.needs_metric`` (every
  ``plateau.eval_every``) and is the metric ``ReduceLROnPlateau`` receives: the config's
  ``plateau.metric`` (values or synthetic model) is for the designer's curve and is not used here.
  Without a plateau it is computed at every epoch end.  It is also computed at the run's last step;
  other rows have NaN.
- **Divergence guard.** A non-finite training (or validation) loss ends the run by raising
  :class:`Diverged`, e.g. ``loss became nan at step 12 (lr 3.2): stopping; 12 steps recorded``; the
  records yielded before stay valid (the CLI writes them as a partial CSV).
- **Stop.** ``stop`` (a ``threading.Event`` or a callable returning true) is checked before every
  micro-batch; the run then ends without taking the half-accumulated step.

**Variants** run the same loop with a classic mistake, to show what it does to a run:

======================================  ==============================================================
``correct``                             as above
``scheduler_per_micro_batch``           ``schedule.step()`` after every micro-batch: the schedule runs
                                        ``A`` times too fast (a warmup ends ``A`` times too early; past
                                        its length a scheduler goes on, or torch refuses, e.g.
                                        OneCycleLR, which ends the run with :class:`ScheduleFailed`)
``scheduler_before_optimizer``          ``schedule.step()`` before ``optimizer.step()``: step ``k``
                                        uses the lr of row ``k + 1``; the first lr value is skipped
======================================  ==============================================================

**Caps** (a shared server): at most :data:`MAX_LIVE_STEPS` optimizer steps, a dataset of at most
:data:`MAX_LIVE_DATASET` samples, micro-batches of at most :data:`MAX_LIVE_MICRO_BATCH` samples
(``b * W``), :data:`MAX_LIVE_SAMPLES` samples processed in all, and the fixed small models of
:mod:`schedules.models`.  Violations raise :class:`~schedules.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from .build import LRSchedule, build_scheduler, quiet_scheduler_warnings
from .cli import EXIT_ERROR, EXIT_OK, command, write_frame
from .config import ScheduleConfig, load_config
from .data import training_set, validation_set
from .errors import ConfigError, Problem
from .gns import WindowNoise
from .models import MODELS, make_model, param_groups
from .plan import Plan, Window, make_plan

#: Most optimizer steps one live run takes.
MAX_LIVE_STEPS = 20_000
#: Largest ``training.dataset_size`` the live run generates.
MAX_LIVE_DATASET = 200_000
#: Largest micro-batch (``micro_batch_size * world_size`` samples: the world is emulated in one process).
MAX_LIVE_MICRO_BATCH = 4096
#: Most training samples one live run processes (steps x effective batch).
MAX_LIVE_SAMPLES = 20_000_000
#: Torch threads a live run uses on CPU.  One: the models are too small for intra-op parallelism to
#: pay, and with two OpenMP threads per run a loaded 2-core machine ran 10x *slower* (48 vs 600
#: steps/s for the MLP at batch 32, spinning OpenMP workers fighting for the cores).  With
#: :data:`LIVE_RUN_SLOTS` runs of one thread each, live runs use at most that many cores.
DEFAULT_THREADS = 1
#: Live runs the whole server runs at once (see :class:`LiveRun`).
LIVE_RUN_SLOTS = 2
#: A background run nobody has looked at for this long is stopped.
IDLE_TIMEOUT_S = 120.0
#: A run whose browser session has ended (``LiveRun.watch``) is stopped after this many seconds (a
#: reload within it adopts the run instead).
SESSION_GONE_S = 10.0

CORRECT = "correct"
PER_MICRO_BATCH = "scheduler_per_micro_batch"
BEFORE_OPTIMIZER = "scheduler_before_optimizer"
VARIANTS = {
    CORRECT: "optimizer.step(); scheduler.step(); optimizer.zero_grad() once per accumulation window",
    PER_MICRO_BATCH: "bug: scheduler.step() after every micro-batch",
    BEFORE_OPTIMIZER: "bug: scheduler.step() before optimizer.step()",
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("auto", "cpu", "cuda")

StopFlag = threading.Event | Callable[[], bool] | None


# --------------------------------------------------------------------------------------------------
# errors


class LiveRunError(RuntimeError):
    """A live run ended early for a reason worth showing; the records yielded before are valid."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step  # the optimizer step that could not be completed (== steps recorded)


class Diverged(LiveRunError):
    """The loss became non-finite: ``loss became nan at step 12 (lr 3.2): stopping; 12 steps recorded``."""


class ScheduleFailed(LiveRunError):
    """Torch refused to step the scheduler (e.g. OneCycleLR stepped past its length by a variant)."""


# --------------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What one optimizer step did.

    ``lrs`` maps each param group's name to the lr the step used (read just before
    ``optimizer.step()``); ``lr`` is the first group's.  ``samples`` counts training samples through
    this step (all ranks, as the curve's column); ``window_samples`` those of this step alone.
    ``wall_time`` is seconds since the run's first step began; ``val_loss`` is NaN except at
    evaluation steps.
    """

    step: int
    epoch: int
    lrs: dict[str, float]
    loss: float
    grad_norm: float
    samples: int
    window_samples: int
    micro_batches: int
    wall_time: float
    val_loss: float = math.nan
    noise_scale: float = math.nan  # smoothed B_simple (schedules/gns.py); NaN without accumulation
    sf_weight: float = math.nan  # schedule-free runs: the averaging weight w_k of this step
    sf_averaging: float = math.nan  # ... and c_k = w_k / sum(w), what x moves toward z (schedule_free.py)

    @property
    def lr(self) -> float:
        return next(iter(self.lrs.values()))

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "samples": self.samples, "lr": self.lr}
        if len(self.lrs) > 1:
            row.update({f"lr/{name}": lr for name, lr in self.lrs.items()})
        row.update(
            loss=self.loss,
            val_loss=self.val_loss,
            grad_norm=self.grad_norm,
            window_samples=self.window_samples,
            micro_batches=self.micro_batches,
            wall_time=self.wall_time,
            noise_scale=self.noise_scale,
        )
        if not math.isnan(self.sf_averaging):
            row.update(sf_weight=self.sf_weight, sf_averaging=self.sf_averaging)
        return row


def record_columns(group_names: list[str], schedule_free: bool = False) -> list[str]:
    """The columns of a run's frame (and CSV), in order (a schedule-free run adds ``sf_weight`` and
    ``sf_averaging``)."""
    lr_cols = [f"lr/{n}" for n in group_names] if len(group_names) > 1 else []
    sf_cols = ["sf_weight", "sf_averaging"] if schedule_free else []
    return [
        "step",
        "epoch",
        "samples",
        "lr",
        *lr_cols,
        "loss",
        "val_loss",
        "grad_norm",
        "window_samples",
        "micro_batches",
        "wall_time",
        "noise_scale",
        *sf_cols,
    ]


def records_frame(
    records: list[StepRecord], group_names: list[str], schedule_free: bool = False
) -> pd.DataFrame:
    """One row per record with :func:`record_columns` (an empty frame keeps the columns)."""
    return pd.DataFrame([r.to_row() for r in records], columns=record_columns(group_names, schedule_free))


# --------------------------------------------------------------------------------------------------
# devices and limits


def resolve_device(requested: str = "auto", cuda_available: bool | None = None) -> str:
    """``"auto"`` -> ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``.

    ``"cuda"`` without CUDA raises :class:`ConfigError` (the CLI exits 2).
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if requested not in DEVICES:
        raise ConfigError(Problem("device", f"must be one of {', '.join(DEVICES)}", requested))
    if requested == "auto":
        return "cuda" if cuda_available else "cpu"
    if requested == "cuda" and not cuda_available:
        raise ConfigError(
            Problem(
                "device",
                "cuda was requested but torch.cuda.is_available() is False on this machine (use auto or cpu)",
                requested,
            )
        )
    return requested


#: How much lower a background run's thread is scheduled than the rest of the process (a nice
#: increment; Linux applies nice per thread).  The web server's event loop (health checks, every
#: session's traffic) then gets a core before a training thread does (bench/dos_health.py).
BACKGROUND_NICE = 5


def lower_thread_priority(increment: int = BACKGROUND_NICE) -> bool:
    """Lower the calling thread's CPU priority by ``increment`` (Linux only: elsewhere a thread id is
    not a valid ``setpriority`` target); True when it was changed."""
    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + increment))
    except OSError:
        return False
    return True


def limit_threads(threads: int | None) -> None:
    """Use at most ``threads`` torch CPU threads (``None``: leave torch's setting alone).

    ``torch.set_num_threads`` is process-wide; it is called when a run starts, never at import.
    """
    if threads is not None:
        torch.set_num_threads(max(1, min(int(threads), os.cpu_count() or 1)))


def check_live(
    config: ScheduleConfig,
    *,
    max_steps: int | None = None,
    model: str = "mlp",
    variant: str = CORRECT,
    dtype: str = "float32",
    seed: int = 0,
    schedule_free: str | None = None,
) -> int:
    """Check a live run's arguments against the caps; returns the number of steps it takes.

    Raises :class:`ConfigError` naming the field (``training.dataset_size``, ``max_steps``...).
    """
    problems: list[Problem] = []
    if schedule_free is not None:
        from . import schedule_free as sf

        if schedule_free not in sf.KINDS:
            problems.append(Problem("schedule_free", f"must be one of {', '.join(sf.KINDS)}", schedule_free))
        elif not sf.available():
            problems.append(
                Problem(
                    "schedule_free", "needs the schedulefree package, which is not installed", schedule_free
                )
            )
        if variant != CORRECT:
            problems.append(
                Problem(
                    "variant",
                    f"must be {CORRECT} with a schedule-free optimizer (it has no lr scheduler to misplace)",
                    variant,
                )
            )
    if model not in MODELS:
        problems.append(Problem("model", f"must be one of {', '.join(MODELS)}", model))
    if variant not in VARIANTS:
        problems.append(Problem("variant", f"must be one of {', '.join(VARIANTS)}", variant))
    if dtype not in DTYPES:
        problems.append(Problem("dtype", f"must be one of {', '.join(DTYPES)}", dtype))
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2**32 - 1:
        problems.append(Problem("seed", f"must be an integer >= 0 and <= {2**32 - 1}", seed))
    if max_steps is not None and (
        not isinstance(max_steps, int) or isinstance(max_steps, bool) or not 1 <= max_steps <= MAX_LIVE_STEPS
    ):
        problems.append(
            Problem(
                "max_steps",
                f"must be an integer >= 1 and <= {MAX_LIVE_STEPS} (the live run's cap)",
                max_steps,
            )
        )
    t = config.training
    if t.dataset_size > MAX_LIVE_DATASET:
        problems.append(
            Problem(
                "training.dataset_size",
                f"must be <= {MAX_LIVE_DATASET} for the live run (its synthetic data is generated in memory)",
                t.dataset_size,
            )
        )
    round_size = t.micro_batch_size * t.world_size
    if round_size > MAX_LIVE_MICRO_BATCH:
        problems.append(
            Problem(
                "training.micro_batch_size",
                f"micro_batch_size * world_size must be <= {MAX_LIVE_MICRO_BATCH} for the live run "
                f"(the {t.world_size} ranks are emulated in one process: {round_size} samples per micro-batch)",
                t.micro_batch_size,
            )
        )
    if problems:
        raise ConfigError(problems)
    plan = make_plan(config)
    steps = plan.total_steps if max_steps is None else min(max_steps, plan.total_steps)
    if steps > MAX_LIVE_STEPS:
        field_name = "training.max_steps" if t.max_steps is not None else "training.epochs"
        raise ConfigError(
            Problem(
                field_name,
                f"the live run takes at most {MAX_LIVE_STEPS} optimizer steps and this config has "
                f"{plan.total_steps}: set max_steps (--max-steps) to run its first steps",
                getattr(t, field_name.split(".")[1]),
            )
        )
    processed = int(plan.samples_array()[steps - 1]) if steps <= plan.total_steps else 0
    if processed > MAX_LIVE_SAMPLES:
        field_name = (
            "training.accumulation_steps" if t.accumulation_steps > 1 else "training.micro_batch_size"
        )
        raise ConfigError(
            Problem(
                field_name,
                f"the live run processes at most {MAX_LIVE_SAMPLES} samples; {steps} steps of effective batch "
                f"{plan.effective_batch} take {processed} (lower the batch or max_steps)",
                getattr(t, field_name.split(".")[1]),
            )
        )
    return steps


def stop_check(stop: StopFlag) -> Callable[[], bool]:
    """A no-argument callable that is true once ``stop`` (an Event, a callable or None) says stop."""
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])


# --------------------------------------------------------------------------------------------------
# the shared machinery (also used by the LR range test)


class LiveSetup:
    """Data, model, param groups and sample order of one live run (see the module docstring)."""

    def __init__(self, config: ScheduleConfig, plan: Plan, *, model: str, seed: int, device: str, dtype: str):
        spec = MODELS[model]
        self.config = config
        self.plan = plan
        self.spec = spec
        self.seed = seed
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype]
        train = training_set(spec.dataset, config.training.dataset_size)
        val = validation_set(spec.dataset)
        self.x, self.y = self._tensors(train.x, train.y)
        self.val_x, self.val_y = self._tensors(val.x, val.y)
        self.model = make_model(model, seed, dtype=self.dtype, device=device)
        self._params = list(self.model.parameters())
        self.groups = param_groups(self.model, len(config.optimizer.groups()))
        self.group_names = [g.name for g in config.optimizer.groups()]
        self._perm: torch.Tensor | None = None
        self._perm_epoch = -1

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.from_numpy(x).to(self.device, self.dtype)
        yt = torch.from_numpy(y).to(self.device)
        if yt.is_floating_point():
            yt = yt.to(self.dtype)
        return xt, yt

    def make_optimizer(self, lrs: list[float]) -> torch.optim.Optimizer:
        """The config's optimizer class over the param groups, with the given per-group lrs."""
        opt = self.config.optimizer
        cls = getattr(torch.optim, opt.name)
        groups = [{"params": ps, "lr": lr} for ps, lr in zip(self.groups, lrs, strict=True)]
        return cls(groups, lr=opt.lr, **opt.kwargs)

    def make_schedule_free(self, kind: str) -> tuple[torch.optim.Optimizer, list[str]]:
        """``schedulefree``'s optimizer of ``kind`` over the param groups at the design's per-group lrs,
        warming up over the design's warmup; and the design kwargs it does not take."""
        from . import schedule_free

        opt = self.config.optimizer
        kwargs, dropped = schedule_free.optimizer_kwargs(kind, opt.kwargs)
        groups = [{"params": ps, "lr": lr} for ps, lr in zip(self.groups, opt.base_lrs(), strict=True)]
        return schedule_free.make_optimizer(
            kind, groups, warmup_steps=self.plan.warmup_steps, kwargs=kwargs
        ), dropped

    def permutation(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch``: ``randperm`` from a generator seeded by ``(seed, epoch)``."""
        if epoch != self._perm_epoch:
            gen = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
            self._perm = torch.randperm(len(self.x), generator=gen).to(self.device)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def micro_batches(self, window: Window) -> Iterator[torch.Tensor]:
        """Index tensors of the window's micro-batches (``b * W`` samples each, the last maybe fewer)."""
        perm = self.permutation(window.epoch)
        plan = self.plan
        start = window.first_micro_batch * plan.round_size
        for m in range(window.first_micro_batch, window.first_micro_batch + window.micro_batches):
            size = plan.micro_batch_samples(m)
            yield perm[start : start + size]
            start += size

    def loss_sum(self, idx: torch.Tensor) -> torch.Tensor:
        """Summed per-sample training loss of the samples ``idx`` (with autograd)."""
        return self.spec.loss_sum(self.model(self.x[idx]), self.y[idx])

    def val_loss(self) -> float:
        """Mean loss over the held-out split."""
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(self.val_x), 4096):
                xs, ys = self.val_x[start : start + 4096], self.val_y[start : start + 4096]
                total += float(self.spec.loss_sum(self.model(xs), ys).double())
        return total / len(self.val_x)

    def grad_norm(self) -> float:
        """L2 norm of all gradients together (no clipping)."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads:
            return 0.0
        # One fused kernel for the per-tensor norms (torch >= 2.4; get_total_norm needs 2.6); on CPU the
        # few scalars are combined in Python (cheaper than two more kernels), on CUDA on the device
        # (one sync instead of one per tensor).
        norms = torch._foreach_norm(grads)
        if self.device.type == "cpu":
            return math.sqrt(math.fsum(float(n) ** 2 for n in norms))
        return float(torch.linalg.vector_norm(torch.stack(norms)))


# --------------------------------------------------------------------------------------------------
# train


def step_schedule_checked(
    schedule: LRSchedule, k: int, variant: str, metric: float | None, times: int = 1
) -> None:
    """Step ``schedule`` ``times`` times after optimizer step ``k`` (the live loop's and every rank's
    rule); a scheduler torch refuses to step ends the run with :class:`ScheduleFailed`."""
    try:
        for _ in range(times):
            if variant == CORRECT:
                schedule.step(metric)
            else:  # the variants step out of order on purpose: torch's warning about it is expected
                with quiet_scheduler_warnings():
                    schedule.step(metric)
    except (ValueError, ZeroDivisionError, OverflowError, RuntimeError) as exc:
        raise ScheduleFailed(
            f"torch refused to step the scheduler at optimizer step {k} "
            f"(scheduler step {schedule.steps_taken}): {exc}; {k} steps recorded",
            k,
        ) from None


def checked_val_loss(setup: LiveSetup, optimizer: torch.optim.Optimizer, k: int) -> float:
    """The validation loss after optimizer step ``k``; a non-finite one ends the run (:class:`Diverged`)."""
    val = setup.val_loss()
    if not math.isfinite(val):
        lr = optimizer.param_groups[0]["lr"]
        raise Diverged(
            f"validation loss became {val} at step {k} (lr {lr:.3g}): stopping; {k} steps recorded", k
        )
    return val


class Training:
    """An iterator of :class:`StepRecord`, one per optimizer step (see the module docstring).

    Built by :func:`train`, which validates everything and builds the data, model, optimizer and
    schedule up front; iterating runs the loop (in whatever thread iterates).  Attributes:
    ``config``, ``plan``, ``steps`` (how many steps it will take unless stopped), ``device``,
    ``group_names``, ``optimizer``, ``schedule`` (the :class:`LRSchedule`: its ``evaluations``
    list what ReduceLROnPlateau received), ``stopped`` (true once it ended because of ``stop``).
    """

    def __init__(
        self,
        config: ScheduleConfig,
        *,
        steps: int,
        device: str,
        seed: int,
        model: str,
        variant: str,
        dtype: str,
        stop: StopFlag,
        threads: int | None,
        schedule_free: str | None = None,
    ):
        self.config = config
        self.plan = make_plan(config)
        self.schedule_free = schedule_free
        self.steps = steps
        self.device = device
        self.seed = seed
        self.model_name = model
        self.variant = variant
        self.threads = threads
        self.setup = LiveSetup(config, self.plan, model=model, seed=seed, device=device, dtype=dtype)
        self.group_names = self.setup.group_names
        self.dropped_kwargs: list[str] = []  # design kwargs the schedule-free class does not take
        self.schedule: LRSchedule | None
        if schedule_free is None:
            self.optimizer = self.setup.make_optimizer(config.optimizer.base_lrs())
            self.schedule = build_scheduler(self.optimizer, config)
        else:
            self.optimizer, self.dropped_kwargs = self.setup.make_schedule_free(schedule_free)
            self.schedule = None  # no lr scheduler: the optimizer warms up and averages itself
        self.stopped = False
        self._stop = stop_check(stop)
        self._gen = self._run()

    def __iter__(self) -> Training:
        return self

    def __next__(self) -> StepRecord:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def frame(self, records: list[StepRecord]) -> pd.DataFrame:
        return records_frame(records, self.group_names, self.schedule_free is not None)

    # -- the loop ----------------------------------------------------------------------------------
    def _schedule_step(self, k: int, val: float) -> float:
        """``schedule.step()``, with the real validation loss when the plateau wants a metric."""
        if self.schedule is None:  # schedule-free
            return val
        if self.schedule.needs_metric:
            val = self._validate(k)
        step_schedule_checked(self.schedule, k, self.variant, val if self.schedule.needs_metric else None)
        return val

    def _validate(self, k: int) -> float:
        if self.schedule_free is None:
            return checked_val_loss(self.setup, self.optimizer, k)
        self.optimizer.eval()  # schedule-free: evaluate the averaged iterate x ...
        try:
            return checked_val_loss(self.setup, self.optimizer, k)
        finally:
            self.optimizer.train()  # ... and take gradients at y again

    def _run(self) -> Iterator[StepRecord]:
        limit_threads(self.threads if self.setup.device.type == "cpu" else None)
        setup, plan, optimizer, variant = self.setup, self.plan, self.optimizer, self.variant
        groups = optimizer.param_groups
        names = self.group_names
        stopped = self._stop
        eval_at_epoch_end = self.config.plateau is None or self.schedule is None
        sf = self.schedule_free is not None
        sf_sum = 0.0
        sf_weight = sf_averaging = math.nan
        last = self.steps - 1
        # Gradient noise scale from each accumulation window (schedules/gns.py); needs accumulation.
        noise = WindowNoise(setup._params) if plan.accumulation_steps > 1 else None
        t0 = time.perf_counter()
        for k in range(self.steps):
            window = plan.window(k)
            val = math.nan
            total = None
            if sf:
                setup.model.train()
                optimizer.train()  # schedule-free: parameters at y, where the gradient is taken
            for j, idx in enumerate(setup.micro_batches(window)):
                if stopped():
                    self.stopped = True
                    return
                loss_sum = setup.loss_sum(idx)
                (loss_sum / window.samples).backward()
                if noise is not None and window.micro_batches > 1:
                    noise.micro_batch(int(idx.shape[0]), window.samples, j == window.micro_batches - 1)
                part = loss_sum.detach()  # summed in float64 from the second micro-batch on
                total = part if total is None else total.double() + part
                if variant == PER_MICRO_BATCH and j < window.micro_batches - 1:
                    val = self._schedule_step(k, val)
            if variant == BEFORE_OPTIMIZER:
                val = self._schedule_step(k, val)
            lrs = {name: float(g["lr"]) for name, g in zip(names, groups, strict=True)}
            loss = float(total) / window.samples
            if not math.isfinite(loss):
                raise Diverged(
                    f"loss became {loss} at step {k} (lr {lrs[names[0]]:.3g}): stopping; {k} steps recorded",
                    k,
                )
            grad_norm = setup.grad_norm()
            noise_scale = noise.end_window(grad_norm, window.samples) if noise is not None else math.nan
            optimizer.step()
            if sf:  # the step size it used and its averaging weight, from the package's own state
                from .schedule_free import step_state

                used, sf_weight, sf_averaging = step_state(optimizer, sf_sum)
                sf_sum += sf_weight
                lrs = dict(zip(names, used, strict=True))
            if variant != BEFORE_OPTIMIZER:
                val = self._schedule_step(k, val)
            if math.isnan(val) and (k == last or (eval_at_epoch_end and plan.is_epoch_end(k))):
                val = self._validate(k)
            optimizer.zero_grad(set_to_none=True)
            yield StepRecord(
                step=k,
                epoch=window.epoch,
                lrs=lrs,
                loss=loss,
                grad_norm=grad_norm,
                samples=window.samples_through,
                window_samples=window.samples,
                micro_batches=window.micro_batches,
                wall_time=time.perf_counter() - t0,
                val_loss=val,
                noise_scale=noise_scale,
                sf_weight=sf_weight,
                sf_averaging=sf_averaging,
            )
        if sf:
            optimizer.eval()  # the run is over: the model holds x, the weights to evaluate and save


def train(
    config: ScheduleConfig | dict[str, Any] | str,
    *,
    device: str = "auto",
    seed: int = 0,
    max_steps: int | None = None,
    model: str = "mlp",
    variant: str = CORRECT,
    stop: StopFlag = None,
    dtype: str = "float32",
    threads: int | None = DEFAULT_THREADS,
    schedule_free: str | None = None,
) -> Training:
    """Train ``model`` on its synthetic dataset with ``config``'s optimizer, batches and schedule.

    Returns a :class:`Training`: iterate it for one :class:`StepRecord` per optimizer step.

    - ``device``: ``"auto"`` (CUDA when ``torch.cuda.is_available()``, else CPU), ``"cpu"``, ``"cuda"``.
    - ``seed``: model initialisation and sample order (the data itself is fixed).
    - ``max_steps``: run only the first ``max_steps`` steps of the *designed* schedule (the schedule is
      not shortened: the recorded lrs are the first rows of ``lr_curve(config)``).  The whole run may
      take at most :data:`MAX_LIVE_STEPS` steps.
    - ``model``: ``"mlp"``, ``"cnn"`` or ``"linear"`` (:mod:`schedules.models`).
    - ``variant``: ``"correct"`` or one of the scheduler mistakes (module docstring).
    - ``stop``: a ``threading.Event`` or a callable, checked before every micro-batch.
    - ``dtype``: ``"float32"``, or ``"float64"`` for step-by-step comparisons with no rounding noise.
    - ``threads``: torch CPU threads while the run iterates (``None``: unchanged).
    - ``schedule_free``: ``"AdamW"`` or ``"SGD"`` trains with ``schedulefree.AdamWScheduleFree`` /
      ``SGDScheduleFree`` instead (Defazio et al. 2024): the design's per-group lrs as peaks, its
      warmup length as the optimizer's ``warmup_steps``, no lr scheduler (the decay and plateau are
      not used).  ``optimizer.train()`` runs before every step's micro-batches, ``optimizer.eval()``
      around every validation (the loss of the averaged iterate ``x``) and at the end.  The ``lr``
      columns are the step size each step used (``scheduled_lr``); ``sf_weight`` / ``sf_averaging``
      the averaging weight ``w_k`` and ``c_k = w_k / sum(w)`` (:mod:`schedules.schedule_free`).

    Raises :class:`ConfigError` (naming the field) for invalid arguments or a run over the caps; while
    iterating, :class:`Diverged` for a non-finite loss and :class:`ScheduleFailed` when torch rejects a
    scheduler step (both :class:`LiveRunError`).

    >>> run = train({"optimizer": {"name": "SGD", "lr": 0.1},
    ...              "training": {"dataset_size": 640, "micro_batch_size": 16, "accumulation_steps": 4,
    ...                           "epochs": 1}}, device="cpu")
    >>> [round(r.lr, 3) for r in run]                       # doctest: +SKIP
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    """
    cfg = load_config(config)
    steps = check_live(
        cfg,
        max_steps=max_steps,
        model=model,
        variant=variant,
        dtype=dtype,
        seed=seed,
        schedule_free=schedule_free,
    )
    resolved = resolve_device(device)
    return Training(
        cfg,
        steps=steps,
        device=resolved,
        seed=seed,
        model=model,
        variant=variant,
        dtype=dtype,
        stop=stop,
        threads=threads,
        schedule_free=schedule_free,
    )


# --------------------------------------------------------------------------------------------------
# comparisons: the same design with other accumulation splits and with the scheduler mistakes


@dataclass(frozen=True)
class Setting:
    """One run of a comparison: a label, a config and a loop variant."""

    label: str
    config: ScheduleConfig
    variant: str = CORRECT

    @property
    def split(self) -> tuple[int, int]:
        t = self.config.training
        return t.micro_batch_size, t.accumulation_steps


def split_label(micro_batch_size: int, accumulation_steps: int, world_size: int = 1) -> str:
    """``"16x4"`` (micro-batch x accumulation), ``"16x4x2"`` with 2 ranks."""
    label = f"{micro_batch_size}x{accumulation_steps}"
    return label + (f"x{world_size}" if world_size > 1 else "")


def other_split(micro_batch_size: int, accumulation_steps: int) -> tuple[int, int] | None:
    """Another ``(b, A)`` with the same effective batch ``b * A``.

    With accumulation: no accumulation, ``(b * A, 1)``.  Without: a quarter (else a half) of the
    micro-batch accumulated 4 (2) times.  ``None`` when ``b * A == 1``.
    """
    if accumulation_steps > 1:
        return micro_batch_size * accumulation_steps, 1
    for parts in (4, 2):
        if micro_batch_size % parts == 0:
            return micro_batch_size // parts, parts
    if micro_batch_size > 1:
        return 1, micro_batch_size
    return None


def with_split(config: ScheduleConfig, micro_batch_size: int, accumulation_steps: int) -> ScheduleConfig:
    data = config.to_dict()
    data["training"] = {
        **data["training"],
        "micro_batch_size": micro_batch_size,
        "accumulation_steps": accumulation_steps,
    }
    return load_config(data)


def comparison_settings(
    config: ScheduleConfig,
    *,
    design: bool = True,
    same_batch_other_split: bool = False,
    per_micro_batch_bug: bool = False,
    before_optimizer_bug: bool = False,
) -> tuple[list[Setting], list[str]]:
    """The settings to run side by side, and notes on any that cannot be made.

    The per-micro-batch bug only shows with accumulation, so it runs on whichever of the design's
    split and :func:`other_split` accumulates.
    """
    t = config.training
    b, a, w = t.micro_batch_size, t.accumulation_steps, t.world_size
    settings: list[Setting] = []
    notes: list[str] = []
    alt = other_split(b, a)
    if design:
        settings.append(Setting(f"{split_label(b, a, w)} design", config))
    if same_batch_other_split:
        if alt is None:
            notes.append("no other split of an effective batch of 1")
        else:
            settings.append(Setting(f"{split_label(*alt, w)} same batch", with_split(config, *alt)))
    if per_micro_batch_bug:
        if a > 1:
            settings.append(
                Setting(f"{split_label(b, a, w)} bug: sched per micro-batch", config, PER_MICRO_BATCH)
            )
        elif alt is not None:
            settings.append(
                Setting(
                    f"{split_label(*alt, w)} bug: sched per micro-batch",
                    with_split(config, *alt),
                    PER_MICRO_BATCH,
                )
            )
        else:
            notes.append("the per-micro-batch bug needs accumulation (an effective batch > 1)")
    if before_optimizer_bug:
        settings.append(
            Setting(f"{split_label(b, a, w)} bug: sched before optimizer", config, BEFORE_OPTIMIZER)
        )
    return settings, notes


# --------------------------------------------------------------------------------------------------
# background runs (the app's Live page)

_SERVER_SLOTS = threading.BoundedSemaphore(LIVE_RUN_SLOTS)
#: owner (a browser's id, see the Live page) -> the run holding that owner's one slot.
_BY_OWNER: dict[str, LiveRun] = {}
_OWNERS_LOCK = threading.Lock()


def xsrf_token(cookie: str) -> str:
    """The token inside an ``_streamlit_xsrf`` cookie.  Version 2 cookies (``2|mask|masked|time``) are
    re-masked on every page load, so the raw value changes on a reload while the token does not."""
    parts = cookie.split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError:
            return cookie
        if mask:
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)).hex()
    return cookie


def run_of(owner: str | None) -> LiveRun | None:
    """The run that holds ``owner``'s slot (running, or started and not yet ended), if any."""
    if not owner:
        return None
    with _OWNERS_LOCK:
        run = _BY_OWNER.get(owner)
    return run if run is not None and run.running else None


@dataclass
class Job:
    """One iterator of records run by a :class:`LiveRun` (a :class:`Training` or a range-test sweep)."""

    label: str
    records: Iterator[Any]  # items with .to_row() -> dict
    total: int
    meta: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    outcome: str = "pending"  # pending | running | done | stopped | not run | diverged | failed
    message: str = ""
    rows: int = 0  # records taken so far


@dataclass
class Snapshot:
    """A consistent copy of a :class:`LiveRun`'s state for drawing."""

    status: str  # ready | busy | running | done | stopped
    done: int
    total: int
    current: str | None
    elapsed: float
    frames: dict[str, pd.DataFrame]
    outcomes: dict[str, str]
    messages: list[str]
    stop_latency: float | None = None  # seconds from stop() to the thread's end

    @property
    def progress(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def steps_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


class LiveRun:
    """Jobs run interleaved in a daemon thread, one record of each in turn (round robin per optimizer
    step); records land in a thread-safe buffer.

    ``start()`` takes one of the server's :data:`LIVE_RUN_SLOTS` (a module-level semaphore shared by
    every session in the process); when none is free it returns ``False`` and the status is
    ``"busy"``.  ``stop()`` sets the event every job checks before each micro-batch, so the thread
    ends within one micro-batch.  ``snapshot()`` copies the buffer (and counts as someone watching:
    a run nobody has looked at for ``idle_timeout`` seconds stops itself).  A job that diverges ends
    with its message and the others go on.  When the run ends, a job that never took a step (the run
    was stopped first) is ``"not run"``.
    """

    def __init__(
        self,
        *,
        slots: threading.Semaphore | None = None,
        idle_timeout: float = IDLE_TIMEOUT_S,
        owner: str | None = None,
        kind: str = "train",
    ):
        self.owner = owner
        self.kind = kind  # "train" | "range": which part of the Live page shows it
        self._alive: Callable[[], bool] | None = None
        self._gone_since: float | None = None
        self.refused = ""  # why start() returned False: "server" (all slots busy) | "owner"
        self.stop_event = threading.Event()
        self.jobs: list[Job] = []
        self._slots = slots if slots is not None else _SERVER_SLOTS
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._columns: dict[str, dict[str, list[Any]]] = {}
        self._done = 0
        self._current: str | None = None
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._finished: float | None = None
        self._stop_requested: float | None = None
        self._busy = False
        self._last_seen = time.monotonic()
        self._last_checked = 0.0
        self.stop_reason = ""
        #: Optional recorder, set before start(): ``sink.start(job)``, ``sink.row(job, row)`` for every
        #: row, ``sink.end(job)`` once the outcome is set; it must not raise (schedules.workspace.sink).
        self.sink: Any = None

    def add(
        self,
        label: str,
        records: Iterator[Any],
        total: int,
        columns: list[str],
        meta: dict[str, Any] | None = None,
    ) -> Job:
        if self._thread is not None:
            raise RuntimeError("cannot add a job to a run that has started")
        if any(j.label == label for j in self.jobs):
            raise ValueError(f"job labels must be unique, got {label!r} twice")
        job = Job(label, records, total, dict(meta or {}), list(columns))
        self.jobs.append(job)
        self._columns[label] = {c: [] for c in columns}
        return job

    # -- control -----------------------------------------------------------------------------------
    def start(self) -> bool:
        """Take a slot and run; ``False`` (status "busy", ``refused`` says why) when the server's slots
        are all taken, or when this run's ``owner`` already holds one (one slot per browser)."""
        if self._thread is not None:
            raise RuntimeError("a LiveRun starts once")
        with _OWNERS_LOCK:
            if self.owner:
                held = _BY_OWNER.get(self.owner)
                if held is not None and held is not self and held._holds_slot():
                    self._busy, self.refused = True, "owner"
                    return False
            if not self._slots.acquire(blocking=False):
                self._busy, self.refused = True, "server"
                return False
            if self.owner:
                _BY_OWNER[self.owner] = self
            self._started = time.perf_counter()
            self._last_seen = time.monotonic()
            self._thread = threading.Thread(target=self._work, name="live-run", daemon=True)
            self._thread.start()
        return True

    def _holds_slot(self) -> bool:
        return self._thread is not None and self._finished is None

    def watch(self, alive: Callable[[], bool] | None) -> None:
        """Tie the run to a browser session: ``alive()`` false for :data:`SESSION_GONE_S` seconds in a
        row (the session ended) stops the run and frees its slot.  Calling it again (a reloaded page
        adopting the run) moves the tie to the new session."""
        self._alive = alive
        self._gone_since = None

    def _session_gone(self) -> bool:
        alive = self._alive
        if alive is None:
            return False
        try:
            ok = bool(alive())
        except Exception:
            ok = False
        now = time.monotonic()
        if ok:
            self._gone_since = None
            return False
        if self._gone_since is None:
            self._gone_since = now
        return now - self._gone_since >= SESSION_GONE_S

    def stop(self, reason: str = "stopped") -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self._stop_requested = time.perf_counter()
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; true when it has ended (or never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def total(self) -> int:
        return sum(j.total for j in self.jobs)

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        """Round robin: one record (one optimizer step) of every unfinished job in turn.

        All settings' curves grow together, so a comparison is readable after a few seconds, and a
        Stop leaves every started setting with about the same number of steps.  Each job's records do
        not depend on the interleaving (its model, optimizer, schedule and sample order are its own).
        """
        lower_thread_priority()
        try:
            active = list(self.jobs)
            while active and not self.stop_event.is_set():
                for job in list(active):
                    if self.stop_event.is_set():
                        break
                    if not self._step_job(job):
                        active.remove(job)
        finally:
            stopped = self.stop_event.is_set()
            with self._lock:
                for job in self.jobs:
                    if job.outcome in ("pending", "running") and job.rows == 0 and stopped:
                        job.outcome = "not run"
                    elif job.outcome == "running":
                        job.outcome = "stopped" if stopped else "done"
            if self.sink is not None:  # jobs cut short by Stop (ended jobs were told already)
                for job in self.jobs:
                    self.sink.end(job)
            for job in self.jobs:  # release what an unfinished generator holds
                close = getattr(job.records, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - a failing close must not hide the run's result
                        pass
            with _OWNERS_LOCK:
                with self._lock:
                    self._finished = time.perf_counter()
                    self._current = None
                if self.owner and _BY_OWNER.get(self.owner) is self:
                    del _BY_OWNER[self.owner]
                self._slots.release()

    def _step_job(self, job: Job) -> bool:
        """Take one record of ``job``; false once the job has ended (done, stopped, diverged, failed)."""
        cols = self._columns[job.label]
        with self._lock:
            self._current = job.label
            starting = job.outcome == "pending"
            if starting:
                job.outcome = "running"
        if starting and self.sink is not None:
            self.sink.start(job)
        try:
            record = next(job.records)
        except StopIteration:
            outcome, message = ("stopped" if self.stop_event.is_set() else "done"), ""
        except LiveRunError as exc:
            outcome, message = "diverged" if isinstance(exc, Diverged) else "failed", str(exc)
        except Exception as exc:  # shown on the page, never as a traceback
            outcome, message = "failed", f"{type(exc).__name__}: {exc}"
        else:
            row = record.to_row()
            with self._lock:
                for c, values in cols.items():
                    values.append(row.get(c, math.nan))
                job.rows += 1
                self._done += 1
            if self.sink is not None:
                self.sink.row(job, row)
            now = time.monotonic()
            if now - self._last_seen > self._idle_timeout:
                self.stop(f"stopped: nobody watched the run for {self._idle_timeout:.0f} s")
            if now - self._last_checked >= 0.5:
                self._last_checked = now
                if self._session_gone():
                    self.stop("stopped: its browser session ended")
            return True
        with self._lock:
            if outcome == "stopped" and job.rows == 0:
                outcome = "not run"  # stopped before its first step
            job.outcome, job.message = outcome, message
        if self.sink is not None:
            self.sink.end(job)
        return False

    # -- reading -----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        self._last_seen = time.monotonic()
        with self._lock:
            frames = {
                label: pd.DataFrame({c: list(v) for c, v in cols.items()})
                for label, cols in self._columns.items()
            }
            done, current = self._done, self._current
            outcomes = {j.label: j.outcome for j in self.jobs}
            messages = [f"{j.label}: {j.message}" for j in self.jobs if j.message]
        if self._busy:
            status = "busy"
        elif self._thread is None:
            status = "ready"
        elif self._thread.is_alive():
            status = "running"
        else:
            status = "stopped" if self.stop_event.is_set() else "done"
        if self._thread is None:
            elapsed = 0.0
        else:
            elapsed = (self._finished or time.perf_counter()) - self._started
        latency = None
        if self._stop_requested is not None and self._finished is not None:
            latency = max(0.0, self._finished - self._stop_requested)
        return Snapshot(status, done, self.total, current, elapsed, frames, outcomes, messages, latency)

    def frame(self) -> pd.DataFrame:
        """All jobs' rows in one frame, with ``setting`` and each job's meta columns first (for CSV).

        Jobs without rows (not run) add nothing, so integer columns stay integers in a stopped run's CSV.
        """
        snap = self.snapshot()
        parts = []
        for job in self.jobs:
            f = snap.frames[job.label]
            if f.empty:
                continue
            front = pd.DataFrame(
                {"setting": [job.label] * len(f), **{k: [v] * len(f) for k, v in job.meta.items()}}
            )
            parts.append(pd.concat([front, f.reset_index(drop=True)], axis=1))
        if not parts:
            meta = [k for job in self.jobs for k in job.meta]
            cols = [c for job in self.jobs for c in job.columns]
            return pd.DataFrame(columns=list(dict.fromkeys(["setting", *meta, *cols])))
        return pd.concat(parts, ignore_index=True)


def live_run_for(
    settings: list[Setting],
    *,
    model: str = "mlp",
    device: str = "auto",
    seed: int = 0,
    max_steps: int | None = None,
    dtype: str = "float32",
    threads: int | None = DEFAULT_THREADS,
    slots: threading.Semaphore | None = None,
    idle_timeout: float = IDLE_TIMEOUT_S,
    owner: str | None = None,
    schedule_free: str | None = None,
) -> LiveRun:
    """A :class:`LiveRun` with one training job per setting (validated now: ConfigError on problems).

    ``schedule_free``: every setting trains with that schedule-free optimizer (see :func:`train`; the
    world is then emulated in one process)."""
    run = LiveRun(slots=slots, idle_timeout=idle_timeout, owner=owner)
    for s in settings:
        make: Any = train
        extra: dict[str, Any] = {}
        if schedule_free is not None:
            extra["schedule_free"] = schedule_free
        elif s.variant not in VARIANTS or s.config.training.world_size > 1:
            from .distributed import make_training  # W real processes when the cap allows

            make = make_training(s.config, device, s.variant)
        training = make(
            s.config,
            device=device,
            seed=seed,
            max_steps=max_steps,
            model=model,
            variant=s.variant,
            stop=run.stop_event,
            dtype=dtype,
            threads=threads,
            **extra,
        )
        b, a = s.split
        meta = {
            "variant": s.variant,
            "micro_batch_size": b,
            "accumulation_steps": a,
            "world_size": s.config.training.world_size,
        }
        if schedule_free is not None:
            from .schedule_free import KINDS

            meta["optimizer"] = f"schedulefree.{KINDS[schedule_free]}"
        run.add(
            s.label,
            training,
            training.steps,
            record_columns(training.group_names, schedule_free is not None),
            meta,
        )
    return run


# --------------------------------------------------------------------------------------------------
# CLI: python -m schedules train CONFIG.json -o RUN.csv


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument("-o", "--output", default=None, help="CSV file to write (default: stdout)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: cuda when available, else cpu")
    p.add_argument("--seed", type=int, default=0, help="model initialisation and sample order (default 0)")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help=f"run only the first N optimizer steps of the designed schedule (at most {MAX_LIVE_STEPS})",
    )
    p.add_argument("--model", choices=tuple(MODELS), default="mlp", help="model and its synthetic dataset")
    from .distributed import DIST_VARIANTS  # the single-process variants and the multi-process bug

    p.add_argument(
        "--variant", choices=tuple(DIST_VARIANTS), default=CORRECT, help="the loop, or a scheduler mistake"
    )
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    p.add_argument(
        "--schedule-free",
        choices=("AdamW", "SGD"),
        default=None,
        help="train with schedulefree.AdamWScheduleFree / SGDScheduleFree (no lr scheduler; the design's lr "
        "and warmup); adds columns sf_weight, sf_averaging",
    )
    p.add_argument(
        "--world-size",
        type=int,
        default=None,
        help="ranks as real processes on torch.distributed (default: the design's training.world_size)",
    )


@command(
    "train",
    "the live run, headless: one row per optimizer step (step, epoch, samples, lr, loss, val_loss, ...)",
    _train_args,
)
def cmd_train(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    make: Any = train
    extra: dict[str, Any] = {}
    if args.schedule_free is not None:
        if args.world_size is not None:
            raise ConfigError(
                Problem(
                    "world_size",
                    "is not available with --schedule-free (its world is emulated in one process)",
                    args.world_size,
                )
            )
        extra["schedule_free"] = args.schedule_free
    elif args.world_size is not None or config.training.world_size > 1:
        from .distributed import cli_training  # schedules/distributed.py

        config, make = cli_training(config, args)
    training = make(
        config,
        device=args.device,
        seed=args.seed,
        max_steps=args.max_steps,
        model=args.model,
        variant=args.variant,
        dtype=args.dtype,
        **extra,
    )
    records: list[StepRecord] = []
    try:
        for record in training:
            records.append(record)
    except LiveRunError as exc:
        write_frame(training.frame(records), args.output)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        write_frame(training.frame(records), args.output)
        raise
    write_frame(training.frame(records), args.output)
    seconds = records[-1].wall_time if records else 0.0
    rate = f" ({len(records) / seconds:.0f} steps/s)" if seconds > 0 else ""
    print(
        f"trained {len(records)} steps on {training.device} in {seconds:.2f} s{rate}; "
        f"final loss {records[-1].loss:.4g}"
        if records
        else "trained 0 steps",
        file=sys.stderr,
    )
    return EXIT_OK
