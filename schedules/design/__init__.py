"""The design as data (no torch): its model, limits, problems, step accounting, expressions, WSD, and
the sanity warnings of a valid design that is almost surely not meant.

Data flows down from here: :mod:`schedules.build` makes the real torch schedulers of a design, and
everything else (curves, live runs, stacks, exports, forecasts, the workspace) takes a design from it.
"""

from .base import FORMAT, MAX_CONFIG_BYTES, MAX_EVALUATIONS, MAX_LR, MAX_TOTAL_STEPS, StrictModel
from .decay import DECAY_KWARGS, DecayConfig
from .parse import json_schema, parse_design_json, read_bounded, read_design, schema_text, text_of
from .plan import Plan, Window, make_plan
from .problems import ConfigError, Problem, join_path
from .sanity import SanityWarning, sanity_warnings
from .spec import (
    OPTIMIZERS,
    MetricSource,
    OptimizerConfig,
    ParamGroup,
    PlateauConfig,
    ScheduleConfig,
    StackConfig,
    SyntheticMetric,
    TrainingConfig,
    WarmupConfig,
    WSDConfig,
)

__all__ = [
    "DECAY_KWARGS",
    "FORMAT",
    "MAX_CONFIG_BYTES",
    "MAX_EVALUATIONS",
    "MAX_LR",
    "MAX_TOTAL_STEPS",
    "OPTIMIZERS",
    "ConfigError",
    "DecayConfig",
    "MetricSource",
    "OptimizerConfig",
    "ParamGroup",
    "Plan",
    "PlateauConfig",
    "Problem",
    "SanityWarning",
    "ScheduleConfig",
    "StackConfig",
    "StrictModel",
    "SyntheticMetric",
    "TrainingConfig",
    "WSDConfig",
    "WarmupConfig",
    "Window",
    "join_path",
    "json_schema",
    "make_plan",
    "parse_design_json",
    "read_bounded",
    "read_design",
    "sanity_warnings",
    "schema_text",
    "text_of",
]
