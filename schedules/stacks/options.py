"""Command-line options for a stack (``curve --stack ...``, ``stack-check``), without importing torch."""

from __future__ import annotations

import argparse
from typing import Any

from ..build import load_config
from ..design import ScheduleConfig, StackConfig

STACK_NAMES = ("plain", "hf", "accelerate", "lightning", "deepspeed")
#: How the app names each stack in its pickers and notes (the Designer's "Your stack", Compare).
STACK_LABELS = {
    "plain": "plain loop",
    "hf": "HF Trainer",
    "accelerate": "accelerate",
    "lightning": "Lightning",
    "deepspeed": "DeepSpeed",
}


def add_stack_arguments(p: argparse.ArgumentParser, required: bool = False) -> None:
    g = p.add_argument_group("stack (overrides the config's 'stack' section)")
    g.add_argument(
        "--stack",
        choices=STACK_NAMES,
        default=None,
        required=required,
        help="the lr each optimizer step gets when trained through this stack",
    )
    g.add_argument("--num-processes", type=int, default=None, help="processes (default: training.world_size)")
    g.add_argument(
        "--split-batches", action="store_true", default=None, help="accelerate: split_batches=True"
    )
    g.add_argument(
        "--no-step-scheduler-with-optimizer",
        dest="step_scheduler_with_optimizer",
        action="store_false",
        default=None,
        help="accelerate: step_scheduler_with_optimizer=False",
    )
    g.add_argument(
        "--interval", choices=("step", "epoch"), default=None, help="Lightning's interval (default epoch)"
    )
    g.add_argument("--frequency", type=int, default=None, help="Lightning's frequency (default 1)")
    g.add_argument(
        "--scheduler-scale",
        type=int,
        default=None,
        help="the scheduler was built for num_training_steps x this (default 1): the design stretched",
    )
    g.add_argument(
        "--step-every",
        type=int,
        default=None,
        help="the scheduler handed over advances the design once every N calls: DesignScheduler(..., scale=N)",
    )
    g.add_argument(
        "--lightning-plateau",
        choices=("inside", "monitor"),
        default=None,
        help="Lightning, plateau designs: the plateau inside the one scheduler (default) or a monitor config",
    )
    g.add_argument(
        "--amp-skipped-steps",
        type=int,
        default=None,
        help="optimizer steps torch.amp.GradScaler skips at the start",
    )


_FIELDS = {
    "stack": "name",
    "num_processes": "num_processes",
    "split_batches": "split_batches",
    "step_scheduler_with_optimizer": "step_scheduler_with_optimizer",
    "interval": "lightning_interval",
    "frequency": "lightning_frequency",
    "scheduler_scale": "scheduler_scale",
    "step_every": "step_every",
    "lightning_plateau": "lightning_plateau",
    "amp_skipped_steps": "amp_skipped_steps",
}


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The stack fields set on the command line."""
    return {
        field: getattr(args, opt) for opt, field in _FIELDS.items() if getattr(args, opt, None) is not None
    }


def config_with_stack(
    config_path: str, args: argparse.Namespace
) -> tuple[ScheduleConfig, StackConfig | None]:
    """The config, and its stack settings with the command-line values applied (validated as the
    config's ``stack`` section, so a bad value names ``stack.<field>``).  ``None`` when neither the
    config nor the command line names a stack."""
    cfg = load_config(config_path)
    changes = given(args)
    if not changes:
        return cfg, cfg.stack
    base = cfg.stack.model_dump(mode="json") if cfg.stack is not None else {}
    data = cfg.to_dict()
    data["stack"] = {**base, **changes}
    cfg = load_config(data)
    return cfg, cfg.stack
