"""The ``lr-schedule/v1`` config: a pydantic v2 model, its validation messages and its JSON form.

The model is the single source of truth for the JSON format (CONTRACT.md section 1), for the checked-in
JSON Schema (``schedules/lr-schedule-v1.schema.json``), for the designer's widgets and help text, and
for the ranges quoted in error messages.  Unknown keys, wrong types and out-of-range values are rejected
with a :class:`~schedules.errors.ConfigError` whose problems name the field path, the allowed range and
the value given, e.g. ``training.accumulation_steps: must be an integer >= 1, got 0``.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .budget import MAX_CURVE_CELLS, MAX_EVALUATIONS
from .errors import ConfigError, Problem, join_path

FORMAT = "lr-schedule/v1"

#: Hard caps that keep every valid config cheap to draw and safe to serve.
MAX_TOTAL_STEPS = 2_000_000
MAX_PARAM_GROUPS = 32
MAX_METRIC_VALUES = 100_000
MAX_NAME_CHARS = 200
MAX_EXPRESSION_CHARS = 500
MAX_MILESTONES = 1_000
#: Largest config file accepted (uploads, CLI, API): a design is a small JSON document.
MAX_CONFIG_BYTES = 1_000_000
#: Smallest nonzero start factor: LinearLR's recursive form divides by it.
MIN_FACTOR = 1e-6


class StrictModel(BaseModel):
    """Strict JSON-like model: no coercion, no unknown keys, no NaN or infinity."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_default=False)


# --------------------------------------------------------------------------------------------------
# optimizer


@functools.lru_cache(maxsize=1)
def supported_optimizers() -> tuple[str, ...]:
    """``torch.optim`` optimizer classes that can be driven by a schedule (LBFGS needs a closure,
    SparseAdam sparse gradients: both are left out), and that build on the curve's dummy parameters
    (one 1-element tensor per group; ``Muon`` takes 2-D parameters only, so it is not offered)."""
    import torch

    names = []
    for name in dir(torch.optim):
        obj = getattr(torch.optim, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, torch.optim.Optimizer)
            and obj is not torch.optim.Optimizer
            and name not in {"LBFGS", "SparseAdam"}
            and _builds_on_dummy(obj)
        ):
            names.append(name)
    return tuple(sorted(names))


def _builds_on_dummy(cls: type) -> bool:
    import torch

    try:
        cls([torch.zeros(1, requires_grad=True)], lr=1e-3)
    except Exception:
        return False
    return True


JsonScalar = bool | int | float | str | None
JsonValue = JsonScalar | list[JsonScalar]


class ParamGroup(StrictModel):
    """One optimizer parameter group; its base lr is ``optimizer.lr * lr_scale``."""

    name: str = Field(min_length=1, max_length=64, description="Shown in charts and CSV columns (lr/<name>).")
    lr_scale: float = Field(1.0, gt=0, le=1000, description="Multiplier on the optimizer's base lr.")
    width_mult: float | None = Field(
        None,
        gt=0,
        le=1e4,
        description="muP width multiplier of a matrix-like group (hidden weights): its lr is divided by it, "
        "as mup.MuAdam does. Leave empty for vector-like groups (biases, embeddings, readout).",
    )

    @property
    def scale(self) -> float:
        """The group's lr as a multiple of the optimizer's: ``lr_scale``, divided by ``width_mult``."""
        return self.lr_scale if self.width_mult is None else self.lr_scale / self.width_mult


class OptimizerConfig(StrictModel):
    name: str = Field("AdamW", description="A torch.optim optimizer class name.")
    lr: float = Field(3e-4, gt=0, le=10, description="Base (peak) learning rate.")
    kwargs: dict[str, JsonValue] = Field(default_factory=dict, description="Passed to the optimizer class.")
    param_groups: list[ParamGroup] | None = Field(
        None, min_length=1, max_length=MAX_PARAM_GROUPS, description="Default: one group named 'default'."
    )

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        names = supported_optimizers()
        if value not in names:
            raise ConfigError(Problem("", f"must be one of {', '.join(names)}", value))
        return value

    @model_validator(mode="after")
    def _unique_groups(self) -> OptimizerConfig:
        if self.param_groups:
            seen: set[str] = set()
            for i, group in enumerate(self.param_groups):
                if group.name in seen:
                    raise ConfigError(Problem(f"param_groups[{i}].name", "must be unique", group.name))
                seen.add(group.name)
        bad = [k for k in self.kwargs if k in {"lr", "params"}]
        if bad:
            raise ConfigError(
                Problem(
                    f"kwargs.{bad[0]}",
                    "is set elsewhere (use optimizer.lr / param_groups)",
                    self.kwargs[bad[0]],
                )
            )
        return self

    def groups(self) -> list[ParamGroup]:
        return list(self.param_groups) if self.param_groups else [ParamGroup(name="default", lr_scale=1.0)]

    def base_lrs(self) -> list[float]:
        return [self.lr * g.scale for g in self.groups()]


# --------------------------------------------------------------------------------------------------
# training (the inputs of the step accounting in plan.py)


