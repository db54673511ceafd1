"""The ``lr-schedule/v1`` design as a pydantic v2 model: the single source of truth for the JSON format.

The model defines the JSON format (CONTRACT.md section 1), the checked-in JSON Schema
(``schedules/design/lr-schedule-v1.schema.json``), the Designer's widgets and help text, and the ranges
quoted in error messages.  Unknown keys, wrong types and out-of-range values are rejected with a
:class:`~schedules.design.problems.ConfigError` whose problems name the field path, the allowed range
and the value given, e.g. ``training.accumulation_steps: must be an integer >= 1, got 0``.

No torch here: whether torch *builds* a valid design (an optimizer kwarg it refuses, a scheduler
argument it rejects) is checked where a design is loaded for use (:func:`schedules.load_config`).
A valid design knows its step accounting: :attr:`ScheduleConfig.plan`, computed once while validating.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from .base import (
    FORMAT,
    MAX_CURVE_CELLS,
    MAX_EVALUATIONS,
    MAX_METRIC_VALUES,
    MAX_NAME_CHARS,
    MAX_PARAM_GROUPS,
    MAX_RAMP_STAGES,
    MAX_TOTAL_STEPS,
    MIN_FACTOR,
    JsonValue,
    StrictModel,
)
from .decay import DecayConfig
from .plan import Plan, make_plan
from .problems import ConfigError, Problem

#: ``torch.optim`` optimizer classes a design may name: those a schedule can drive (LBFGS needs a
#: closure, SparseAdam sparse gradients) and that build on the curve's dummy parameters (one 1-element
#: tensor per group; ``Muon`` takes 2-D parameters only).  ``Adafactor`` needs torch >= 2.5: the torch
#: installed decides whether a design builds (:func:`schedules.build.supported_optimizers`).
OPTIMIZERS = (
    "ASGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGD",
)


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
        if value not in OPTIMIZERS:
            raise ConfigError(Problem("", f"must be one of {', '.join(OPTIMIZERS)}", value))
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
# training (the inputs of the step accounting in design/plan.py)


class RampStage(StrictModel):
    """One stage of a batch ramp: ``batch`` samples per optimizer step (all ranks) while fewer than
    ``until_samples`` samples have been consumed before the step (Megatron-LM's rampup_batch_size
    counts consumed samples the same way)."""

    batch: int = Field(
        ge=1,
        le=10**9,
        description="Effective batch of this stage (samples per optimizer step, all ranks): a multiple of "
        "micro_batch_size x world_size.",
    )
    until_samples: int = Field(
        ge=1,
        le=10**13,
        description="The stage lasts while fewer than this many samples have been consumed before a step.",
    )


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
    batch_ramp: list[RampStage] | None = Field(
        None,
        min_length=1,
        max_length=MAX_RAMP_STAGES,
        description="Batch-size warmup: stages of a smaller effective batch over the first samples; after "
        "the last stage, micro_batch_size x accumulation_steps x world_size.",
    )
    tokens_per_sample: int | None = Field(
        None,
        ge=1,
        le=10**7,
        description="Tokens in one sample (e.g. the sequence length), for a tokens axis; optional.",
    )

    @model_validator(mode="after")
    def _ramp_fits(self) -> TrainingConfig:
        """Each stage takes whole micro-batch rounds (a multiple of b * W), no more than the design's
        effective batch; stages grow and end in order."""
        if not self.batch_ramp:
            return self
        problems = []
        round_size = self.micro_batch_size * self.world_size
        final = round_size * self.accumulation_steps
        previous = None
        for i, stage in enumerate(self.batch_ramp):
            where = f"batch_ramp[{i}]"
            if stage.batch % round_size:
                problems.append(
                    Problem(
                        f"{where}.batch",
                        f"must be a multiple of micro_batch_size x world_size = {round_size} "
                        "(a stage accumulates whole micro-batches)",
                        stage.batch,
                    )
                )
            if stage.batch > final:
                problems.append(
                    Problem(
                        f"{where}.batch",
                        f"must be <= the effective batch micro_batch_size x accumulation_steps x world_size "
                        f"= {final} (the batch the ramp grows to)",
                        stage.batch,
                    )
                )
            if previous is not None and stage.batch < previous.batch:
                problems.append(
                    Problem(
                        f"{where}.batch", f"must be >= the previous stage's {previous.batch}", stage.batch
                    )
                )
            if previous is not None and stage.until_samples <= previous.until_samples:
                problems.append(
                    Problem(
                        f"{where}.until_samples",
                        f"must be > the previous stage's {previous.until_samples}",
                        stage.until_samples,
                    )
                )
            previous = stage
        if problems:
            raise ConfigError(problems)
        return self


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
# schedule (warmup and decay must be null); built as one LambdaLR in build.py (schedules/design/wsd.py).

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

    _plan: Plan | None = PrivateAttr(None)
    #: Set by :func:`schedules.load_config` once torch has built this design (never in the JSON).
    _buildable: bool = PrivateAttr(False)

    @property
    def plan(self) -> Plan:
        """The step accounting of this design (:mod:`schedules.design.plan`), computed once."""
        if self._plan is None:
            self._plan = make_plan(self)
        return self._plan

    @model_validator(mode="after")
    def _cross_checks(self) -> ScheduleConfig:
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
        if t.batch_ramp:
            problems.extend(self._ramp_problems())
        if problems:
            raise ConfigError(problems)
        self._plan = plan
        return self

    def _ramp_problems(self) -> list[Problem]:
        """Lengths counted in epochs are refused with a batch ramp: while the batch grows, an epoch has
        more optimizer steps than later ones, so "every epoch" is not a fixed number of steps."""
        why = "with training.batch_ramp (epochs during the ramp have more optimizer steps than later ones)"
        out = []
        if self.decay is not None and self.decay.interval == "epoch":
            out.append(Problem("decay.interval", f"must be 'step' {why}", "epoch"))
        if self.plateau is not None and self.plateau.eval_every == "epoch":
            out.append(Problem("plateau.eval_every", f"must be a number of optimizer steps {why}", "epoch"))
        return out

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
        for name in ("batch_ramp", "tokens_per_sample"):  # optional training fields: likewise
            if data["training"].get(name) is None:
                data["training"].pop(name, None)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The config as JSON; ``load_config(json.loads(c.to_json()))`` gives an equal config."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def cache_key(self) -> str:
        """A canonical string for caching: equal configs give equal keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
