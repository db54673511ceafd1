"""DeepSpeed: ``engine.step()`` once per micro-batch; the scheduler steps at accumulation boundaries
that are not fp16 overflows.

deepspeed/runtime/engine.py: ``is_gradient_accumulation_boundary()`` is ``(self.micro_steps + 1) %
gradient_accumulation_steps == 0`` with ``micro_steps`` counted over the whole run (it is not reset
at an epoch's end, unless the user calls ``set_gradient_accumulation_boundary``); at a boundary
``_take_model_step`` runs the optimizer and then ``if overflow: self.skipped_steps += 1 else: ...
self.lr_scheduler.step()``.

So windows span epochs: when the micro-batches per epoch are not a multiple of the accumulation,
there is no short last window per epoch and the run has ``floor(epochs * L / A)`` optimizer steps
instead of ``epochs * ceil(L / A)``; each optimizer step gets the design's lr of the same index
(fewer rows, later in samples).  An fp16 overflow skips the scheduler as in HF's Trainer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..design import Plan, ScheduleConfig, StackConfig
from .base import DesignScheduler, Ticks, amp_skipped, calls_after_steps_that_ran

NAME = "deepspeed"
LABEL = "DeepSpeed"
SOURCE = "deepspeed/runtime/engine.py (step, is_gradient_accumulation_boundary, _take_model_step)"


def ticks(plan: Plan, settings: StackConfig) -> Ticks:
    a = plan.accumulation_steps
    per_epoch = plan.micro_batches_per_epoch
    # The loop runs ``epochs`` epochs, or (with max_steps) until max_steps optimizer steps.
    steps = plan.max_steps if plan.max_steps is not None else (plan.epochs * per_epoch) // a
    last_micro = (np.arange(steps, dtype=np.int64) + 1) * a - 1  # global micro-batch index
    epoch, within = np.divmod(last_micro, per_epoch)
    samples = epoch * plan.samples_per_epoch + np.minimum(
        (within + 1) * plan.round_size, plan.samples_per_epoch
    )
    skipped = amp_skipped(steps, settings)
    calls, total = calls_after_steps_that_ran(skipped)
    return Ticks(calls, samples.astype(np.int64), epoch.astype(np.int64), skipped, total)


def init_cpu_process_group() -> None:
    """``deepspeed.init_distributed`` with gloo on CPU (``MASTER_ADDR``... set by the caller).

    DeepSpeed's CPU backend first JIT-compiles a shared-memory all-reduce op (C++, minutes on a small
    machine); it is switched off here, so gloo does the communication.  Nothing about the stepping
    changes.
    """
    import sys

    import deepspeed
    import deepspeed.comm.torch  # noqa: F401  (the module; ``deepspeed.comm.torch`` as an attribute is torch)

    sys.modules["deepspeed.comm.torch"].build_shm_op = lambda: None
    deepspeed.init_distributed(dist_backend="gloo")


def run_real(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:
    """The real ``deepspeed.initialize`` engine on CPU (needs a working DeepSpeed install and a
    ``torch.distributed`` process group, which the caller sets up): the tiny model, the configured
    torch optimizer and :class:`DesignScheduler`; ``engine.backward``/``engine.step`` per micro-batch."""
    import deepspeed

    from .real import tiny_model_and_optimizer

    t = config.training
    model, optimizer = tiny_model_and_optimizer(config)
    scheduler = DesignScheduler(optimizer, config, settings.step_every, stretch=settings.scheduler_scale)
    ds_config = {
        "train_micro_batch_size_per_gpu": t.micro_batch_size,
        "gradient_accumulation_steps": t.accumulation_steps,
        "steps_per_print": 10**9,
    }
    engine, opt, _, sched = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
    )
    return train_engine(engine, config, optimizer)


def train_engine(engine: Any, config: ScheduleConfig, optimizer: Any) -> np.ndarray:
    """``engine.backward``/``engine.step`` over the tiny data (each rank its share), for ``epochs``
    or until ``max_steps``; each group's lr read at every accumulation boundary, right before the
    engine's optimizer step."""
    import torch

    from .real import LrRecorder, tiny_dataset

    t = config.training
    recorder = LrRecorder(optimizer)
    data = tiny_dataset(config)
    sampler = None
    if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        # each rank its share, as deepspeed.initialize(training_data=...) or a user's DistributedSampler
        sampler = torch.utils.data.distributed.DistributedSampler(data, shuffle=False, drop_last=t.drop_last)
    loader = torch.utils.data.DataLoader(
        data, batch_size=t.micro_batch_size, shuffle=False, drop_last=t.drop_last, sampler=sampler
    )
    limit = t.max_steps
    for _ in range(t.epochs if limit is None else 10**9):
        for x, y in loader:
            loss = torch.nn.functional.mse_loss(engine(x), y)
            engine.backward(loss)
            if engine.is_gradient_accumulation_boundary():
                recorder.read()
            engine.step()
            if limit is not None and engine.global_steps >= limit:
                return recorder.array()
    return recorder.array()
