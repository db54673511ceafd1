"""LR Schedule Studio's engine: designs, step accounting, real torch schedulers, curves.

import schedules
config = schedules.load_config("design.json")
schedule = schedules.build_scheduler(optimizer, config)   # step after every optimizer.step()
frame = schedules.lr_curve(config)                        # step, epoch, samples, lr, lr/<group>
with schedules.trace("trace.csv", design=config) as t:   # your own loop, traced
    train()
t.diagnose().lines()                                      # what happened to the schedule, and why

The names below are imported when first used, so ``import schedules.design`` (the design as data)
and the tracer injected into a user's processes do not import torch before the user's code does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import LRSchedule, build_scheduler, decay_kwargs, load_config, parse_config_json
    from .curve import Curve, compute_curve, lr_curve
    from .design import FORMAT, ConfigError, Plan, Problem, ScheduleConfig, make_plan
    from .trace import trace

#: public name -> the module that defines it
_HOME = {
    "FORMAT": "design",
    "ConfigError": "design",
    "Plan": "design",
    "Problem": "design",
    "ScheduleConfig": "design",
    "make_plan": "design",
    "LRSchedule": "build",
    "build_scheduler": "build",
    "decay_kwargs": "build",
    "load_config": "build",
    "parse_config_json": "build",
    "Curve": "curve",
    "compute_curve": "curve",
    "lr_curve": "curve",
    "trace": "trace",
}

__all__ = [
    "FORMAT",
    "ConfigError",
    "Curve",
    "LRSchedule",
    "Plan",
    "Problem",
    "ScheduleConfig",
    "build_scheduler",
    "compute_curve",
    "decay_kwargs",
    "load_config",
    "lr_curve",
    "make_plan",
    "parse_config_json",
    "trace",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'schedules' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
