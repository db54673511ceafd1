"""The scale-up calculator (schedules.rescale): every rule against worked examples from its paper, with
the numbers written out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import schedules
from schedules.cli import main
from schedules.design import ConfigError
from schedules.rescale import (
    RULES,
    adamw_timescale,
    ema_momentum,
    rescale,
    rescale_all,
    sde_kwargs,
    timescale_frame,
)


def adamw(lr=1e-3, kwargs=None, **training):
    base = {"dataset_size": 1_024_000, "micro_batch_size": 64, "accumulation_steps": 8, "epochs": 1}
    return schedules.load_config(
        {
            "name": "base",
            "optimizer": {"name": "AdamW", "lr": lr, "kwargs": kwargs if kwargs is not None else {}},
            "training": {**base, **training},
            "warmup": {"steps": 200},
            "decay": {"scheduler": "CosineAnnealingLR"},
        }
    )


def test_goyal_linear_rule_worked_example() -> None:
    """Goyal et al. 2017, section 2.1: lr 0.1 for 256 images per batch, 0.1 x kn / 256; kn = 8192
    (k = 256 workers of n = 32): lr 3.2."""
    cfg = schedules.load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9}},
            "training": {"dataset_size": 1_281_167, "micro_batch_size": 32, "world_size": 8, "epochs": 1},
        }
    )
    r = rescale(cfg, world_size=256, rule="linear")
    assert (r.old_batch, r.new_batch, r.kappa) == (256, 8192, 32.0)
    assert r.new.optimizer.lr == pytest.approx(3.2, rel=1e-15)
    assert r.new.optimizer.kwargs == {"momentum": 0.9}  # heavy-ball momentum kept (Goyal: unchanged)


def test_malladi_square_root_sde_rule_worked_example() -> None:
    """Malladi et al. 2022, the square-root scaling rule for Adam: batch x kappa -> lr x sqrt(kappa),
    1 - beta_i x kappa, eps / sqrt(kappa).  kappa = 4 from AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8:
    lr 2e-3, betas (1 - 4 x 0.1, 1 - 4 x 0.001) = (0.6, 0.996), eps 5e-9."""
    r = rescale(adamw(kwargs={"betas": [0.9, 0.999], "eps": 1e-8}), accumulation_steps=32, rule="sqrt")
    assert r.kappa == 4.0
    assert r.new.optimizer.lr == pytest.approx(2e-3, rel=1e-15)
    betas = r.new.optimizer.kwargs["betas"]
    assert betas[0] == pytest.approx(0.6, abs=1e-15) and betas[1] == pytest.approx(0.996, abs=1e-15)
    assert r.new.optimizer.kwargs["eps"] == pytest.approx(5e-9, rel=1e-15)
    assert set(r.kwargs_changed) == {"betas", "eps"}
    # torch's defaults are written out when the design leaves them unset
    r = rescale(adamw(kwargs={}), accumulation_steps=16)  # auto: sqrt for AdamW; kappa 2
    assert r.new.optimizer.kwargs["betas"] == pytest.approx([0.8, 0.998], abs=1e-15)
    assert r.new.optimizer.kwargs["eps"] == pytest.approx(1e-8 / math.sqrt(2), rel=1e-15)
    # RMSprop: alpha plays beta2's part
    assert sde_kwargs("RMSprop", {"alpha": 0.99}, 2.0)["alpha"][1] == pytest.approx(0.98, abs=1e-15)
    # going back down restores the numbers (kappa 1/4: 1 - (1 - 0.6) / 4 = 0.9)
    back = rescale(
        rescale(adamw(kwargs={"betas": [0.9, 0.999]}), accumulation_steps=32).new, accumulation_steps=8
    )
    assert back.new.optimizer.kwargs["betas"] == pytest.approx([0.9, 0.999], abs=1e-15)


def test_sde_rule_refuses_a_kappa_past_one_over_one_minus_beta() -> None:
    """beta1 0.9: kappa 16 gives 1 - 16 x 0.1 = -0.6 < 0, no optimizer; the message names the kwarg."""
    with pytest.raises(ConfigError) as exc:
        rescale(adamw(kwargs={"betas": [0.9, 0.95]}), accumulation_steps=128, rule="sqrt")
    assert exc.value.lines()[0].startswith(
        "optimizer.kwargs.betas[0]: would be -0.6 under the square-root SDE rule"
    )
    assert "kappa < 1 / (1 - beta) = 10" in exc.value.lines()[0]


def test_busbridge_ema_rule_worked_example() -> None:
    """Busbridge et al. 2023: rho -> rho ** kappa.  By hand: 0.999 ** 4 = 1 - 4e-3 + 6e-6 - 4e-9 + 1e-12
    = 0.996005996001; 0.9999 ** 8 = 0.99920027994400699992 (binomial series, to 20 digits)."""
    assert ema_momentum(0.999, 4) == pytest.approx(0.996005996001, abs=1e-15)
    assert ema_momentum(0.9999, 8) == pytest.approx(0.999200279944007, abs=1e-15)
    r = rescale(adamw(kwargs={"betas": [0.9, 0.999]}), accumulation_steps=32, rule="ema", ema=0.999)
    assert r.ema == (0.999, pytest.approx(0.996005996001, abs=1e-15))
    assert r.new.optimizer.lr == pytest.approx(2e-3)  # with the optimizer's own rule (sqrt for AdamW)
    assert any("model EMA momentum 0.999 -> 0.996005996" in n for n in r.notes)
    sgd = schedules.load_config({"optimizer": {"name": "SGD", "lr": 0.1}})
    assert rescale(sgd, micro_batch_size=64, rule="ema").new.optimizer.lr == pytest.approx(0.2)  # linear
    with pytest.raises(ConfigError, match=r"ema_momentum: must be a number in \[0, 1\), got 1.5"):
        ema_momentum(1.5, 2)


def test_wang_aitchison_timescale_rule_worked_example() -> None:
    """Wang & Aitchison 2025: tau_iter = 1 / (lr wd), tau_epoch = tau_iter B / N.  B = 512, N = 1,024,000,
    lr 1e-3, wd 0.1: tau_iter = 10,000, tau_epoch = 10,000 x 512 / 1,024,000 = 5.  Batch x4 (2048) with
    the square-root lr 2e-3: keeping 5 epochs needs tau_iter = 5 x 1,024,000 / 2048 = 2,500, so
    wd' = 1 / (2,500 x 2e-3) = 0.2 (= wd x kappa x lr / lr' = 0.1 x 4 / 2)."""
    assert adamw_timescale(1e-3, 0.1, 512, 1_024_000) == (pytest.approx(10_000), pytest.approx(5.0))
    r = rescale(adamw(kwargs={"weight_decay": 0.1}), accumulation_steps=32, rule="timescale")
    assert r.new.optimizer.lr == pytest.approx(2e-3)
    assert r.new.optimizer.kwargs["weight_decay"] == pytest.approx(0.2, rel=1e-14)
    assert r.kwargs_changed["weight_decay"] == (0.1, pytest.approx(0.2))
    assert adamw_timescale(2e-3, 0.2, 2048, 1_024_000)[1] == pytest.approx(5.0)
    # drawn over the schedule: at the peak exactly 5 epochs in both; elsewhere the same within the
    # difference one step makes (4 old steps per new one: old row k and new row k / 4 see different lrs)
    frame = timescale_frame(r)
    old, new = frame[frame.design == "old"], frame[frame.design == "new"]
    assert old.tau_epochs.min() == pytest.approx(5.0, rel=1e-12) == new.tau_epochs.min()
    at = np.intersect1d(old.samples, new.samples)
    assert len(at) > 100
    o = old.set_index("samples").loc[at, "tau_epochs"].to_numpy()
    n = new.set_index("samples").loc[at, "tau_epochs"].to_numpy()
    assert np.median(np.abs(n / o - 1)) < 0.01
    # AdamW's default weight decay (0.01) when unset; refused for another optimizer
    r = rescale(adamw(kwargs={}), accumulation_steps=32, rule="timescale")
    assert r.new.optimizer.kwargs["weight_decay"] == pytest.approx(0.02)
    sgd = schedules.load_config({"optimizer": {"name": "SGD", "lr": 0.1}})
    with pytest.raises(ConfigError, match="optimizer.name: must be AdamW for the timescale rule"):
        rescale(sgd, micro_batch_size=64, rule="timescale")


def test_every_rule_side_by_side_keeps_the_warmup_in_samples() -> None:
    """Warmup 200 steps of 512 = 102,400 samples; at batch 2048 every rule's warmup is 50 steps."""
    proposals = rescale_all(adamw(kwargs={"betas": [0.9, 0.95], "weight_decay": 0.1}), accumulation_steps=32)
    assert set(proposals) == set(RULES)
    for name, r in proposals.items():
        assert not isinstance(r, ConfigError), (name, r)
        assert (r.new_warmup_steps, r.new_warmup_samples) == (50, 102_400), name
        assert r.new.name == f"base (batch 2048, {name} rule)"
    assert proposals["linear"].new.optimizer.lr == pytest.approx(4e-3)
    sgd = rescale_all(schedules.load_config({"optimizer": {"name": "SGD", "lr": 0.1}}), micro_batch_size=64)
    assert isinstance(sgd["timescale"], ConfigError)
    assert not isinstance(sgd["linear"], ConfigError)


def test_cli_writes_every_rule(tmp_path, capsys) -> None:
    src = tmp_path / "d.json"
    src.write_text(adamw(kwargs={"weight_decay": 0.1}).to_json())
    out = tmp_path / "rules"
    assert (
        main(
            ["rescale", str(src), "--accumulation-steps", "32", "--all", f"{out}/", "--ema-momentum", "0.99"]
        )
        == 0
    )
    written = sorted(p.name for p in out.iterdir())
    assert written == ["ema.json", "linear.json", "sqrt.json", "timescale.json"]
    ts = schedules.load_config(json.loads((out / "timescale.json").read_text()))
    assert ts.optimizer.kwargs["weight_decay"] == pytest.approx(0.2)
    assert "model EMA momentum 0.99 -> 0.96059601" in capsys.readouterr().out  # 0.99 ** 4
