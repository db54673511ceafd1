"""Lightning configure_optimizers export.

Lightning is not installed here.  Each snippet is compiled, executed with a stand-in for the
LightningModule (it only needs ``parameters()`` and the group submodules), and what its
``configure_optimizers`` returns is stepped by Lightning's rules (``lightning_curve``); the lrs
must equal the design's curve.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from interop_designs import design_builders

from schedules import compute_curve
from schedules.build import MetricFeed
from schedules.design import make_plan
from schedules.interop import lightning_curve, to_lightning
from schedules.interop.lightning import build_scheduler_variant
from schedules.presets import PRESETS, apply_preset


class FakeModule(torch.nn.Module):
    """A LightningModule stand-in: one Linear per design group, named after it."""

    def __init__(self, names: list[str]):
        super().__init__()
        for name in names:
            self.add_module(name, torch.nn.Linear(2, 2))


def run_snippet(code: str, cfg) -> object:
    namespace: dict = {}
    exec(compile(code, "configure_optimizers.py", "exec"), namespace)  # our own generated code
    module = FakeModule([g.name for g in cfg.optimizer.groups()])
    return namespace["configure_optimizers"](module)


_training, _cfg = design_builders(n=3000, b=32, a=2, epochs=3)


EXACT = {
    **{
        name: (lambda name=name: apply_preset(name, _training()))
        for name in (
            "linear",
            "cosine",
            "warmup_stable_decay",
            "inverse_sqrt",
            "one_cycle",
            "sgdr",
            "gpt3_cosine",
            "polynomial",
            "constant_with_warmup",
        )
    },
    "resnet_step_per_epoch": lambda: apply_preset("resnet_step", _training(n=640, b=64, a=1)),
    "two_groups": lambda: _cfg(
        optimizer={
            "lr": 1e-3,
            "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
        },
        warmup={"steps": 10, "ratio": None, "start_factor": 0.0},
        decay={"scheduler": "CosineAnnealingLR", "kwargs": {}},
    ),
    "plateau_per_epoch": lambda: _cfg(
        training={"epochs": 6},
        plateau={"patience": 0, "eval_every": "epoch", "metric": {"values": [1.0, 0.9, 0.9, 0.9, 0.8, 0.8]}},
    ),
    "plateau_every_divides": lambda: _cfg(
        training={"n": 2560, "b": 32, "a": 2, "epochs": 3},  # 40 steps per epoch
        plateau={
            "patience": 1,
            "factor": 0.5,
            "eval_every": 8,
            "metric": {"synthetic": {"plateau_from": 3, "seed": 1}},
        },
    ),
    "warmup_from_above_zero": lambda: _cfg(
        warmup={"steps": 12, "ratio": None, "start_factor": 0.2},
        decay={"scheduler": "ExponentialLR", "kwargs": {}},
    ),
    "constant": lambda: _cfg(),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_snippet_reproduces_the_curve_under_lightnings_rules(name: str) -> None:
    cfg = EXACT[name]()
    code, notes = to_lightning(cfg)
    assert notes == [], notes
    result = run_snippet(code, cfg)
    curve = compute_curve(cfg)
    feed = MetricFeed(cfg.plateau.metric, 1) if cfg.plateau is not None else None
    theirs = lightning_curve(result, curve.plan, feed)
    np.testing.assert_allclose(theirs, curve.lrs, rtol=1e-12, atol=1e-15 * curve.lrs.max())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_gives_valid_python(name: str) -> None:
    code, _ = to_lightning(apply_preset(name, _training()))
    compile(code, name, "exec")
    assert "def configure_optimizers(self):" in code


def test_scheduler_config_keys() -> None:
    code, _ = to_lightning(EXACT["cosine"]())
    assert "\"interval\": 'step'" in code and '"frequency": 1' in code
    code, _ = to_lightning(EXACT["plateau_per_epoch"]())
    assert "\"monitor\": 'val_loss'" in code and "\"interval\": 'epoch'" in code
    code, _ = to_lightning(EXACT["plateau_every_divides"]())
    assert (
        '"frequency": 16' in code and "val_check_interval=16" in code
    )  # 8 optimizer steps x 2 micro-batches


def test_lambda_expressions_become_functions() -> None:
    code, _ = to_lightning(EXACT["inverse_sqrt"]())
    assert "def decay_factor(step):" in code and "from math import sqrt" in code


def test_expressions_outside_the_whitelist_are_never_written_into_code() -> None:
    # The engine's own whitelist refuses such a design when it loads (every branch is checked), so no
    # config that reaches the exporter carries one.
    with pytest.raises(ValueError, match="calls 'open', which is not allowed"):
        _cfg(decay={"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "1.0 if step >= 0 else open('x')"}})


def test_per_epoch_decay_after_a_warmup_is_not_expressible() -> None:
    cfg = apply_preset("goyal_imagenet", _training(n=640, b=64, a=1))
    code, notes = to_lightning(cfg)
    compile(code, "goyal", "exec")
    assert any("a per-step warmup before a per-epoch decay" in n for n in notes)
    assert any(n.startswith("Lightning gives a different curve") for n in notes)
    assert any("build_scheduler_variant" in n for n in notes)


def test_plateau_interval_that_does_not_divide_the_epoch_warns() -> None:
    cfg = _cfg(
        training={"n": 3000}, plateau={"patience": 0, "eval_every": 7, "metric": {"values": [1.0] * 40}}
    )
    _, notes = to_lightning(cfg)
    assert any("plateau.eval_every=7" in n and "batch_idx restarts" in n for n in notes)


def test_lightning_rules_step_after_each_window_including_a_short_last_one() -> None:
    # 5 micro-batches per epoch, accumulation 2: optimizer steps after batches 1, 3 and 4 (short).
    cfg = _cfg(
        training={"n": 5, "b": 1, "a": 2, "epochs": 2},
        decay={"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "step + 1"}},
    )
    plan = make_plan(cfg)
    assert plan.steps_per_epoch == 3
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s + 1)
    lrs = lightning_curve({"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}, plan)
    assert lrs[:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    # an epoch-interval scheduler steps once per epoch
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s + 1)
    lrs = lightning_curve((([opt]), [{"scheduler": sched, "interval": "epoch"}]), plan)
    assert lrs[:, 0].tolist() == [1, 1, 1, 2, 2, 2]


def test_exact_variant_compiles() -> None:
    code = build_scheduler_variant(EXACT["cosine"]())
    compile(code, "variant", "exec")
    assert "schedules.build_scheduler(optimizer, CONFIG)" in code and "def lr_scheduler_step" in code
