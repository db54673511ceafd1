"""``eta_min_ratio``: a cosine's floor as a fraction of the peak (``decay.kwargs``), beside the absolute
``eta_min``.  Optional and back-compatible: designs without it load and draw as before; with it the
curve is torch's with ``eta_min = eta_min_ratio * optimizer.lr``, bit for bit, and it follows the lr.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from schedules import ConfigError, compute_curve, load_config
from schedules.build import decay_kwargs
from schedules.design.parse import SCHEMA_PATH
from schedules.interop import from_hf, to_hf, to_lightning, to_timm
from schedules.rescale import rescale

BASE = {
    "optimizer": {"name": "AdamW", "lr": 0.002},
    "training": {"dataset_size": 640, "micro_batch_size": 32, "epochs": 3},  # S = 20, T = 60
    "warmup": {"steps": 6},
}


def design(scheduler: str, **kwargs) -> dict:
    return {**BASE, "decay": {"scheduler": scheduler, "kwargs": kwargs}}


@pytest.mark.parametrize("scheduler", ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"])
def test_a_ratio_is_the_absolute_floor_torch_gets(scheduler: str) -> None:
    ratio = load_config(design(scheduler, eta_min_ratio=0.1))
    assert decay_kwargs(ratio)["eta_min"] == 0.1 * 0.002 and "eta_min_ratio" not in decay_kwargs(ratio)
    absolute = load_config(design(scheduler, eta_min=0.1 * 0.002))
    assert np.array_equal(compute_curve(ratio).lrs, compute_curve(absolute).lrs)
    # and that is torch itself, stepped by hand: 6 warmup steps from 0, then the class over 54 steps
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=0.002)
    warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, k / 6))
    cls = getattr(torch.optim.lr_scheduler, scheduler)
    length = {"T_max": 54} if scheduler == "CosineAnnealingLR" else {"T_0": 54}
    decay = cls(opt, eta_min=0.1 * 0.002, **length)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warm, decay], milestones=[6])
    lrs = []
    for _ in range(60):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
    assert compute_curve(ratio).lrs[:, 0].tolist() == lrs


def test_changing_the_lr_keeps_cosine_to_ten_percent() -> None:
    for lr in (0.002, 0.5, 1e-5):
        cfg = load_config({**design("CosineAnnealingLR", eta_min_ratio=0.1), "optimizer": {"lr": lr}})
        curve = compute_curve(cfg).lrs[:, 0]
        assert curve.max() == lr
        # the cosine's last row j = 53 of T_max = 54: 0.1 lr + 0.9 lr (1 + cos(53 pi / 54)) / 2
        assert curve[-1] == pytest.approx(0.1 * lr + 0.9 * lr * (1 + np.cos(np.pi * 53 / 54)) / 2, rel=1e-12)


def test_both_floors_at_once_is_an_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(design("CosineAnnealingLR", eta_min=1e-5, eta_min_ratio=0.1))
    assert err.value.lines() == [
        "decay.kwargs.eta_min_ratio: set either eta_min or eta_min_ratio, not both, got 0.1"
    ]
    with pytest.raises(ConfigError) as err:
        load_config(design("CosineAnnealingLR", eta_min_ratio=1.5))
    assert err.value.lines()[0].startswith(
        "decay.kwargs.eta_min_ratio: must be a number >= 0 and <= 1, got 1.5"
    )
    with pytest.raises(ConfigError) as err:  # only the cosines have a floor to put relative
        load_config(design("LinearLR", eta_min_ratio=0.1))
    assert err.value.lines()[0].startswith("decay.kwargs.eta_min_ratio: is not a known field")


def test_json_round_trip_schema_and_back_compat() -> None:
    cfg = load_config(design("CosineAnnealingLR", eta_min_ratio=0.25))
    text = cfg.to_json()
    assert json.loads(text)["decay"]["kwargs"] == {"eta_min_ratio": 0.25}
    assert load_config(json.loads(text)) == cfg
    schema = json.loads(SCHEMA_PATH.read_text())
    kw = schema["$defs"]["CosineAnnealingLRKwargs"]["properties"]
    assert "eta_min_ratio" in kw and "eta_min" in kw
    jsonschema = pytest.importorskip("jsonschema")
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(cfg.to_dict()))
    # a file written before the ratio existed: the same JSON back, byte for byte
    old = design("CosineAnnealingLR", eta_min=1e-5)
    assert json.loads(load_config(old).to_json())["decay"]["kwargs"] == {"eta_min": 1e-5}


def test_exports_and_imports_handle_a_ratio() -> None:
    cfg = load_config(design("CosineAnnealingLR", eta_min_ratio=0.1))
    payload, warnings = to_hf(cfg)
    # HF reproduces the lr (checked row by row by to_hf); the one warning left is about the optimizer:
    # Trainer exempts biases and norm weights from AdamW's weight decay (issue 28's optimizer check).
    assert [w for w in warnings if "exempts them from weight decay" not in w] == []
    assert (payload["lr_scheduler_type"], payload["lr_scheduler_kwargs"]) == (
        "cosine_with_min_lr",
        {"min_lr_rate": 0.1},
    )
    back, _ = from_hf(payload, dataset_size=640)
    assert back.decay.kwargs == {"eta_min_ratio": 0.1}
    assert np.allclose(compute_curve(back).lrs, compute_curve(cfg).lrs, rtol=1e-12, atol=0)
    code, warnings = to_lightning(cfg)
    assert warnings == [] and "eta_min=0.0002" in code  # torch takes the absolute floor
    _, warnings = to_timm(cfg)
    assert not [w for w in warnings if not w.startswith("note:")]


def test_rescale_keeps_the_ratio_and_scales_an_absolute_floor() -> None:
    ratio = load_config(design("CosineAnnealingLR", eta_min_ratio=0.1))
    new = rescale(ratio, accumulation_steps=2).new
    assert new.optimizer.lr == pytest.approx(0.002 * 2**0.5, rel=1e-15)  # AdamW: the square-root rule
    assert new.decay.kwargs["eta_min_ratio"] == 0.1
    assert decay_kwargs(new)["eta_min"] == pytest.approx(0.1 * new.optimizer.lr, rel=1e-15)
