"""Sanity warnings (schedules/design/sanity.py): valid designs that are almost surely not meant.

Worked examples with hand-computed numbers, ``python -m schedules validate`` printing them as
``warning: <field path>: <text>`` lines (exit 0), no preset ever warning, and property tests over
random designs: each warning fires exactly when what it describes happens, the real torch curve
(or torch's own ReduceLROnPlateau) being the judge.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules import compute_curve, load_config
from schedules.cli import main
from schedules.design import sanity_warnings
from schedules.presets import PRESETS, apply_preset

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def paths(cfg) -> list[str]:
    return [w.path for w in sanity_warnings(cfg)]


def only(cfg, path: str) -> str:
    found = sanity_warnings(cfg)
    assert [w.path for w in found] == [path], found
    return found[0].text


# --------------------------------------------------------------------------------------------------
# worked examples (the numbers by hand, from CONTRACT.md section 2's step accounting)


def test_a_warmup_longer_than_the_run_counted_in_micro_batches() -> None:
    # N=32,000, b=32, A=4, 1 epoch: L = 1,000 micro-batches, S = ceil(1000 / 4) = 250 = T.
    cfg = load_config(
        {
            "training": {"dataset_size": 32000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 1},
            "warmup": {"steps": 1000},
            "decay": {"scheduler": "CosineAnnealingLR"},
        }
    )
    assert only(cfg, "warmup.steps") == (
        "the warmup (1,000 optimizer steps) is as long as or longer than the run (250 optimizer steps): the "
        "peak lr is never reached and the decay never runs; counted in micro-batches? warmup counts optimizer "
        "steps: 1,000 micro-batches are 250 optimizer steps at accumulation_steps 4"
    )
    assert compute_curve(cfg).lrs[:, 0].max() < cfg.optimizer.lr  # the peak is never reached
    # 249 steps of warmup: the peak shows at row 249, the last one: no warning.
    fine = load_config({**cfg.to_dict(), "warmup": {"steps": 249}})
    assert paths(fine) == [] and compute_curve(fine).lrs[-1, 0] == cfg.optimizer.lr
    ratio = load_config({**cfg.to_dict(), "warmup": {"ratio": 1.0}})
    assert only(ratio, "warmup.ratio").startswith("the warmup (250 optimizer steps) is as long as")
    assert "micro-batches" not in only(ratio, "warmup.ratio")  # a ratio is no count of anything


def test_plateau_mode_max_on_the_synthetic_loss() -> None:
    cfg = load_config({"plateau": {"mode": "max"}})
    assert only(cfg, "plateau.mode").startswith(
        "mode 'max' treats a higher metric as better, but the synthetic metric is a validation loss"
    )
    assert paths(load_config({"plateau": {"mode": "min"}})) == []


def test_plateau_mode_min_on_pasted_values_that_rise() -> None:
    cfg = load_config({"plateau": {"mode": "min", "metric": {"values": [0.5, 0.6, 0.55, 0.7]}}})
    assert only(cfg, "plateau.mode") == (
        "mode 'min' treats a lower metric as better, but the values you pasted never go below the first (0.5) "
        "and rise (to 0.7), like an accuracy: no evaluation counts as an improvement, so the lr is cut every "
        "patience + 1 evaluations; use mode 'max' for a metric where higher is better"
    )
    assert paths(load_config({"plateau": {"mode": "max", "metric": {"values": [0.5, 0.6, 0.55, 0.7]}}})) == []
    loss = load_config({"plateau": {"mode": "max", "metric": {"values": [2.0, 1.5, 1.7, 1.2]}}})
    assert "like a loss" in only(loss, "plateau.mode")
    # An overfitting loss improves first: min is right even though it ends higher.
    overfit = {"mode": "min", "metric": {"values": [2.0, 1.5, 1.2, 1.6, 2.1, 2.4]}}
    assert paths(load_config({"plateau": overfit})) == []


def test_eta_min_at_or_above_the_peak() -> None:
    cfg = load_config(
        {
            "optimizer": {"lr": 0.001},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.002}},
        }
    )
    assert only(cfg, "decay.kwargs.eta_min") == (
        "eta_min 0.002 is at or above the peak lr (0.001): the CosineAnnealingLR goes from the peak to eta_min, "
        "so the lr never decays (it stays flat or climbs); eta_min is the floor, below the peak"
    )
    lr = compute_curve(cfg).lrs[:, 0]
    assert lr[-1] > lr[0]  # it climbs
    ratio = load_config(
        {"decay": {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"eta_min_ratio": 1.0}}}
    )
    assert only(ratio, "decay.kwargs.eta_min_ratio").startswith(
        "eta_min_ratio 1 (eta_min 0.0003) is at or above the peak lr (0.0003)"
    )
    # Two groups: eta_min 1e-4 is below the head's 3e-4 but above the backbone's 3e-4 x 0.1 = 3e-5.
    groups = load_config(
        {
            "optimizer": {"param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head"}]},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-4}},
        }
    )
    assert "at or above the peak lr of param group 'backbone' (3e-05)" in only(groups, "decay.kwargs.eta_min")
    assert "min_lr_ratio 1 puts the floor at the peak" in only(
        load_config({"wsd": {"decay_ratio": 0.2, "min_lr_ratio": 1.0}}), "wsd.min_lr_ratio"
    )


def test_a_cosine_t_max_shorter_than_its_decay_climbs_back() -> None:
    # T = 1,000 (N=32,000, b=32), warmup 10: the decay has 990 steps; T_max 200 reaches eta_min at
    # row 10 + 200 = 210 and climbs from row 211.
    cfg = load_config(
        {
            "training": {"dataset_size": 32000, "micro_batch_size": 32, "epochs": 1},
            "warmup": {"steps": 10},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 200}},
        }
    )
    assert only(cfg, "decay.kwargs.T_max") == (
        "T_max 200 is shorter than the decay (990 optimizer steps): CosineAnnealingLR is periodic, so after "
        "reaching eta_min the lr climbs back up from step 211; restarts belong to CosineAnnealingWarmRestarts; "
        "leave T_max empty for one half-period over the whole decay"
    )
    lr = compute_curve(cfg).lrs[:, 0]
    assert lr[210] == 0.0 and lr[211] > lr[210] and np.all(np.diff(lr[10:211]) < 0)
    # T_max 988: eta_min at row 998, the last row 999 climbs a hair: warned.  989: the last row is eta_min.
    assert paths(
        load_config({**cfg.to_dict(), "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 988}}})
    )
    last = load_config(
        {**cfg.to_dict(), "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 989}}}
    )
    assert paths(last) == [] and compute_curve(last).lrs[-1, 0] == 0.0


def test_t_max_in_epochs() -> None:
    # S = 10, T = 100, interval epoch, no warmup: the decay steps after steps 9, 19, ..., 99 (10 epoch
    # ends; the last shows on no row). T_max 3 reaches eta_min at row 30 and climbs from row 40.
    cfg = load_config(
        {
            "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 10},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 3}, "interval": "epoch"},
        }
    )
    assert "T_max 3 is shorter than the decay (10 epochs)" in only(cfg, "decay.kwargs.T_max")
    assert "climbs back up from step 40" in only(cfg, "decay.kwargs.T_max")
    lr = compute_curve(cfg).lrs[:, 0]
    assert lr[39] == 0.0 and lr[40] > 0.0
    nine = load_config({**cfg.to_dict(), "decay": {**cfg.to_dict()["decay"], "kwargs": {"T_max": 9}}})
    assert paths(nine) == []


def test_a_decay_that_ends_long_before_the_run() -> None:
    cfg = load_config(
        {
            "training": {"dataset_size": 32000, "micro_batch_size": 32, "epochs": 1},
            "decay": {"scheduler": "LinearLR", "kwargs": {"total_iters": 500}},
        }
    )
    assert only(cfg, "decay.kwargs.total_iters") == (
        "the decay ends at step 500 (LinearLR's total_iters 500), 500 of the run's 1,000 optimizer steps (50%) "
        "before the run ends: the lr then stays at its final value; leave total_iters empty to decay over the "
        "rest of the run"
    )
    lr = compute_curve(cfg).lrs[:, 0]
    assert lr[499] > 0 and np.all(lr[500:] == 0.0)

    # 900: 100 steps (10%) at the floor are not "long before"; 899: 101 steps are.
    def at(n: int):
        return load_config(
            {**cfg.to_dict(), "decay": {"scheduler": "PolynomialLR", "kwargs": {"total_iters": n}}}
        )

    assert paths(at(900)) == [] and paths(at(899)) == ["decay.kwargs.total_iters"]
    wsd = load_config(
        {
            "training": {"dataset_size": 32000, "micro_batch_size": 32, "epochs": 1},
            "wsd": {"warmup_steps": 50, "stable_steps": 300, "decay_steps": 150},
        }
    )
    assert only(wsd, "wsd.stable_steps").startswith(
        "the decay ends at step 500 (warmup 50 + stable 300 + decay 150 steps), 500 of the run's 1,000"
    )


def test_a_sensible_design_has_no_warning() -> None:
    assert paths(load_config({})) == []
    assert paths(apply_preset("cosine")) == []


# --------------------------------------------------------------------------------------------------
# the CLI


def test_validate_prints_warning_lines_and_exits_0(tmp_path, capsys) -> None:
    design = {
        "name": "bad",
        "training": {"dataset_size": 32000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 1},
        "warmup": {"steps": 1000},
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.002}},
        "plateau": {"mode": "max"},
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(design))
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: 'bad': 250 optimizer steps")
    lines = err.splitlines()
    assert [line.split(": ")[:2] for line in lines] == [
        ["warning", "warmup.steps"],
        ["warning", "plateau.mode"],
        ["warning", "decay.kwargs.eta_min"],
    ]
    assert main(["validate", "-q", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == lines  # quiet drops the ok line, never a warning
    good = tmp_path / "good.json"
    good.write_text(apply_preset("cosine").to_json())
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.real
def test_validate_warns_in_a_real_process(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"decay": {"scheduler": "LinearLR", "kwargs": {"total_iters": 10}}}))
    proc = subprocess.run(
        [sys.executable, "-m", "schedules", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stderr.startswith("warning: decay.kwargs.total_iters: the decay ends at step 10 ")
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------------
# presets never warn

TRAININGS = [
    {},
    {"dataset_size": 105, "micro_batch_size": 1, "epochs": 1},
    {"dataset_size": 30, "micro_batch_size": 4, "accumulation_steps": 2, "epochs": 1},
    {"dataset_size": 1000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 3},
    {"dataset_size": 50000, "micro_batch_size": 32, "max_steps": 100},
    {"dataset_size": 1_281_167, "micro_batch_size": 64, "world_size": 8, "epochs": 2},
]


@pytest.mark.parametrize("name", list(PRESETS))
def test_no_preset_warns(name: str) -> None:
    for training in TRAININGS:
        cfg = apply_preset(name, {"training": training} if training else None)
        assert sanity_warnings(cfg) == [], (name, training)


@PROPERTY
@given(
    name=st.sampled_from(list(PRESETS)),
    n=st.integers(1, 5000),
    b=st.integers(1, 64),
    a=st.integers(1, 8),
    w=st.integers(1, 4),
    epochs=st.integers(1, 5),
    lr=st.floats(1e-6, 1.0),
    optimizer=st.sampled_from(["AdamW", "SGD", "Adam"]),
)
def test_no_preset_warns_on_any_training(name, n, b, a, w, epochs, lr, optimizer) -> None:
    training = {
        "dataset_size": n,
        "micro_batch_size": b,
        "accumulation_steps": a,
        "world_size": w,
        "epochs": epochs,
    }
    base = load_config({"optimizer": {"name": optimizer, "lr": lr}, "training": training})
    if base.plan.total_steps < 2:  # one optimizer step: any warmup is the whole run
        return
    assert sanity_warnings(apply_preset(name, base)) == []


# --------------------------------------------------------------------------------------------------
# properties: each warning fires exactly when its condition holds (the real curve is the judge)

trainings = st.fixed_dictionaries(
    {
        "dataset_size": st.integers(1, 400),
        "micro_batch_size": st.integers(1, 8),
        "accumulation_steps": st.integers(1, 4),
        "epochs": st.integers(1, 4),
    }
)


def rises(lr: np.ndarray, start: int = 0) -> bool:
    seg = lr[start:]
    return bool(np.any(np.diff(seg) > 1e-9 * max(1e-30, float(np.abs(seg).max(initial=0.0)))))


@PROPERTY
@given(
    training=trainings,
    warmup=st.one_of(
        st.fixed_dictionaries({"steps": st.integers(0, 400)}),
        st.fixed_dictionaries({"ratio": st.sampled_from([0.0, 0.05, 0.5, 0.9, 0.99, 1.0])}),
    ),
    start=st.sampled_from([0.0, 0.1, 0.5]),
    decay=st.sampled_from([None, {"scheduler": "CosineAnnealingLR"}, {"scheduler": "LinearLR"}]),
)
def test_the_warmup_warning_fires_exactly_when_the_peak_is_never_reached(
    training, warmup, start, decay
) -> None:
    cfg = load_config(
        {
            "optimizer": {"lr": 0.5},
            "training": training,
            "warmup": {**warmup, "start_factor": start},
            "decay": decay,
        }
    )
    lr = compute_curve(cfg).lrs[:, 0]
    never = lr.max() < 0.5 * (1 - 1e-9)
    assert (paths(cfg) == [f"warmup.{next(iter(warmup))}"]) == never
    assert paths(cfg) in ([], [f"warmup.{next(iter(warmup))}"])


def torch_best_moves(values: list[float], mode: str) -> bool:
    """Whether torch's ReduceLROnPlateau (threshold 0) ever finds a value better than the first."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, threshold=0.0, patience=10**6)
    plateau.step(values[0])
    first = plateau.best
    for v in values[1:]:
        plateau.step(v)
    return plateau.best != first


