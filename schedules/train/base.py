"""What a live run may be, and what it records: caps, loop variants, devices, records and errors.

The ground of :mod:`schedules.train`: the single-process loop (:mod:`~schedules.train.loop`), the
ranks (:mod:`~schedules.train.distributed`), the run manager (:mod:`~schedules.train.runs`) and the
LR range test all check their arguments and record their steps with what is defined here.

**Variants** run the same loop with a classic mistake, to show what it does to a run:

======================================  ==============================================================
``correct``                             ``optimizer.step(); scheduler.step(); optimizer.zero_grad()``
                                        once per accumulation window
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
:mod:`schedules.train.models`.  Violations raise :class:`~schedules.design.ConfigError` naming the
field.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ..design import ConfigError, Problem, ScheduleConfig
from .models import MODELS

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
#: How often a run's watchdog checks its session and its idle time (also while its ranks are starting).
WATCH_S = 0.25
#: Live runs one client (see :data:`CLIENT_HEADER_ENV`) may have going at once; a new cookie (another
#: browser profile, a private window) is the same client.  Environment: :data:`RUNS_PER_CLIENT_ENV`.
LIVE_RUNS_PER_CLIENT = 1
RUNS_PER_CLIENT_ENV = "LR_STUDIO_RUNS_PER_CLIENT"
#: A request header naming the client, set by a reverse proxy you trust (e.g. ``X-Real-IP``); unset,
#: the client is the connection's IP address (all loopback connections are one client, ``local``).
CLIENT_HEADER_ENV = "LR_STUDIO_CLIENT_HEADER"
#: Rank *processes* all live runs of the server may have at once (each setting of a run with
#: ``world_size`` W as processes counts W), checked before any is started.  Environment:
#: :data:`MAX_SERVER_RANKS_ENV`.
MAX_SERVER_RANKS = 4
MAX_SERVER_RANKS_ENV = "LR_STUDIO_MAX_SERVER_RANKS"


def positive_setting(name: str, default: int, env: dict[str, str] | None = None) -> int:
    """The positive integer in the environment variable ``name``, else ``default`` (ConfigError
    naming the variable when it is set to anything else)."""
    raw = (os.environ if env is None else env).get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(Problem(name, "must be a positive integer", raw))
    return value


CORRECT = "correct"
PER_MICRO_BATCH = "scheduler_per_micro_batch"
BEFORE_OPTIMIZER = "scheduler_before_optimizer"
VARIANTS = {
    CORRECT: "optimizer.step(); scheduler.step(); optimizer.zero_grad() once per accumulation window",
    PER_MICRO_BATCH: "bug: scheduler.step() after every micro-batch",
    BEFORE_OPTIMIZER: "bug: scheduler.step() before optimizer.step()",
}
#: The multi-process mistake (:mod:`schedules.train.distributed`): every rank steps the scheduler once
#: per optimizer step, so the schedule runs ``W`` times too fast (accelerate-style).
PER_PROCESS = "scheduler_per_process"
DIST_VARIANTS = {
    **VARIANTS,
    PER_PROCESS: "bug: scheduler.step() once per process per optimizer step (accelerate-style)",
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
    noise_scale: float = math.nan  # smoothed B_simple (schedules/train/gns.py); NaN without accumulation
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
        from . import schedule_free as sf  # its optional package is imported only when asked for

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
    plan = config.plan
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
