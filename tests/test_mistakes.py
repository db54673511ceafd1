"""The stepping-mistake variants and the compare helpers, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from schedules import ConfigError, compute_curve, load_config, lr_curve, make_plan
from schedules.compare import accumulation_variant, flatten, parameter_diff
from schedules.mistakes import MISTAKES, micro_batches_per_step, mistake_curve, unadjusted_config


def small(**overrides) -> dict:
    """lr 1, 32 samples of 1 per micro-batch, accumulation 4, 2 epochs: 8 steps per epoch, 16 in all."""
    cfg = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "training": {"dataset_size": 32, "micro_batch_size": 1, "accumulation_steps": 4, "epochs": 2},
        "warmup": {"steps": 4, "start_factor": 0.0},
    }
    cfg.update(overrides)
    return cfg


def lrs(cfg, kind) -> list[float]:
    return mistake_curve(cfg, kind)["lr"].round(12).tolist()


def test_warmup_4_accumulation_4_by_hand() -> None:
    cfg = small()
    assert lrs(cfg, "correct")[:6] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    # Per micro-batch: 3 scheduler steps happen before the first optimizer step, 7 before the second.
    assert lrs(cfg, "per_micro_batch")[:3] == [0.75, 1.0, 1.0]
    # Before optimizer.step(): every step uses the next row's lr.
    assert lrs(cfg, "before_optimizer_step")[:5] == [0.25, 0.5, 0.75, 1.0, 1.0]
    # Fixed warmup steps do not change when lengths are counted in micro-batches.
    assert lrs(cfg, "unadjusted_accumulation") == lrs(cfg, "correct")


def test_rows_follow_the_correct_plan() -> None:
    frame = mistake_curve(small(), "per_micro_batch")
    plan = make_plan(load_config(small()))
    assert list(frame.columns) == ["step", "samples", "lr"]
    assert frame["step"].tolist() == list(range(16))
    assert frame["samples"].tolist() == plan.samples_array().tolist()
    assert frame["samples"].iloc[3] == 16  # 4 windows of 4 samples


def test_unadjusted_ratio_warmup_and_decay_by_hand() -> None:
    # Correct: warmup ceil(0.25 * 16) = 4, LinearLR 1 -> 0 over the other 12 steps.
    # Unadjusted: sized for 64 micro-batch "steps": warmup 16, so training (16 steps) never leaves it.
    cfg = small(warmup={"ratio": 0.25}, decay={"scheduler": "LinearLR"})
    correct = lrs(cfg, "correct")
    assert correct[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert correct[10] == pytest.approx(1 - 6 / 12)
    wrong = lrs(cfg, "unadjusted_accumulation")
    assert wrong == pytest.approx([k / 16 for k in range(16)])
    assert make_plan(unadjusted_config(load_config(cfg))).total_steps == 64


def test_unadjusted_max_steps_counts_micro_batches() -> None:
    cfg = small(
        training={"dataset_size": 32, "micro_batch_size": 1, "accumulation_steps": 4, "max_steps": 10}
    )
    assert unadjusted_config(load_config(cfg)).training.max_steps == 40


def test_per_micro_batch_partial_windows() -> None:
    # 30 micro-batches per epoch, accumulation 4: 7 full windows and one of 2 (windows never span epochs).
    cfg = small(training={"dataset_size": 30, "micro_batch_size": 1, "accumulation_steps": 4, "epochs": 2})
    plan = make_plan(load_config(cfg))
    counts = micro_batches_per_step(plan)
    assert counts.tolist() == [plan.window(k).micro_batches for k in range(plan.total_steps)]
    assert counts.tolist()[:8] == [4, 4, 4, 4, 4, 4, 4, 2]


def test_one_cycle_stepped_per_micro_batch_fails_like_torch() -> None:
    cfg = small(warmup=None, decay={"scheduler": "OneCycleLR"})
    frame = mistake_curve(cfg, "per_micro_batch")
    assert "Tried to step" in frame.attrs["note"]
    assert np.isnan(frame["lr"].iloc[-1])
    assert not np.isnan(frame["lr"].iloc[0])
    # 16 optimizer steps of 4 micro-batches: row k reads the lr after 4k + 3 scheduler steps, the
    # correct curve's row 4k + 3, until the 17th scheduler step raises (in optimizer step 4)
    assert frame.attrs["note"].startswith("torch raised at optimizer step 4:")
    correct = lr_curve(cfg)["lr"].to_numpy()
    assert frame["lr"].iloc[:4].tolist() == correct[[3, 7, 11, 15]].tolist()
    assert np.isnan(frame["lr"].to_numpy()[4:]).all()


def test_accumulation_1_only_before_step_differs() -> None:
    cfg = small(training={"dataset_size": 32, "micro_batch_size": 1, "accumulation_steps": 1, "epochs": 1})
    correct = lrs(cfg, "correct")
    assert lrs(cfg, "per_micro_batch") == correct
    assert lrs(cfg, "unadjusted_accumulation") == correct
    assert lrs(cfg, "before_optimizer_step") != correct


def test_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="kind"):
        mistake_curve(small(), "sideways")  # type: ignore[arg-type]
    assert set(MISTAKES) == {"per_micro_batch", "before_optimizer_step", "unadjusted_accumulation"}


def test_accumulation_variant_keeps_effective_batch() -> None:
    base = load_config(
        small(training={"dataset_size": 64, "micro_batch_size": 8, "accumulation_steps": 1, "epochs": 1})
    )
    v = accumulation_variant(base, 4)
    assert (v.training.micro_batch_size, v.training.accumulation_steps) == (2, 4)
    assert make_plan(v).effective_batch == make_plan(base).effective_batch == 8
    assert compute_curve(v).lrs.tolist() == compute_curve(base).lrs.tolist()  # same samples per step
    grown = accumulation_variant(base, 4, keep="micro_batch")
    assert make_plan(grown).effective_batch == 32
    with pytest.raises(ConfigError, match="accumulation_steps"):
        accumulation_variant(base, 3)


def test_parameter_diff_lists_only_differences() -> None:
    a = load_config(small())
    b = load_config(small(warmup={"steps": 8}))
    diff = parameter_diff({"a": a, "b": b})
    assert diff["parameter"].tolist() == ["warmup.steps", "= warmup_steps"]
    assert diff.iloc[0].tolist() == ["warmup.steps", "4", "8"]
    assert len(parameter_diff({"a": a, "a2": a})) == 0
    assert flatten({"x": {"y": 1, "z": [1, 2]}, "k": {}}) == {"x.y": 1, "x.z": [1, 2], "k": "{}"}