class TrainingConfig(StrictModel):
    dataset_size: int = Field(50_000, ge=1, le=10**10, description="Training samples per epoch (N).")
    micro_batch_size: int = Field(
        32, ge=1, le=10**6, description="Samples per forward/backward on one rank (b)."
    )
    accumulation_steps: int = Field(
        1, ge=1, le=10**5, description="Micro-batches accumulated into one optimizer step."
    )
    world_size: int = Field(1, ge=1, le=10**5, description="Data-parallel ranks (W).")
    epochs: int = Field(
        3, ge=1, le=10**5, description="Passes over the dataset (ignored when max_steps is set)."
    )
    max_steps: int | None = Field(
        None,
        ge=1,
        le=MAX_TOTAL_STEPS,
        description="Total optimizer steps; overrides epochs (as in HF Trainer).",
    )
    drop_last: bool = Field(False, description="Drop the short last micro-batch of each epoch.")


# --------------------------------------------------------------------------------------------------
# warmup


class WarmupConfig(StrictModel):
    steps: int | None = Field(None, ge=0, le=MAX_TOTAL_STEPS, description="Warmup length in optimizer steps.")
    ratio: float | None = Field(
        None, ge=0, le=1, description="Warmup length as a fraction of total steps: ceil(ratio * total)."
    )
    start_factor: float = Field(
        0.0, ge=0, le=1, description="Warmup starts at start_factor * lr and rises linearly to lr."
    )

    @field_validator("start_factor")
    @classmethod
    def _zero_or_representable(cls, value: float) -> float:
        # LinearLR's recursive form overflows for denormal start factors; 0 uses LambdaLR instead.
        if 0 < value < MIN_FACTOR:
            raise ConfigError(Problem("", f"must be 0 or a number >= {MIN_FACTOR:g} and <= 1", value))
        return value

    @model_validator(mode="after")
    def _one_length(self) -> WarmupConfig:
        if self.steps is None and self.ratio is None:
            raise ConfigError(Problem("steps", "set steps or ratio (one of them)", None, has_value=False))
        if self.steps is not None and self.ratio is not None:
            raise ConfigError(Problem("ratio", "set either steps or ratio, not both", self.ratio))
        return self


# --------------------------------------------------------------------------------------------------
# decay: one kwargs model per torch.optim.lr_scheduler class.  ``None`` means "use the default",
# resolved against the step plan in build.py (length arguments default to the steps remaining after
# warmup and hold).

FloatOrList = float | list[float]


class DecayKwargs(StrictModel):
    """Base of the per-scheduler kwargs models."""

    length_args: ClassVar[tuple[str, ...]] = ()


class CosineAnnealingLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("T_max",)
    T_max: int | None = Field(
        None, ge=1, le=MAX_TOTAL_STEPS, description="Half-period; default: the decay length."
    )
    eta_min: float | None = Field(None, ge=0, le=10, description="Floor lr (absolute). Default 0.")


class CosineAnnealingWarmRestartsKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("T_0",)
    T_0: int | None = Field(
        None, ge=1, le=MAX_TOTAL_STEPS, description="Length of the first cycle; default: the decay length."
    )
    T_mult: int | None = Field(
        None, ge=1, le=100, description="Each cycle is T_mult times longer. Default 1."
    )
    eta_min: float | None = Field(None, ge=0, le=10, description="Floor lr (absolute). Default 0.")


class LinearLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("total_iters",)
    start_factor: float | None = Field(
        None, ge=MIN_FACTOR, le=1, description="Factor at the start. Default 1.0."
    )
    end_factor: float | None = Field(None, ge=0, le=1, description="Factor at the end. Default 0.0.")
    total_iters: int | None = Field(None, ge=1, le=MAX_TOTAL_STEPS, description="Default: the decay length.")


class PolynomialLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("total_iters",)
    total_iters: int | None = Field(None, ge=1, le=MAX_TOTAL_STEPS, description="Default: the decay length.")
    power: float | None = Field(None, gt=0, le=100, description="Exponent of (1 - t/total). Default 1.0.")


class StepLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("step_size",)
    step_size: int | None = Field(
        None,
        ge=1,
        le=MAX_TOTAL_STEPS,
        description="Multiply by gamma every step_size steps; default: a third of the decay length.",
    )
    gamma: float | None = Field(None, gt=0, le=1, description="Multiplier per step_size. Default 0.1.")


class MultiStepLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("milestones",)
    milestones: list[Annotated[int, Field(ge=1, le=MAX_TOTAL_STEPS)]] | None = Field(
        None,
        min_length=1,
        max_length=MAX_MILESTONES,
        description="Increasing step counts (since decay start) where lr is multiplied by gamma; default: 1/2 and 3/4 of the decay length.",
    )
    gamma: float | None = Field(None, gt=0, le=1, description="Multiplier at each milestone. Default 0.1.")

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            for i in range(1, len(value)):
                if value[i] <= value[i - 1]:
                    raise ConfigError(
                        Problem(f"[{i}]", f"must be strictly increasing (> {value[i - 1]})", value[i])
                    )
        return value


class ConstantLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("total_iters",)
    factor: float | None = Field(
        None,
        ge=MIN_FACTOR,
        le=1,
        description="Factor held until total_iters (torch divides by it then). Default 1/3.",
    )
    total_iters: int | None = Field(None, ge=0, le=MAX_TOTAL_STEPS, description="Default: the decay length.")


class ExponentialLRKwargs(DecayKwargs):
    gamma: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Multiplier every step; default: reaches 1% of lr at the end of the decay.",
    )


class CyclicLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("step_size_up",)
    base_lr: FloatOrList | None = Field(
        None, description="Lower bound (absolute, or one per group). Default lr/10 per group."
    )
    max_lr: FloatOrList | None = Field(
        None, description="Upper bound (absolute, or one per group). Default: each group's lr."
    )
    step_size_up: int | None = Field(
        None,
        ge=1,
        le=MAX_TOTAL_STEPS,
        description="Steps of the rising half; default: a quarter of the decay length.",
    )
    step_size_down: int | None = Field(None, ge=1, le=MAX_TOTAL_STEPS, description="Default: step_size_up.")
    mode: Literal["triangular", "triangular2", "exp_range"] | None = None
    gamma: float | None = Field(None, gt=0, le=1, description="exp_range decay per iteration. Default 1.0.")
    scale_mode: Literal["cycle", "iterations"] | None = None
    cycle_momentum: bool | None = Field(
        None, description="Cycle momentum/beta1 inversely to lr (torch default true)."
    )
    base_momentum: float | None = Field(None, ge=0, lt=1)
    max_momentum: float | None = Field(None, ge=0, lt=1)


class OneCycleLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("total_steps",)
    max_lr: FloatOrList | None = Field(
        None, description="Peak lr (absolute, or one per group). Default: each group's lr."
    )
    total_steps: int | None = Field(
        None, ge=1, le=MAX_TOTAL_STEPS, description="Default: the total steps of the run."
    )
    pct_start: float | None = Field(
        None, gt=0, lt=1, description="Fraction of the cycle spent rising. Default 0.3."
    )
    anneal_strategy: Literal["cos", "linear"] | None = None
    cycle_momentum: bool | None = None
    base_momentum: float | None = Field(None, ge=0, lt=1)
    max_momentum: float | None = Field(None, ge=0, lt=1)
    div_factor: float | None = Field(
        None, ge=1, le=1e6, description="Initial lr = max_lr / div_factor. Default 25."
    )
    final_div_factor: float | None = Field(
        None, ge=1, le=1e9, description="Final lr = initial lr / final_div_factor. Default 1e4."
    )
    three_phase: bool | None = None


class LambdaLRKwargs(DecayKwargs):
    lr_lambda: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION_CHARS,
        description="Factor on the base lr as an expression of `step` (steps since decay start), `n` (decay "
        "length), `total_steps`, `warmup_steps`; functions cos, sin, exp, log, sqrt, min, max, abs, floor, ceil; pi.",
    )


class MultiplicativeLRKwargs(DecayKwargs):
    lr_lambda: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION_CHARS,
        description="Factor applied to the current lr at every step, as an expression (same names as LambdaLR).",
    )


DECAY_KWARGS: dict[str, type[DecayKwargs]] = {
    "CosineAnnealingLR": CosineAnnealingLRKwargs,
    "CosineAnnealingWarmRestarts": CosineAnnealingWarmRestartsKwargs,
    "LinearLR": LinearLRKwargs,
    "PolynomialLR": PolynomialLRKwargs,
    "StepLR": StepLRKwargs,
    "MultiStepLR": MultiStepLRKwargs,
    "ConstantLR": ConstantLRKwargs,
    "ExponentialLR": ExponentialLRKwargs,
    "CyclicLR": CyclicLRKwargs,
    "OneCycleLR": OneCycleLRKwargs,
    "LambdaLR": LambdaLRKwargs,
    "MultiplicativeLR": MultiplicativeLRKwargs,
}
DecayName = Literal[
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "LinearLR",
    "PolynomialLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "ExponentialLR",
    "CyclicLR",
    "OneCycleLR",
    "LambdaLR",
    "MultiplicativeLR",
]


class DecayConfig(StrictModel):
    scheduler: DecayName = Field(description="A torch.optim.lr_scheduler class used after warmup (and hold).")
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="That class's arguments; left-out lengths default to the decay length.",
    )
    interval: Literal["step", "epoch"] = Field(
        "step",
        description="Step the decay after every optimizer step, or after the last optimizer step of each epoch.",
    )
    hold_steps: int | None = Field(
        None,
        ge=0,
        le=MAX_TOTAL_STEPS,
        description="Hold the peak lr this many optimizer steps after warmup (warmup-stable-decay).",
    )
    hold_ratio: float | None = Field(
        None, ge=0, le=1, description="Hold length as a fraction of total steps."
    )

    @model_validator(mode="after")
    def _check_kwargs(self) -> DecayConfig:
        model = DECAY_KWARGS[self.scheduler]
        try:
            model.model_validate(self.kwargs)
        except ValidationError as exc:
            raise ConfigError(
                [p.prefixed(["kwargs"]) for p in problems_from_validation(exc, model)]
            ) from None
        if self.hold_steps is not None and self.hold_ratio is not None:
            raise ConfigError(
                Problem("hold_ratio", "set either hold_steps or hold_ratio, not both", self.hold_ratio)
            )
        if self.interval == "epoch" and (self.hold_steps or self.hold_ratio):
            raise ConfigError(
                Problem(
                    "hold_steps",
                    "a hold is only supported with interval 'step'",
                    self.hold_steps or self.hold_ratio,
                )
            )
        return self

    def parsed_kwargs(self) -> DecayKwargs:
        return DECAY_KWARGS[self.scheduler].model_validate(self.kwargs)


# --------------------------------------------------------------------------------------------------
# plateau


