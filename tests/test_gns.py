"""Gradient noise scale from the live run's accumulation windows (McCandlish et al. 2018; issue 14).

The acceptance problem: the live run's least-squares model (``linear``: Linear(16, 1) on
``x ~ N(0, I_16)``, ``y = x . w* + N(0, 0.1^2)``, loss = summed squared error) at a fixed point (lr
1e-9, so the weights do not move).  With ``z = (x, 1)``, ``delta = w - w*``, bias ``c`` and noise
variance ``s2``, the per-sample gradient is ``2 r z`` with ``r = x . delta + c - eps``, so

    G = 2 (delta, c),  |G|^2 = 4 (|delta|^2 + c^2)
    tr(Sigma) = E|g|^2 - |G|^2 = 4 ((d + 2) |delta|^2 + d c^2 + (d + 1) s2)      (d = 16)

and B_simple = tr(Sigma) / |G|^2 is known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from schedules.train.data import _true_weights
from schedules.train.gns import NoiseScale, compare_sentence
from schedules.train.loop import train

D, NOISE_VAR = 16, 0.1**2


def closed_form(training) -> float:
    layer = training.setup.model.layers[0]
    w = layer.weight.detach().double().numpy()[0]
    c = float(layer.bias.detach())
    delta = w - _true_weights()
    d2 = float(delta @ delta)
    return ((D + 2) * d2 + D * c * c + (D + 1) * NOISE_VAR) / (d2 + c * c)


@pytest.mark.parametrize("seed", [0, 1])
def test_noise_scale_matches_the_closed_form_on_linear_regression(seed: int) -> None:
    cfg = {
        "optimizer": {"name": "SGD", "lr": 1e-9},
        "training": {
            "dataset_size": 50_000,
            "micro_batch_size": 16,
            "accumulation_steps": 4,
            "max_steps": 500,
        },
    }
    run = train(cfg, model="linear", device="cpu", seed=seed)
    want = closed_form(run)
    assert 15 < want < 25  # the problem is not degenerate
    records = list(run)
    est = np.array([r.noise_scale for r in records])
    assert np.isfinite(est).all()
    # After a few hundred windows the smoothed estimate stays within 10% of the closed form.
    rel = np.abs(est[299:] / want - 1)
    assert rel.max() < 0.10, (want, est[299:].min(), est[299:].max())
    assert closed_form(run) == pytest.approx(want, rel=1e-6)  # the point did not move


def test_no_accumulation_records_nan() -> None:
    cfg = {
        "optimizer": {"name": "SGD", "lr": 0.01},
        "training": {"dataset_size": 640, "micro_batch_size": 64, "max_steps": 5},
    }
    run = train(cfg, model="linear", device="cpu")
    frame = run.frame(list(run))
    assert "noise_scale" in frame.columns and frame["noise_scale"].isna().all()


def test_estimator_formulas_by_hand() -> None:
    """|G_b|^2 = 5 at b = 4 and |G_B|^2 = 2 at B = 16: tr = 3 / (1/4 - 1/16) = 16,
    |G|^2 = 2 - 16/16 = 1, so B_simple = 16; a second window averages (bias-corrected EMA)."""
    n = NoiseScale(beta=0.5)
    assert math.isnan(n.value)
    n.update(5.0, 4, 2.0, 16)
    assert (n.trace, n.grad_sq, n.value) == pytest.approx((16.0, 1.0, 16.0))
    n.update(2.0, 4, 1.25, 16)  # tr = 0.75 / (3/16) = 4, |G|^2 = 1.25 - 0.25 = 1
    # EMA with beta 0.5 over (16, 4): (0.25 * 16 + 0.5 * 4) / 0.75 = 8
    assert (n.trace, n.grad_sq, n.value) == pytest.approx((8.0, 1.0, 8.0))


def test_compare_sentence() -> None:
    assert "well below" in compare_sentence(1000.0, 64)
    assert "close to it" in compare_sentence(50.0, 64)
    assert "above it" in compare_sentence(10.0, 64) and "McCandlish et al. 2018" in compare_sentence(10.0, 64)
    assert compare_sentence(math.nan, 64).startswith("No gradient noise scale yet")


@pytest.mark.parametrize("sizes", [(8, 8, 8, 8), (16, 16, 5), (3,) * 20 + (2, 1)])
def test_window_noise_equals_per_micro_batch_gradients_computed_one_by_one(sizes: tuple[int, ...]) -> None:
    """WindowNoise reads each micro-batch's gradient from the differences of the accumulated .grad
    (a flat buffer the gradients become views of). The same window done by hand: each micro-batch's
    mean gradient g_j from its own backward, G_B from the whole window; with beta 0 the estimate is
    the window's own tr(Sigma) / |G|^2 (formulas in schedules/train/gns.py)."""
    import torch

    from schedules.train.gns import WindowNoise

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    x, y = torch.randn(sum(sizes), 6, dtype=torch.float64), torch.randint(0, 3, (sum(sizes),))
    big = sum(sizes)

    def loss_sum(idx):
        return torch.nn.functional.cross_entropy(net(x[idx]), y[idx], reduction="sum")

    cuts = np.cumsum((0, *sizes))
    windows = [torch.arange(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    by_hand = []
    for idx in windows:
        net.zero_grad(set_to_none=True)
        (loss_sum(idx) / len(idx)).backward()
        by_hand.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]).clone())
    net.zero_grad(set_to_none=True)
    (loss_sum(torch.arange(big)) / big).backward()
    g_big = torch.cat([p.grad.reshape(-1) for p in net.parameters()]).clone()
    small_sq = float(sum(g @ g for g in by_hand)) / len(sizes)
    b_small = len(sizes) / sum(1 / b for b in sizes)
    trace = (small_sq - float(g_big @ g_big)) / (1 / b_small - 1 / big)
    want = trace / (float(g_big @ g_big) - trace / big)

    meter = WindowNoise(list(net.parameters()), beta=0.0)
    for window in range(2):  # a second window reuses the buffer
        net.zero_grad(set_to_none=True)
        for j, idx in enumerate(windows):
            (loss_sum(idx) / big).backward()
            meter.micro_batch(len(idx), big, j == len(windows) - 1)
        accumulated = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        torch.testing.assert_close(accumulated, g_big, rtol=1e-12, atol=1e-14)  # the views hold G_B
        # the second window lets the meter take |G_B| from its own snapshots
        got = meter.end_window(float(accumulated.norm()) if window == 0 else None, big)
        assert got == pytest.approx(want, rel=1e-9), window
    assert 0 < want < 1e6
