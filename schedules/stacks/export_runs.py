"""Run each stack-aware export through the real library (CPU, a tiny model), recording the lrs.

Used by tests/test_stack_exports_real.py: the exported artifact itself is what the library gets —
the HF ``TrainingArguments`` keyword arguments (``Trainer`` builds its own scheduler from them), the
Lightning ``configure_optimizers`` code (exec'd as the module's method), the DeepSpeed config
(``deepspeed.initialize`` builds its own scheduler from the ``scheduler`` block) and the accelerate
training loop (exec'd as a script).  The lrs are ``optimizer.param_groups[g]["lr"]`` read right
before every real ``optimizer.step()``.  Where a plateau is evaluated, the validation metric of
evaluation ``i`` is the design's (:class:`schedules.build.MetricFeed`), as a user's validation
loop would report it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..build import MetricFeed
from ..config import ScheduleConfig, StackConfig
from .real import LrRecorder, TinyModel, tiny_dataset, tiny_model_and_optimizer


def _metric(config: ScheduleConfig) -> Any:
    """The design's plateau metric, one value per call (evaluation 0, 1, ...)."""
    if config.plateau is None:
        return lambda: 1.0
    feed = MetricFeed(config.plateau.metric)
    counter = itertools.count()
    return lambda: float(feed(next(counter)))


def run_hf_export(config: ScheduleConfig, args: dict[str, Any], output_dir: str) -> np.ndarray:
    """``Trainer(args=TrainingArguments(**args))`` on the tiny model: Trainer makes the optimizer
    (``optim``, ``learning_rate``) and the scheduler (``lr_scheduler_type``...) itself; evaluations
    (for ``reduce_lr_on_plateau``) report the design's metric as ``eval_loss``."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    metric = _metric(config)
    model = TinyModel(1)
    rows: list[list[float]] = []

    class _Record(TrainerCallback):
        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            rows.append([float(g["lr"]) for g in kwargs["optimizer"].param_groups])

    class _Trainer(Trainer):
        def evaluate(self, *a: Any, **k: Any) -> dict[str, float]:  # noqa: ARG002 (the design's metric)
            metrics = {"eval_loss": metric()}
            # what evaluate() does after its loop (on_evaluate clears control.should_evaluate)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    class _Collate:
        def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
            return {k: torch.stack([r[k] for r in batch]) for k in ("x", "labels")}

    targs = TrainingArguments(
        output_dir=output_dir,
        **args,
        max_grad_norm=0.0,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        data_seed=0,
    )
    data = tiny_dataset(config, as_dicts=True)
    trainer = _Trainer(
        model=model,
        args=targs,
        train_dataset=data,
        eval_dataset=data,
        data_collator=_Collate(),
        callbacks=[_Record()],
    )
    trainer.train()
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def run_lightning_export(
    config: ScheduleConfig, code: str, trainer_kwargs: dict[str, Any], root_dir: str
) -> np.ndarray:
    """The exported ``configure_optimizers`` (exec'd) as a real ``LightningModule``'s method, trained
    by ``lightning.Trainer(**trainer_kwargs)``; validation logs the design's metric as ``val_loss``."""
    import lightning as L
    import torch

    namespace: dict[str, Any] = {}
    exec(compile(code, "<exported configure_optimizers>", "exec"), namespace)  # noqa: S102 (our own export)
    configure = namespace["configure_optimizers"]
    metric = _metric(config)
    names = [g.name for g in config.optimizer.groups()]
    model = TinyModel(len(names))
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

        def validation_step(self, batch, batch_idx):  # noqa: ANN001, ARG002
            self.log("val_loss", metric())

        def on_before_optimizer_step(self, optimizer) -> None:  # noqa: ANN001
            rows.append([float(g["lr"]) for g in optimizer.param_groups])

        configure_optimizers = configure

    t = config.training
    data = tiny_dataset(config)
    loader = torch.utils.data.DataLoader(
        data, batch_size=t.micro_batch_size, shuffle=False, drop_last=t.drop_last
    )
    val = torch.utils.data.DataLoader(torch.utils.data.Subset(data, [0]), batch_size=1)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root_dir,
        **trainer_kwargs,
    )
    module = Module()
    if config.plateau is None:
        trainer.fit(module, train_dataloaders=loader)
    else:
        trainer.fit(module, train_dataloaders=loader, val_dataloaders=val)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def run_deepspeed_export(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:  # noqa: ARG001
    """``deepspeed.initialize(config=<the export>)`` with the design's torch optimizer (the
    export's note for param groups); DeepSpeed builds its scheduler from the ``scheduler`` block.
    Needs a ``torch.distributed`` process group (run through
    :func:`schedules.stacks.distributed.run_real_processes`)."""
    import deepspeed
    import torch

    from ..interop import TARGETS

    payload, _ = TARGETS["deepspeed"].export(config)
    ds_config = {k: v for k, v in payload.items() if k != "optimizer"}
    ds_config["steps_per_print"] = 10**9
    model, optimizer = tiny_model_and_optimizer(config)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    recorder = LrRecorder(optimizer)
    t = config.training
    data = tiny_dataset(config)
    sampler = None
    if torch.distributed.get_world_size() > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(data, shuffle=False, drop_last=t.drop_last)
    loader = torch.utils.data.DataLoader(
        data, batch_size=t.micro_batch_size, shuffle=False, drop_last=t.drop_last, sampler=sampler
    )
    limit = t.max_steps
    for _ in range(t.epochs if limit is None else 10**9):
        for x, y in loader:
            engine.backward(torch.nn.functional.mse_loss(engine(x), y))
            if engine.is_gradient_accumulation_boundary():
                recorder.read()
            engine.step()
            if limit is not None and engine.global_steps >= limit:
                return recorder.array()
    return recorder.array()


def run_accelerate_export(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:  # noqa: ARG001
    """The exported accelerate loop, exec'd as a script (in this process, or one rank of a
    ``torch.distributed`` run); its ``lr_log``.  The config is written where the script loads it;
    a plateau evaluation reports the design's metric."""
    from accelerate.state import AcceleratorState, GradientState

    from . import run_config
    from .exports import export_settings, to_accelerate

    # The exported JSON is the design as trained: training.world_size = the stack's num_processes.
    config = run_config(config, export_settings(config, "accelerate")[0])
    metric = _metric(config)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "lr-schedule.json"
        path.write_text(config.to_json(), encoding="utf-8")
        code, _ = to_accelerate(config, path=str(path))
        code = code.replace("def evaluate() -> float:", "def _your_evaluate() -> float:")
        namespace: dict[str, Any] = {"evaluate": metric}
        # what `accelerate launch --cpu` sets: without a GPU, Accelerator() joins the process group only then
        before = os.environ.get("ACCELERATE_USE_CPU")
        os.environ["ACCELERATE_USE_CPU"] = "true"
        try:
            exec(compile(code, "<exported accelerate loop>", "exec"), namespace)  # noqa: S102 (our own export)
        finally:
            if before is None:
                del os.environ["ACCELERATE_USE_CPU"]
            else:
                os.environ["ACCELERATE_USE_CPU"] = before
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return np.asarray(namespace["lr_log"], dtype=np.float64).reshape(len(namespace["lr_log"]), -1)
