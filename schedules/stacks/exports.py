"""Stack-aware exports: the settings that make the config's stack reproduce the design.

The exports of :mod:`schedules.interop` (HF ``TrainingArguments``, Lightning ``configure_optimizers``,
DeepSpeed config) and the accelerate training loop here are written for a stack.  The stack's
settings are the config's ``stack`` section when it names that framework (else its defaults); when
those settings do not reproduce the design (:func:`schedules.stacks.stack_curve`), the export
applies the verified fix and says so in a ``note:``; when no setting of that stack can (AMP skipped
steps under HF, accelerate or DeepSpeed; DeepSpeed's accumulation windows spanning epochs), the
export warns with the gap in numbers ("... gives a different curve: ...").

==============  =============================================================================
target          what the export sets for the stack
==============  =============================================================================
``hf``          ``max_steps``, ``gradient_accumulation_steps``, ``lr_scheduler_type``/``kwargs``,
                ``eval_strategy``/``eval_steps``/``metric_for_best_model`` for a plateau
                (:func:`schedules.interop.to_hf`); Trainer steps once per optimizer step
``lightning``   ``"interval": "step", "frequency": 1`` and ``monitor`` in ``configure_optimizers``;
                ``Trainer(max_steps=T, accumulate_grad_batches=A)``
``deepspeed``   ``train_micro_batch_size_per_gpu``, ``gradient_accumulation_steps`` and the
                ``scheduler`` block
``accelerate``  a training loop: ``DataLoaderConfiguration(split_batches=...)``,
                ``step_scheduler_with_optimizer``, and :class:`DesignScheduler` with
                ``scale`` (one design step every ``scale`` scheduler calls: the fix's settings)
==============  =============================================================================

Every export is run through the real library by tests/test_stack_exports_real.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..build import load_config
from ..curve import Curve, curve_of
from ..design import ScheduleConfig, StackConfig
from ..snippets import _data_import, _evaluate_lines, _header, _model_lines, optimizer_comment
from . import lr_matrix, stack_curve

#: The stack each export target trains through.
TARGET_STACK = {"hf": "hf", "lightning": "lightning", "deepspeed": "deepspeed", "accelerate": "accelerate"}


def export_settings(
    config: ScheduleConfig, stack: str, curve: Curve | None = None
) -> tuple[StackConfig, list[str]]:
    """The settings of ``stack`` an export writes, and what to tell the user about them.

    The config's ``stack`` section when it names ``stack`` (else that stack's defaults, with
    Lightning's ``interval="step"``, the setting the export writes); the verified fix when those
    settings do not reproduce the design (a ``note:``); the settings as they are, with a warning
    giving the gap, when no setting of the stack can.  ``curve``: the design's, when computed.
    """
    if config.stack is not None and config.stack.name == stack:
        settings = config.stack
    else:
        settings = StackConfig(name=stack, lightning_interval="step")
    run = stack_curve(config, settings, curve=curve)
    if run.matches:
        return settings, []
    if run.fix is not None:
        return run.fix.settings, [
            f"note: with the stack settings as given, {run.diagnosis}; this export applies the fix "
            f"(verified): {run.fix.description}"
        ]
    return settings, [f"{run.label} gives a different curve with these stack settings: {run.diagnosis}"]


def stack_aware(
    key: str, export: Callable[..., tuple[Any, list[str]]]
) -> Callable[..., tuple[Any, list[str]]]:
    """``export`` (``to_hf``, ``to_lightning``, ``to_deepspeed``) with the stack's notes added when the
    config's ``stack`` section names that framework."""

    def wrapped(config: Any, *, curve: Curve | None = None) -> tuple[Any, list[str]]:
        cfg = load_config(config)
        payload, warnings = export(cfg, curve=curve)
        if cfg.stack is None or cfg.stack.name != TARGET_STACK[key]:
            return payload, warnings
        _, notes = export_settings(cfg, TARGET_STACK[key], curve_of(cfg, curve))
        return payload, [*warnings, *notes]

    wrapped.__name__ = f"stack_aware_{export.__name__}"
    wrapped.__doc__ = (
        f"{export.__doc__}\n\nWith a ``{TARGET_STACK[key]}`` stack section: also what that stack does "
        "with it (see :func:`schedules.stacks.exports.export_settings`)."
    )
    return wrapped


def lightning_trainer_kwargs(config: ScheduleConfig | dict[str, Any] | str) -> dict[str, Any]:
    """The ``lightning.Trainer`` arguments the exported ``configure_optimizers`` is meant for (the
    snippet's header comment): ``max_steps``, ``accumulate_grad_batches`` and, for a plateau
    evaluated every ``E`` optimizer steps, ``val_check_interval = E x accumulate_grad_batches``
    training batches (the plateau config's ``frequency``)."""
    cfg = load_config(config)
    plan = cfg.plan
    out: dict[str, Any] = {"max_steps": plan.total_steps, "accumulate_grad_batches": plan.accumulation_steps}
    if cfg.training.world_size > 1:
        out["devices"] = cfg.training.world_size
    if cfg.plateau is not None and cfg.plateau.eval_every != "epoch":
        out["val_check_interval"] = int(cfg.plateau.eval_every) * plan.accumulation_steps
    return out


# --------------------------------------------------------------------------------------------------
# accelerate: the training loop


