"""transformers ``Trainer``: one ``lr_scheduler.step()`` per optimizer step that really ran.

transformers/trainer.py (``_inner_training_loop``): a window ends when ``(step + 1) %
gradient_accumulation_steps == 0`` or at the epoch's last batch (``steps_in_epoch``), so the short
last window of an epoch takes an optimizer step; then ``if not
self.accelerator.optimizer_step_was_skipped: ... self.lr_scheduler.step()`` (a ``ReduceLROnPlateau``
is stepped in ``_evaluate`` instead, with ``metrics[metric_for_best_model]``: a plateau-only design is
trained that way, see :func:`plateau_ticks`).  The scheduler is not wrapped by accelerate, so the number of
processes does not change it.  With AMP the skipped steps do not step the scheduler: the schedule
lags by the number of skipped steps and never reaches its last rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..design import Plan, ScheduleConfig, StackConfig, TrainingConfig
from .base import (
    DesignScheduler,
    Ticks,
    amp_skipped,
    calls_after_steps_that_ran,
    plateau_scheduler,
    with_plateau_steps,
)

NAME = "hf"
LABEL = "HF Trainer"
SOURCE = "transformers/trainer.py (_inner_training_loop, _evaluate)"


def ticks(plan: Plan, settings: StackConfig) -> Ticks:
    t = plan.total_steps
    skipped = amp_skipped(t, settings)
    calls, total = calls_after_steps_that_ran(skipped)
    return Ticks(
        calls=calls,
        samples=plan.samples_array(),
        epoch=plan.epochs_array(),
        skipped=skipped,
        total_calls=total,
    )


def training_arguments(t: TrainingConfig) -> dict[str, Any]:
    """The ``TrainingArguments`` that give a run the training section's length: the batch per device,
    the accumulation, the epochs or ``max_steps``, ``dataloader_drop_last`` (the HF export writes
    them too)."""
    return {
        "per_device_train_batch_size": t.micro_batch_size,
        "gradient_accumulation_steps": t.accumulation_steps,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps if t.max_steps is not None else -1,
        "dataloader_drop_last": t.drop_last,
    }


def plateau_only(config: ScheduleConfig) -> bool:
    """A design that is a ``ReduceLROnPlateau`` alone: HF's ``lr_scheduler_type="reduce_lr_on_plateau"``.
    (With a warmup or a decay too, the design goes to Trainer as one scheduler, stepped per
    optimizer step, its plateau inside.)"""
    return (
        config.plateau is not None
        and config.decay is None
        and config.wsd is None
        and config.plan.warmup_steps == 0
    )


def plateau_ticks(config: ScheduleConfig, plan: Plan, settings: StackConfig, ticks: Ticks) -> Ticks:  # noqa: ARG001
    """A plateau-only design: Trainer steps the ``ReduceLROnPlateau`` in ``_evaluate`` with
    ``metrics[metric_for_best_model]``, at each evaluation (``eval_strategy``: every ``eval_steps``
    by ``global_step``, or at each epoch end), never in the optimizer-step path, so AMP skipped
    steps do not hold it back (transformers/trainer.py ``_evaluate``, ``_inner_training_loop``)."""
    if not plateau_only(config):
        return ticks
    stepped = np.zeros(plan.total_steps, dtype=np.int64)
    stepped[plan.eval_steps(config.plateau.eval_every)] = 1
    return with_plateau_steps(ticks, stepped)


#: TrainingArguments of every real run here: CPU, quiet, seeded, no clipping (only the lr is compared).
QUIET_ARGS: dict[str, Any] = {
    "max_grad_norm": 0.0,
    "report_to": [],
    "save_strategy": "no",
    "logging_strategy": "no",
    "use_cpu": True,
    "disable_tqdm": True,
    "seed": 0,
    "data_seed": 0,
}


def make_trainer(
    config: ScheduleConfig,
    args: dict[str, Any],
    model: Any,
    output_dir: str,
    optimizers: tuple[Any, Any] = (None, None),
    before_step: Any = None,
) -> tuple[Any, list[list[float]]]:
    """A real ``Trainer(args=TrainingArguments(**args, **QUIET_ARGS))`` on the tiny model and data, and
    the list it fills with each group's lr right before every optimizer step (the Trainer's
    optimizer); ``before_step(state)`` runs first there.  Evaluations report the design's metric as
    ``eval_loss``.  Call ``trainer.train()``."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from .real import design_metric, tiny_dataset

    metric = design_metric(config)
    rows: list[list[float]] = []

    class _Record(TrainerCallback):
        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if before_step is not None:
                before_step(state)
            rows.append([float(g["lr"]) for g in kwargs["optimizer"].param_groups])

    class _Trainer(Trainer):
        def evaluate(self, *a: Any, **k: Any) -> dict[str, float]:  # noqa: ARG002
            # the design's metric of this evaluation, as the user's eval_loss; then what evaluate()
            # does after its loop (on_evaluate clears control.should_evaluate)
            metrics = {"eval_loss": metric()}
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    class _Collate:
        def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
            return {k: torch.stack([r[k] for r in batch]) for k in ("x", "labels")}

    data = tiny_dataset(config, as_dicts=True)
    trainer = _Trainer(
        model=model,
        args=TrainingArguments(output_dir=output_dir, **args, **QUIET_ARGS),
        train_dataset=data,
        eval_dataset=data,
        data_collator=_Collate(),
        optimizers=optimizers,
        callbacks=[_Record()],
    )
    return trainer, rows


def lr_rows(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def run_real(config: ScheduleConfig, settings: StackConfig, output_dir: str) -> np.ndarray:
    """Train a tiny model with the real ``transformers.Trainer`` (CPU) on the design's data geometry,
    the design handed over as ``Trainer(optimizers=(optimizer, DesignScheduler(...)))`` (a
    plateau-only design as its ``ReduceLROnPlateau``, stepped at evaluations); returns the lr (every
    group) ``optimizer.param_groups`` holds at each ``optimizer.step()``.  With
    ``amp_skipped_steps``, fp16 as ``Trainer(fp16=True)`` runs it: its Accelerator's GradScaler
    (refused on a CPU device, so set directly) and an inf gradient at those steps."""
    from .real import amp_scaler, overflow, tiny_model_and_optimizer

    model, optimizer = tiny_model_and_optimizer(config)
    args: dict[str, Any] = {**training_arguments(config.training), "eval_strategy": "no"}
    if plateau_only(config):
        # lr_scheduler_type="reduce_lr_on_plateau": Trainer steps it at evaluations with eval_loss
        scheduler = plateau_scheduler(optimizer, config)
        every = config.plateau.eval_every
        args["eval_strategy"] = "epoch" if every == "epoch" else "steps"
        if every != "epoch":
            args["eval_steps"] = int(every)
        args["metric_for_best_model"] = "eval_loss"
        args["greater_is_better"] = config.plateau.mode == "max"
    else:
        scheduler = DesignScheduler(optimizer, config, settings.step_every, stretch=settings.scheduler_scale)

    def before_step(state: Any) -> None:
        if state.global_step < settings.amp_skipped_steps:
            overflow(model)

    trainer, rows = make_trainer(config, args, model, output_dir, (optimizer, scheduler), before_step)
    if settings.amp_skipped_steps:
        trainer.accelerator.scaler = amp_scaler()
    trainer.train()
    return lr_rows(rows)
