"""The generated training loops: exec'd on a tiny model, they must use exactly the designed lrs.

Only our own generated code is exec'd, and only here.
"""

from __future__ import annotations

import ast
import itertools

import numpy as np
import pytest

from schedules import compute_curve, load_config
from schedules.build import MetricFeed
from schedules.presets import PRESETS, apply_preset
from schedules.snippets import build_scheduler_snippet, plain_torch_snippet

SMALL = {
    "optimizer": {
        "name": "AdamW",
        "lr": 1e-3,
        "kwargs": {"weight_decay": 0.01},
        "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
    },
    # 50 samples, micro-batch 4 -> 13 micro-batches per epoch; accumulation 3 -> 5 steps (last window of 1).
    "training": {"dataset_size": 50, "micro_batch_size": 4, "accumulation_steps": 3, "epochs": 4},
}


def run_snippet(code: str, config, kind: str, namespace: dict | None = None) -> np.ndarray:
    """Exec a generated loop; the plateau metric comes from the config's own source."""
    namespace = {} if namespace is None else namespace
    if config.plateau is not None:
        code = code.replace("def evaluate() -> float:", "def _placeholder_evaluate() -> float:")
        if kind == "plain":
            feed = MetricFeed(config.plateau.metric)
            counter = itertools.count()
            namespace["evaluate"] = lambda: feed(next(counter))
        else:
            namespace["evaluate"] = lambda: None  # build_scheduler falls back to the config's metric
    exec(compile(code, f"<{kind} snippet>", "exec"), namespace)  # noqa: S102 - our own generated code
    return np.array(namespace["lr_log"])


CASES = {
    "warmup from 0 + cosine, 2 groups": {
        **SMALL,
        "warmup": {"steps": 4},
        "decay": {"scheduler": "CosineAnnealingLR"},
    },
    "start_factor warmup + hold + linear": {
        **SMALL,
        "warmup": {"ratio": 0.2, "start_factor": 0.1},
        "decay": {"scheduler": "LinearLR", "kwargs": {"end_factor": 0.05}, "hold_steps": 3},
    },
    "epoch interval multistep + warmup": {
        **SMALL,
        "warmup": {"steps": 3, "start_factor": 0.25},
        "decay": {
            "scheduler": "MultiStepLR",
            "kwargs": {"milestones": [1, 2], "gamma": 0.5},
            "interval": "epoch",
        },
    },
    "lambda expression": {
        **SMALL,
        "warmup": {"steps": 2},
        "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "exp(-step / n) * (1 + 0 * pi)"}},
    },
    "plateau with pasted values after warmup": {
        **SMALL,
        "warmup": {"steps": 2},
        "plateau": {
            "patience": 0,
            "factor": 0.5,
            "eval_every": 2,
            "metric": {"values": [3.0, 2.0, 2.0, 2.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]},
        },
    },
    "drop_last, max_steps past one epoch": {
        **SMALL,
        "training": {**SMALL["training"], "drop_last": True, "max_steps": 9},
        "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 2, "gamma": 0.5}},
    },
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("kind", ["plain", "build"])
def test_snippet_lrs_equal_the_curve(name: str, kind: str, tmp_path) -> None:
    cfg = load_config(CASES[name])
    path = tmp_path / "lr-schedule.json"
    path.write_text(cfg.to_json())
    code = plain_torch_snippet(cfg) if kind == "plain" else build_scheduler_snippet(cfg, str(path))
    got = run_snippet(code, cfg, kind)
    want = compute_curve(cfg).lrs
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_plain_snippet_every_preset(preset: str) -> None:
    base = {**SMALL, "training": {**SMALL["training"], "epochs": 3}}
    cfg = apply_preset(preset, base)
    if cfg.training.epochs > 3:  # recipes with 90 epochs: keep the loop short
        cfg = load_config({**cfg.to_dict(), "training": {**cfg.to_dict()["training"], "max_steps": 40}})
    np.testing.assert_array_equal(run_snippet(plain_torch_snippet(cfg), cfg, "plain"), compute_curve(cfg).lrs)


def test_snippet_shape() -> None:
    cfg = load_config(CASES["warmup from 0 + cosine, 2 groups"])
    plain = plain_torch_snippet(cfg)
    ast.parse(plain)
    # The canonical order, and the scheduler never inside the micro-batch accumulation.
    order = [
        plain.index(s)
        for s in (
            "loss.backward()",
            "optimizer.step()",
            "scheduler.step()",
            "optimizer.zero_grad()\n        if epoch_end:",
        )
    ]
    assert order == sorted(order)
    assert "SequentialLR(optimizer, [warmup, decay], milestones=[4])" in plain
    assert "T_max=16" in plain  # resolved: 4 epochs x 5 steps - 4 warmup
    built = build_scheduler_snippet(cfg, "my.json")
    ast.parse(built)
    assert "schedules.load_config('my.json')" in built
    assert "schedule.step()" in built


@pytest.mark.parametrize("kind", ["plain", "build"])
def test_snippets_weight_every_sample_the_same_and_print_progress(kind: str, tmp_path, capsys) -> None:
    """N=10 in micro-batches of 4 (4, 4, 2) and accumulation 3: one window per epoch holding all ten
    samples. Its logged loss is the mean over the ten samples (docs/python-api.md's loop: summed, over
    window.samples), not the mean of three micro-batch means (which over-weights the short one's two)."""
    import torch

    cfg = load_config(
        {
            "optimizer": {"name": "SGD", "lr": 1e-9},  # the model barely moves: its loss is the start's
            "training": {"dataset_size": 10, "micro_batch_size": 4, "accumulation_steps": 3, "epochs": 2},
        }
    )
    path = tmp_path / "lr-schedule.json"
    path.write_text(cfg.to_json())
    code = plain_torch_snippet(cfg) if kind == "plain" else build_scheduler_snippet(cfg, str(path))
    namespace: dict = {}
    torch.manual_seed(0)
    run_snippet(code, cfg, kind, namespace)
    x, y = namespace["dataset"].tensors
    with torch.no_grad():
        per_sample = ((namespace["model"](x) - y) ** 2).squeeze(1)
    assert len(namespace["loss_log"]) == 2
    assert namespace["loss_log"][0] == pytest.approx(float(per_sample.mean()), rel=1e-6)
    # (the old weighting, a mean of the micro-batch means, gives another number for almost every order)
    out = capsys.readouterr().out.splitlines()
    assert [line.split("  lr ")[0] for line in out] == ["step 1/2  epoch 0", "step 2/2  epoch 1"]
    assert out[-1].endswith(f"loss {namespace['loss_log'][-1]:.4f}")
