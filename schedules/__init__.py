"""LR Schedule Studio's engine: configs, step accounting, real torch schedulers, curves.

import schedules
config = schedules.load_config("design.json")
schedule = schedules.build_scheduler(optimizer, config)   # step after every optimizer.step()
frame = schedules.lr_curve(config)                        # step, epoch, samples, lr, lr/<group>
"""

from .build import LRSchedule, build_scheduler, decay_kwargs, load_config, parse_config_json
from .curve import Curve, compute_curve, lr_curve
from .design import FORMAT, ConfigError, Plan, Problem, ScheduleConfig, make_plan

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
]
__version__ = "0.1.0"
