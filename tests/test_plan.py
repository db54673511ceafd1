"""Step accounting against the worked examples of CONTRACT.md section 2, computed by hand."""

import pytest

from schedules import ConfigError, load_config, make_plan


def plan_for(**training):
    base = {
        "dataset_size": 1000,
        "micro_batch_size": 32,
        "accumulation_steps": 4,
        "world_size": 1,
        "epochs": 3,
    }
    return make_plan(load_config({"training": {**base, **training}}))


def test_worked_example():
    p = plan_for()
    assert (p.micro_batches_per_epoch, p.steps_per_epoch, p.total_steps) == (32, 8, 24)
    assert p.effective_batch == 128
    # The last micro-batch of an epoch has 1000 - 31 * 32 = 8 samples; the last window 3 * 32 + 8 = 104.
    assert p.micro_batch_samples(31) == 8
    last = p.window(7)
    assert (last.micro_batches, last.samples, last.samples_through) == (4, 104, 1000)
    assert p.window(8).epoch == 1 and p.window(8).samples_through == 1128
    assert p.window(23).samples_through == 3000


def test_worked_example_drop_last():
    p = plan_for(drop_last=True)
    assert (p.micro_batches_per_epoch, p.steps_per_epoch, p.total_steps) == (31, 8, 24)
    assert [p.window(s).micro_batches for s in range(8)] == [4, 4, 4, 4, 4, 4, 4, 3]
    assert [p.window(s).samples for s in range(8)] == [128] * 7 + [96]
    assert p.samples_per_epoch == 31 * 32 == 992
    assert p.window(8).samples_through == 992 + 128


def test_max_steps_overrides_epochs_and_continues_epochs():
    p = plan_for(max_steps=30)
    assert p.total_steps == 30
    assert p.epoch_of(29) == 3  # 30 steps at 8 per epoch reach into a fourth epoch (0-based 3)
    assert p.total_epochs == 4
    assert p.samples_array()[-1] == 3 * 1000 + 6 * 128


def test_world_size_two():
    # L = ceil(1000 / (32 * 2)) = 16 per rank, S = ceil(16 / 4) = 4, T = 12; effective batch 32*4*2 = 256.
    p = plan_for(world_size=2)
    assert (p.micro_batches_per_epoch, p.steps_per_epoch, p.total_steps, p.effective_batch) == (
        16,
        4,
        12,
        256,
    )
    # Rounds of 64 samples; the 16th round has 1000 - 15 * 64 = 40.
    assert p.micro_batch_samples(15) == 40
    assert [p.window(s).samples for s in range(4)] == [256, 256, 256, 232]
    # drop_last: floor(1000 / 64) = 15 micro-batches, windows 4,4,4,3.
    d = plan_for(world_size=2, drop_last=True)
    assert (d.micro_batches_per_epoch, d.steps_per_epoch) == (15, 4)
    assert [d.window(s).micro_batches for s in range(4)] == [4, 4, 4, 3]


def test_partial_window_is_flushed_and_windows_never_span_epochs():
    # L = ceil(100 / 10) = 10 micro-batches, A = 3: windows 3, 3, 3, 1 -> S = 4.
    p = plan_for(dataset_size=100, micro_batch_size=10, accumulation_steps=3, epochs=2)
    assert p.steps_per_epoch == 4 and p.total_steps == 8
    assert [p.window(s).micro_batches for s in range(8)] == [3, 3, 3, 1] * 2
    assert [p.window(s).first_micro_batch for s in range(4)] == [0, 3, 6, 9]
    assert p.samples_array().tolist() == [30, 60, 90, 100, 130, 160, 190, 200]
    assert p.epochs_array().tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_warmup_from_ratio_is_ceil_of_total_times_ratio():
    cfg = {"training": {"dataset_size": 1000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 3}}
    assert make_plan(load_config({**cfg, "warmup": {"ratio": 0.1}})).warmup_steps == 3  # ceil(2.4)
    assert make_plan(load_config({**cfg, "warmup": {"ratio": 0.25}})).warmup_steps == 6
    assert make_plan(load_config({**cfg, "warmup": {"steps": 5}})).warmup_steps == 5


def test_decay_length_step_and_epoch_intervals():
    cfg = {"training": {"dataset_size": 1000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 3}}
    step = make_plan(
        load_config({**cfg, "warmup": {"steps": 5}, "decay": {"scheduler": "CosineAnnealingLR"}})
    )
    assert step.decay_length == 24 - 5
    # Epoch ends are after steps 7, 15, 23; those at or after warmup end (k >= 10) are 15 and 23.
    epoch = make_plan(
        load_config({**cfg, "warmup": {"steps": 10}, "decay": {"scheduler": "StepLR", "interval": "epoch"}})
    )
    assert epoch.decay_length == 2
    assert epoch.eval_steps("epoch").tolist() == [7, 15, 23]
    assert epoch.eval_steps(5).tolist() == [4, 9, 14, 19]


def test_drop_last_with_too_small_dataset_names_the_field():
    with pytest.raises(ConfigError) as exc:
        load_config({"training": {"dataset_size": 10, "micro_batch_size": 32, "drop_last": True}})
    assert exc.value.lines() == [
        "training.dataset_size: with drop_last, must be >= micro_batch_size * world_size = 32 "
        "(else no full micro-batch), got 10"
    ]
