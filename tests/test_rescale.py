"""Batch-size assistant (``schedules.rescale``): worked examples for both rules (issue 14)."""

from __future__ import annotations

import json
import math

import pytest

import schedules
from schedules.cli import main
from schedules.design import ConfigError, make_plan
from schedules.rescale import RULES, rescale, samples_frame


def warmup_end_samples(cfg) -> int:
    plan = make_plan(cfg)
    return int(plan.samples_array()[plan.warmup_steps - 1])


def test_goyal_imagenet_linear_rule() -> None:
    """Goyal et al. 2017: lr = 0.1 * k n / 256; from 256 (8 x 32) to 8192 (256 x 32): lr 0.1 -> 3.2,
    the 5-epoch warmup stays 5 epochs (24,000 -> 750 steps with 1,228,800 = 150 x 8192 images)."""
    cfg = schedules.load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9}},
            "training": {"dataset_size": 1_228_800, "micro_batch_size": 32, "world_size": 8, "epochs": 90},
            "warmup": {"steps": 24_000, "start_factor": 0.1},
        }
    )
    r = rescale(cfg, world_size=256)
    assert r.rule is RULES["linear"]  # auto: SGD
    assert (r.old_batch, r.new_batch, r.kappa) == (256, 8192, 32.0)
    assert r.new.optimizer.lr == pytest.approx(3.2, rel=1e-15)
    assert r.new.warmup.steps == 750
    assert warmup_end_samples(r.new) == warmup_end_samples(cfg) == 5 * 1_228_800
    assert make_plan(r.new).total_steps == 90 * 150
    assert r.notes == []


def test_adamw_sqrt_rule_worked_example() -> None:
    """AdamW 3e-4 at 32 x 4 = 128 -> 32 x 16 = 512: kappa 4, lr 3e-4 * 2 = 6e-4; warmup 100 -> 25
    steps (12,800 samples both); eta_min 1e-5 -> 2e-5; the betas of the full rule are reported."""
    cfg = schedules.load_config(
        {
            "optimizer": {"name": "AdamW", "lr": 3e-4, "kwargs": {"betas": [0.9, 0.999]}},
            "training": {
                "dataset_size": 51_200,
                "micro_batch_size": 32,
                "accumulation_steps": 4,
                "epochs": 2,
            },
            "warmup": {"steps": 100},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-5}},
        }
    )
    r = rescale(cfg, accumulation_steps=16)
    assert r.rule is RULES["sqrt"]
    assert r.new.optimizer.lr == pytest.approx(6e-4, rel=1e-15)
    assert (r.old_warmup_steps, r.new_warmup_steps) == (100, 25)
    assert r.old_warmup_samples == r.new_warmup_samples == 12_800
    assert r.new.decay.kwargs["eta_min"] == pytest.approx(2e-5)
    assert any("[0.6, 0.996]" in n and "0.5" in n for n in r.notes), r.notes
    # Back down: the inverse proposal restores the design's numbers.
    back = rescale(r.new, accumulation_steps=4)
    assert back.new.optimizer.lr == pytest.approx(3e-4, rel=1e-15) and back.new.warmup.steps == 100


def test_rule_can_be_forced_and_is_labelled() -> None:
    cfg = schedules.load_config({"optimizer": {"name": "AdamW", "lr": 1e-3}, "warmup": {"steps": 10}})
    r = rescale(cfg, micro_batch_size=64, rule="linear")  # 32 -> 64
    assert r.new.optimizer.lr == pytest.approx(2e-3)
    text = "\n".join(r.summary())
    assert "Goyal et al. 2017" in text and "limits:" in text
    assert "Malladi et al. 2022" in RULES["sqrt"].source and RULES["sqrt"].limits