def to_accelerate(
    config: ScheduleConfig | dict[str, Any] | str,
    *,
    curve: Curve | None = None,
    path: str = "lr-schedule.json",
) -> tuple[str, list[str]]:
    """An ``accelerate`` training loop (``accelerate launch --num_processes N``) whose scheduler gets
    the design's lr at every optimizer step on every rank, and what to know about it.

    The design is handed to accelerate as :class:`~schedules.stacks.base.DesignScheduler` (a torch
    ``LRScheduler``, so ``accelerator.prepare`` wraps it in ``AcceleratedScheduler`` like any
    scheduler) with the settings of :func:`export_settings`.  ``curve``: the design's, when computed.
    """
    cfg = load_config(config)
    curve = curve_of(cfg, curve)
    settings, warnings = export_settings(cfg, "accelerate", curve)
    run = stack_curve(cfg, settings, curve=curve)
    rcfg = run.config
    plan = rcfg.plan
    n = settings.num_processes or rcfg.training.world_size
    t = rcfg.training
    batch = "training.micro_batch_size" + (f" * {n}" if settings.split_batches and n > 1 else "")
    scale = settings.step_every
    stretch = settings.scheduler_scale
    if scale == 1:
        scale_comment = "one design step per scheduler step"
    else:
        scale_comment = f"one design step every {scale} scheduler steps"
    if stretch > 1:
        scale_comment += f"; built for num_training_steps x {stretch} (the design stretched)"
    stretch_arg = f", stretch={stretch}" if stretch > 1 else ""
    why = []
    if n > 1 and not settings.split_batches:
        why.append(
            f"accelerate steps the scheduler {n}x per optimizer step ({n} processes, split_batches=False)"
        )
    elif n > 1:
        why.append(
            f"split_batches=True: the loader's batch is {t.micro_batch_size} x {n}, split across the {n} "
            "processes, and the scheduler steps once per optimizer step"
        )
    step_call = (
        "scheduler.step(evaluate() if accelerator.sync_gradients and design.needs_metric else None)"
        if rcfg.plateau is not None
        else "scheduler.step()"
    )
    lines = [
        *_header(rcfg, plan),
        f"# accelerate: run with `accelerate launch --num_processes {n} train.py` (add --cpu without GPUs).",
        *(f"# {w}." for w in why),
        "import torch",
        "from accelerate import Accelerator, DataLoaderConfiguration",
        _data_import(cfg).replace(", DistributedSampler", ""),
        "",
        "import schedules",
        "from schedules.stacks import DesignScheduler",
        "",
        f"config = schedules.load_config({path!r})  # the design exported with training.world_size = {n}",
        "training = config.training",
        "accelerator = Accelerator(",
        "    gradient_accumulation_steps=training.accumulation_steps,",
        f"    dataloader_config=DataLoaderConfiguration(split_batches={settings.split_batches}),",
        f"    step_scheduler_with_optimizer={settings.step_scheduler_with_optimizer},",
        ")",
        *_model_lines(cfg, with_lr=False),
        optimizer_comment(cfg),
        f"optimizer = torch.optim.{cfg.optimizer.name}(param_groups, lr=config.optimizer.lr, **config.optimizer.kwargs)",
        f"design = DesignScheduler(optimizer, config, scale={scale}{stretch_arg})  # {scale_comment}",
        "loss_fn = torch.nn.MSELoss()",
        f"samples = {t.dataset_size}",
        "dataset = TensorDataset(torch.randn(samples, 16), torch.randn(samples, 1))  # <- your dataset",
        f"loader = DataLoader(dataset, batch_size={batch}, shuffle=True, drop_last=training.drop_last)",
        "if accelerator.num_processes != training.world_size:",
        "    raise SystemExit(f'launch with --num_processes {training.world_size} (the design is for that many)')",
        "model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, design)",
        *_evaluate_lines(cfg),
        "",
        "lr_log = []  # the lr of every param group at each optimizer step: equals the design's curve",
        "step = 0  # optimizer steps taken",
        f"total = {plan.total_steps}  # optimizer steps in all",
        "while step < total:  # epochs repeat until the total is reached",
        "    for x, y in loader:",
        "        with accelerator.accumulate(model):  # windows of accumulation_steps, a short one at the epoch end",
        "            loss = loss_fn(model(x), y)",
        "            accelerator.backward(loss)",
        "            if accelerator.sync_gradients:  # this micro-batch ends a window: an optimizer step",
        "                lr_log.append([group['lr'] for group in optimizer.param_groups])",
        "                step += 1",
        "            optimizer.step()  # accelerate skips it inside a window",
        f"            {step_call}  # AcceleratedScheduler: steps only with the optimizer",
        "            optimizer.zero_grad()",
        "        if step == total and accelerator.sync_gradients:",
        "            break",
    ]
    return "\n".join(lines) + "\n", warnings


def accelerate_curve(config: ScheduleConfig | dict[str, Any] | str) -> np.ndarray:
    """The lr of every group at every optimizer step the exported accelerate loop takes (rank 0)."""
    cfg = load_config(config)
    settings, _ = export_settings(cfg, "accelerate")
    return lr_matrix(stack_curve(cfg, settings).frame)


__all__ = [
    "TARGET_STACK",
    "accelerate_curve",
    "export_settings",
    "lightning_trainer_kwargs",
    "stack_aware",
    "to_accelerate",
]
