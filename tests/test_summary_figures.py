"""The Designer's summary card as text, computed beside ``Curve.summary()`` without Streamlit."""

from __future__ import annotations

import pytest

from schedules import compute_curve
from schedules.curve import format_lr


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (3e-4, "3e-4"), (3.73e-11, "3.73e-11"), (0.1, "0.1"), (0.01, "0.01"), (1234.0, "1.23e3")],
)
def test_format_lr(value: float, text: str) -> None:
    assert format_lr(value) == text


def test_figures_and_note_of_one_group() -> None:
    curve = compute_curve(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {"dataset_size": 1000, "micro_batch_size": 10, "accumulation_steps": 3, "epochs": 2},
            "warmup": {"steps": 5},
            "decay": {"scheduler": "CosineAnnealingLR", "hold_steps": 4},
        }
    )
    figures, note = curve.summary_figures()
    values = {label: value for label, value, _ in figures}
    assert values == {
        "Total steps": "68",
        "Warmup steps": "5",
        "Steps / epoch": "34",
        "Effective batch": "30",
        "Peak lr": "0.1",
        "Final lr": format_lr(float(curve.lrs[-1, 0])),
    }
    assert dict((label, why) for label, _, why in figures)["Peak lr"] == "First reached at step 5."
    assert note == "2 epoch(s) · 2,000 samples · hold 4 steps"


def test_several_groups_report_the_largest_base_lr() -> None:
    curve = compute_curve(
        {
            "optimizer": {
                "name": "AdamW",
                "lr": 1e-3,
                "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "<head>", "lr_scale": 1.0}],
            },
            "training": {"max_steps": 50},
            "plateau": {"patience": 0},
        }
    )
    figures, note = curve.summary_figures()
    labels = [label for label, _, _ in figures]
    assert "Peak lr (<head>)" in labels and "Final lr (<head>)" in labels  # plain text: the card escapes it
    assert dict((label, value) for label, value, _ in figures)["Peak lr (<head>)"] == "1e-3"
    assert note.endswith(f"plateau reduction(s) in {len(curve.evaluations)} evaluations")


def test_steps_per_epoch_hover_shows_the_formula_with_the_numbers() -> None:
    # N=1000, b=10, W=2, A=3: ceil(1000 / 20) = 50 micro-batches per rank, ceil(50 / 3) = 17 steps.
    training = {"dataset_size": 1000, "micro_batch_size": 10, "world_size": 2, "accumulation_steps": 3}
    curve = compute_curve({"training": {**training, "epochs": 1}})
    why = dict((label, why) for label, _, why in curve.summary_figures()[0])["Steps / epoch"]
    assert why == (
        "ceil(ceil(N / (b x W)) / A) = ceil(ceil(1,000 / (10 x 2)) / 3) = ceil(50 / 3) = 17 optimizer steps per "
        "epoch (N samples, b micro-batch size, W ranks, A accumulation steps)"
    )
    # drop_last: N=1005 -> floor(1005 / 20) = 50 (ceil would be 51 -> 17 either way; A=5 shows it: 10 vs 11)
    curve = compute_curve(
        {"training": {**training, "dataset_size": 1005, "accumulation_steps": 5, "drop_last": True}}
    )
    why = dict((label, why) for label, _, why in curve.summary_figures()[0])["Steps / epoch"]
    assert why.startswith(
        "ceil(floor(N / (b x W)) / A) = ceil(floor(1,005 / (10 x 2)) / 5) = ceil(50 / 5) = 10 "
    )
