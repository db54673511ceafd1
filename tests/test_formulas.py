"""Acceptance: every curve equals the lr computed by hand from the documented formulas.

Expected values come from ``tests/formulas.py`` (closed forms written from the torch docstrings,
CONTRACT.md and ``build_scheduler``'s stepping rule), never from torch schedulers or the engine.  Row
``k`` is the lr optimizer step ``k`` uses: warmup rows ``k < w`` are ``lr * (s + (1 - s) * k / w)``;
decay rows use ``j = k - w`` (``interval="step"``) or the epoch ends at or after ``w`` before ``k``
(``interval="epoch"``).  Left-out lengths default to the decay length ``n`` (``T - w`` steps, or the
epoch ends after warmup); OneCycleLR's ``total_steps`` defaults to ``T`` (to ``n`` per epoch).

Tolerance: relative 1e-12 plus 1e-15 absolute for every scheduler (see ``formulas.REL``/``ABS``); the
largest relative error seen is ~1e-15 (recursive forms), so no scheduler needs a looser bound.

Two combinations follow torch's own composition rules rather than "warmup, then the decay's formula"
(see ``REJECTED_WITH_WARMUP`` and the MultiplicativeLR hand-over below); both are documented in
``build_scheduler``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from formulas import (
    assert_rows,
    constant,
    cosine,
    cyclic,
    epoch_ends_between,
    expected_curve,
    exponential,
    linear,
    multiplicative,
    multistep,
    one_cycle,
    polynomial,
    step_decay,
    warm_restarts,
    warmup_factor,
)

import schedules

# A run of N=100 samples, micro-batch 10, no accumulation: S = 10 steps per epoch, 4 epochs, T = 40.
LR = 0.1
DATASET, BATCH, EPOCHS = 100, 10, 4
TOTAL = 40
WARMUP = 8

#: lr(j, lr, n, T) of a decay: ``j`` its own step count, ``lr`` the group's base lr, ``n`` the default
#: decay length, ``T`` the total steps.
DecayLr = Callable[[int, float, int, int], float]


@dataclass(frozen=True)
class Case:
    id: str
    scheduler: str
    kwargs: dict[str, Any]
    lr: DecayLr


def _factor(fn: Callable[[int, int], float]) -> DecayLr:
    """A decay given as a factor on the base lr: ``lr * fn(j, n)``."""
    return lambda j, lr, n, total: lr * fn(j, n)


# Two combinations are not the plain "warmup then decay" formula, by design (see build_scheduler):
# - MultiplicativeLR after a per-step warmup: at the SequentialLR milestone it has no closed form and
#   continues from the lr it is handed, the last warmup row, multiplying by f(0) too:
#   row w + j = lr * (s + (1 - s) * (w - 1) / w) * f(0) * f(1) * ... * f(j).
# - OneCycleLR with a warmup: rejected (its constructor rewrites initial_lr; it has its own warmup).
REJECTED_WITH_WARMUP = {"OneCycleLR"}


#: MultiplicativeLR cases: their per-step factor f(step).
MULTIPLICATIVE_FACTORS: dict[str, Callable[[int], float]] = {
    "MultiplicativeLR-constant": lambda i: 0.95,
    "MultiplicativeLR-of-step": lambda i: _ramp_down(i),
}


def _sqrt_decay(step: int) -> float:
    return 1 / math.sqrt(1 + step)


def _ramp_down(step: int) -> float:
    return 1 - 0.02 * min(step, 10)


CASES: list[Case] = [
    # CosineAnnealingLR: eta_min + (lr - eta_min) (1 + cos(pi j / T_max)) / 2
    Case("CosineAnnealingLR-default", "CosineAnnealingLR", {}, lambda j, lr, n, t: cosine(j, lr, n)),
    Case(
        "CosineAnnealingLR-Tmax20-etamin",  # runs past T_max: the formula is periodic
        "CosineAnnealingLR",
        {"T_max": 20, "eta_min": 0.001},
        lambda j, lr, n, t: cosine(j, lr, 20, 0.001),
    ),
    # CosineAnnealingWarmRestarts: restarts every T_0 * T_mult**i steps
    Case(
        "CosineAnnealingWarmRestarts-default",
        "CosineAnnealingWarmRestarts",
        {},
        lambda j, lr, n, t: warm_restarts(j, lr, n, 1),
    ),
    Case(
        "CosineAnnealingWarmRestarts-T0_10-Tmult1",
        "CosineAnnealingWarmRestarts",
        {"T_0": 10, "T_mult": 1, "eta_min": 0.001},
        lambda j, lr, n, t: warm_restarts(j, lr, 10, 1, 0.001),
    ),
    Case(
        "CosineAnnealingWarmRestarts-T0_4-Tmult2",
        "CosineAnnealingWarmRestarts",
        {"T_0": 4, "T_mult": 2},
        lambda j, lr, n, t: warm_restarts(j, lr, 4, 2),
    ),
    # LinearLR: start + (end - start) min(j, total) / total
    Case("LinearLR-default", "LinearLR", {}, _factor(lambda j, n: linear(j, 1.0, 0.0, n))),
    Case(
        "LinearLR-explicit",
        "LinearLR",
        {"start_factor": 0.5, "end_factor": 0.05, "total_iters": 20},
        _factor(lambda j, n: linear(j, 0.5, 0.05, 20)),
    ),
    # PolynomialLR: (1 - min(j, total) / total) ** power
    Case("PolynomialLR-default-power1", "PolynomialLR", {}, _factor(lambda j, n: polynomial(j, n, 1.0))),
    Case(
        "PolynomialLR-power2",
        "PolynomialLR",
        {"total_iters": 20, "power": 2.0},
        _factor(lambda j, n: polynomial(j, 20, 2.0)),
    ),
    # StepLR: gamma ** (j // step_size); default step_size a third of n, gamma 0.1
    Case("StepLR-default", "StepLR", {}, _factor(lambda j, n: step_decay(j, n // 3, 0.1))),
    Case(
        "StepLR-explicit",
        "StepLR",
        {"step_size": 5, "gamma": 0.5},
        _factor(lambda j, n: step_decay(j, 5, 0.5)),
    ),
    # MultiStepLR: gamma ** #(milestones <= j); default milestones n/2 and 3n/4
    Case(
        "MultiStepLR-default",
        "MultiStepLR",
        {},
        _factor(lambda j, n: multistep(j, [n // 2, 3 * n // 4], 0.1)),
    ),
    Case(
        "MultiStepLR-explicit",
        "MultiStepLR",
        {"milestones": [3, 10, 25], "gamma": 0.3},
        _factor(lambda j, n: multistep(j, [3, 10, 25], 0.3)),
    ),
    # ConstantLR: factor while j < total_iters, then 1; default factor 1/3 over n
    Case(
        "ConstantLR-default",
        "ConstantLR",
        {},
        _factor(lambda j, n: constant(j, 1 / 3, n)),
    ),
    Case(
        "ConstantLR-explicit",
        "ConstantLR",
        {"factor": 0.5, "total_iters": 10},
        _factor(lambda j, n: constant(j, 0.5, 10)),
    ),
    # ExponentialLR: gamma ** j; default gamma reaches 1% at j = n
    Case(
        "ExponentialLR-default",
        "ExponentialLR",
        {},
        _factor(lambda j, n: exponential(j, 0.01 ** (1 / n))),
    ),
    Case(
        "ExponentialLR-explicit", "ExponentialLR", {"gamma": 0.9}, _factor(lambda j, n: exponential(j, 0.9))
    ),
    # CyclicLR: triangles between base_lr and max_lr (absolute); default lr/10 .. lr, up = n // 4
    Case(
        "CyclicLR-triangular-default",
        "CyclicLR",
        {},
        lambda j, lr, n, t: cyclic(j, lr / 10, lr, n // 4, n // 4),
    ),
    Case(
        "CyclicLR-triangular-explicit",
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 5, "step_size_down": 3, "mode": "triangular"},
        lambda j, lr, n, t: cyclic(j, 0.01, 0.2, 5, 3),
    ),
    Case(
        "CyclicLR-triangular2",
        "CyclicLR",
        {"base_lr": 0.02, "max_lr": 0.3, "step_size_up": 4, "step_size_down": 6, "mode": "triangular2"},
        lambda j, lr, n, t: cyclic(j, 0.02, 0.3, 4, 6, "triangular2"),
    ),
    # OneCycleLR: default max_lr = the group's lr, total_steps = T (the whole run), cos, pct 0.3
    Case(
        "OneCycleLR-cos-default",
        "OneCycleLR",
        {},
        lambda j, lr, n, t: one_cycle(j, lr, t),
    ),
    Case(
        "OneCycleLR-linear-explicit",
        "OneCycleLR",
        {
            "max_lr": 0.5,
            "total_steps": 45,
            "pct_start": 0.25,
            "anneal_strategy": "linear",
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
        lambda j, lr, n, t: one_cycle(j, 0.5, 45, 0.25, "linear", 10.0, 100.0),
    ),
    # LambdaLR: lr * f(j), f an expression of step (= j), n, total_steps, warmup_steps
    Case(
        "LambdaLR-inverse-sqrt",
        "LambdaLR",
        {"lr_lambda": "1 / sqrt(1 + step)"},
        _factor(lambda j, n: _sqrt_decay(j)),
    ),
    Case(
        "LambdaLR-cosine-of-n",
        "LambdaLR",
        {"lr_lambda": "0.5 * (1 + cos(pi * step / n))"},
        _factor(lambda j, n: 0.5 * (1 + math.cos(math.pi * j / n))),
    ),
    # MultiplicativeLR: lr * f(1) * ... * f(j)
    Case(
        "MultiplicativeLR-constant",
        "MultiplicativeLR",
        {"lr_lambda": "0.95"},
        _factor(lambda j, n: multiplicative(j, lambda i: 0.95)),
    ),
    Case(
        "MultiplicativeLR-of-step",
        "MultiplicativeLR",
        {"lr_lambda": "1 - 0.02 * min(step, 10)"},
        _factor(lambda j, n: multiplicative(j, _ramp_down)),
    ),
]

#: id -> (warmup steps, start_factor); the warmup from 0 is a LambdaLR, from s > 0 a LinearLR.
WARMUPS = {"none": (0, 1.0), "from0": (WARMUP, 0.0), "from0.1": (WARMUP, 0.1)}


def make_config(
    scheduler: str | None,
    kwargs: dict[str, Any] | None = None,
    warmup: int = 0,
    start: float = 0.0,
    *,
    lr: float = LR,
    training: dict[str, Any] | None = None,
    interval: str = "step",
    groups: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    optimizer: dict[str, Any] = {"name": "AdamW", "lr": lr}
    if groups is not None:
        optimizer["param_groups"] = groups
    return {
        "format": "lr-schedule/v1",
        "optimizer": optimizer,
        "training": training or {"dataset_size": DATASET, "micro_batch_size": BATCH, "epochs": EPOCHS},
        "warmup": {"steps": warmup, "start_factor": start} if warmup else None,
        "decay": None
        if scheduler is None
        else {"scheduler": scheduler, "kwargs": kwargs or {}, "interval": interval},
    }


def _params(interval: str) -> list[Any]:
    out = []
    for case in CASES:
        for wid in WARMUPS:
            out.append(pytest.param(case, wid, id=f"{case.id}-warmup_{wid}"))
    return out


# --------------------------------------------------------------------------------------------------
# 1. warmup + every decay scheduler, per optimizer step


def test_cases_cover_every_decay_scheduler() -> None:
    from schedules.design import DECAY_KWARGS

    assert {c.scheduler for c in CASES} == set(DECAY_KWARGS)


@pytest.mark.parametrize(("case", "warmup_id"), _params("step"))
def test_warmup_then_decay_matches_formula(case: Case, warmup_id: str) -> None:
    w, s = WARMUPS[warmup_id]
    cfg = make_config(case.scheduler, case.kwargs, w, s)
    if w and case.scheduler in REJECTED_WITH_WARMUP:
        with pytest.raises(schedules.ConfigError, match="warmup: must be null with OneCycleLR"):
            schedules.load_config(cfg)
        return
    frame = schedules.lr_curve(cfg)
    n = TOTAL - w  # default decay length: the steps remaining after warmup
    decay = lambda j: case.lr(j, LR, n, TOTAL)  # noqa: E731
    if w and case.scheduler == "MultiplicativeLR":
        f = MULTIPLICATIVE_FACTORS[case.id]
        handed = warmup_factor(w - 1, w, s) * LR  # the last warmup row, then times f(0) * ... * f(j)
        decay = lambda j: handed * math.prod(f(i) for i in range(j + 1))  # noqa: E731
    expected = expected_curve(LR, TOTAL, w, s, decay)
    assert_rows(frame["lr"].to_numpy(), expected)


def test_row_count_epoch_and_samples_columns() -> None:
    # N=100, b=8, A=3, W=2: rounds of b*W = 16 samples, L = ceil(100/16) = 7 micro-batches per epoch,
    # S = ceil(7/3) = 3 steps (windows of 3, 3, 1 micro-batches), 3 epochs: T = 9.
    training = {
        "dataset_size": 100,
        "micro_batch_size": 8,
        "accumulation_steps": 3,
        "world_size": 2,
        "epochs": 3,
    }
    cfg = make_config("LinearLR", {}, 2, 0.0, training=training)
    plan = schedules.make_plan(schedules.load_config(cfg))
    frame = schedules.lr_curve(cfg)
    assert plan.total_steps == 9
    assert len(frame) == plan.total_steps
    assert list(frame.columns) == ["step", "epoch", "samples", "lr"]
    assert frame["step"].tolist() == list(range(9))
    assert frame["epoch"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # samples through step k = epoch * N + min((s + 1) * A * b * W, N), s = step within epoch
    assert frame["samples"].tolist() == [48, 96, 100, 148, 196, 200, 248, 296, 300]
    expected = expected_curve(LR, 9, 2, 0.0, lambda j: LR * linear(j, 1.0, 0.0, 7))
    assert_rows(frame["lr"].to_numpy(), expected)


# --------------------------------------------------------------------------------------------------
# 2. interval "epoch": warmup per optimizer step, decay after the last step of each epoch >= warmup

# N=100, b=10, A=3: L = 10 micro-batches, S = ceil(10/3) = 4 steps per epoch (epoch ends at k = 3, 7,
# 11, ...), 10 epochs: T = 40.
EPOCH_TRAINING = {"dataset_size": 100, "micro_batch_size": 10, "accumulation_steps": 3, "epochs": 10}
EPOCH_S, EPOCH_T = 4, 40


EPOCH_WARMUP = 6  # not a multiple of S: the epoch end k=3 falls inside warmup and is not a decay step


def _epoch_curve_check(scheduler: str, kwargs: dict[str, Any], w: int, s: float, lr_fn: DecayLr) -> None:
    cfg = make_config(scheduler, kwargs, w, s, training=EPOCH_TRAINING, interval="epoch")
    plan = schedules.make_plan(schedules.load_config(cfg))
    n = epoch_ends_between(w, EPOCH_T, EPOCH_S)  # default lengths: epoch ends at or after warmup end
    assert (plan.steps_per_epoch, plan.total_steps, plan.decay_length) == (EPOCH_S, EPOCH_T, n)
    # OneCycleLR's total_steps defaults to the total in the decay's unit: here the n epoch ends.
    expected = expected_curve(LR, EPOCH_T, w, s, lambda m: lr_fn(m, LR, n, n), EPOCH_S)
    assert_rows(schedules.lr_curve(cfg)["lr"].to_numpy(), expected)


def _epoch_params() -> list[Any]:
    out = []
    for case in CASES:
        for wid, (w, s) in WARMUPS.items():
            warmup = (EPOCH_WARMUP if w else 0, s)
            out.append(pytest.param(case, warmup, id=f"{case.id}-warmup_{wid}"))
    return out


@pytest.mark.parametrize(("case", "warmup"), _epoch_params())
def test_every_decay_per_epoch_matches_formula(case: Case, warmup: tuple[int, float]) -> None:
    if warmup[0] and case.scheduler in REJECTED_WITH_WARMUP:
        cfg = make_config(case.scheduler, case.kwargs, *warmup, training=EPOCH_TRAINING, interval="epoch")
        with pytest.raises(schedules.ConfigError, match="warmup: must be null with OneCycleLR"):
            schedules.load_config(cfg)
        return
    _epoch_curve_check(case.scheduler, case.kwargs, *warmup, case.lr)


@dataclass(frozen=True)
class EpochCase:
    id: str
    scheduler: str
    kwargs: dict[str, Any]
    warmup: int
    start: float
    lr: DecayLr  # lr(m, lr, n, T): m = epoch ends seen by the decay


EPOCH_CASES = [
    EpochCase(
        "StepLR-no-warmup",
        "StepLR",
        {"step_size": 3, "gamma": 0.5},
        0,
        0.0,
        _factor(lambda m, n: step_decay(m, 3, 0.5)),
    ),
    EpochCase(
        "StepLR-warmup6-from0",  # epoch end k=3 is inside warmup: the decay counts k = 7, 11, ...
        "StepLR",
        {"step_size": 3, "gamma": 0.5},
        6,
        0.0,
        _factor(lambda m, n: step_decay(m, 3, 0.5)),
    ),
    EpochCase(
        "StepLR-default-warmup6-from0.1",  # n = 9 epoch ends after warmup: step_size 3
        "StepLR",
        {},
        6,
        0.1,
        _factor(lambda m, n: step_decay(m, n // 3, 0.1)),
    ),
    EpochCase(
        "StepLR-warmup8-ends-at-epoch-end",  # k=7 ends warmup AND epoch 1: not a decay step
        "StepLR",
        {"step_size": 2, "gamma": 0.5},
        8,
        0.0,
        _factor(lambda m, n: step_decay(m, 2, 0.5)),
    ),
    EpochCase(
        "CosineAnnealingLR-default-no-warmup",  # T_max = 10 epoch ends
        "CosineAnnealingLR",
        {},
        0,
        0.0,
        lambda m, lr, n, t: cosine(m, lr, n),
    ),
    EpochCase(
        "CosineAnnealingLR-default-warmup6-from0",  # T_max = 9
        "CosineAnnealingLR",
        {"eta_min": 0.002},
        6,
        0.0,
        lambda m, lr, n, t: cosine(m, lr, n, 0.002),
    ),
    EpochCase(
        "CosineAnnealingLR-Tmax5-warmup5-from0.1",  # runs past T_max (periodic formula)
        "CosineAnnealingLR",
        {"T_max": 5},
        5,
        0.1,
        lambda m, lr, n, t: cosine(m, lr, 5),
    ),
    EpochCase(
        "ConstantLR-total-reached-warmup6-from0",
        "ConstantLR",
        {"factor": 0.5, "total_iters": 3},
        6,
        0.0,
        # rows 6-15 (decay steps 0-2) are lr * 0.5; from row 16 (after the 3rd epoch end) lr.
        _factor(lambda m, n: constant(m, 0.5, 3)),
    ),
]


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id) for c in EPOCH_CASES],
)
def test_epoch_interval_matches_formula(case: EpochCase) -> None:
    _epoch_curve_check(case.scheduler, case.kwargs, case.warmup, case.start, case.lr)


# --------------------------------------------------------------------------------------------------
# 3. two param groups: lr/<name> = lr * lr_scale * factor; eta_min, CyclicLR bounds are absolute

GROUPS = [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}]
GROUP_LR = 1.0


@dataclass(frozen=True)
class GroupCase:
    id: str
    scheduler: str
    kwargs: dict[str, Any]
    warmup: int
    start: float
    lr: DecayLr  # per group: lr is that group's base lr


GROUP_CASES = [
    GroupCase(
        "CosineAnnealingLR-absolute-eta_min",  # same eta_min for both groups
        "CosineAnnealingLR",
        {"eta_min": 0.001},
        5,
        0.0,
        lambda j, lr, n, t: cosine(j, lr, n, 0.001),
    ),
    GroupCase(
        "StepLR",
        "StepLR",
        {"step_size": 7, "gamma": 0.5},
        5,
        0.1,
        _factor(lambda j, n: step_decay(j, 7, 0.5)),
    ),
    GroupCase(
        "LinearLR-default",
        "LinearLR",
        {},
        4,
        0.0,
        _factor(lambda j, n: linear(j, 1.0, 0.0, n)),
    ),
    GroupCase(
        "CyclicLR-default-bounds-per-group",  # base_lr = group lr / 10, max_lr = group lr
        "CyclicLR",
        {},
        5,
        0.0,
        lambda j, lr, n, t: cyclic(j, lr / 10, lr, n // 4, n // 4),
    ),
    GroupCase(
        "OneCycleLR-default-max_lr-per-group",
        "OneCycleLR",
        {},
        0,
        0.0,
        lambda j, lr, n, t: one_cycle(j, lr, t),
    ),
    GroupCase(
        "CosineAnnealingWarmRestarts-absolute-eta_min",
        "CosineAnnealingWarmRestarts",
        {"T_0": 7, "T_mult": 2, "eta_min": 0.005},
        5,
        0.0,
        lambda j, lr, n, t: warm_restarts(j, lr, 7, 2, 0.005),
    ),
]


@pytest.mark.parametrize("case", GROUP_CASES, ids=lambda c: c.id)
def test_param_groups_scale_base_lr(case: GroupCase) -> None:
    cfg = make_config(case.scheduler, case.kwargs, case.warmup, case.start, lr=GROUP_LR, groups=GROUPS)
    frame = schedules.lr_curve(cfg)
    assert list(frame.columns) == ["step", "epoch", "samples", "lr", "lr/backbone", "lr/head"]
    n = TOTAL - case.warmup
    for group in GROUPS:
        base = GROUP_LR * group["lr_scale"]
        expected = expected_curve(
            base, TOTAL, case.warmup, case.start, lambda j, base=base: case.lr(j, base, n, TOTAL)
        )
        assert_rows(frame[f"lr/{group['name']}"].to_numpy(), expected, label=f"lr/{group['name']}")
    assert frame["lr"].tolist() == frame["lr/backbone"].tolist()


# --------------------------------------------------------------------------------------------------
# 4. max_steps: T = max_steps, epochs continue past `epochs`


@pytest.mark.parametrize(
    ("scheduler", "kwargs", "lr_fn"),
    [
        pytest.param("CosineAnnealingLR", {}, lambda j, n: LR * cosine(j, 1.0, n), id="CosineAnnealingLR"),
        pytest.param("LinearLR", {}, lambda j, n: LR * linear(j, 1.0, 0.0, n), id="LinearLR"),
        pytest.param(
            "OneCycleLR", {}, lambda j, n: one_cycle(j, LR, 45), id="OneCycleLR-total_steps-is-max_steps"
        ),
    ],
)
def test_max_steps_overrides_epochs(
    scheduler: str, kwargs: dict[str, Any], lr_fn: Callable[[int, int], float]
) -> None:
    # S = 10 steps per epoch, epochs 2 (20 steps) but max_steps 45: T = 45, epochs 0..4.
    training = {"dataset_size": 100, "micro_batch_size": 10, "epochs": 2, "max_steps": 45}
    w = 5 if scheduler != "OneCycleLR" else 0
    cfg = make_config(scheduler, kwargs, w, 0.0, training=training)
    frame = schedules.lr_curve(cfg)
    assert len(frame) == schedules.make_plan(schedules.load_config(cfg)).total_steps == 45
    assert frame["epoch"].tolist() == [k // 10 for k in range(45)]
    assert frame["samples"].tolist() == [(k // 10) * 100 + (k % 10 + 1) * 10 for k in range(45)]
    assert_rows(frame["lr"].to_numpy(), expected_curve(LR, 45, w, 0.0, lambda j: lr_fn(j, 45 - w)))


@pytest.mark.parametrize(
    ("scheduler", "kwargs", "lr_fn"),
    [
        pytest.param(
            "CosineAnnealingLR", {}, lambda m, n: LR * cosine(m, 1.0, n), id="CosineAnnealingLR-default"
        ),
        pytest.param(
            "StepLR", {"step_size": 1, "gamma": 0.5}, lambda m, n: LR * 0.5**m, id="StepLR-every-epoch"
        ),
    ],
)
def test_max_steps_mid_epoch_with_epoch_interval(
    scheduler: str, kwargs: dict[str, Any], lr_fn: Callable[[int, int], float]
) -> None:
    # S = 10, max_steps 45 ends mid-epoch 4: epoch ends k = 9, 19, 29, 39 (n = 4; warmup 3 from 0).
    training = {"dataset_size": 100, "micro_batch_size": 10, "epochs": 1, "max_steps": 45}
    cfg = make_config(scheduler, kwargs, 3, 0.0, training=training, interval="epoch")
    n = epoch_ends_between(3, 45, 10)
    assert n == 4 == schedules.make_plan(schedules.load_config(cfg)).decay_length
    frame = schedules.lr_curve(cfg)
    assert frame["epoch"].tolist() == [k // 10 for k in range(45)]
    assert_rows(frame["lr"].to_numpy(), expected_curve(LR, 45, 3, 0.0, lambda m: lr_fn(m, n), 10))