def test_uneven_warmup_is_reported() -> None:
    """320 warmup samples at batch 32 -> batch 96: 320 / 96 = 3.33 -> 3 steps, 288 samples."""
    cfg = schedules.load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {"dataset_size": 9600, "micro_batch_size": 32, "epochs": 1},
            "warmup": {"steps": 10},
        }
    )
    r = rescale(cfg, micro_batch_size=96)
    assert r.new_warmup_steps == 3 and r.new_warmup_samples == 288
    assert any("-32 samples" in n for n in r.notes), r.notes


def test_step_lengths_keep_their_samples() -> None:
    cfg = schedules.load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {"dataset_size": 6400, "micro_batch_size": 16, "max_steps": 400},
            "decay": {"scheduler": "MultiStepLR", "kwargs": {"milestones": [100, 300]}, "hold_steps": 40},
            "plateau": {"eval_every": 20},
        }
    )
    r = rescale(cfg, accumulation_steps=4)
    assert r.new.training.max_steps == 100
    assert r.new.decay.kwargs["milestones"] == [25, 75] and r.new.decay.hold_steps == 10
    assert r.new.plateau.eval_every == 5
    wsd = schedules.load_config(
        {
            "training": {"dataset_size": 6400, "micro_batch_size": 16, "epochs": 1},
            "wsd": {"warmup_steps": 40, "decay_steps": 80},
        }
    )
    w = rescale(wsd, micro_batch_size=32).new.wsd
    assert (w.warmup_steps, w.decay_steps) == (20, 40)


def test_samples_frame_puts_both_on_one_axis() -> None:
    cfg = schedules.load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {"dataset_size": 640, "micro_batch_size": 8, "epochs": 2},
            "warmup": {"steps": 16},
        }
    )
    r = rescale(cfg, micro_batch_size=32)
    f = samples_frame(r)
    old, new = f[f.design == "old"], f[f.design == "new"]
    assert len(old) == 160 and len(new) == 40
    assert old.samples.iloc[-1] == new.samples.iloc[-1] == 1280
    # the new warmup peaks (row 4) at the sample count where the old one peaks (row 16): 128 + 32
    assert new.lr.iloc[4] == pytest.approx(0.4) and old.lr.iloc[16] == pytest.approx(0.1)
    assert new.samples.iloc[3] == old.samples.iloc[15] == 128


def test_bad_values_name_the_field() -> None:
    cfg = schedules.load_config({})
    with pytest.raises(ConfigError, match=r"training.world_size: must be an integer >= 1, got 0"):
        rescale(cfg, world_size=0)
    with pytest.raises(
        ConfigError, match=r"rule: must be one of auto, linear, sqrt, ema, timescale, got 'cubic'"
    ):
        rescale(cfg, rule="cubic")
    with pytest.raises(ConfigError, match=r"optimizer.lr: would be .* outside \(0, 10\]"):
        rescale(schedules.load_config({"optimizer": {"name": "SGD", "lr": 5.0}}), micro_batch_size=3200)


def test_cli_rescale(tmp_path, capsys) -> None:
    src = tmp_path / "design.json"
    src.write_text(json.dumps({"optimizer": {"name": "AdamW", "lr": 1e-3}, "warmup": {"steps": 200}}))
    out, curve = tmp_path / "new.json", tmp_path / "curve.csv"
    assert (
        main(["rescale", str(src), "--accumulation-steps", "4", "-o", str(out), "--curve", str(curve)]) == 0
    )
    new = schedules.load_config(str(out))
    assert new.optimizer.lr == pytest.approx(2e-3) and new.warmup.steps == 50
    printed = capsys.readouterr().out
    assert "Malladi et al. 2022" in printed and "warmup 200 -> 50" in printed
    assert curve.read_text().splitlines()[0] == "design,step,samples,lr"
    assert main(["rescale", str(src), "--world-size", "0"]) == 2
    assert "training.world_size" in capsys.readouterr().err
    assert main(["rescale", str(src), "--rule", "cubic"]) == 2
    assert math.isclose(new.optimizer.lr / 1e-3, 2.0)
