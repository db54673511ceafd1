"""Speak the languages users already use: HF Trainer, Lightning, timm, DeepSpeed.

Exports are pure functions ``to_<target>(config) -> (payload, warnings)``; imports are
``from_<source>(document, ...) -> (config, warnings)``.  An empty warning list means the target
produces the design's lr at every optimizer step (checked numerically with the target's own
formulas, see :mod:`schedules.interop.common`); otherwise each warning names what the target
cannot express, and the last one says where and by how much its curve differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .deepspeed import deepspeed_curve, from_deepspeed, to_deepspeed
from .hf import from_hf, hf_curve, to_hf
from .lightning import build_scheduler_variant, lightning_curve, to_lightning
from .timm import timm_curve, to_timm


@dataclass(frozen=True)
class Target:
    key: str
    title: str
    export: Callable[[Any], tuple[Any, list[str]]]
    language: str  # how the payload is shown: "json" or "python"
    filename: str


TARGETS: dict[str, Target] = {
    t.key: t
    for t in (
        Target("hf", "Hugging Face TrainingArguments", to_hf, "json", "training_args.json"),
        Target(
            "lightning", "Lightning configure_optimizers", to_lightning, "python", "configure_optimizers.py"
        ),
        Target("timm", "timm create_scheduler_v2", to_timm, "json", "timm_scheduler.json"),
        Target("deepspeed", "DeepSpeed scheduler block", to_deepspeed, "json", "ds_config.json"),
    )
}

__all__ = [
    "TARGETS",
    "Target",
    "build_scheduler_variant",
    "deepspeed_curve",
    "from_deepspeed",
    "from_hf",
    "hf_curve",
    "lightning_curve",
    "timm_curve",
    "to_deepspeed",
    "to_hf",
    "to_lightning",
    "to_timm",
]

from . import cli as _cli  # noqa: E402,F401  (registers the export / import commands)
