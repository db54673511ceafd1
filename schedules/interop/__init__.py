"""Speak the languages users already use: HF Trainer, Lightning, timm, DeepSpeed.

Exports are pure functions ``to_<target>(config) -> (payload, warnings)``; imports are
``from_<source>(document, ...) -> (config, warnings)``.  An empty warning list means the target
produces the design's lr at every optimizer step (checked numerically with the target's own
formulas, see :mod:`schedules.interop.common`); otherwise each warning names what the target
cannot express, and the last one says where and by how much its curve differs.

Modules, lowest first (each imports only those above it in this list; :mod:`.cli` sits on top):
``common`` (the exactness check and what every export and import shares); ``hf`` and ``deepspeed``
(what the framework does: its formulas and step accounting); ``detect`` (which format a JSON object
is); ``hf_export``, ``hf_import``, ``deepspeed_export``, ``deepspeed_import``, ``lightning``,
``timm`` (one export or import each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..build import load_config

# Stack-aware: with a stack section naming the framework, each export also says what that stack does
# with it (schedules/stacks/exports.py); the accelerate target is a training loop.
from ..stacks.exports import accelerate_curve, stack_aware, to_accelerate
from .deepspeed import deepspeed_curve
from .deepspeed_export import to_deepspeed
from .deepspeed_import import from_deepspeed
from .hf import hf_curve
from .hf_export import to_hf
from .hf_import import from_hf
from .lightning import build_scheduler_variant, lightning_curve, snippet_curve, to_lightning
from .timm import timm_curve, to_timm


@dataclass(frozen=True)
class Target:
    key: str
    title: str
    short: str  # legend name
    export: Callable[[Any], tuple[Any, list[str]]]
    language: str  # how the payload is shown: "json" or "python"
    filename: str


TARGETS: dict[str, Target] = {
    t.key: t
    for t in (
        Target(
            "hf",
            "Hugging Face TrainingArguments",
            "HF",
            stack_aware("hf", to_hf),
            "json",
            "training_args.json",
        ),
        Target(
            "lightning",
            "Lightning configure_optimizers",
            "Lightning",
            stack_aware("lightning", to_lightning),
            "python",
            "configure_optimizers.py",
        ),
        Target("timm", "timm create_scheduler_v2", "timm", to_timm, "json", "timm_scheduler.json"),
        Target(
            "deepspeed",
            "DeepSpeed scheduler block",
            "DeepSpeed",
            stack_aware("deepspeed", to_deepspeed),
            "json",
            "ds_config.json",
        ),
        Target(
            "accelerate",
            "accelerate training loop",
            "accelerate",
            to_accelerate,
            "python",
            "train_accelerate.py",
        ),
    )
}


def target_curve(key: str, config: Any, payload: Any) -> np.ndarray:
    """The lr of every param group at every optimizer step that target ``key`` gives for an
    exported ``payload`` (the same computation the export's check uses), shape (T, groups)."""
    cfg = load_config(config)
    plan = cfg.plan
    if key == "hf":
        return hf_curve(payload, cfg, plan)
    if key == "timm":
        return timm_curve(payload["create_scheduler_v2"], cfg, plan)
    if key == "deepspeed":
        return deepspeed_curve(payload["scheduler"], cfg.optimizer.base_lrs(), plan.total_steps)
    if key == "lightning":
        return snippet_curve(cfg)
    if key == "accelerate":
        return accelerate_curve(cfg)
    raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {key!r}")


__all__ = [
    "TARGETS",
    "Target",
    "accelerate_curve",
    "build_scheduler_variant",
    "deepspeed_curve",
    "from_deepspeed",
    "from_hf",
    "hf_curve",
    "lightning_curve",
    "snippet_curve",
    "target_curve",
    "timm_curve",
    "to_deepspeed",
    "to_hf",
    "to_lightning",
    "to_accelerate",
    "to_timm",
]
