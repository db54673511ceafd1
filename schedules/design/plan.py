"""Step accounting: the one place micro-batches, optimizer steps, epochs and samples are counted.

Everything else (the builder, the curve, the live run, the CLI, the app) takes its numbers from a
:class:`Plan`.  The rules (CONTRACT.md section 2):

==========================  =====================================================================
micro-batches per epoch L   ``ceil(N / (b * W))`` per rank, ``floor`` with ``drop_last``
optimizer steps per epoch S ``ceil(L / A)``: a short last window still takes an optimizer step, and
                            accumulation windows never span epochs
total steps T               ``max_steps`` if set, else ``epochs * S`` (epochs repeat past ``epochs``)
warmup steps w              ``warmup.steps``, or ``ceil(T * warmup.ratio)`` (as HF Trainer)
effective batch             ``b * A * W``
==========================  =====================================================================

Worked example (N=1000, b=32, A=4, W=1, 3 epochs)::

    L = ceil(1000 / 32) = 32,  S = ceil(32 / 4) = 8,  T = 3 * 8 = 24
    drop_last: L = 31, S = 8 (windows of 4,4,4,4,4,4,4,3)

Samples are dataset samples consumed, all ranks together.  A global micro-batch round ``j`` of an
epoch takes ``min(b*W, N - j*b*W)`` samples (``b*W`` with ``drop_last``), so an epoch consumes exactly
``N`` samples (``L*b*W`` with ``drop_last``).  The fewer-than-``W`` duplicates a
``DistributedSampler`` pads with are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .problems import ConfigError, Problem


@dataclass(frozen=True)
class Window:
    """What one optimizer step consumes."""

    step: int
    epoch: int
    step_in_epoch: int
    first_micro_batch: int  # index within the epoch (per rank)
    micro_batches: int  # micro-batches in this window (<= accumulation_steps)
    samples: int  # dataset samples in this window, all ranks
    samples_through: int  # cumulative samples through this step, all ranks


@dataclass(frozen=True)
class Plan:
    """Step accounting for one config; all counts are optimizer steps unless named otherwise."""

    dataset_size: int
    micro_batch_size: int
    accumulation_steps: int
    world_size: int
    epochs: int
    max_steps: int | None
    drop_last: bool
    micro_batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int = 0
    hold_steps: int = 0
    decay_interval: str = "step"

    # -- derived numbers ---------------------------------------------------------------------------
    @property
    def effective_batch(self) -> int:
        return self.micro_batch_size * self.accumulation_steps * self.world_size

    @property
    def round_size(self) -> int:
        """Samples in one full micro-batch round across all ranks (b * W)."""
        return self.micro_batch_size * self.world_size

    @property
    def samples_per_epoch(self) -> int:
        if self.drop_last:
            return self.micro_batches_per_epoch * self.round_size
        return self.dataset_size

    @property
    def samples_per_full_step(self) -> int:
        return self.effective_batch

    @property
    def total_epochs(self) -> int:
        """Epochs touched by the run (a run cut by max_steps may end mid-epoch)."""
        return math.ceil(self.total_steps / self.steps_per_epoch)

    @property
    def last_window_micro_batches(self) -> int:
        """Micro-batches in the last window of every epoch (== A unless L is not a multiple of A)."""
        return self.micro_batches_per_epoch - (self.steps_per_epoch - 1) * self.accumulation_steps

    @property
    def decay_start(self) -> int:
        """First row of the decay phase (after warmup and hold)."""
        return self.warmup_steps + self.hold_steps

    @property
    def decay_length(self) -> int:
        """Default length of the decay scheduler in its own unit: the scheduler steps it receives.

        ``interval='step'``: optimizer steps after warmup and hold, ``T - w - h`` (at least 1).
        ``interval='epoch'``: epoch ends at or after the end of warmup, through the last step.
        """
        if self.decay_interval == "epoch":
            return max(1, self.epoch_ends_from(self.warmup_steps))
        return max(1, self.total_steps - self.decay_start)

    def epoch_ends_from(self, first: int) -> int:
        """Number of epoch-ending steps k with first <= k <= T - 1."""
        s = self.steps_per_epoch
        last_m = self.total_steps // s
        first_m = -(-(first + 1) // s)  # ceil((first + 1) / s)
        return max(0, last_m - first_m + 1)

    # -- per-step queries --------------------------------------------------------------------------
    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def is_epoch_end(self, step: int) -> bool:
        """True when ``step`` is the last optimizer step of an epoch."""
        return (step + 1) % self.steps_per_epoch == 0

    def window(self, step: int) -> Window:
        if not 0 <= step < self.total_steps:
            raise IndexError(f"step must be in [0, {self.total_steps - 1}], got {step}")
        epoch, s = divmod(step, self.steps_per_epoch)
        first = s * self.accumulation_steps
        count = min(self.accumulation_steps, self.micro_batches_per_epoch - first)
        through_in_epoch = self._samples_in_epoch_through(s)
        before = self._samples_in_epoch_through(s - 1) if s > 0 else 0
        return Window(
            step=step,
            epoch=epoch,
            step_in_epoch=s,
            first_micro_batch=first,
            micro_batches=count,
            samples=through_in_epoch - before,
            samples_through=epoch * self.samples_per_epoch + through_in_epoch,
        )

    def micro_batch_samples(self, index_in_epoch: int) -> int:
        """Samples (all ranks) in micro-batch round ``index_in_epoch`` of an epoch."""
        if not 0 <= index_in_epoch < self.micro_batches_per_epoch:
            raise IndexError(
                f"micro-batch index must be in [0, {self.micro_batches_per_epoch - 1}], got {index_in_epoch}"
            )
        start = index_in_epoch * self.round_size
        return min(self.round_size, self.samples_per_epoch - start)

    def _samples_in_epoch_through(self, step_in_epoch: int) -> int:
        rounds = min((step_in_epoch + 1) * self.accumulation_steps, self.micro_batches_per_epoch)
        return min(rounds * self.round_size, self.samples_per_epoch)

    # -- whole-run arrays (vectorized, for the curve) ------------------------------------------------
    def steps(self) -> np.ndarray:
        return np.arange(self.total_steps, dtype=np.int64)

    def epochs_array(self) -> np.ndarray:
        return self.steps() // self.steps_per_epoch

    def samples_array(self) -> np.ndarray:
        """Cumulative samples through each step (all ranks)."""
        k = self.steps()
        epoch, s = np.divmod(k, self.steps_per_epoch)
        rounds = np.minimum((s + 1) * self.accumulation_steps, self.micro_batches_per_epoch)
        within = np.minimum(rounds * self.round_size, self.samples_per_epoch)
        return epoch * self.samples_per_epoch + within

    def epoch_end_steps(self) -> np.ndarray:
        s = self.steps_per_epoch
        return np.arange(s - 1, self.total_steps, s, dtype=np.int64)

    def eval_steps(self, eval_every: str | int) -> np.ndarray:
        """Optimizer steps after which an evaluation happens (``"epoch"`` or every N steps)."""
        if eval_every == "epoch":
            return self.epoch_end_steps()
        n = int(eval_every)
        return np.arange(n - 1, self.total_steps, n, dtype=np.int64)

    def eval_count(self, eval_every: str | int) -> int:
        """``len(eval_steps(eval_every))`` without building the array."""
        n = self.steps_per_epoch if eval_every == "epoch" else int(eval_every)
        return self.total_steps // n


def accounting(training: Any) -> tuple[int, int, int]:
    """``(L, S, T)`` for a training section; raises ConfigError when no step can be taken."""
    n, b, a, w = (
        training.dataset_size,
        training.micro_batch_size,
        training.accumulation_steps,
        training.world_size,
    )
    round_size = b * w
    if training.drop_last:
        micro = n // round_size
        if micro == 0:
            raise ConfigError(
                Problem(
                    "training.dataset_size",
                    f"with drop_last, must be >= micro_batch_size * world_size = {round_size} (else no full micro-batch)",
                    n,
                )
            )
    else:
        micro = -(-n // round_size)
    steps_per_epoch = -(-micro // a)
    total = training.max_steps if training.max_steps is not None else training.epochs * steps_per_epoch
    return micro, steps_per_epoch, total


def make_plan(config: Any) -> Plan:
    """The step accounting of a design (its training, warmup and hold sections).

    ``config`` is a :class:`~schedules.design.spec.ScheduleConfig` (which imports this module, so it is
    not named here); a validated design keeps its plan as ``config.plan``.
    """
    t = config.training
    micro, steps_per_epoch, total = accounting(t)
    warmup = 0
    if config.warmup is not None:
        if config.warmup.steps is not None:
            warmup = config.warmup.steps
        elif config.warmup.ratio is not None:
            warmup = math.ceil(total * config.warmup.ratio)
    hold = 0
    interval = "step"
    if config.decay is not None:
        interval = config.decay.interval
        if config.decay.hold_steps is not None:
            hold = config.decay.hold_steps
        elif config.decay.hold_ratio is not None:
            hold = math.ceil(total * config.decay.hold_ratio)
    if config.wsd is not None:
        warmup, hold, _ = config.wsd.lengths(total)
        hold = max(0, hold)
    return Plan(
        dataset_size=t.dataset_size,
        micro_batch_size=t.micro_batch_size,
        accumulation_steps=t.accumulation_steps,
        world_size=t.world_size,
        epochs=t.epochs,
        max_steps=t.max_steps,
        drop_last=t.drop_last,
        micro_batches_per_epoch=micro,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=warmup,
        hold_steps=hold,
        decay_interval=interval,
    )
