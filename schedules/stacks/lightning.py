"""Lightning: the scheduler config's ``interval`` (default ``"epoch"``) and ``frequency``.

lightning/pytorch/loops/training_epoch_loop.py (``advance``, ``update_lr_schedulers``,
``_update_learning_rates``): after each batch, ``"step"`` schedulers are stepped unless the loop is
still accumulating (``_should_accumulate``: not at the ``accumulate_grad_batches``-th batch nor the
epoch's last one), and only when ``(batch_idx + 1) % frequency == 0`` with ``batch_idx`` the batch
index *within the epoch* (micro-batches, not optimizer steps); ``"epoch"`` schedulers are stepped
after the last batch of the epoch when ``(current_epoch + 1) % frequency == 0`` (an epoch cut short by
``max_steps`` does not step them).  The loop does not look at AMP: skipped steps still step the
scheduler.

A plateau design is handed over in one of two forms (``StackConfig.lightning_plateau``):

- ``"inside"`` (default): the whole design as one scheduler (:class:`DesignScheduler`, or the Lightning
  export's ``build_scheduler_variant``), its plateau evaluated at the design's own steps with the
  design's metric, so it steps wherever that scheduler steps (with ``"interval": "step"``: exactly
  the design's evaluations);
- ``"monitor"``: the plateau as a ``ReduceLROnPlateau`` config of its own, stepped with the logged
  ``monitor`` value (:func:`plateau_config`, :func:`plateau_ticks`), as the plain-torch
  ``configure_optimizers`` export writes it; its ``frequency`` counts ``batch_idx`` within each epoch.

So the design's per-optimizer-step scheduler needs ``"interval": "step", "frequency": 1``; with the
default ``"epoch"`` it advances one optimizer step per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..design import Plan, ScheduleConfig, StackConfig
from .base import (
    DesignScheduler,
    Ticks,
    amp_skipped,
    design_windows,
    exclusive_cumsum,
    plateau_scheduler,
    with_plateau_steps,
)

NAME = "lightning"
LABEL = "Lightning"
SOURCE = "lightning/pytorch/loops/training_epoch_loop.py (update_lr_schedulers, _update_learning_rates)"


def every_batches(plan: Plan, frequency: int) -> np.ndarray:
    """1 at the optimizer steps after which a scheduler config with ``"interval": "step"`` and
    ``frequency`` is stepped: Lightning steps it when ``(batch_idx + 1) % frequency == 0`` for the
    step's last micro-batch, ``batch_idx`` counting micro-batches within the epoch."""
    windows = design_windows(plan)
    last_batch_idx = (plan.steps() % plan.steps_per_epoch) * plan.accumulation_steps + windows - 1
    return ((last_batch_idx + 1) % frequency == 0).astype(np.int64)


def ticks(plan: Plan, settings: StackConfig) -> Ticks:
    t = plan.total_steps
    freq = settings.lightning_frequency
    epoch = plan.epochs_array()
    if settings.lightning_interval == "step":
        stepped = every_batches(plan, freq)
        calls = exclusive_cumsum(stepped)
        total = int(stepped.sum())
    else:
        calls = epoch // freq
        total = (t // plan.steps_per_epoch) // freq
    return Ticks(calls.astype(np.int64), plan.samples_array(), epoch, amp_skipped(t, settings), int(total))


def plateau_config(config: ScheduleConfig, plan: Plan) -> dict[str, object]:
    """The design's plateau as Lightning's scheduler config (without the scheduler object): stepped
    with the logged ``"val_loss"`` every epoch, or every ``eval_every x accumulate_grad_batches``
    training batches (what the Lightning export writes)."""
    assert config.plateau is not None
    every = config.plateau.eval_every
    if every == "epoch":
        return {"interval": "epoch", "frequency": 1, "monitor": "val_loss"}
    return {"interval": "step", "frequency": int(every) * plan.accumulation_steps, "monitor": "val_loss"}


def plateau_ticks(config: ScheduleConfig, plan: Plan, settings: StackConfig, ticks: Ticks) -> Ticks:
    """A plateau design in the ``"monitor"`` form (``"inside"``: ``ticks`` as they are, the plateau is
    in the design's scheduler): its ``ReduceLROnPlateau`` is a scheduler config of its own with ``monitor``
    (:func:`plateau_config`), stepped after the boundary's other schedulers with the metric logged at
    the validation just before (training_epoch_loop.py ``on_advance_end``: ``val_loop.run()`` then
    ``update_lr_schedulers("step", update_plateau_schedulers=True)``; fit_loop.py ``on_advance_end``
    for ``"epoch"``).  A ``"step"`` frequency counts ``batch_idx`` within the epoch, so an
    evaluation period that does not divide the epoch restarts at every epoch."""
    if settings.lightning_plateau != "monitor":
        return ticks
    c = plateau_config(config, plan)
    if c["interval"] == "epoch":
        stepped = np.zeros(plan.total_steps, dtype=np.int64)
        stepped[plan.epoch_end_steps()] = 1
    else:
        stepped = every_batches(plan, int(c["frequency"]))
    return with_plateau_steps(ticks, stepped)


#: ``lightning.Trainer`` arguments of every real run here: one CPU device, nothing written or shown.
QUIET_TRAINER: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}