@PROPERTY
@given(
    mode=st.sampled_from(["min", "max"]),
    values=st.lists(st.sampled_from([0.1, 0.2, 0.5, 0.7, 0.9, 1.5, 2.0]), min_size=1, max_size=12),
    synthetic=st.booleans(),
)
def test_the_plateau_mode_warning_fires_exactly_when_the_metric_moves_against_the_mode(
    mode, values, synthetic
):
    metric = {"synthetic": {}} if synthetic else {"values": values}
    cfg = load_config({"plateau": {"mode": mode, "metric": metric}})
    if synthetic:
        expected = mode == "max"  # the synthetic metric is a loss
    else:
        other = "max" if mode == "min" else "min"
        # torch itself: the mode never sees an improvement on the first value, the opposite mode does
        expected = len(values) > 1 and not torch_best_moves(values, mode) and torch_best_moves(values, other)
    assert (paths(cfg) == ["plateau.mode"]) == expected


@PROPERTY
@given(
    training=trainings,
    scheduler=st.sampled_from(["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]),
    floor=st.one_of(
        st.fixed_dictionaries({"eta_min": st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7])}),
        st.fixed_dictionaries({"eta_min_ratio": st.sampled_from([0.0, 0.1, 0.5, 0.99, 1.0])}),
    ),
    scales=st.lists(st.sampled_from([0.05, 0.1, 0.5, 1.0, 2.0]), min_size=1, max_size=3),
)
def test_the_floor_warning_fires_exactly_when_a_group_never_decays(
    training, scheduler, floor, scales
) -> None:
    groups = [{"name": f"g{i}", "lr_scale": s} for i, s in enumerate(scales)] if len(scales) > 1 else None
    cfg = load_config(
        {
            "optimizer": {"lr": 0.5, "param_groups": groups},
            "training": training,
            "decay": {"scheduler": scheduler, "kwargs": floor},
        }
    )
    curve = compute_curve(cfg)
    if cfg.plan.total_steps < 2:
        return  # one row: nothing decays anyway
    base = np.array(cfg.optimizer.base_lrs())
    never = bool(np.any(curve.lrs.min(axis=0) >= base * (1 - 1e-12)))
    assert (paths(cfg) == [f"decay.kwargs.{next(iter(floor))}"]) == never