class SyntheticMetric(StrictModel):
    """A seeded validation-loss model: exponential improvement toward ``floor`` that stalls.

    Evaluation ``i`` (0-based) gives ``floor + (start - floor) * 0.5 ** (min(i, plateau_from) / half_life)
    + drift * max(0, i - plateau_from) + noise * z_i`` with ``z_i`` standard normal draws from
    ``numpy.random.default_rng(seed)``.  With ``plateau_from`` null the loss never stalls.
    """

    start: float = Field(2.0, ge=-1e6, le=1e6, description="Loss at the first evaluation (before noise).")
    floor: float = Field(0.5, ge=-1e6, le=1e6, description="Loss the model approaches.")
    half_life: float = Field(4.0, gt=0, le=1e6, description="Evaluations to halve the gap to the floor.")
    plateau_from: int | None = Field(
        6, ge=0, le=MAX_METRIC_VALUES, description="Evaluation from which the loss stops improving."
    )
    drift: float = Field(
        0.0, ge=-1e3, le=1e3, description="Change per evaluation after the plateau starts (> 0: overfitting)."
    )
    noise: float = Field(0.0, ge=0, le=1e3, description="Standard deviation of the Gaussian noise.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the noise.")


class MetricSource(StrictModel):
    values: list[float] | None = Field(
        None, min_length=1, max_length=MAX_METRIC_VALUES, description="One metric value per evaluation."
    )
    synthetic: SyntheticMetric | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MetricSource:
        if (self.values is None) == (self.synthetic is None):
            raise ConfigError(
                Problem("values", "set exactly one of values or synthetic", None, has_value=False)
            )
        return self


class PlateauConfig(StrictModel):
    mode: Literal["min", "max"] = Field(
        "min", description="min: lower metric is better (a loss); max: higher is better."
    )
    factor: float = Field(0.1, gt=0, lt=1, description="new lr = lr * factor at each reduction.")
    patience: int = Field(
        10, ge=0, le=10**6, description="Evaluations without improvement tolerated before reducing."
    )
    threshold: float = Field(1e-4, ge=0, le=1e6, description="How much better counts as an improvement.")
    threshold_mode: Literal["rel", "abs"] = Field(
        "rel",
        description="rel: better than best * (1 - threshold) (min mode); abs: better than best - threshold.",
    )
    cooldown: int = Field(
        0, ge=0, le=10**6, description="Evaluations to wait after a reduction before counting again."
    )
    min_lr: float | list[float] = Field(
        0.0, description="Lower bound on the lr (one value, or one per group)."
    )
    eps: float = Field(1e-8, ge=0, le=1, description="Reductions smaller than eps are ignored.")
    metric: MetricSource = Field(default_factory=lambda: MetricSource(synthetic=SyntheticMetric()))
    eval_every: Literal["epoch"] | int = Field(
        "epoch", description="Evaluate after every epoch, or after every N optimizer steps."
    )

    @field_validator("eval_every", mode="before")
    @classmethod
    def _epoch_or_steps(cls, value: Any) -> Any:
        ok = (
            value == "epoch"
            if isinstance(value, str)
            else (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TOTAL_STEPS)
        )
        if not ok:
            raise ConfigError(
                Problem("", f"must be 'epoch' or an integer >= 1 and <= {MAX_TOTAL_STEPS}", value)
            )
        return value

    def torch_kwargs(self) -> dict[str, Any]:
        """The ``torch.optim.lr_scheduler.ReduceLROnPlateau`` arguments of this section."""
        return {
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "eps": self.eps,
        }

    @field_validator("min_lr")
    @classmethod
    def _non_negative(cls, value: float | list[float]) -> float | list[float]:
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            if not (0 <= v <= 10):
                where = f"[{i}]" if isinstance(value, list) else ""
                raise ConfigError(Problem(where, "must be a number in [0, 10]", v))
        return value


# --------------------------------------------------------------------------------------------------
# wsd: warmup-stable-decay as one design (issue 14).  Self-contained: when set, it is the whole
# schedule (warmup and decay must be null); built as one LambdaLR in build.py (schedules/wsd.py).

WSDShape = Literal["linear", "cosine", "1-sqrt"]


