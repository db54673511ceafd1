"""Acceptance: every preset's curve equals its source's PUBLISHED formula, row by row.

Hugging Face presets are compared with the lr lambdas of transformers' ``optimization.py`` (written
out in ``tests/formulas.py``), with the arguments each preset's ``source``/``note`` names and
transformers' Trainer warmup ``ceil(T * warmup_ratio)``; the recipes with their papers' formulas as
their ``note`` states them.  No torch scheduler or engine code makes an expected value.
Tolerance: relative 1e-12 plus 1e-15 absolute (``formulas.REL``/``ABS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from formulas import (
    assert_rows,
    hf_constant_with_warmup,
    hf_cosine,
    hf_cosine_hard_restarts,
    hf_cosine_warmup_with_min_lr,
    hf_cosine_with_min_lr,
    hf_inverse_sqrt,
    hf_linear,
    hf_polynomial,
    hf_warmup_steps,
    hf_wsd,
    hf_wsd_decay,
    one_cycle,
    plateau_lrs,
    warm_restarts,
)

import schedules
from schedules.design import ScheduleConfig
from schedules.presets import PRESETS, apply_preset

LR = 0.5

#: Training sections of the base configs the presets are applied to (optimizer: AdamW, lr 0.5).
#: T = epochs * steps per epoch; for the HF presets (T - ceil(0.05 T)) is divisible by 3 (see
#: cosine_with_restarts) and no T * ratio lands on a float just above an integer.
TRAININGS: dict[str, dict[str, Any]] = {
    "T105": {"dataset_size": 105, "micro_batch_size": 1, "epochs": 1},  # S=105, w=6, T-w=99
    "T108": {"dataset_size": 54, "micro_batch_size": 1, "epochs": 2},  # S=54, w=6, T-w=102
    "T120": {"dataset_size": 60, "micro_batch_size": 1, "epochs": 2},  # plateau: eval every 2 steps
    "T180": {"dataset_size": 90, "micro_batch_size": 1, "epochs": 2},  # plateau: eval every 3 steps
    "T70": {"dataset_size": 70, "micro_batch_size": 1, "epochs": 1},  # SGDR: 7 | T
    "T84": {"dataset_size": 42, "micro_batch_size": 1, "epochs": 2},  # SGDR: 7 | T
    "T75": {"dataset_size": 75, "micro_batch_size": 1, "epochs": 1},  # SGDR: 7 does not divide T
    # Recipes that set epochs=90 keep these: S = 2 (T = 180) and S = ceil(ceil(30/4)/2) = 4 (T = 360).
    "S2": {"dataset_size": 16, "micro_batch_size": 8, "epochs": 1},
    "S4-accum2": {"dataset_size": 30, "micro_batch_size": 4, "accumulation_steps": 2, "epochs": 1},
}


def base_config(training: str) -> ScheduleConfig:
    return schedules.load_config({"optimizer": {"name": "AdamW", "lr": LR}, "training": TRAININGS[training]})


# --------------------------------------------------------------------------------------------------
# expected curves: preset name -> f(applied config, T, S) -> lr of every row


def steps_per_epoch(training: dict[str, Any]) -> int:
    """CONTRACT section 2 by hand: S = ceil(ceil(N / (b * W)) / A)."""
    rounds = training["micro_batch_size"] * training.get("world_size", 1)
    micro_batches = -(-training["dataset_size"] // rounds)
    return -(-micro_batches // training.get("accumulation_steps", 1))


def _rows(total: int, fn: Callable[[int], float]) -> list[float]:
    return [fn(k) for k in range(total)]


def expect_linear(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    return _rows(t, lambda k: LR * hf_linear(k, w, t))


def expect_cosine(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    return _rows(t, lambda k: LR * hf_cosine(k, w, t, num_cycles=0.5))


def expect_cosine_with_restarts(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    assert (t - w) % 3 == 0, "pick a T where torch's whole-step cycles can equal HF's"
    return _rows(t, lambda k: LR * hf_cosine_hard_restarts(k, w, t, num_cycles=3))


def expect_polynomial(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    # lr_end=0 (the note: PolynomialLR decays to 0), power=1; lr_init is the optimizer's lr.
    return _rows(t, lambda k: LR * hf_polynomial(k, w, t, lr_init=LR, lr_end=0.0, power=1.0))


def expect_constant_with_warmup(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    return _rows(t, lambda k: LR * hf_constant_with_warmup(k, w))


def expect_inverse_sqrt(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    return _rows(t, lambda k: LR * hf_inverse_sqrt(k, w, timescale=w))


def expect_wsd(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    stable = math.ceil(t * 0.75)
    decay = t - w - stable
    return _rows(t, lambda k: LR * hf_wsd(k, w, stable, decay, min_lr_ratio=0.0, num_cycles=0.5))


def expect_wsd_shape(shape: str) -> Callable[[ScheduleConfig, int, int], list[float]]:
    def expect(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
        w, decay = hf_warmup_steps(t, 0.05), math.ceil(t * 0.2)
        return _rows(t, lambda k: LR * hf_wsd_decay(k, w, t - w - decay, decay, shape))

    return expect


def expect_cosine_warmup_with_min_lr(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    return _rows(t, lambda k: LR * hf_cosine_warmup_with_min_lr(k, w, t, min_lr_rate=0.1))


def expect_cosine_with_min_lr(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    w = hf_warmup_steps(t, 0.05)
    return _rows(t, lambda k: LR * hf_cosine_with_min_lr(k, w, t, min_lr_rate=0.1))


def synthetic_metric(cfg: ScheduleConfig, count: int) -> list[float]:
    """SyntheticMetric's documented model: evaluation i gives floor + (start - floor) *
    0.5 ** (min(i, plateau_from) / half_life) + drift * max(0, i - plateau_from) + noise * z_i, z_i
    standard normal draws of numpy.random.default_rng(seed)."""
    m = cfg.plateau.metric.synthetic
    z = np.random.default_rng(m.seed).standard_normal(count)
    out = []
    for i in range(count):
        stall = i if m.plateau_from is None else min(i, m.plateau_from)
        past = 0 if m.plateau_from is None else max(0, i - m.plateau_from)
        out.append(
            m.floor + (m.start - m.floor) * 0.5 ** (stall / m.half_life) + m.drift * past + m.noise * z[i]
        )
    return out


def expect_reduce_lr_on_plateau(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    # torch ReduceLROnPlateau's defaults (the source names them), applied to the synthetic metric,
    # evaluated every `eval_every` steps; evaluation i follows step (i + 1) * E - 1 and its reduction
    # shows from row (i + 1) * E on.
    every = cfg.plateau.eval_every
    assert isinstance(every, int)
    evaluations = t // every
    lrs = plateau_lrs(synthetic_metric(cfg, evaluations), LR)
    assert sum(1 for a, b in zip([LR, *lrs], lrs, strict=False) if b < a) >= 2, "want reductions to check"
    return _rows(t, lambda k: LR if k < every else lrs[k // every - 1])


def expect_goyal_imagenet(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    # Goyal et al. 2017: lr 0.1 (batch 256 reference), gradual warmup over the first 5 epochs from
    # 0.1x, linear per iteration; then x0.1 at epochs 30, 60 and 80.
    w = 5 * s
    peak = 0.1

    def lr(k: int) -> float:
        if k < w:
            return peak * (0.1 + 0.9 * k / w)
        epoch = k // s
        return peak * 0.1 ** sum(1 for m in (30, 60, 80) if epoch >= m)

    return _rows(t, lr)


def expect_resnet_step(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    # He et al. 2016: lr 0.1, divided by 10 every 30 epochs.
    return _rows(t, lambda k: 0.1 * 0.1 ** ((k // s) // 30))


def expect_sgdr(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    # Loshchilov & Hutter 2017: eta_min + (eta_max - eta_min)/2 (1 + cos(pi T_cur / T_i)), T_i doubling
    # from T_0; the note: T_0 = ceil(total / 7) (three cycles of 1, 2, 4 parts), eta_min 0.
    return _rows(t, lambda k: warm_restarts(k, LR, math.ceil(t / 7), 2, 0.0))


def expect_one_cycle(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    # torch OneCycleLR defaults over all T steps: max_lr = lr, pct_start 0.3, cos, div 25, final 1e4.
    return _rows(t, lambda k: one_cycle(k, LR, t, 0.3, "cos", 25.0, 1e4))


def expect_gpt3_cosine(cfg: ScheduleConfig, t: int, s: int) -> list[float]:
    # Brown et al. 2020: linear warmup (1% of the run here), cosine decay to 10% of the peak.
    w = hf_warmup_steps(t, 0.01)

    def lr(k: int) -> float:
        if k < w:
            return LR * k / w
        return 0.1 * LR + 0.9 * LR * 0.5 * (1 + math.cos(math.pi * (k - w) / (t - w)))

    return _rows(t, lr)


EXPECTED: dict[str, Callable[[ScheduleConfig, int, int], list[float]]] = {
    "linear": expect_linear,
    "cosine": expect_cosine,
    "cosine_with_restarts": expect_cosine_with_restarts,
    "polynomial": expect_polynomial,
    "constant_with_warmup": expect_constant_with_warmup,
    "inverse_sqrt": expect_inverse_sqrt,
    "warmup_stable_decay": expect_wsd,
    "cosine_with_min_lr": expect_cosine_with_min_lr,
    "wsd_linear": expect_wsd_shape("linear"),
    "wsd_cosine": expect_wsd_shape("cosine"),
    "wsd_1-sqrt": expect_wsd_shape("1-sqrt"),
    "cosine_warmup_with_min_lr": expect_cosine_warmup_with_min_lr,
    "reduce_lr_on_plateau": expect_reduce_lr_on_plateau,
    "goyal_imagenet": expect_goyal_imagenet,
    "resnet_step": expect_resnet_step,
    "sgdr": expect_sgdr,
    "one_cycle": expect_one_cycle,
    "gpt3_cosine": expect_gpt3_cosine,
    # Bergsma et al. 2025: eta_t = eta_max (T - t) / (T - w) after a linear warmup from 0, i.e. HF's linear
    "d2z": expect_linear,
}

#: Base trainings per preset (default: the two HF sizes).
SIZES: dict[str, list[str]] = {
    "reduce_lr_on_plateau": ["T120", "T180"],
    "goyal_imagenet": ["S2", "S4-accum2"],
    "resnet_step": ["S2", "S4-accum2"],
    "sgdr": ["T70", "T84", "T75"],
}


def _params() -> list[Any]:
    out = []
    for name in PRESETS:
        for size in SIZES.get(name, ["T105", "T108"]):
            out.append(pytest.param(name, size, id=f"{name}-{size}"))
    return out


def test_every_preset_has_a_formula() -> None:
    assert set(EXPECTED) == set(PRESETS)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_has_one_line_source(name: str) -> None:
    source = PRESETS[name].source
    assert isinstance(source, str) and source.strip(), f"{name}: empty source"
    assert "\n" not in source, f"{name}: source must be one line"
    assert PRESETS[name].note.strip(), f"{name}: empty note"


@pytest.mark.parametrize(("name", "training"), _params())
def test_preset_matches_published_formula(name: str, training: str) -> None:
    cfg = apply_preset(name, base_config(training))
    s = steps_per_epoch(TRAININGS[training])
    t = cfg.training.epochs * s  # the recipes set their papers' epochs
    frame = schedules.lr_curve(cfg)
    assert len(frame) == t == schedules.make_plan(cfg).total_steps
    assert_rows(frame["lr"].to_numpy(), EXPECTED[name](cfg, t, s), label=f"{name} lr")


def test_plateau_preset_uses_torch_defaults() -> None:
    p = apply_preset("reduce_lr_on_plateau", base_config("T120")).plateau
    assert p is not None
    assert (p.mode, p.factor, p.patience, p.threshold, p.threshold_mode, p.cooldown, p.min_lr, p.eps) == (
        "min",
        0.1,
        10,
        1e-4,
        "rel",
        0,
        0.0,
        1e-8,
    )


@pytest.mark.parametrize(
    ("name", "optimizer", "lr", "kwargs", "epochs"),
    [
        pytest.param(
            "goyal_imagenet", "SGD", 0.1, {"momentum": 0.9, "weight_decay": 1e-4}, 90, id="goyal_imagenet"
        ),
        pytest.param(
            "resnet_step", "SGD", 0.1, {"momentum": 0.9, "weight_decay": 1e-4}, 90, id="resnet_step"
        ),
        pytest.param(
            "gpt3_cosine",
            "AdamW",
            LR,
            {"betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1},
            1,
            id="gpt3_cosine",
        ),
    ],
)
def test_recipe_hyperparameters(
    name: str, optimizer: str, lr: float, kwargs: dict[str, Any], epochs: int
) -> None:
    cfg = apply_preset(name, base_config("T105"))
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.kwargs) == (optimizer, lr, kwargs)
    assert cfg.training.epochs == epochs


def test_d2z_ends_at_zero_and_is_named_as_in_the_paper() -> None:
    """D2Z over T = 105 (warmup ceil(0.05 x 105) = 6): row k >= 6 is lr (105 - k) / 99 by hand, so the
    last row is lr / 99 and the lr after it would be 0; apply_preset also takes the paper's "D2Z"."""
    cfg = apply_preset("D2Z", base_config("T105"))
    lr = schedules.lr_curve(cfg)["lr"].to_numpy()
    assert cfg.name == "D2Z: linear decay to zero" and len(lr) == 105
    assert lr[6] == pytest.approx(LR) and lr[-1] == pytest.approx(LR / 99, rel=1e-12)
    assert "Bergsma et al. 2025" in PRESETS["d2z"].source