@PROPERTY
@given(
    training=trainings,
    warmup=st.integers(0, 60),
    hold=st.integers(0, 40),
    t_max=st.integers(1, 400),
    interval=st.sampled_from(["step", "epoch"]),
)
def test_the_t_max_warning_fires_exactly_when_the_cosine_climbs_back(
    training, warmup, hold, t_max, interval
) -> None:
    decay: dict[str, Any] = {
        "scheduler": "CosineAnnealingLR",
        "kwargs": {"T_max": t_max},
        "interval": interval,
    }
    if interval == "step":
        decay["hold_steps"] = hold
    cfg = load_config(
        {"optimizer": {"lr": 0.5}, "training": training, "warmup": {"steps": warmup}, "decay": decay}
    )
    lr = compute_curve(cfg).lrs[:, 0]
    start = cfg.plan.decay_start if interval == "step" else cfg.plan.warmup_steps
    climbs = start < len(lr) and rises(lr, start)
    assert ("decay.kwargs.T_max" in paths(cfg)) == climbs


@PROPERTY
@given(
    training=trainings,
    warmup=st.integers(0, 60),
    scheduler=st.sampled_from(["LinearLR", "PolynomialLR"]),
    total_iters=st.integers(1, 400),
    interval=st.sampled_from(["step", "epoch"]),
)
def test_the_early_end_warning_fires_exactly_when_the_run_idles_at_the_floor(
    training, warmup, scheduler, total_iters, interval
) -> None:
    cfg = load_config(
        {
            "optimizer": {"lr": 0.5},
            "training": training,
            "warmup": {"steps": warmup},
            "decay": {"scheduler": scheduler, "kwargs": {"total_iters": total_iters}, "interval": interval},
        }
    )
    lr = compute_curve(cfg).lrs[:, 0]
    t = len(lr)
    # Both decay to 0: the rows at the floor are the trailing zeros (a warmup from 0 has its zero at row 0).
    nonzero = np.nonzero(lr)[0]
    idle = t - (int(nonzero[-1]) + 1) if len(nonzero) else 0
    expected = idle > max(1, 0.1 * t)
    assert ("decay.kwargs.total_iters" in paths(cfg)) == expected