class WSDConfig(StrictModel):
    """Warmup-stable-decay: warmup, a stable phase at the peak, a decay to ``min_lr_ratio * lr``.

    The factor on each group's base lr at row ``k`` (``w`` warmup, ``s`` stable, ``d`` decay steps) is
    ``transformers.get_wsd_schedule``'s: ``r0 + (1 - r0) * shape(k / w)`` in warmup (``r0`` =
    ``warmup_start``, default ``min_lr_ratio`` as in transformers), 1 while stable, then
    ``r + (1 - r) * shape(p)`` with ``p = (k - w - s) / d`` (linear ``1 - p``, cosine
    ``(1 + cos(pi p)) / 2``, 1-sqrt ``1 - sqrt(p)``, Hagele et al. 2024) and ``r`` after the decay.
    """

    warmup_steps: int | None = Field(
        None, ge=0, le=MAX_TOTAL_STEPS, description="Warmup length in optimizer steps."
    )
    warmup_ratio: float | None = Field(
        None, ge=0, le=1, description="Warmup length as a fraction of total steps: ceil(ratio * total)."
    )
    warmup_type: WSDShape = Field("linear", description="Warmup shape: linear, cosine or 1-sqrt.")
    warmup_start: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Factor the warmup starts from; default min_lr_ratio (as transformers' get_wsd_schedule).",
    )
    stable_steps: int | None = Field(
        None,
        ge=0,
        le=MAX_TOTAL_STEPS,
        description="Steps at the peak; default: total - warmup - decay (transformers' num_stable_steps inferred).",
    )
    decay_steps: int | None = Field(
        None, ge=1, le=MAX_TOTAL_STEPS, description="Decay (cooldown) length in optimizer steps."
    )
    decay_ratio: float | None = Field(
        None, gt=0, le=1, description="Decay length as a fraction of total steps: ceil(ratio * total)."
    )
    decay_type: WSDShape = Field(
        "cosine", description="Decay shape: linear, cosine or 1-sqrt (Hagele et al. 2024)."
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="Floor of the decay as a fraction of the peak lr."
    )

    @model_validator(mode="after")
    def _lengths(self) -> WSDConfig:
        if self.warmup_steps is not None and self.warmup_ratio is not None:
            raise ConfigError(
                Problem(
                    "warmup_ratio", "set either warmup_steps or warmup_ratio, not both", self.warmup_ratio
                )
            )
        if self.decay_steps is None and self.decay_ratio is None:
            raise ConfigError(
                Problem("decay_steps", "set decay_steps or decay_ratio (one of them)", None, has_value=False)
            )
        if self.decay_steps is not None and self.decay_ratio is not None:
            raise ConfigError(
                Problem("decay_ratio", "set either decay_steps or decay_ratio, not both", self.decay_ratio)
            )
        return self

    def lengths(self, total: int) -> tuple[int, int, int]:
        """``(warmup, stable, decay)`` optimizer steps for a run of ``total`` steps (stable may be < 0
        when warmup + decay exceed the total: the config check reports that)."""
        w = (
            self.warmup_steps
            if self.warmup_steps is not None
            else math.ceil(total * (self.warmup_ratio or 0.0))
        )
        d = self.decay_steps if self.decay_steps is not None else math.ceil(total * (self.decay_ratio or 0.0))
        s = self.stable_steps if self.stable_steps is not None else total - w - d
        return w, s, d


# --------------------------------------------------------------------------------------------------
# the training stack (optional; schedules/stacks/)

StackName = Literal["plain", "hf", "accelerate", "lightning", "deepspeed"]


class StackConfig(StrictModel):
    """How the design is trained: the framework that steps the scheduler, and its settings.

    Optional: the design's curve never depends on it.  ``schedules.stacks`` computes what the named
    stack does with the design's scheduler (``python -m schedules curve CONFIG --stack NAME``).
    """

    name: StackName = Field(
        "plain",
        description="plain (a hand-written loop), hf (transformers Trainer), accelerate, lightning, deepspeed.",
    )
    num_processes: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="Processes (accelerate's num_processes). Default: training.world_size.",
    )
    split_batches: bool = Field(
        False,
        description="accelerate: split_batches=True (DataLoaderConfiguration) steps the scheduler once per optimizer step.",
    )
    step_scheduler_with_optimizer: bool = Field(
        True,
        description="accelerate: False steps the scheduler on every scheduler.step() call (every micro-batch).",
    )
    lightning_interval: Literal["step", "epoch"] = Field(
        "epoch", description="Lightning's lr_scheduler 'interval' (Lightning's default is 'epoch')."
    )
    lightning_frequency: int = Field(
        1,
        ge=1,
        le=10**6,
        description="Lightning's lr_scheduler 'frequency' (batches or epochs between steps).",
    )
    scheduler_scale: int = Field(
        1,
        ge=1,
        le=4096,
        description="The scheduler was built for num_training_steps x this (e.g. from the unprepared dataloader).",
    )
    amp_skipped_steps: int = Field(
        0,
        ge=0,
        le=MAX_TOTAL_STEPS,
        description="Optimizer steps torch.amp.GradScaler skips at the start (fp16 overflow while the scale is too high).",
    )


# --------------------------------------------------------------------------------------------------
# the whole config


