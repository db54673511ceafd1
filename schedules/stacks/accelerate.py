"""accelerate: ``AcceleratedScheduler.step()`` (accelerate/scheduler.py), called once per micro-batch
inside ``with accelerator.accumulate(model):`` as accelerate's examples do.

- ``step_scheduler_with_optimizer=False``: every call steps the scheduler ("No link between scheduler
  and optimizer -> just step"), so once per micro-batch.
- otherwise, while ``gradient_state.sync_gradients`` is False (inside an accumulation window) the call
  does nothing to the lr (only ``_step_count += 1`` when ``adjust_scheduler``); when an optimizer's
  ``step_was_skipped`` (AMP overflow) it returns; else it steps once with ``split_batches=True`` (set through
  ``DataLoaderConfiguration(split_batches=True)``: ``Accelerator(split_batches=True)`` is accepted and
  ignored in accelerate 1.x) and ``AcceleratorState().num_processes`` times otherwise ("the training dataloader batch size was
  multiplied by num_processes").  ``sync_gradients`` is True every ``gradient_accumulation_steps``
  micro-batches and at the end of the dataloader (accelerate/accelerator.py ``_do_sync``), so windows
  are the design's.

So with N processes the design's scheduler runs N times too fast unless it advances once every N
calls (``DesignScheduler(optimizer, config, scale=N)``, ``step_every = N``) or ``split_batches=True``.
(A scheduler built for ``num_training_steps x N``, ``scheduler_scale = N``, is the design stretched N
times and stepped N times per optimizer step: close to the design, exactly it only where the
stretched lengths are N times the design's.)
"""

from __future__ import annotations

import numpy as np

from ..design import Plan, ScheduleConfig, StackConfig
from .base import (
    DesignScheduler,
    Ticks,
    amp_skipped,
    calls_after_steps_that_ran,
    design_windows,
    exclusive_cumsum,
)

NAME = "accelerate"
LABEL = "accelerate"
SOURCE = "accelerate/scheduler.py (AcceleratedScheduler.step), accelerate/accelerator.py (_do_sync)"


def processes(plan: Plan, settings: StackConfig) -> int:
    return settings.num_processes or plan.world_size


def ticks(plan: Plan, settings: StackConfig) -> Ticks:
    t = plan.total_steps
    skipped = amp_skipped(t, settings)
    if not settings.step_scheduler_with_optimizer:
        windows = design_windows(plan)
        calls = exclusive_cumsum(windows) + windows - 1
        total = int(windows.sum())
    else:
        per = 1 if settings.split_batches else processes(plan, settings)
        calls, total = calls_after_steps_that_ran(skipped, per)
    return Ticks(calls, plan.samples_array(), plan.epochs_array(), skipped, total)


def run_real(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:
    """The real ``Accelerator`` loop on CPU (in this process, or one rank of a ``torch.distributed``
    run started by the caller): prepare a tiny model, the optimizer, a ``DataLoader`` of the design's
    micro-batches and :class:`DesignScheduler`; record each group's lr at every real optimizer step."""
    import torch
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.state import AcceleratorState, GradientState

    from .real import LrRecorder, amp_scaler, overflow, tiny_dataset, tiny_model_and_optimizer

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    t = config.training
    # Accelerator(split_batches=...) is accepted and ignored in accelerate 1.x: the setting lives in
    # DataLoaderConfiguration (the AcceleratedScheduler reads it from there).
    accelerator = Accelerator(
        cpu=True,
        gradient_accumulation_steps=t.accumulation_steps,
        dataloader_config=DataLoaderConfiguration(split_batches=settings.split_batches),
        step_scheduler_with_optimizer=settings.step_scheduler_with_optimizer,
    )
    if settings.amp_skipped_steps:
        # What Accelerator(mixed_precision="fp16") makes (accelerate/utils/modeling.py get_grad_scaler);
        # accelerate refuses fp16 on a CPU device, so the scaler is set before prepare(): the
        # AcceleratedOptimizer and backward() use it exactly as in an fp16 run.
        accelerator.scaler = amp_scaler()
    model, optimizer = tiny_model_and_optimizer(config)
    scheduler = DesignScheduler(optimizer, config, settings.step_every, stretch=settings.scheduler_scale)
    batch = t.micro_batch_size * (accelerator.num_processes if settings.split_batches else 1)
    loader = torch.utils.data.DataLoader(
        tiny_dataset(config), batch_size=batch, shuffle=False, drop_last=t.drop_last
    )
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    recorder = LrRecorder(optimizer.optimizer)
    limit = t.max_steps
    steps = 0
    for _ in range(t.epochs if limit is None else 10**9):
        for x, y in loader:
            with accelerator.accumulate(model):
                loss = torch.nn.functional.mse_loss(model(x), y)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    if steps < settings.amp_skipped_steps:
                        overflow(model)
                    recorder.read()
                    steps += 1
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if limit is not None and steps >= limit:
                break
        if limit is not None and steps >= limit:
            break
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return recorder.array()