@PROPERTY
@given(
    training=trainings,
    warmup=st.integers(0, 30),
    stable=st.integers(0, 200),
    decay=st.integers(1, 200),
    floor=st.sampled_from([0.0, 0.1]),
)
def test_the_wsd_early_end_warning_fires_exactly_when_the_run_idles_at_the_floor(
    training, warmup, stable, decay, floor
):
    cfg = load_config(
        {
            "optimizer": {"lr": 0.5},
            "training": training,
            "wsd": {
                "warmup_steps": warmup,
                "stable_steps": stable,
                "decay_steps": decay,
                "min_lr_ratio": floor,
            },
        }
    )
    lr = compute_curve(cfg).lrs[:, 0]
    t = len(lr)
    at_floor = np.isclose(lr, 0.5 * floor, rtol=0, atol=1e-15)
    # the trailing rows at the floor after the decay (not the warmup's first rows)
    idle = 0
    for k in range(t - 1, warmup - 1, -1):
        if not at_floor[k] or k < warmup + stable:
            break
        idle += 1
    expected = idle > max(1, 0.1 * t)
    assert ("wsd.stable_steps" in paths(cfg)) == expected


def test_property_helpers_agree_with_torch() -> None:
    assert torch_best_moves([0.5, 0.6, 0.7], "max") and not torch_best_moves([0.5, 0.6, 0.7], "min")
    assert rises(np.array([1.0, 0.5, 0.6])) and not rises(np.array([1.0, 0.5, 0.5]))
    assert math.isclose(0.1 * 0.5, 0.05)


