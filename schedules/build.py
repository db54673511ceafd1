"""``build_scheduler``: the ONE place real ``torch.optim.lr_scheduler`` objects are made.

The designer's curve, the live run, the CLI and a user's own training loop all get their schedulers
here, so what is drawn is what trains.  See :func:`build_scheduler` for the stepping rule.

:func:`load_config` is where a design is loaded for use: the design's own validation
(:func:`schedules.design.read_design`, no torch) plus torch's check that it builds
(:func:`check_buildable`: an optimizer kwarg or scheduler argument torch refuses is a
:class:`~schedules.design.ConfigError` naming the field).  A design that passed is marked, so
loading it again costs nothing.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler as tls

from .design import (
    MAX_TOTAL_STEPS,
    OPTIMIZERS,
    ConfigError,
    MetricSource,
    Plan,
    Problem,
    ScheduleConfig,
    join_path,
)
from .design.expr import LrExpression, check_expression
from .design.parse import parse_design_json, read_design
from .design.wsd import wsd_factor

#: Warnings torch emits for stepping patterns this module uses on purpose (the curve engine steps
#: schedulers on a dummy optimizer that never takes a real step).
_QUIET = (
    r".*lr_scheduler\.step\(\)` before `optimizer\.step\(\)`.*",
    r".*optimizer\.step\(\)` has been overridden.*",
    r".*The epoch parameter in `scheduler\.step\(\)`.*",
)


@contextlib.contextmanager
def quiet_scheduler_warnings() -> Iterator[None]:
    """Silence the warnings torch gives for the dummy optimizer that is never stepped."""
    with warnings.catch_warnings():
        for pattern in _QUIET:
            warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
        yield


# --------------------------------------------------------------------------------------------------
# pieces


class LinearWarmup:
    """``lr_lambda`` for a warmup from 0: ``min(1, step / steps)`` (a picklable callable object).

    LinearLR cannot start at 0 (its recursive form would stay at 0), so a warmup from 0 is the one
    place a LambdaLR is used, exactly as transformers' ``get_*_schedule_with_warmup`` do.
    """

    def __init__(self, steps: int):
        self.steps = int(steps)

    def __call__(self, step: int) -> float:
        return min(1.0, step / self.steps)


def warmup_scheduler(optimizer: torch.optim.Optimizer, steps: int, start_factor: float) -> tls.LRScheduler:
    """Linear warmup over ``steps`` optimizer steps from ``start_factor`` to 1."""
    if start_factor > 0:
        return tls.LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=steps)
    return tls.LambdaLR(optimizer, LinearWarmup(steps))


def decay_kwargs(config: ScheduleConfig, plan: Plan | None = None) -> dict[str, Any]:
    """The decay scheduler's keyword arguments with every left-out default resolved.

    Length arguments default to the decay length (:attr:`Plan.decay_length`: steps after warmup and
    hold, or epoch ends after warmup for ``interval="epoch"``); ``OneCycleLR.total_steps`` defaults
    to the total (steps, or epoch ends with ``interval="epoch"``).  ``lr_lambda`` expressions stay
    strings here (see :func:`make_decay` for the callables).
    """
    assert config.decay is not None
    plan = plan or config.plan
    n = plan.decay_length
    base = config.optimizer.base_lrs()
    given = {k: v for k, v in config.decay.kwargs.items() if v is not None}
    name = config.decay.scheduler
    defaults: dict[str, Any]
    if name == "CosineAnnealingLR":
        defaults = {"T_max": n, "eta_min": 0.0}
    elif name == "CosineAnnealingWarmRestarts":
        defaults = {"T_0": n, "T_mult": 1, "eta_min": 0.0}
    elif name == "LinearLR":
        defaults = {"start_factor": 1.0, "end_factor": 0.0, "total_iters": n}
    elif name == "PolynomialLR":
        defaults = {"total_iters": n, "power": 1.0}
    elif name == "StepLR":
        defaults = {"step_size": max(1, n // 3), "gamma": 0.1}
    elif name == "MultiStepLR":
        defaults = {"milestones": sorted({max(1, n // 2), max(1, (3 * n) // 4)}), "gamma": 0.1}
    elif name == "ConstantLR":
        defaults = {"factor": 1.0 / 3.0, "total_iters": n}
    elif name == "ExponentialLR":
        defaults = {"gamma": 0.01 ** (1.0 / n)}
    elif name == "CyclicLR":
        defaults = {"base_lr": [lr / 10 for lr in base], "max_lr": list(base), "step_size_up": max(1, n // 4)}
    elif name == "OneCycleLR":
        total = plan.total_steps if config.decay.interval == "step" else n
        defaults = {"max_lr": list(base), "total_steps": total}
    else:  # LambdaLR, MultiplicativeLR: lr_lambda is required
        defaults = {}
    return {**defaults, **given}


def expression_constants(plan: Plan) -> dict[str, float]:
    return {"n": plan.decay_length, "total_steps": plan.total_steps, "warmup_steps": plan.warmup_steps}


def make_decay(optimizer: torch.optim.Optimizer, config: ScheduleConfig, plan: Plan) -> tls.LRScheduler:
    """Construct the configured ``torch.optim.lr_scheduler`` decay class with resolved kwargs."""
    assert config.decay is not None
    kwargs = decay_kwargs(config, plan)
    name = config.decay.scheduler
    if name in ("LambdaLR", "MultiplicativeLR"):
        kwargs["lr_lambda"] = LrExpression(kwargs["lr_lambda"], expression_constants(plan))
    cls = getattr(tls, name)
    return cls(optimizer, **kwargs)


class MetricFeed:
    """The configured plateau metric, one value per evaluation (``None`` past the given values)."""

    def __init__(self, source: MetricSource, expected: int = 0):
        self.values = source.values
        self.synthetic = source.synthetic
        self._z = np.zeros(0)
        if self.synthetic is not None:
            self._rng = np.random.default_rng(self.synthetic.seed)
            self._grow(max(expected, 1))

    def _grow(self, count: int) -> None:
        if count > len(self._z):
            self._z = np.concatenate([self._z, self._rng.standard_normal(count - len(self._z))])

    def __call__(self, index: int) -> float | None:
        if self.values is not None:
            return float(self.values[index]) if index < len(self.values) else None
        m = self.synthetic
        assert m is not None
        self._grow(index + 1)
        stall = index if m.plateau_from is None else min(index, m.plateau_from)
        past = 0 if m.plateau_from is None else max(0, index - m.plateau_from)
        value = m.floor + (m.start - m.floor) * 0.5 ** (stall / m.half_life) + m.drift * past
        return float(value + m.noise * self._z[index])


@dataclass
class Evaluation:
    """One ReduceLROnPlateau evaluation: the metric, what the scheduler made of it."""

    index: int
    step: int  # the optimizer step that ended this evaluation period
    metric: float
    best: float
    num_bad_epochs: int
    in_cooldown: bool
    reduced: bool


@dataclass
class Event:
    """Something worth marking on a chart; ``step`` is the first row where it shows."""

    kind: str  # warmup_end | hold_end | ramp_end | epoch | restart | plateau_reduction
    step: int
    label: str
    data: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# the schedule object


class LRSchedule:
    """The scheduler objects built for one config and the rule that steps them.

    Attributes:
        scheduler: the per-optimizer-step torch scheduler, or ``None``.  With ``decay.interval="step"``
            a ``SequentialLR`` of [warmup, hold, decay] (or the single phase there is); with
            ``interval="epoch"`` the warmup alone.
        epoch_scheduler: the decay when ``interval="epoch"`` (else ``None``).
        plateau: the ``ReduceLROnPlateau``, or ``None``.
        warmup, decay: the phase objects themselves (also inside ``scheduler``).

    Call :meth:`step` once right after every ``optimizer.step()``; see :func:`build_scheduler`.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: ScheduleConfig, plan: Plan):
        self.optimizer = optimizer
        self.config = config
        self.plan = plan
        self.steps_taken = 0
        self.events: list[Event] = []
        self.evaluations: list[Evaluation] = []
        self.warnings: list[str] = []
        self.warmup: tls.LRScheduler | None = None
        self.decay: tls.LRScheduler | None = None
        self.scheduler: tls.LRScheduler | None = None
        self.epoch_scheduler: tls.LRScheduler | None = None
        self.plateau: tls.ReduceLROnPlateau | None = None
        self._feed: MetricFeed | None = None
        self._restart_watch = False
        self._last_t_cur: int | None = None
        self._epoch_decay = config.decay is not None and config.decay.interval == "epoch"
        self._build()
        self._eval_every = None
        if self.plateau is not None:
            every = config.plateau.eval_every
            self._eval_every = plan.steps_per_epoch if every == "epoch" else int(every)
        if not self._epoch_decay:
            self._restart_watch = isinstance(self.decay, tls.CosineAnnealingWarmRestarts)
            self._last_t_cur = getattr(self.decay, "T_cur", None)

    # -- construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        opt, cfg, plan = self.optimizer, self.config, self.plan
        w, h = plan.warmup_steps, plan.hold_steps
        start = cfg.warmup.start_factor if cfg.warmup is not None else 1.0
        with quiet_scheduler_warnings():
            if self._epoch_decay:
                # Per-epoch decay: the warmup runs alone; the decay is constructed when the warmup has
                # ended (row w), as if SequentialLR handed over to it, so its own first value shows there.
                if w > 0:
                    self.warmup = self.scheduler = warmup_scheduler(opt, w, start)
                else:
                    self._start_epoch_decay()
            elif cfg.wsd is not None:
                # Warmup-stable-decay: one LambdaLR with transformers' WSD lambda (schedules/design/wsd.py).
                self.scheduler = tls.LambdaLR(opt, wsd_factor(cfg.wsd, plan.total_steps))
            else:
                phases: list[tls.LRScheduler] = []
                milestones: list[int] = []
                if w > 0:
                    self.warmup = warmup_scheduler(opt, w, start)
                    phases.append(self.warmup)
                if cfg.decay is not None:
                    if h > 0:
                        phases.append(tls.ConstantLR(opt, factor=1.0, total_iters=h))
                    self.decay = make_decay(opt, cfg, plan)
                    phases.append(self.decay)
                elif phases:
                    # Constant after warmup: a chainable no-op phase (keeps plateau reductions).
                    phases.append(tls.ConstantLR(opt, factor=1.0, total_iters=0))
                if w > 0 and len(phases) > 1:
                    milestones.append(w)
                if cfg.decay is not None and h > 0:
                    milestones.append(w + h)
                if len(phases) > 1:
                    self.scheduler = tls.SequentialLR(opt, phases, milestones)
                elif phases:
                    self.scheduler = phases[0]
            if cfg.plateau is not None:
                p = cfg.plateau
                self.plateau = tls.ReduceLROnPlateau(opt, **p.torch_kwargs())
                self._feed = MetricFeed(p.metric, len(plan.eval_steps(p.eval_every)))

    def _start_epoch_decay(self) -> None:
        # Constructed as on a fresh optimizer whose lr is the one the warmup reached: each scheduler
        # records its own initial_lr (CyclicLR's first value is base_lr only then).
        for group in self.optimizer.param_groups:
            group.pop("initial_lr", None)
        self.decay = self.epoch_scheduler = make_decay(self.optimizer, self.config, self.plan)
        self._restart_watch = isinstance(self.decay, tls.CosineAnnealingWarmRestarts)
        self._last_t_cur = getattr(self.decay, "T_cur", None)

    # -- stepping ----------------------------------------------------------------------------------
    @property
    def needs_metric(self) -> bool:
        """True when the next :meth:`step` ends an evaluation period (pass the metric to it)."""
        return self._eval_every is not None and (self.steps_taken + 1) % self._eval_every == 0

    def step(self, metric: float | None = None) -> None:
        """Advance by one optimizer step.  Call right after ``optimizer.step()``.

        ``metric``: the validation metric when :attr:`needs_metric` is true; when left out, the
        config's metric source (values or synthetic model) supplies it.
        """
        k = self.steps_taken
        self.steps_taken = k + 1
        plan = self.plan
        if not self._epoch_decay:
            if self.scheduler is not None:
                self.scheduler.step()
        elif k < plan.warmup_steps:
            self.scheduler.step()
            if k + 1 == plan.warmup_steps:
                with quiet_scheduler_warnings():
                    self._start_epoch_decay()
        elif (k + 1) % plan.steps_per_epoch == 0:
            self.epoch_scheduler.step()
        for group in self.optimizer.param_groups:
            if group["lr"] < 0.0:  # recursive forms can end at -1e-17 (e.g. LinearLR to 0): flush to 0
                group["lr"] = 0.0
        if self._restart_watch:
            t_cur = self.decay.T_cur
            if t_cur < self._last_t_cur and k + 1 > plan.decay_start:
                self.events.append(Event("restart", k + 1, "restart", {"T_i": self.decay.T_i}))
            self._last_t_cur = t_cur
        if self._eval_every is not None and (k + 1) % self._eval_every == 0:
            self._evaluate(k, metric)

    def _evaluate(self, k: int, metric: float | None) -> None:
        index = (k + 1) // self._eval_every - 1
        if metric is None:
            metric = self._feed(index)
            if metric is None:
                if not self.warnings:
                    self.warnings.append(
                        f"plateau.metric.values has {len(self._feed.values)} values but the run evaluates "
                        f"{len(self.plan.eval_steps(self.config.plateau.eval_every))} times: later evaluations are skipped"
                    )
                return
        metric = float(metric)
        if not math.isfinite(metric):
            raise ValueError(f"plateau metric must be finite, got {metric} at evaluation {index} (step {k})")
        groups = self.optimizer.param_groups
        before = [g["lr"] for g in groups]
        p = self.plateau
        p.step(metric)
        after = [g["lr"] for g in groups]
        reduced = any(a < b for a, b in zip(after, before, strict=True))
        self.evaluations.append(
            Evaluation(index, k, metric, float(p.best), p.num_bad_epochs, p.in_cooldown, reduced)
        )
        if reduced:
            self.events.append(
                Event(
                    "plateau_reduction",
                    k + 1,
                    f"plateau: x{self.config.plateau.factor:g}",
                    {
                        "metric": metric,
                        "best": float(p.best),
                        "evaluation": index,
                        "lr_before": before[0],
                        "lr_after": after[0],
                    },
                )
            )

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    # -- checkpointing -----------------------------------------------------------------------------
    def _group_keys(self) -> tuple[str, ...]:
        """The param-group values the schedulers write: the lr, and the momentum a cycling decay sets."""
        decay = self.decay
        if isinstance(decay, tls.CyclicLR | tls.OneCycleLR) and getattr(decay, "cycle_momentum", False):
            return ("lr", "betas") if getattr(decay, "use_beta1", False) else ("lr", "momentum")
        return ("lr",)

    def state_dict(self) -> dict[str, Any]:
        """The schedulers' states and the lr (and cycled momentum) of every param group.

        Plain Python numbers, lists and dicts: ``torch.save`` / ``torch.load`` with the default
        ``weights_only=True`` round-trip it.
        """
        keys = self._group_keys()
        return {
            "steps_taken": self.steps_taken,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch_scheduler": self.epoch_scheduler.state_dict()
            if self.epoch_scheduler is not None
            else None,
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
            "param_groups": [{k: g[k] for k in keys if k in g} for g in self.optimizer.param_groups],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; the next :meth:`step` continues the curve bit for bit.

        Either order works with ``optimizer.load_state_dict``: before or after :func:`build_scheduler`,
        and before or after this call.  torch's own schedulers do not save the lr they set (it lives
        in the optimizer), so a scheduler constructed after ``optimizer.load_state_dict`` overwrites
        the restored lr; this state carries each group's lr and puts it back.
        """
        saved_groups = state.get("param_groups")
        if saved_groups is not None and len(saved_groups) != len(self.optimizer.param_groups):
            raise ValueError(
                f"the checkpoint has {len(saved_groups)} param groups but the optimizer has "
                f"{len(self.optimizer.param_groups)}: restore into an optimizer built like the saved one"
            )
        self.steps_taken = state["steps_taken"]
        if self._epoch_decay and self.epoch_scheduler is None and state.get("epoch_scheduler") is not None:
            lrs = [g["lr"] for g in self.optimizer.param_groups]
            with quiet_scheduler_warnings():
                self._start_epoch_decay()  # its constructor sets lrs: put the restored ones back
            for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
        for name in ("scheduler", "epoch_scheduler", "plateau"):
            obj = getattr(self, name)
            if obj is not None and state.get(name) is not None:
                obj.load_state_dict(state[name])
        if saved_groups is not None:
            for group, saved in zip(self.optimizer.param_groups, saved_groups, strict=True):
                group.update(saved)
        for group in self.optimizer.param_groups:
            if group["lr"] < 0.0:  # recursive forms can end at -1e-17 (e.g. LinearLR to 0): flush to 0
                group["lr"] = 0.0
        if self._restart_watch:
            self._last_t_cur = self.decay.T_cur


# --------------------------------------------------------------------------------------------------
# public entry points


def load_config(source: str | os.PathLike | dict[str, Any] | ScheduleConfig) -> ScheduleConfig:
    """Validate a design from a dict, JSON text, a JSON file path, or an existing config, and check
    that torch builds it.

    A file is read when ``source`` is a :class:`pathlib.Path` (any ``os.PathLike``) or a string that
    names a ``.json`` file (``load_config("design.json")``, as the exported snippets do). Any other
    string is JSON text: ``load_config("0")`` is "must be a JSON object", never a file look-up.

    Raises :class:`~schedules.design.ConfigError` listing every problem (field path, allowed range,
    value given).
    """
    return _buildable(read_design(source))


def parse_config_json(text: str | bytes) -> ScheduleConfig:
    """Parse and validate config JSON text (as uploaded or read from a file), checked buildable."""
    return _buildable(parse_design_json(text))


def _buildable(config: ScheduleConfig) -> ScheduleConfig:
    if not config._buildable:
        check_buildable(config)
        config._buildable = True
    return config


@functools.lru_cache(maxsize=1)
def supported_optimizers() -> tuple[str, ...]:
    """The design's optimizer names (:data:`schedules.design.spec.OPTIMIZERS`) this torch has."""
    return tuple(name for name in OPTIMIZERS if isinstance(getattr(torch.optim, name, None), type))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig | dict[str, Any] | str | Path
) -> LRSchedule:
    """Build the real torch schedulers of ``config`` on ``optimizer``; returns an :class:`LRSchedule`.

    Each param group's lr is set to ``optimizer.lr * lr_scale`` from the config (the optimizer must
    have exactly the config's param groups, in order), so the schedule is the designed one.

    **Stepping rule.** Step once per *optimizer* step, never per micro-batch, and after
    ``optimizer.step()``::

        schedule = build_scheduler(optimizer, config)
        plan = schedule.plan
        for step in range(plan.total_steps):
            for x, y in micro_batches(step):               # plan.window(step): A micro-batches, fewer at epoch end
                loss = loss_fn(model(x), y, reduction="sum") / plan.window(step).samples
                loss.backward()
            optimizer.step()
            schedule.step(evaluate() if schedule.needs_metric else None)
            optimizer.zero_grad()

    What ``schedule.step()`` does after optimizer step ``k`` (0-based):

    1. ``interval="step"``: steps ``schedule.scheduler`` (``SequentialLR`` of warmup, hold, decay;
       with a ``wsd`` section one ``LambdaLR`` whose lambda is :class:`~schedules.design.wsd.WSDFactor`).
       ``interval="epoch"``: steps the warmup while ``k < warmup_steps``; the decay
       (``schedule.epoch_scheduler``) is constructed when the warmup ends, on the lr the warmup reached
       (so its first value shows at row ``warmup_steps``), and stepped after the last step of each
       epoch with ``k >= warmup_steps``.
    2. If ``k`` ends an evaluation period (``schedule.needs_metric`` was true): ``plateau.step(metric)``.

    So row ``k`` of the curve is the lr optimizer step ``k`` uses.  Example: lr 1.0, warmup 2 steps from
    0, then ``CosineAnnealingLR`` over the remaining 4 of 6 steps:

    ====  =====  =====  =====  =====  =====  =====
    step    0      1      2      3      4      5
    lr    0.000  0.500  1.000  0.854  0.500  0.146
    ====  =====  =====  =====  =====  =====  =====

    ReduceLROnPlateau multiplies the *current* lr.  A chainable decay (StepLR, ExponentialLR,
    CosineAnnealingLR's recursive form, LinearLR, ConstantLR...) continues from the reduced value;
    a LambdaLR phase (the warmup from 0, LambdaLR decays) recomputes ``base_lr * f(step)`` each step and
    so overwrites reductions made while it runs; ``SequentialLR`` restarts each phase from its closed
    form at the milestone; a decay without a closed form (``MultiplicativeLR``) continues from the lr
    it is handed, the last warmup value.  This is what the torch objects do, and the curve shows
    exactly that.  ``OneCycleLR`` brings its own warmup and is not combined with a warmup or hold.

    One deliberate difference from stepping the torch objects bare: a recursive form that ends a
    hair below zero through rounding (``LinearLR`` to ``end_factor=0`` gives ``-1.2e-17``) is set to
    ``0.0``; no lr this schedule gives is ever negative.
    """
    cfg = load_config(config)
    plan = cfg.plan
    base = cfg.optimizer.base_lrs()
    if len(optimizer.param_groups) != len(base):
        names = [g.name for g in cfg.optimizer.groups()]
        raise ValueError(
            f"optimizer has {len(optimizer.param_groups)} param groups but the config defines "
            f"{len(base)} ({', '.join(names)}): build the optimizer with one group per config group"
        )
    for group, lr in zip(optimizer.param_groups, base, strict=True):
        group["lr"] = lr
        group.pop("initial_lr", None)  # as on a fresh optimizer: each scheduler records it itself
    return LRSchedule(optimizer, cfg, plan)


