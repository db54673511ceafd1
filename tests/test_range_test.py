"""LR range test: the sweep, the smoothing, the early stop and the suggestions.

The known problem: least squares on 16 standard-normal features (``model="linear"``).  The mean
squared error has Hessian ``2 I``, so plain SGD converges for lr < 1 (fastest near 0.5) and diverges
above; a sensible suggestion lies in [0.01, 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from schedules import load_config
from schedules.design import ConfigError
from schedules.train.range_test import range_test, smooth, suggest, sweep, valley_index, with_lr

LEAST_SQUARES = {
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 20000, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 1},
    "warmup": {"steps": 10},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


@pytest.fixture(scope="module")
def least_squares():
    return range_test(LEAST_SQUARES, model="linear", min_lr=1e-4, max_lr=10.0, steps=200, device="cpu")


def test_suggestions_land_in_the_known_good_range(least_squares) -> None:
    assert set(least_squares.suggestions) == {"steepest", "valley"}
    for s in least_squares.suggestions.values():
        assert 0.01 <= s.lr < 1.0, f"{s.name} suggests {s.lr}"


def test_the_sweep_is_exponential_and_stops_when_the_loss_explodes(least_squares) -> None:
    frame = least_squares.frame
    assert list(frame.columns) == ["step", "lr", "loss", "smoothed", "samples"]
    lr = frame["lr"].to_numpy()
    assert lr[0] == pytest.approx(1e-4)
    ratio = (10.0 / 1e-4) ** (1 / 199)
    np.testing.assert_allclose(lr[1:] / lr[:-1], ratio, rtol=1e-9)
    # Stopped early (SGD diverges above lr 1), on the 4x-best rule, and the last row shows why.
    assert 1.0 < lr[-1] < 10.0 and len(frame) < 200
    assert "> 4 x best" in least_squares.stop_reason
    assert frame["smoothed"].iloc[-1] > 4 * frame["smoothed"].min()
    np.testing.assert_allclose(frame["smoothed"], smooth(frame["loss"]), rtol=1e-12)
    assert frame["samples"].iloc[0] == 64  # one optimizer step = 4 micro-batches of 16


def test_accumulation_gives_the_same_sweep() -> None:
    split = {
        **LEAST_SQUARES,
        "training": {**LEAST_SQUARES["training"], "micro_batch_size": 64, "accumulation_steps": 1},
    }
    a = range_test(LEAST_SQUARES, model="linear", min_lr=1e-3, max_lr=1.0, steps=60, device="cpu")
    b = range_test(split, model="linear", min_lr=1e-3, max_lr=1.0, steps=60, device="cpu")
    rel = (a.frame["loss"] - b.frame["loss"]).abs() / a.frame["loss"]
    assert rel.max() < 1e-4


def test_smooth_is_a_bias_corrected_ema() -> None:
    assert smooth([2.0, 2.0, 2.0]).tolist() == pytest.approx([2.0, 2.0, 2.0])
    out = smooth([1.0, 3.0], beta=0.5)
    assert out.tolist() == pytest.approx([1.0, (0.25 * 1 + 0.5 * 3) / 0.75])


def test_valley_is_fastais_rule() -> None:
    # Longest decreasing run: indices 0..7 (lds 8, end 7) -> start = 7 - 8 = -1 (fastai's off-by-one),
    # sections = 8 / 3, idx = -1 + int(8 / 3) + int(8 / 6) = 2.
    losses = np.array([3.0, 2.9, 2.5, 2.0, 1.5, 1.2, 1.1, 1.0, 5.0, 9.0])
    assert valley_index(losses) == 2
    # The longest run is 4.0 > 3.0 > ... > 2.05 (indices 2..9, lds 8): start = 9 - 8 = 1, idx = 1 + 2 + 1.
    noisy = np.array([2.0, 2.5, 4.0, 3.0, 2.8, 2.6, 2.4, 2.2, 2.1, 2.05, 6.0])
    assert valley_index(noisy) == 4
    assert valley_index(np.array([1.0, 2.0, 3.0])) == 0


def test_suggest_on_a_toy_curve() -> None:
    lr = np.logspace(-4, 1, 40)
    s = 2.3 - 1.5 / (1 + np.exp(-(np.log10(lr) + 1.5) * 4))  # falls fastest at lr 10**-1.5
    s[-6:] = np.linspace(1.0, 9.0, 6)
    frame = pd.DataFrame({"step": np.arange(40), "lr": lr, "smoothed": s})
    suggestions, notes = suggest(frame, 40)
    assert notes == []
    assert suggestions["steepest"].lr == pytest.approx(10**-1.5, rel=0.4)
    assert 1e-3 < suggestions["valley"].lr < 1.0


def test_too_short_a_sweep_says_so() -> None:
    frame = pd.DataFrame({"step": range(6), "lr": np.logspace(-3, 0, 6), "smoothed": np.linspace(2, 1, 6)})
    suggestions, notes = suggest(frame, 200)
    assert suggestions == {} and "too few points" in notes[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, r"max_lr: must be > min_lr \(1\)"),
        ({"max_lr": 20.0}, r"max_lr: must be a number >= 1e-10 and <= 10"),
        ({"steps": 5}, r"steps: must be an integer >= 10 and <= 2000"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        sweep(LEAST_SQUARES, device="cpu", **kwargs)


def test_stop_ends_the_sweep() -> None:
    run = sweep(LEAST_SQUARES, device="cpu", steps=100, stop=lambda: True)
    assert list(run) == [] and run.stopped
    assert run.result().suggestions == {}


def test_with_lr_carries_a_suggestion_into_the_design() -> None:
    cfg = load_config(LEAST_SQUARES)
    new = with_lr(cfg, 0.031415)
    assert new.optimizer.lr == 0.0314
    assert new.to_dict() | {"optimizer": None} == cfg.to_dict() | {"optimizer": None}
    with pytest.raises(ConfigError, match="optimizer.lr"):
        with_lr(cfg, float("nan"))
