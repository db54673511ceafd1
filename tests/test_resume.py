"""Resume from a checkpoint (issue 10): 14 designs x 5 resume points x both restore orders continue
the curve bit for bit; the traps (a fresh scheduler, torch's own schedulers restored in the wrong
order) are drawn from the real objects; ``resume-check`` exits 0/1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from schedules import compute_curve, load_config, make_plan
from schedules.cli import main
from schedules.mistakes import mistake_curve
from schedules.resume import ORDERS, resume_check, resumed_lrs

SMALL = {"dataset_size": 40, "micro_batch_size": 2, "accumulation_steps": 2}  # 10 steps per epoch
TWO_GROUPS = [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}]
VALUES = [3.0, 2.0, 2.0, 2.5, 2.2, 1.0, 1.0, 1.5, 1.2, 1.1]

DESIGNS = {
    "warmup from 0 + cosine": {"warmup": {"steps": 8}, "decay": {"scheduler": "CosineAnnealingLR"}},
    "start_factor warmup + hold + linear": {
        "warmup": {"steps": 6, "start_factor": 0.1},
        "decay": {"scheduler": "LinearLR", "kwargs": {"end_factor": 0.05}, "hold_steps": 5},
    },
    "plateau alone (pasted values)": {
        "plateau": {"eval_every": 5, "patience": 0, "factor": 0.5, "metric": {"values": VALUES}}
    },
    "warmup + exponential + plateau (synthetic)": {
        "warmup": {"steps": 5, "start_factor": 0.2},
        "decay": {"scheduler": "ExponentialLR", "kwargs": {"gamma": 0.97}},
        "plateau": {
            "eval_every": "epoch",
            "patience": 1,
            "metric": {"synthetic": {"noise": 0.05, "seed": 3}},
        },
    },
    "per-epoch StepLR after warmup": {
        "warmup": {"steps": 7},
        "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 1, "gamma": 0.5}, "interval": "epoch"},
    },
    "per-epoch ConstantLR after warmup": {
        "warmup": {"steps": 4},
        "decay": {"scheduler": "ConstantLR", "interval": "epoch"},
    },
    "per-epoch CyclicLR (momentum cycled)": {
        "optimizer": {"name": "SGD", "lr": 0.5, "kwargs": {"momentum": 0.9}},
        "warmup": {"steps": 3, "start_factor": 0.5},
        "decay": {"scheduler": "CyclicLR", "kwargs": {"step_size_up": 1}, "interval": "epoch"},
    },
    "OneCycleLR": {"decay": {"scheduler": "OneCycleLR", "kwargs": {"pct_start": 0.25}}},
    "OneCycleLR three-phase, linear": {
        "decay": {"scheduler": "OneCycleLR", "kwargs": {"three_phase": True, "anneal_strategy": "linear"}}
    },
    "warm restarts T_mult 2": {
        "warmup": {"steps": 3},
        "decay": {
            "scheduler": "CosineAnnealingWarmRestarts",
            "kwargs": {"T_0": 5, "T_mult": 2, "eta_min": 1e-4},
        },
    },
    "two groups, warmup + cosine + plateau": {
        "optimizer": {"name": "AdamW", "lr": 0.01, "param_groups": TWO_GROUPS},
        "warmup": {"ratio": 0.1},
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-5}},
        "plateau": {"eval_every": 7, "patience": 0, "metric": {"values": VALUES}},
    },
    "MultiplicativeLR after warmup": {
        "warmup": {"steps": 5},
        "decay": {"scheduler": "MultiplicativeLR", "kwargs": {"lr_lambda": "0.95"}},
    },
    "two groups, LambdaLR expression per epoch": {
        "optimizer": {"name": "SGD", "lr": 0.2, "param_groups": TWO_GROUPS},
        "warmup": {"steps": 10},
        "decay": {
            "scheduler": "LambdaLR",
            "kwargs": {"lr_lambda": "1 / sqrt(step + 1)"},
            "interval": "epoch",
        },
    },
    "polynomial, max_steps mid-epoch": {
        "training": {**SMALL, "epochs": 9, "max_steps": 57},
        "warmup": {"steps": 9, "start_factor": 0.01},
        "decay": {"scheduler": "PolynomialLR", "kwargs": {"power": 2.0}},
    },
}


def design(name: str):
    raw = {
        "optimizer": {"name": "AdamW", "lr": 0.1},
        "training": {**SMALL, "epochs": 6},
        **DESIGNS[name],
    }
    return load_config(raw)


def resume_points(cfg) -> list[int]:
    """Five points: the first step, inside and at the end of the warmup, an epoch end, the last step."""
    plan = make_plan(cfg)
    t, w, s = plan.total_steps, plan.warmup_steps, plan.steps_per_epoch
    wanted = [1, max(1, w - 1), max(1, w), 2 * s, t - 1]
    points = sorted({min(max(1, p), t - 1) for p in wanted})
    extra = iter(range(2, t - 1))
    while len(points) < 5:
        points = sorted({*points, next(p for p in extra if p not in points)})
    return points


def test_fourteen_designs() -> None:
    assert len(DESIGNS) == 14


@pytest.mark.parametrize("name", list(DESIGNS))
def test_resume_in_both_orders_continues_bit_for_bit(name: str) -> None:
    cfg = design(name)
    want = compute_curve(cfg).lrs
    points = resume_points(cfg)
    assert len(points) == 5
    for at in points:
        for order in ("build_first", "optimizer_first"):
            got = resumed_lrs(cfg, at, order)
            assert np.array_equal(got, want), f"{name}: resumed at {at} ({order})"


def test_fresh_scheduler_restarts_the_warmup() -> None:
    cfg = design("warmup from 0 + cosine")  # lr 0.1, 8 warmup steps from 0, 60 steps
    want = compute_curve(cfg).lrs[:, 0]
    got = resumed_lrs(cfg, 30, "fresh")[:, 0]
    assert np.array_equal(got[:31], want[:31])  # the optimizer state brings the lr of row 30 back
    # then the schedule runs again from its step 1: 0.1 * 1/8, 2/8, ...
    assert got[31:34].tolist() == [0.1 * 1 / 8, 0.1 * 2 / 8, 0.1 * 3 / 8]
    assert np.array_equal(got[31:], want[1 : 60 - 30])


def test_torch_wrong_order_uses_the_constructors_lr() -> None:
    # Warmup from 0 + cosine: the LambdaLR warmup's constructor sets lr 0 and torch's state does not
    # bring it back; CosineAnnealingLR's recursive form continues from 0: every later step is 0.
    cfg = design("warmup from 0 + cosine")
    want = compute_curve(cfg).lrs[:, 0]
    got = resumed_lrs(cfg, 30, "torch_wrong_order")[:, 0]
    assert got[30] == 0.0 and want[30] > 0.05
    assert np.array_equal(got[:30], want[:30]) and np.all(got[30:] == 0.0)
    # Plateau alone, patience 0: evaluations after steps 4, 9, 14, ...: 3.0 (best), 2.0 (better), 2.0,
    # 2.5, 2.2 (three bad ones: x0.5 at rows 15, 20, 25), 1.0 (better), ... Resumed at 30 with the
    # plateau's state but the constructor's lr: 0.1 instead of 0.0125, and every later row 8x too high.
    cfg = design("plateau alone (pasted values)")
    want = compute_curve(cfg).lrs[:, 0]
    assert want[14] == 0.1 and want[15] == 0.05 and want[20] == 0.025 and want[30] == 0.0125
    got = resumed_lrs(cfg, 30, "torch_wrong_order")[:, 0]
    assert got[30] == 0.1
    assert np.array_equal(got[:30], want[:30]) and np.array_equal(got[30:], 8 * want[30:])


def test_mistake_traces_and_plot_option(tmp_path) -> None:
    cfg = design("warmup from 0 + cosine")
    frame = mistake_curve(cfg, "resume_fresh", 30)
    assert frame["lr"].tolist() == resumed_lrs(cfg, 30, "fresh")[:, 0].tolist()
    default = mistake_curve(cfg, "resume_wrong_order")  # half way: step 30 of 60
    assert default["lr"][30] == 0.0
    path = tmp_path / "design.json"
    path.write_text(cfg.to_json())
    out = tmp_path / "resume.html"
    assert main(["plot", str(path), "-o", str(out), "--mistake", "resume_fresh", "--at", "12"]) == 0
    assert "resumed with a freshly built scheduler at step 12" in out.read_text()
    assert main(["plot", str(path), "-o", str(out), "--mistake", "resume_fresh", "--at", "60"]) == 2
    assert main(["plot", str(path), "-o", str(out), "--at", "5"]) == 2


def test_resume_check_cli(tmp_path, capsys) -> None:
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design("per-epoch ConstantLR after warmup").to_dict()))
    assert main(["resume-check", str(path), "--at", "25"]) == 0
    out = capsys.readouterr().out
    assert "build_first: resumed at step 25: identical to the curve (60 steps)" in out
    assert "optimizer_first: resumed at step 25: identical" in out
    assert main(["resume-check", str(path), "--at", "25", "--order", "fresh"]) == 1
    captured = capsys.readouterr()
    assert "fresh: resumed at step 25:" in captured.out and "differ" in captured.out
    assert "does not continue the curve" in captured.err
    assert main(["resume-check", str(path), "--at", "60"]) == 2
    assert "--at: must be an integer >= 1 and <= 59" in capsys.readouterr().err
    assert main(["resume-check", str(tmp_path / "missing.json"), "--at", "3"]) == 2


def test_resume_check_api_reports_every_order() -> None:
    result = resume_check(design("OneCycleLR"), 17, ORDERS)
    assert result.differing["build_first"] == 0 and result.differing["optimizer_first"] == 0
    assert result.differing["fresh"] > 0 and not result.ok


@pytest.mark.parametrize(
    "name", ["two groups, warmup + cosine + plateau", "per-epoch CyclicLR (momentum cycled)"]
)
def test_python_api_resume_example_runs(name: str, tmp_path, monkeypatch) -> None:
    from tests.test_report import docs_block

    cfg = design(name)
    if len(cfg.optimizer.groups()) > 1:  # the example's model has one param group
        data = cfg.to_dict()
        data["optimizer"]["param_groups"] = None
        cfg = load_config(data)
    (tmp_path / "design.json").write_text(cfg.to_json())
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(
        compile(docs_block("<!-- example: resume -->"), "docs/python-api.md", "exec"), namespace
    )  # asserts inside
    assert len(namespace["lrs"]) == make_plan(cfg).total_steps
    assert (tmp_path / "checkpoint.pt").exists()