class ScheduleConfig(StrictModel):
    """A learning-rate schedule design, ``"format": "lr-schedule/v1"`` (see CONTRACT.md)."""

    format: Literal["lr-schedule/v1"] = FORMAT
    name: str = Field("untitled", max_length=MAX_NAME_CHARS)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    warmup: WarmupConfig | None = None
    decay: DecayConfig | None = None
    plateau: PlateauConfig | None = None
    wsd: WSDConfig | None = Field(
        None, description="Warmup-stable-decay as one design; when set, warmup and decay must be null."
    )
    stack: StackConfig | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> ScheduleConfig:
        from .plan import make_plan

        problems: list[Problem] = []
        t = self.training
        groups = len(self.optimizer.groups())
        plan = None
        try:
            plan = make_plan(self)
        except ConfigError as exc:
            problems.extend(exc.problems)
        if plan is not None and plan.total_steps > MAX_TOTAL_STEPS:
            field = "training.max_steps" if t.max_steps is not None else "training.epochs"
            problems.append(
                Problem(
                    field,
                    f"total optimizer steps must be <= {MAX_TOTAL_STEPS} "
                    f"({t.epochs} epochs x {plan.steps_per_epoch} steps per epoch = {plan.total_steps})",
                    getattr(t, field.split(".")[1]),
                )
            )
        if (
            plan is not None
            and plan.total_steps <= MAX_TOTAL_STEPS
            and plan.total_steps * groups > MAX_CURVE_CELLS
        ):
            # The work and memory of a curve: one lr per step and group (checked before computing).
            problems.append(
                Problem(
                    "optimizer.param_groups",
                    f"total steps x param groups must be <= {MAX_CURVE_CELLS:,} "
                    f"({plan.total_steps:,} steps x {groups} groups = {plan.total_steps * groups:,}): "
                    f"use at most {max(1, MAX_CURVE_CELLS // plan.total_steps)} groups for this run, "
                    "or a shorter run",
                    f"{groups} groups",
                )
            )
        if (
            plan is not None
            and self.plateau is not None
            and self.plateau.eval_every != "epoch"  # at most 10**5 epochs: under the cap
            and plan.total_steps <= MAX_TOTAL_STEPS
        ):
            # Each evaluation is a record (and maybe a reduction event) the curve keeps: bounded like
            # the lrs (checked before computing).
            every = int(self.plateau.eval_every)
            evaluations = plan.total_steps // every
            if evaluations > MAX_EVALUATIONS:
                problems.append(
                    Problem(
                        "plateau.eval_every",
                        f"must give at most {MAX_EVALUATIONS:,} evaluations, this run has {evaluations:,}: "
                        f"evaluate at most every {-(-plan.total_steps // MAX_EVALUATIONS)} steps for this run",
                        every,
                    )
                )
        if (
            self.plateau is not None
            and isinstance(self.plateau.min_lr, list)
            and len(self.plateau.min_lr) != groups
        ):
            problems.append(
                Problem(
                    "plateau.min_lr", f"must have one value per param group ({groups})", self.plateau.min_lr
                )
            )
        if self.decay is not None and self.decay.scheduler == "OneCycleLR":
            # Its constructor rewrites every group's initial_lr to max_lr / div_factor, so a warmup or
            # hold before it (SequentialLR resets to initial_lr) would run at the wrong base.
            if self.warmup is not None and (self.warmup.steps or self.warmup.ratio):
                problems.append(
                    Problem(
                        "warmup",
                        "must be null with OneCycleLR, which has its own warmup (pct_start)",
                        self.warmup.model_dump(exclude_none=True),
                    )
                )
            if self.decay.hold_steps or self.decay.hold_ratio:
                problems.append(
                    Problem(
                        "decay.hold_steps",
                        "must be 0 with OneCycleLR (it is a complete schedule)",
                        self.decay.hold_steps or self.decay.hold_ratio,
                    )
                )
        if self.decay is not None:
            for key in ("base_lr", "max_lr"):
                value = self.decay.kwargs.get(key)
                if isinstance(value, list):
                    if len(value) != groups:
                        problems.append(
                            Problem(
                                f"decay.kwargs.{key}",
                                f"must have one value per param group ({groups})",
                                value,
                            )
                        )
                    for i, v in enumerate(value):
                        if not (0 <= v <= 10):
                            problems.append(
                                Problem(f"decay.kwargs.{key}[{i}]", "must be a number in [0, 10]", v)
                            )
                elif value is not None and not (0 <= value <= 10):
                    problems.append(Problem(f"decay.kwargs.{key}", "must be a number in [0, 10]", value))
        if self.wsd is not None:
            problems.extend(self._wsd_problems(plan))
        if problems:
            raise ConfigError(problems)
        if plan is not None and plan.total_steps <= MAX_TOTAL_STEPS:
            from .build import check_buildable

            check_buildable(self)
        return self

    def _wsd_problems(self, plan: Any) -> list[Problem]:
        out = []
        for section in ("warmup", "decay"):
            if getattr(self, section) is not None:
                out.append(
                    Problem(section, "must be null when wsd is set (wsd has its own warmup and decay)", "set")
                )
        if plan is not None and self.wsd is not None:
            w, s, d = self.wsd.lengths(plan.total_steps)
            if self.wsd.stable_steps is None and s < 0:
                field = "wsd.decay_steps" if self.wsd.decay_steps is not None else "wsd.decay_ratio"
                out.append(
                    Problem(
                        field,
                        f"warmup + decay must be <= the total steps ({plan.total_steps}); warmup is {w}, decay {d}",
                        self.wsd.decay_steps if self.wsd.decay_steps is not None else self.wsd.decay_ratio,
                    )
                )
        return out

    # -- JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if self.wsd is None:
            data.pop("wsd")  # files written before the wsd section stay byte-identical
        for group in data["optimizer"]["param_groups"] or []:
            if group.get("width_mult") is None:
                group.pop("width_mult", None)  # likewise for groups without a muP width multiplier
        if data.get("stack") is None:  # optional section: files without it stay byte-for-byte the same
            data.pop("stack", None)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The config as JSON; ``load_config(json.loads(c.to_json()))`` gives an equal config."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def cache_key(self) -> str:
        """A canonical string for caching: equal configs give equal keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------------------------------
# loading and messages

_RANGE_WORDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _field_bounds(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """Describe the allowed range of the field at ``loc`` from its pydantic constraints."""
    field = _field_at(model, loc)
    if field is None:
        return ""
    lo = hi = None
    for meta in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">=")):
            if getattr(meta, attr, None) is not None:
                lo = f"{sym} {getattr(meta, attr)}"
        for attr, sym in (("lt", "<"), ("le", "<=")):
            if getattr(meta, attr, None) is not None:
                hi = f"{sym} {getattr(meta, attr)}"
    return " and ".join(x for x in (lo, hi) if x)


def _field_at(model: type[BaseModel] | None, loc: tuple[Any, ...]):
    import typing

    current: Any = model
    field = None
    for part in loc:
        if isinstance(part, int):  # a list index: stay on the list's item model
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        nxt = None
        for arg in _flatten(field.annotation, typing):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                nxt = arg
        current = nxt
    return field


def _flatten(tp: Any, typing: Any) -> list[Any]:
    args = typing.get_args(tp)
    if not args:
        return [tp]
    out = []
    for a in args:
        out.extend(_flatten(a, typing))
    return out


def _kind_of(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    field = _field_at(model, loc)
    if field is None:
        return "a number"
    import typing

    kinds = {a for a in _flatten(field.annotation, typing) if a is not type(None)}
    if kinds <= {int}:
        return "an integer"
    if kinds <= {int, float} or kinds == {float}:
        return "a number"
    return "a number"


def problems_from_validation(exc: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """Turn a pydantic ValidationError into Problems that name field, range and value."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Drop union-branch tags pydantic inserts into locations ("int", "list[float]", "literal['epoch']").
        etype = err["type"]
        loc = _without_union_tags(loc, model, keep_last=etype == "extra_forbidden")
        value = err.get("input")
        ctx = err.get("ctx") or {}
        if etype == "value_error" and isinstance(ctx.get("error"), ConfigError):
            out.extend(p.prefixed(list(loc)) for p in ctx["error"].problems)
            continue
        path = join_path(loc)
        bounds = _field_bounds(model, loc)
        if etype in _RANGE_WORDS:
            kind = _kind_of(model, loc)
            out.append(Problem(path, f"must be {kind} {bounds or ''}".rstrip(), value))
        elif etype == "finite_number":
            out.append(Problem(path, f"must be a finite number {bounds}".rstrip(), value))
        elif etype in {"int_type", "int_parsing", "int_from_float"}:
            out.append(Problem(path, f"must be an integer {bounds}".rstrip(), value))
        elif etype in {"float_type", "float_parsing"}:
            out.append(Problem(path, f"must be a number {bounds}".rstrip(), value))
        elif etype in {"bool_type", "bool_parsing"}:
            out.append(Problem(path, "must be true or false", value))
        elif etype in {"string_type"}:
            out.append(Problem(path, "must be a string", value))
        elif etype == "string_too_short":
            out.append(Problem(path, f"must have at least {ctx.get('min_length')} character(s)", value))
        elif etype == "string_too_long":
            out.append(Problem(path, f"must have at most {ctx.get('max_length')} characters", value))
        elif etype == "too_short":
            out.append(Problem(path, f"must have at least {ctx.get('min_length')} item(s)", value))
        elif etype == "too_long":
            out.append(
                Problem(
                    path,
                    f"must have at most {ctx.get('max_length')} items",
                    f"{ctx.get('actual_length')} items",
                )
            )
        elif etype in {"list_type"}:
            out.append(Problem(path, "must be a list", value))
        elif etype in {"dict_type", "model_type", "model_attributes_type"}:
            out.append(Problem(path, "must be an object", value))
        elif etype == "literal_error":
            expected = str(ctx.get("expected"))
            several = " or " in expected or "," in expected
            out.append(Problem(path, f"must be {'one of ' if several else ''}{expected}", value))
        elif etype == "missing":
            out.append(Problem(path, "is required", None, has_value=False))
        elif etype == "extra_forbidden":
            parent = _field_at(model, loc[:-1]) if len(loc) > 1 else None
            sub = None
            if parent is not None:
                import typing

                for a in _flatten(parent.annotation, typing):
                    if isinstance(a, type) and issubclass(a, BaseModel):
                        sub = a
            elif len(loc) == 1 and model is not None:
                sub = model
            allowed = f" (allowed: {', '.join(sub.model_fields)})" if sub is not None else ""
            out.append(Problem(path, f"is not a known field{allowed}", value))
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            out.append(Problem(path, msg[:1].lower() + msg[1:], value))
    # The same field can fail several union branches: keep the first message per path.
    seen: set[str] = set()
    unique = []
    for p in out:
        if p.path not in seen:
            unique.append(p)
            seen.add(p.path)
    return unique


