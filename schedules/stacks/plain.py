"""A hand-written loop: ``optimizer.step(); scheduler.step()`` once per optimizer step.

With AMP (``scaler.step(optimizer); scaler.update(); scheduler.step()``) the scheduler steps even when
``torch.amp.GradScaler`` skipped ``optimizer.step()`` (torch/amp/grad_scaler.py, ``step``: "skips
``optimizer.step()`` if the gradients contain infs or NaNs"); torch then warns "Detected call of
``lr_scheduler.step()`` before ``optimizer.step()``" (torch/optim/lr_scheduler.py).  So every optimizer
step gets the design's lr; the skipped steps' updates are simply lost.
"""

from __future__ import annotations

import numpy as np

from ..config import StackConfig
from ..plan import Plan
from .base import Ticks, amp_skipped

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
