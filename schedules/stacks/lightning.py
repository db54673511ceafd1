"""Lightning: the scheduler config's ``interval`` (default ``"epoch"``) and ``frequency``.

lightning/pytorch/loops/training_epoch_loop.py (``advance``, ``update_lr_schedulers``,
``_update_learning_rates``): after each batch, ``"step"`` schedulers are stepped unless the loop is
still accumulating (``_should_accumulate``: not at the ``accumulate_grad_batches``-th batch nor the
epoch's last one), and only when ``(batch_idx + 1) % frequency == 0`` with ``batch_idx`` the batch
index *within the epoch* (micro-batches, not optimizer steps); ``"epoch"`` schedulers are stepped
after the last batch of the epoch when ``(current_epoch + 1) % frequency == 0`` (an epoch cut short by
``max_steps`` does not step them).  The loop does not look at AMP: skipped steps still step the
scheduler.  A ``ReduceLROnPlateau`` is stepped with the logged ``monitor`` value.

So the design's per-optimizer-step scheduler needs ``"interval": "step", "frequency": 1``; with the
default ``"epoch"`` it advances one optimizer step per epoch.
"""

from __future__ import annotations

import numpy as np

from ..config import ScheduleConfig, StackConfig
from ..plan import Plan
from .base import DesignScheduler, Ticks, amp_skipped, design_windows, exclusive_cumsum

NAME = "lightning"
LABEL = "Lightning"
SOURCE = "lightning/pytorch/loops/training_epoch_loop.py (update_lr_schedulers, _update_learning_rates)"


def ticks(plan: Plan, settings: StackConfig) -> Ticks:
    t = plan.total_steps
    freq = settings.lightning_frequency
    epoch = plan.epochs_array()
    if settings.lightning_interval == "step":
        windows = design_windows(plan)
        s = plan.steps() % plan.steps_per_epoch
        last_batch_idx = s * plan.accumulation_steps + windows - 1
        stepped = ((last_batch_idx + 1) % freq == 0).astype(np.int64)
        calls = exclusive_cumsum(stepped)
        total = int(stepped.sum())
    else:
        calls = epoch // freq
        total = (t // plan.steps_per_epoch) // freq
    return Ticks(calls.astype(np.int64), plan.samples_array(), epoch, amp_skipped(t, settings), int(total))


def run_real(config: ScheduleConfig, settings: StackConfig, root_dir: str) -> np.ndarray:
    """Train a tiny ``LightningModule`` with the real ``lightning.Trainer`` (CPU, one device) whose
    ``configure_optimizers`` returns :class:`DesignScheduler` with the settings' interval and
    frequency; record each group's lr in ``on_before_optimizer_step``."""
    import lightning as L
    import torch

    from .real import LrRecorder, tiny_dataset, tiny_model_and_optimizer

    t = config.training
    model, optimizer = tiny_model_and_optimizer(config)
    recorder = LrRecorder(optimizer)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ARG002
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def on_before_optimizer_step(self, optimizer) -> None:  # noqa: ANN001, ARG002
            recorder.read()

        def configure_optimizers(self):  # noqa: ANN202
            scheduler = DesignScheduler(optimizer, config, settings.scheduler_scale)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {
                    "scheduler": scheduler,
                    "interval": settings.lightning_interval,
                    "frequency": settings.lightning_frequency,
                },
            }

    loader = torch.utils.data.DataLoader(
        tiny_dataset(config), batch_size=t.micro_batch_size, shuffle=False, drop_last=t.drop_last
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=t.epochs if t.max_steps is None else -1,
        max_steps=t.max_steps if t.max_steps is not None else -1,
        accumulate_grad_batches=t.accumulation_steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root_dir,
    )
    trainer.fit(Module(), train_dataloaders=loader)
    return recorder.array()