_TAGS = {"int", "float", "str", "bool", "nullable"}


def _without_union_tags(
    loc: tuple[Any, ...], model: type[BaseModel] | None, keep_last: bool
) -> tuple[Any, ...]:
    """Drop the union-branch tags pydantic puts into locations (``int``, ``list[float]``,
    ``literal['epoch']``), but never a user's own key: the unknown key of an ``extra_forbidden`` error
    (``training: {"int": 1}`` is ``training.int``) or a key of a free-form ``kwargs`` object."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        user_key = (keep_last and i == len(loc) - 1) or (i > 0 and loc[i - 1] == "kwargs")
        if (
            not user_key
            and isinstance(part, str)
            and ("[" in part or part in _TAGS)
            and not (isinstance(model, type) and part in model.model_fields and i == 0)
        ):
            continue
        out.append(part)
    return tuple(out)


def load_config(source: str | os.PathLike | dict[str, Any] | ScheduleConfig) -> ScheduleConfig:
    """Validate a config from a dict, JSON text, a JSON file path, or an existing config.

    A file is read when ``source`` is a :class:`pathlib.Path` (any ``os.PathLike``) or a string that
    names a ``.json`` file (``load_config("design.json")``, as the exported snippets do). Any other
    string is JSON text: ``load_config("0")`` is "must be a JSON object", never a file look-up.

    Raises :class:`~schedules.errors.ConfigError` listing every problem (field path, allowed range,
    value given).
    """
    if isinstance(source, ScheduleConfig):
        return source
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _names_json_file(source)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                Problem(str(path), f"cannot read the file ({exc.strerror or exc})", None, has_value=False)
            ) from None
        return parse_config_json(text)
    if isinstance(source, str):
        if not source.lstrip().startswith("{"):
            shown = source if len(source) <= 60 else source[:57] + "..."
            raise ConfigError(
                Problem(
                    "(config)", "must be a JSON object (JSON text, a dict, or a path to a .json file)", shown
                )
            )
        return parse_config_json(source)
    if not isinstance(source, dict):
        raise ConfigError(Problem("(config)", "must be a JSON object", type(source).__name__))
    try:
        return ScheduleConfig.model_validate(source)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, ScheduleConfig)) from None
    except RecursionError:
        raise ConfigError(Problem("(config)", "is nested too deeply", None, has_value=False)) from None


def _names_json_file(text: str) -> bool:
    """A string is taken as a file path only when it looks like one: one line ending in ``.json``."""
    stripped = text.strip()
    return (
        stripped.lower().endswith(".json")
        and "\n" not in stripped
        and not stripped.startswith(("{", "[", '"'))
        and len(stripped) <= 4096
    )


def parse_config_json(text: str | bytes) -> ScheduleConfig:
    """Parse and validate config JSON text (as uploaded or read from a file)."""
    if len(text) > MAX_CONFIG_BYTES:
        unit = "bytes" if isinstance(text, bytes) else "characters"
        raise ConfigError(
            Problem(
                "(file)",
                f"must be at most {MAX_CONFIG_BYTES:,} {unit} (a config is a small JSON document)",
                f"{len(text):,} {unit}",
            )
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(Problem("(file)", "must be UTF-8 text", f"byte {exc.start}")) from None
    try:
        data = json.loads(text, parse_constant=_NotANumber, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            Problem(
                "(file)",
                f"must be valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                None,
                has_value=False,
            )
        ) from None
    except RecursionError:
        raise ConfigError(Problem("(file)", "is nested too deeply", None, has_value=False)) from None
    if not isinstance(data, dict | _NotANumber):  # `[Infinity]` is first of all not a config
        raise ConfigError(Problem("(config)", "must be a JSON object", type(data).__name__))
    markers = list(_markers(data, ()))
    if isinstance(data, dict):  # under an unknown top-level key: load_config names the key itself
        markers = [(path, m) for path, m in markers if path and path[0] in ScheduleConfig.model_fields]
    if markers:  # NaN, Infinity or a huge integer: named by its field, never "(file)"
        raise ConfigError([marker.problem(path) for path, marker in markers[:20]])
    if not isinstance(data, dict):
        raise ConfigError(Problem("(config)", "must be a JSON object", type(data).__name__))
    return load_config(data)


class _NotANumber:
    """What ``NaN``/``Infinity``/``-Infinity`` parse to: found afterwards and reported by field."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:  # as the JSON text had it, where a message shows the value
        return self.name

    def problem(self, path: tuple[Any, ...]) -> Problem:
        return Problem(
            join_path(path) if path else "(file)",
            f"must be a finite number (JSON has no {self.name}: NaN and Infinity are not allowed)",
            self.name,
        )


