"""The decay section: one kwargs model per ``torch.optim.lr_scheduler`` class, and :class:`DecayConfig`.

``None`` in a kwargs model means "use the default", resolved against the step plan in
:mod:`schedules.build` (length arguments default to the steps remaining after warmup and hold).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from .base import MAX_EXPRESSION_CHARS, MAX_MILESTONES, MAX_TOTAL_STEPS, MIN_FACTOR, StrictModel
from .problems import ConfigError, Problem, problems_from_validation

FloatOrList = float | list[float]


class DecayKwargs(StrictModel):
    """Base of the per-scheduler kwargs models."""

    length_args: ClassVar[tuple[str, ...]] = ()


ETA_MIN_TEXT = "Floor lr (absolute, the same for every param group). Default 0."
ETA_MIN_RATIO_TEXT = (
    "Floor as a fraction of the peak lr: eta_min = eta_min_ratio x optimizer.lr, so a cosine to 10% stays "
    "one when the lr changes. Set this or eta_min, not both (default: unset, eta_min decides)."
)


def _one_floor(kwargs: Any) -> Any:
    if kwargs.eta_min is not None and kwargs.eta_min_ratio is not None:
        raise ConfigError(
            Problem("eta_min_ratio", "set either eta_min or eta_min_ratio, not both", kwargs.eta_min_ratio)
        )
    return kwargs


def resolved_eta_min(kwargs: dict[str, Any], lr: float) -> float | None:
    """The absolute ``eta_min`` torch gets from a cosine decay's kwargs: ``eta_min``, or
    ``eta_min_ratio * lr`` (``lr`` is ``optimizer.lr``, the peak), or None when neither is set."""
    if kwargs.get("eta_min_ratio") is not None:
        return float(kwargs["eta_min_ratio"]) * lr
    value = kwargs.get("eta_min")
    return None if value is None else float(value)


class CosineAnnealingLRKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("T_max",)
    T_max: int | None = Field(
        None, ge=1, le=MAX_TOTAL_STEPS, description="Half-period; default: the decay length."
    )
    eta_min: float | None = Field(None, ge=0, le=10, description=ETA_MIN_TEXT)
    eta_min_ratio: float | None = Field(None, ge=0, le=1, description=ETA_MIN_RATIO_TEXT)

    @model_validator(mode="after")
    def _one_floor(self) -> CosineAnnealingLRKwargs:
        return _one_floor(self)


class CosineAnnealingWarmRestartsKwargs(DecayKwargs):
    length_args: ClassVar[tuple[str, ...]] = ("T_0",)
    T_0: int | None = Field(
        None, ge=1, le=MAX_TOTAL_STEPS, description="Length of the first cycle; default: the decay length."
    )
    T_mult: int | None = Field(
        None, ge=1, le=100, description="Each cycle is T_mult times longer. Default 1."
    )
    eta_min: float | None = Field(None, ge=0, le=10, description=ETA_MIN_TEXT)
    eta_min_ratio: float | None = Field(None, ge=0, le=1, description=ETA_MIN_RATIO_TEXT)

    @model_validator(mode="after")
    def _one_floor(self) -> CosineAnnealingWarmRestartsKwargs:
        return _one_floor(self)


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
