"""A hand-written loop: ``optimizer.step(); scheduler.step()`` once per optimizer step.

With AMP (``scaler.step(optimizer); scaler.update(); scheduler.step()``) the scheduler steps even when
``torch.amp.GradScaler`` skipped ``optimizer.step()`` (torch/amp/grad_scaler.py, ``step``: "skips
``optimizer.step()`` if the gradients contain infs or NaNs"); torch then warns "Detected call of
``lr_scheduler.step()`` before ``optimizer.step()``" (torch/optim/lr_scheduler.py).  So every optimizer
step gets the design's lr; the skipped steps' updates are simply lost.
"""

from __future__ import annotations

import numpy as np

from ..design import Plan, ScheduleConfig, StackConfig
from .base import DesignScheduler, Ticks, amp_skipped

NAME = "plain"
LABEL = "hand-written loop"
SOURCE = "torch/amp/grad_scaler.py (GradScaler.step), torch/optim/lr_scheduler.py"


def ticks(plan: Plan, settings: StackConfig) -> Ticks:
    t = plan.total_steps
    return Ticks(
        calls=np.arange(t, dtype=np.int64),
        samples=plan.samples_array(),
        epoch=plan.epochs_array(),
        skipped=amp_skipped(t, settings),
        total_calls=t,
    )


def run_real(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:
    """A hand-written loop on CPU with a real ``torch.amp.GradScaler``: ``scaler.scale(loss).backward()``,
    ``scaler.step(optimizer); scaler.update(); scheduler.step()`` once per optimizer step (the micro-
    batches of its window accumulated); the first ``amp_skipped_steps`` steps get an inf gradient
    (an fp16 overflow), so the scaler skips them.  Returns each group's lr at every optimizer step."""
    import torch

    from .real import LrRecorder, amp_scaler, overflow, tiny_dataset, tiny_model_and_optimizer

    t = config.training
    plan = config.plan
    model, optimizer = tiny_model_and_optimizer(config)
    scheduler = DesignScheduler(optimizer, config, settings.step_every, stretch=settings.scheduler_scale)
    scaler = amp_scaler()
    recorder = LrRecorder(optimizer)
    loader = torch.utils.data.DataLoader(
        tiny_dataset(config), batch_size=t.micro_batch_size, shuffle=False, drop_last=t.drop_last
    )
    step = 0
    while step < plan.total_steps:
        batches = list(loader)
        for i, (x, y) in enumerate(batches):
            loss = torch.nn.functional.mse_loss(model.predict(x), y)
            scaler.scale(loss).backward()
            if (i + 1) % t.accumulation_steps and i + 1 != len(batches):
                continue  # accumulating
            if step < settings.amp_skipped_steps:
                overflow(model)
            recorder.read()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step == plan.total_steps:
                break
    return recorder.array()
