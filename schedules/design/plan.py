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

**Batch ramp** (``training.batch_ramp``, optional): stages ``(batch_i, until_i)``.  Before optimizer step
``k``, ``c`` samples have been consumed; the step's window takes ``a = batch_i / (b*W)`` micro-batches
for the first stage with ``c < until_i``, and ``A`` once ``c`` has reached the last ``until``
(Megatron-LM's ``rampup_batch_size`` also reads the batch from the consumed samples).  Windows still
never span epochs (an epoch's last window may be short), so an epoch touched by the ramp has more,
smaller steps; those epochs' windows are computed once, explicitly (:class:`RampTable`), and the
epochs after the ramp are the regular ones above, offset by the ramp's steps and samples.  Worked
example (N=1000, b=32, A=4, W=1, 2 epochs, stages (32, 256), (64, 512))::

    epoch 0 (L = 32 micro-batches; c = samples consumed before the step):
      c = 0, 32, ..., 224        -> 8 windows of 1 micro-batch (batch 32)        steps 0-7
      c = 256, 320, 384, 448     -> 4 windows of 2 (batch 64)                     steps 8-11
      c = 512, 640, 768, 896     -> 4 windows of 4 (the last holds 104 samples)   steps 12-15
    epoch 1: the regular S = 8 windows of 4                                       steps 16-23
    T = 24; samples through each step: 32, 64, ..., 256, 320, ..., 512, 640, 768, 896, 1000, 1128, ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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


#: Most epochs a batch ramp may span (its epochs' windows are computed one epoch at a time).
MAX_RAMP_EPOCHS = 10_000


@dataclass(frozen=True)
class RampTable:
    """The windows of the epochs a batch ramp touches, one entry per optimizer step ``0 .. R-1``."""

    epoch: np.ndarray
    step_in_epoch: np.ndarray
    first_micro_batch: np.ndarray
    micro_batches: np.ndarray
    samples: np.ndarray  # in the window, all ranks
    samples_through: np.ndarray  # cumulative, all ranks
    epoch_ends: np.ndarray  # the steps that end an epoch, within the table
    epochs: int  # complete epochs in the table: the regular epochs start here, at step R

    @property
    def steps(self) -> int:
        return len(self.epoch)


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
    #: ``((batch, until_samples), ...)`` of ``training.batch_ramp`` (empty without one).
    batch_ramp: tuple[tuple[int, int], ...] = ()
    tokens_per_sample: int | None = None
    ramp: RampTable | None = field(default=None, compare=False, repr=False)

    # -- derived numbers ---------------------------------------------------------------------------
    @property
    def effective_batch(self) -> int:
        return self.micro_batch_size * self.accumulation_steps * self.world_size

    @property
    def ramp_steps(self) -> int:
        """Optimizer steps taken before the batch ramp's last stage ends (0 without a ramp)."""
        if not self.batch_ramp:
            return 0
        before = self.samples_array() - self.batch_array()  # consumed before each step
        return int(np.count_nonzero(before < self.batch_ramp[-1][1]))

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
        if self.ramp is not None:
            return self.epoch_of(self.total_steps - 1) + 1
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def _regular(self) -> tuple[int, int, int]:
        """``(R, E, C)``: where the regular epochs start (step, epoch, samples consumed before)."""
        r = self.ramp
        if r is None:
            return 0, 0, 0
        return r.steps, r.epochs, r.epochs * self.samples_per_epoch

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
        if self.ramp is not None:
            return int(np.count_nonzero(self.epoch_end_steps() >= first))
        s = self.steps_per_epoch
        last_m = self.total_steps // s
        first_m = -(-(first + 1) // s)  # ceil((first + 1) / s)
        return max(0, last_m - first_m + 1)

    # -- per-step queries --------------------------------------------------------------------------
    def epoch_of(self, step: int) -> int:
        r = self.ramp
        if r is not None and step < r.steps:
            return int(r.epoch[step])
        R, E, _ = self._regular()
        return E + (step - R) // self.steps_per_epoch

    def is_epoch_end(self, step: int) -> bool:
        """True when ``step`` is the last optimizer step of an epoch."""
        r = self.ramp
        if r is not None and step < r.steps:
            i = int(np.searchsorted(r.epoch_ends, step))
            return i < len(r.epoch_ends) and int(r.epoch_ends[i]) == step
        R, _, _ = self._regular()
        return (step - R + 1) % self.steps_per_epoch == 0

    def window(self, step: int) -> Window:
        if not 0 <= step < self.total_steps:
            raise IndexError(f"step must be in [0, {self.total_steps - 1}], got {step}")
        r = self.ramp
        if r is not None and step < r.steps:
            return Window(
                step=step,
                epoch=int(r.epoch[step]),
                step_in_epoch=int(r.step_in_epoch[step]),
                first_micro_batch=int(r.first_micro_batch[step]),
                micro_batches=int(r.micro_batches[step]),
                samples=int(r.samples[step]),
                samples_through=int(r.samples_through[step]),
            )
        R, E, C = self._regular()
        epoch, s = divmod(step - R, self.steps_per_epoch)
        first = s * self.accumulation_steps
        count = min(self.accumulation_steps, self.micro_batches_per_epoch - first)
        through_in_epoch = self._samples_in_epoch_through(s)
        before = self._samples_in_epoch_through(s - 1) if s > 0 else 0
        return Window(
            step=step,
            epoch=E + epoch,
            step_in_epoch=s,
            first_micro_batch=first,
            micro_batches=count,
            samples=through_in_epoch - before,
            samples_through=C + epoch * self.samples_per_epoch + through_in_epoch,
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

    def _rows(self) -> tuple[np.ndarray | None, np.ndarray]:
        """The ramp's rows ``0 .. min(R, T)-1`` (None without a ramp), and ``k - R`` of the regular
        rows ``k = R .. T-1``."""
        T = self.total_steps
        R, _, _ = self._regular()
        head = None if self.ramp is None else np.arange(min(R, T))
        return head, np.arange(R, max(T, R), dtype=np.int64) - R

    def epochs_array(self) -> np.ndarray:
        head, k = self._rows()
        _, E, _ = self._regular()
        tail = E + k // self.steps_per_epoch
        return tail if head is None else np.concatenate([self.ramp.epoch[head], tail])

    def samples_array(self) -> np.ndarray:
        """Cumulative samples through each step (all ranks)."""
        head, k = self._rows()
        _, _, C = self._regular()
        epoch, s = np.divmod(k, self.steps_per_epoch)
        rounds = np.minimum((s + 1) * self.accumulation_steps, self.micro_batches_per_epoch)
        within = np.minimum(rounds * self.round_size, self.samples_per_epoch)
        tail = C + epoch * self.samples_per_epoch + within
        return tail if head is None else np.concatenate([self.ramp.samples_through[head], tail])

    def micro_batches_array(self) -> np.ndarray:
        """Micro-batches in each optimizer step's window (``window(k).micro_batches`` for every k)."""
        head, k = self._rows()
        a = self.accumulation_steps
        tail = np.minimum(a, self.micro_batches_per_epoch - (k % self.steps_per_epoch) * a)
        return tail if head is None else np.concatenate([self.ramp.micro_batches[head], tail])

    def batch_array(self) -> np.ndarray:
        """Samples (all ranks) in each optimizer step's window: the effective batch, step by step."""
        return np.diff(self.samples_array(), prepend=0)

    def epoch_positions(self) -> np.ndarray:
        """Each step as a fractional epoch, ``epoch + (step - the epoch's first step) / its steps``
        (``step / steps_per_epoch`` without a ramp)."""
        S = self.steps_per_epoch
        if self.ramp is None:
            return self.steps() / S
        r = self.ramp
        R, E, _ = self._regular()
        k = self.steps()
        epochs = self.epochs_array()
        starts = np.concatenate([[0], r.epoch_ends + 1])  # starts[e] for e <= E (E: cut short or regular)
        stops = np.concatenate([r.epoch_ends + 1, [R]])  # an epoch the table cut short ends at R
        in_table = k < R
        e = np.minimum(epochs, E)
        first = np.where(in_table, starts[e], R + (epochs - E) * S)
        length = np.where(in_table, stops[e] - starts[e], S)
        return epochs + (k - first) / np.maximum(length, 1)

    def epoch_end_steps(self) -> np.ndarray:
        s = self.steps_per_epoch
        R, _, _ = self._regular()
        regular = np.arange(R + s - 1, self.total_steps, s, dtype=np.int64)
        if self.ramp is None:
            return regular
        ramp = self.ramp.epoch_ends[self.ramp.epoch_ends < self.total_steps].astype(np.int64)
        return np.concatenate([ramp, regular])

    def eval_steps(self, eval_every: str | int) -> np.ndarray:
        """Optimizer steps after which an evaluation happens (``"epoch"`` or every N steps)."""
        if eval_every == "epoch":
            return self.epoch_end_steps()
        n = int(eval_every)
        return np.arange(n - 1, self.total_steps, n, dtype=np.int64)


def accounting(training: Any) -> tuple[int, int, int]:
    """``(L, S, T)`` for a training section (``S``: after any batch ramp); raises ConfigError when no
    step can be taken."""
    micro, steps_per_epoch, total, _ = _accounting(training)
    return micro, steps_per_epoch, total


def _accounting(training: Any) -> tuple[int, int, int, RampTable | None]:
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
    stages = getattr(training, "batch_ramp", None)
    if not stages:
        total = training.max_steps if training.max_steps is not None else training.epochs * steps_per_epoch
        return micro, steps_per_epoch, total, None
    table = ramp_table(
        [(s.batch // round_size, s.until_samples) for s in stages],
        micro_batches=micro,
        round_size=round_size,
        samples_per_epoch=micro * round_size if training.drop_last else n,
        accumulation=a,
        max_rows=training.max_steps,
        max_epochs=None if training.max_steps is not None else training.epochs,
    )
    if training.max_steps is not None:
        total = training.max_steps
    elif table.epochs >= training.epochs:
        total = int(table.epoch_ends[training.epochs - 1]) + 1
    else:
        total = table.steps + (training.epochs - table.epochs) * steps_per_epoch
    return micro, steps_per_epoch, total, table


def _whole_epochs_in_stage(
    stages: list[tuple[int, int]], until: list[int], consumed: int, L: int, bw: int, spe: int
) -> tuple[int, int] | None:
    """At an epoch's start with ``consumed`` samples: ``(micro-batches per window, epochs)`` when that
    many epochs from here lie wholly inside the current stage (every window's consumed-before below its
    ``until``), else None.  Such epochs repeat one window pattern."""
    i = int(np.searchsorted(until, consumed, side="right"))
    if i >= len(stages):
        return None
    per, u = stages[i]
    last_start = (-(-L // per) - 1) * per
    before_last = min(last_start * bw, spe)  # consumed before the epoch's last window, from its start
    room = u - consumed - before_last
    if room <= 0:
        return None
    return per, -(-room // spe)


def ramp_table(
    stages: list[tuple[int, int]],
    *,
    micro_batches: int,
    round_size: int,
    samples_per_epoch: int,
    accumulation: int,
    max_rows: int | None = None,
    max_epochs: int | None = None,
) -> RampTable:
    """The windows of the epochs a batch ramp touches (module docstring), stage by stage and epoch by
    epoch, each piece a numpy range (never a Python loop over steps).

    ``stages``: ``(micro-batches per window, until_samples)``.  Stops at the first epoch end after the
    ramp's last ``until_samples``, after ``max_epochs`` epochs or ``max_rows`` steps.  Raises
    ConfigError when the ramp spans more than :data:`MAX_RAMP_EPOCHS` epochs or ``MAX_TOTAL_STEPS``
    steps.
    """
    from .base import MAX_TOTAL_STEPS

    L, bw, spe = micro_batches, round_size, samples_per_epoch
    K = stages[-1][1]
    touched = -(-K // spe)
    # epochs the table can reach: those the ramp touches, at most max_epochs, and no more than max_rows
    # allow (an epoch takes at least ceil(L / A) steps: no window holds more than A micro-batches)
    reach = min(touched, max_epochs or touched, -(-(max_rows or touched * L) // -(-L // accumulation)))
    if reach > MAX_RAMP_EPOCHS:
        raise ConfigError(
            Problem(
                "training.batch_ramp",
                f"must end within {MAX_RAMP_EPOCHS:,} epochs of {spe:,} samples "
                f"(the last until_samples is {touched:,} epochs in)",
                K,
            )
        )
    limit = max_rows if max_rows is not None else MAX_TOTAL_STEPS + 1
    cols: list[list[np.ndarray]] = [[] for _ in range(6)]
    ends: list[int] = []
    consumed = step = epoch = 0
    until = [u for _, u in stages]
    while consumed < K and (max_epochs is None or epoch < max_epochs) and step < limit:
        bulk = _whole_epochs_in_stage(stages, until, consumed, L, bw, spe)
        if bulk is not None:  # epochs wholly inside one stage repeat one pattern: add them at once
            per, count = bulk
            k = -(-L // per)  # windows per epoch
            count = min(count, (max_epochs or count + epoch) - epoch, (limit - step) // k)
            if count >= 1:
                starts = per * np.arange(k, dtype=np.int64)
                stops = np.minimum(starts + per, L)
                through = np.minimum(stops * bw, spe)
                before = np.minimum(starts * bw, spe)
                epochs_here = np.repeat(np.arange(epoch, epoch + count, dtype=np.int64), k)
                pieces = (
                    epochs_here,
                    np.tile(np.arange(k, dtype=np.int64), count),
                    np.tile(starts, count),
                    np.tile(stops - starts, count),
                    np.tile(through - before, count),
                    epochs_here * spe + np.tile(through, count),
                )
                for col, values in zip(cols, pieces, strict=True):
                    col.append(values)
                ends.extend(step + k * (j + 1) - 1 for j in range(count))
                step += k * count
                epoch += count
                consumed = epoch * spe
                if step > MAX_TOTAL_STEPS:
                    raise ConfigError(
                        Problem(
                            "training.batch_ramp",
                            f"must finish its epochs within {MAX_TOTAL_STEPS:,} optimizer steps",
                            K,
                        )
                    )
                continue
        m = s = 0
        base = epoch * spe
        while m < L and step < limit:
            i = int(np.searchsorted(until, consumed, side="right"))
            if i < len(stages):
                per, u = stages[i]
                n = min(-(-(u - consumed) // (per * bw)), -(-(L - m) // per))
            else:
                per = accumulation
                n = -(-(L - m) // per)
            n = min(n, limit - step)
            starts = m + per * np.arange(n, dtype=np.int64)
            stops = np.minimum(starts + per, L)
            through = np.minimum(stops * bw, spe)
            before = np.minimum(starts * bw, spe)
            pieces = (
                np.full(n, epoch, dtype=np.int64),
                s + np.arange(n, dtype=np.int64),
                starts,
                stops - starts,
                through - before,
                base + through,
            )
            for col, values in zip(cols, pieces, strict=True):
                col.append(values)
            m, s, step = int(stops[-1]), s + n, step + n
            consumed = base + int(through[-1])
            if step > MAX_TOTAL_STEPS:
                raise ConfigError(
                    Problem(
                        "training.batch_ramp",
                        f"must finish its epochs within {MAX_TOTAL_STEPS:,} optimizer steps",
                        K,
                    )
                )
        if m < L:  # cut by max_rows inside an epoch
            break
        ends.append(step - 1)
        epoch += 1
    arrays = [np.concatenate(c) if c else np.zeros(0, dtype=np.int64) for c in cols]
    return RampTable(*arrays, epoch_ends=np.asarray(ends, dtype=np.int64), epochs=len(ends))


def make_plan(config: Any) -> Plan:
    """The step accounting of a design (its training, warmup and hold sections).

    ``config`` is a :class:`~schedules.design.spec.ScheduleConfig` (which imports this module, so it is
    not named here); a validated design keeps its plan as ``config.plan``.
    """
    t = config.training
    micro, steps_per_epoch, total, table = _accounting(t)
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
        batch_ramp=tuple((s.batch, s.until_samples) for s in t.batch_ramp or ()),
        tokens_per_sample=t.tokens_per_sample,
        ramp=table,
    )
