"""Run each stack-aware export through the real library (CPU, a tiny model), recording the lrs.

Test support for tests/test_stack_exports_real.py (kept out of the package: it exec's the exported
code, and schedules/ never runs exec). The exported artifact itself is what the library gets: the HF ``TrainingArguments`` keyword arguments (``Trainer`` builds its own scheduler from them), the
Lightning ``configure_optimizers`` code (exec'd as the module's method), the DeepSpeed config
(``deepspeed.initialize`` builds its own scheduler from the ``scheduler`` block) and the accelerate
training loop (exec'd as a script).  The lrs are ``optimizer.param_groups[g]["lr"]`` read right
before every real ``optimizer.step()``.  Where a plateau is evaluated, the validation metric of
evaluation ``i`` is the design's (:class:`schedules.build.MetricFeed`), as a user's validation
loop would report it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from schedules.design import ScheduleConfig, StackConfig
from schedules.stacks.real import TinyModel, design_metric, tiny_model_and_optimizer


def run_hf_export(
    config: ScheduleConfig, args: dict[str, Any], output_dir: str, amp_skipped_steps: int = 0
) -> np.ndarray:
    """``Trainer(args=TrainingArguments(**args))`` on the tiny model: Trainer makes the optimizer
    (``optim``, ``learning_rate``) and the scheduler (``lr_scheduler_type``...) itself; evaluations
    (for ``reduce_lr_on_plateau``) report the design's metric as ``eval_loss``.  With
    ``amp_skipped_steps``: fp16's GradScaler and an overflow at those first steps (as
    :func:`schedules.stacks.hf.run_real`)."""
    from schedules.stacks.hf import lr_rows, make_trainer
    from schedules.stacks.real import amp_scaler, overflow

    model = TinyModel(1)

    def before_step(state: Any) -> None:
        if state.global_step < amp_skipped_steps:
            overflow(model)

    trainer, rows = make_trainer(config, args, model, output_dir, before_step=before_step)
    if amp_skipped_steps:
        trainer.accelerator.scaler = amp_scaler()
    trainer.train()
    return lr_rows(rows)


def run_lightning_export(
    config: ScheduleConfig, code: str, trainer_kwargs: dict[str, Any], root_dir: str
) -> np.ndarray:
    """The exported ``configure_optimizers`` (exec'd) as a real ``LightningModule``'s method, trained
    by ``lightning.Trainer(**trainer_kwargs)``; validation logs the design's metric as ``val_loss``."""
    from schedules.stacks.lightning import fit

    namespace: dict[str, Any] = {}
    exec(compile(code, "<exported configure_optimizers>", "exec"), namespace)  # noqa: S102 (our own export)
    model = TinyModel(len(config.optimizer.groups()))
    return fit(config, model, namespace["configure_optimizers"], root_dir, **trainer_kwargs)


def run_deepspeed_export(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:  # noqa: ARG001
    """``deepspeed.initialize(config=<the export>)`` with the design's torch optimizer (the
    export's note for param groups); DeepSpeed builds its scheduler from the ``scheduler`` block.
    Needs a ``torch.distributed`` process group (run through
    :func:`schedules.stacks.distributed.run_real_processes`)."""
    import deepspeed

    from schedules.interop import TARGETS
    from schedules.stacks.deepspeed import train_engine

    payload, _ = TARGETS["deepspeed"].export(config)
    ds_config = {k: v for k, v in payload.items() if k != "optimizer"}
    ds_config["steps_per_print"] = 10**9
    model, optimizer = tiny_model_and_optimizer(config)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    return train_engine(engine, config, optimizer)


def run_accelerate_export(config: ScheduleConfig, settings: StackConfig) -> np.ndarray:  # noqa: ARG001
    """The exported accelerate loop, exec'd as a script (in this process, or one rank of a
    ``torch.distributed`` run); its ``lr_log``.  The config is written where the script loads it;
    a plateau evaluation reports the design's metric."""
    from accelerate.state import AcceleratorState, GradientState

    from schedules.stacks import run_config
    from schedules.stacks.exports import export_settings, to_accelerate

    # The exported JSON is the design as trained: training.world_size = the stack's num_processes.
    config = run_config(config, export_settings(config, "accelerate")[0])
    metric = design_metric(config)
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