def fit(
    config: ScheduleConfig,
    model: Any,
    configure: Callable[[Any], Any],
    root_dir: str,
    validate: bool | None = None,
    **trainer_kwargs: Any,
) -> np.ndarray:
    """Train the tiny ``model`` as a real ``LightningModule`` whose ``configure_optimizers`` is
    ``configure``, with ``lightning.Trainer(**QUIET_TRAINER, **trainer_kwargs)``; with ``validate``
    (default: a plateau design) a one-batch validation logs the design's metric as ``val_loss``
    (float64).  Returns each group's lr read in ``on_before_optimizer_step``.  A module attribute per
    param group name (``self.<name>``) holds that group's parameter, as the exported snippet points at
    them.  A ``configure`` carrying an ``lr_scheduler_step`` attribute (the exact variant's hook) gives
    the module that hook too."""
    import lightning as L
    import torch

    from .real import design_metric, tiny_dataset

    metric = design_metric(config)
    names = [g.name for g in config.optimizer.groups()]
    rows: list[list[float]] = []

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            if len(names) > 1:
                for name, p in zip(names, model.weights, strict=True):
                    holder = torch.nn.Module()
                    holder.p = p
                    self.add_module(name, holder)

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ARG002
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def on_before_optimizer_step(self, optimizer) -> None:  # noqa: ANN001
            rows.append([float(g["lr"]) for g in optimizer.param_groups])

        def validation_step(self, batch, batch_idx):  # noqa: ANN001, ARG002
            # the design's metric of this evaluation, as the user's validation loss
            self.log("val_loss", torch.tensor(metric(), dtype=torch.float64))

        configure_optimizers = configure

    if hasattr(configure, "lr_scheduler_step"):
        Module.lr_scheduler_step = configure.lr_scheduler_step
    t = config.training
    data = tiny_dataset(config)
    loader = torch.utils.data.DataLoader(
        data, batch_size=t.micro_batch_size, shuffle=False, drop_last=t.drop_last
    )
    val: dict[str, Any] = {}
    if config.plateau is not None if validate is None else validate:
        val["val_dataloaders"] = torch.utils.data.DataLoader(torch.utils.data.Subset(data, [0]), batch_size=1)
    trainer = L.Trainer(**QUIET_TRAINER, default_root_dir=root_dir, **trainer_kwargs)
    trainer.fit(Module(), train_dataloaders=loader, **val)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def run_real(config: ScheduleConfig, settings: StackConfig, root_dir: str) -> np.ndarray:
    """Train a tiny ``LightningModule`` with the real ``lightning.Trainer`` (CPU, one device) whose
    ``configure_optimizers`` returns :class:`DesignScheduler` with the settings' interval and
    frequency (a plateau design: its plateau inside, or in the ``"monitor"`` form as a
    ``ReduceLROnPlateau`` config of its own, validated where it steps); record each group's lr in
    ``on_before_optimizer_step``."""
    from .real import tiny_model_and_optimizer

    t = config.training
    plan = config.plan
    model, optimizer = tiny_model_and_optimizer(config)
    monitor = config.plateau is not None and settings.lightning_plateau == "monitor"

    def configure_optimizers(self: Any) -> Any:  # noqa: ARG001
        main = {
            "scheduler": DesignScheduler(
                optimizer,
                config,
                settings.step_every,
                with_plateau=not monitor,
                stretch=settings.scheduler_scale,
            ),
            "interval": settings.lightning_interval,
            "frequency": settings.lightning_frequency,
        }
        if not monitor:
            return {"optimizer": optimizer, "lr_scheduler": main}
        plateau = {"scheduler": plateau_scheduler(optimizer, config), **plateau_config(config, plan)}
        return [optimizer], [main, plateau]

    extra: dict[str, Any] = {}
    if monitor and plateau_config(config, plan)["interval"] == "step":
        # validate where the plateau steps: every `frequency` batches (within the epoch when it fits)
        frequency = int(plateau_config(config, plan)["frequency"])
        extra["val_check_interval"] = frequency
        if frequency > plan.micro_batches_per_epoch:
            extra["check_val_every_n_epoch"] = None
    return fit(
        config,
        model,
        configure_optimizers,
        root_dir,
        validate=monitor,
        max_epochs=t.epochs if t.max_steps is None else -1,
        max_steps=t.max_steps if t.max_steps is not None else -1,
        accumulate_grad_batches=t.accumulation_steps,
        **extra,
    )