#: Python refuses int("...") beyond this many digits (sys.int_info.default_max_str_digits).
_MAX_INT_DIGITS = 4300


class _HugeInteger(_NotANumber):
    def problem(self, path: tuple[Any, ...]) -> Problem:
        return Problem(
            join_path(path) if path else "(file)",
            f"must be a number of at most {_MAX_INT_DIGITS} digits",
            self.name,
        )


def _json_int(text: str) -> int | _HugeInteger:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return _HugeInteger(f"a {len(text.lstrip('-'))}-digit integer")
    return int(text)


def _markers(obj: Any, path: tuple[Any, ...], depth: int = 0):
    if isinstance(obj, _NotANumber):
        yield path, obj
    elif depth > 200:
        return
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _markers(v, (*path, k), depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _markers(v, (*path, i), depth + 1)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config, with the per-scheduler kwargs as if/then branches."""
    schema = ScheduleConfig.model_json_schema()
    defs = schema.setdefault("$defs", {})
    branches = []
    for name, model in DECAY_KWARGS.items():
        sub = model.model_json_schema(ref_template="#/$defs/{model}")
        for key, val in sub.pop("$defs", {}).items():
            defs[key] = val
        defs[model.__name__] = sub
        branches.append(
            {
                "if": {"properties": {"scheduler": {"const": name}}, "required": ["scheduler"]},
                "then": {"properties": {"kwargs": {"$ref": f"#/$defs/{model.__name__}"}}},
            }
        )
    defs["DecayConfig"]["allOf"] = branches
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "lr-schedule/v1"
    return schema


SCHEMA_PATH = Path(__file__).with_name("lr-schedule-v1.schema.json")


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def is_finite_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