# --------------------------------------------------------------------------------------------------
# Compare's pure helpers (schedules/compare.py)


def test_identical_curves_groups_equal_lines_only() -> None:
    import pandas as pd

    from schedules.compare import identical_curves, lr_per_sample, same_lr_other_batch

    a = pd.DataFrame({"step": [0, 1, 2], "samples": [4, 8, 12], "lr": [0.0, 0.5, 1.0]})
    b = a.copy()
    c = a.assign(lr=[0.0, 0.5, 0.9])
    d = a.assign(samples=[8, 16, 24])  # same steps, other samples: equal only on the step axis
    f32 = a.assign(lr=a["lr"].astype("float32"))  # a mistake curve kept in float32: the same line drawn
    frames = {"a": a, "b": b, "c": c, "d": d, "f32": f32}
    assert identical_curves(frames, "samples") == [["a", "b", "f32"]]
    assert identical_curves(frames, "step") == [["a", "b", "d", "f32"]]
    assert lr_per_sample(3e-4, 128) == 3e-4 / 128
    pairs = same_lr_other_batch({"A=1": (1.0, 4), "A=4": (1.0, 16), "rescaled": (4.0, 16), "big": (1.0, 2)})
    assert pairs == [("A=1", "A=4"), ("big", "A=1"), ("big", "A=4")]