def dummy_optimizer(config: ScheduleConfig) -> torch.optim.Optimizer:
    """The configured optimizer class on one 1-element tensor per param group (never stepped)."""
    cls = getattr(torch.optim, config.optimizer.name)
    groups = [
        {"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in config.optimizer.base_lrs()
    ]
    return cls(groups, lr=config.optimizer.lr, **config.optimizer.kwargs)


def _guard(path: str, value: Any, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ConfigError:
        raise
    except Exception as exc:  # torch raises many types (IndexError for betas=[0.9]); all mean "refused"
        usual = isinstance(
            exc, ValueError | TypeError | KeyError | ZeroDivisionError | OverflowError | RuntimeError
        )
        why = str(exc) if usual else f"{type(exc).__name__}: {exc}"
        raise ConfigError(Problem(path, f"rejected by torch: {why}", value)) from None


def check_buildable(config: ScheduleConfig) -> None:
    """Raise ConfigError if torch would reject the optimizer or scheduler arguments."""
    import inspect

    if config.plan.total_steps > MAX_TOTAL_STEPS:  # refused by the design's own validation already
        return
    opt_cls = getattr(torch.optim, config.optimizer.name, None)
    if opt_cls is None:
        raise ConfigError(
            Problem(
                "optimizer.name",
                f"must be one of {', '.join(supported_optimizers())} (torch {torch.__version__} has no "
                f"torch.optim.{config.optimizer.name})",
                config.optimizer.name,
            )
        )
    params = inspect.signature(opt_cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = [n for n in params if n not in ("self", "params", "lr")]
        for key, value in config.optimizer.kwargs.items():
            if key not in allowed:
                raise ConfigError(
                    Problem(
                        join_path(["optimizer", "kwargs", key]),
                        f"is not an argument of torch.optim.{config.optimizer.name} "
                        f"(allowed: {', '.join(allowed)})",
                        value,
                    )
                )
    _guard("optimizer.kwargs", config.optimizer.kwargs, lambda: dummy_optimizer(config))
    plan = config.plan
    if config.decay is not None:
        kwargs = decay_kwargs(config, plan)
        name = config.decay.scheduler
        if name in ("LambdaLR", "MultiplicativeLR"):
            check_expression(kwargs["lr_lambda"], expression_constants(plan), "decay.kwargs.lr_lambda")
        if name == "OneCycleLR":
            pct = kwargs.get("pct_start", 0.3)
            if float(pct * kwargs["total_steps"]) - 1 == 0:
                raise ConfigError(
                    Problem(
                        "decay.kwargs.pct_start",
                        f"must not make pct_start * total_steps exactly 1 "
                        f"(OneCycleLR's rising phase would be empty; total_steps is {kwargs['total_steps']})",
                        pct,
                    )
                )
            received = plan.decay_length
            if kwargs["total_steps"] < received:
                raise ConfigError(
                    Problem(
                        "decay.kwargs.total_steps",
                        f"must be >= {received}, the steps OneCycleLR receives",
                        kwargs["total_steps"],
                    )
                )
    _guard(
        "decay.kwargs",
        config.decay.kwargs if config.decay else None,
        lambda: LRSchedule(dummy_optimizer(config), config, plan),
    )
