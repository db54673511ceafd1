"""The live run: accumulation, the recorded lr, variants, plateau, divergence, stop, caps, CLI.

Real torch on CPU throughout; every run is a few hundred steps of a tiny model.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

from schedules import load_config, lr_curve
from schedules.cli import main
from schedules.design import ConfigError, make_plan
from schedules.train.base import (
    BEFORE_OPTIMIZER,
    MAX_LIVE_DATASET,
    MAX_LIVE_STEPS,
    PER_MICRO_BATCH,
    Diverged,
    ScheduleFailed,
    check_live,
    record_columns,
    resolve_device,
)
from schedules.train.loop import LiveSetup, train
from schedules.train.models import make_model, param_groups
from schedules.train.runs import LiveRun, live_run_for
from schedules.train.settings import comparison_settings, other_split

# 2600 = 40 * 64 + 40: every epoch ends with a short window (64x1: one micro-batch of 40 samples;
# 16x4: three micro-batches of 16, 16 and 8).
SGD = {
    "name": "sgd warmup cosine",
    "optimizer": {"name": "SGD", "lr": 0.2},
    "training": {"dataset_size": 2600, "micro_batch_size": 64, "accumulation_steps": 1, "epochs": 3},
    "warmup": {"steps": 20, "start_factor": 0.0},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.001}},
}


def config(base: dict = SGD, **training) -> dict:
    c = copy.deepcopy(base)
    c["training"].update(training)
    return c


def run_frame(cfg, **kwargs) -> pd.DataFrame:
    training = train(cfg, device="cpu", **kwargs)
    return training.frame(list(training))


@pytest.fixture(scope="module")
def mlp_64x1() -> pd.DataFrame:
    return run_frame(config(micro_batch_size=64, accumulation_steps=1))


@pytest.fixture(scope="module")
def mlp_16x4() -> pd.DataFrame:
    return run_frame(config(micro_batch_size=16, accumulation_steps=4))


# --------------------------------------------------------------------------------------------------
# accumulation


def test_64x1_and_16x4_give_the_same_loss_at_every_step(mlp_64x1, mlp_16x4) -> None:
    assert len(mlp_64x1) == len(mlp_16x4) == 123  # 41 steps per epoch (the last one short) x 3
    rel = (mlp_64x1["loss"] - mlp_16x4["loss"]).abs() / mlp_64x1["loss"].abs()
    assert rel.max() < 1e-4, f"max relative difference {rel.max():.3g} at step {rel.idxmax()}"
    for column in ("step", "epoch", "samples", "window_samples", "lr"):
        assert mlp_64x1[column].tolist() == mlp_16x4[column].tolist(), column
    assert mlp_16x4["micro_batches"].iloc[40] == 3 and mlp_16x4["window_samples"].iloc[40] == 40
    assert mlp_64x1["loss"].iloc[-10:].mean() < mlp_64x1["loss"].iloc[:10].mean()  # it learns


def test_the_cnn_is_equivalent_too() -> None:
    a = run_frame(config(micro_batch_size=64, accumulation_steps=1, epochs=1), model="cnn")
    b = run_frame(config(micro_batch_size=16, accumulation_steps=4, epochs=1), model="cnn")
    rel = (a["loss"] - b["loss"]).abs() / a["loss"].abs()
    assert rel.max() < 1e-4


def test_float64_equivalence_is_exact_to_rounding() -> None:
    a = run_frame(config(micro_batch_size=64, accumulation_steps=1, epochs=1), dtype="float64")
    b = run_frame(config(micro_batch_size=16, accumulation_steps=4, epochs=1), dtype="float64")
    assert ((a["loss"] - b["loss"]).abs() / a["loss"]).max() < 1e-12


def test_a_short_window_gradient_is_the_mean_over_its_samples() -> None:
    """Accumulating 16+16+8 samples gives the gradient of the mean loss over those 40 samples."""
    cfg = load_config(config(micro_batch_size=16, accumulation_steps=4))
    plan = make_plan(cfg)
    setup = LiveSetup(cfg, plan, model="mlp", seed=3, device="cpu", dtype="float64")
    window = plan.window(40)
    assert (window.micro_batches, window.samples) == (3, 40)
    batches = list(setup.micro_batches(window))
    assert [len(b) for b in batches] == [16, 16, 8]
    for idx in batches:
        (setup.loss_sum(idx) / window.samples).backward()
    accumulated = [p.grad.clone() for p in setup.model.parameters()]
    setup.model.zero_grad()
    everything = torch.cat(batches)
    (setup.loss_sum(everything) / len(everything)).backward()
    for got, want in zip(accumulated, (p.grad for p in setup.model.parameters()), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_sample_order_does_not_depend_on_the_micro_batch_size() -> None:
    def window_samples(b: int, a: int, step: int) -> list[int]:
        cfg = load_config(config(micro_batch_size=b, accumulation_steps=a))
        plan = make_plan(cfg)
        setup = LiveSetup(cfg, plan, model="mlp", seed=7, device="cpu", dtype="float32")
        return torch.cat(list(setup.micro_batches(plan.window(step)))).tolist()

    for step in (0, 17, 40, 41, 100):
        assert window_samples(64, 1, step) == window_samples(16, 4, step) == window_samples(8, 8, step)
    assert window_samples(64, 1, 0) != window_samples(64, 1, 41)  # a new permutation each epoch


def test_the_per_micro_batch_scheduler_bug_visibly_differs(mlp_16x4) -> None:
    bug = run_frame(config(micro_batch_size=16, accumulation_steps=4), variant=PER_MICRO_BATCH)
    # Warmup (20 steps) ends after 20 / 4 = 5 optimizer steps instead of 20.
    assert bug["lr"].iloc[5] == pytest.approx(0.2, rel=0.01) and mlp_16x4["lr"].iloc[5] < 0.06
    rel = (bug["loss"] - mlp_16x4["loss"]).abs() / mlp_16x4["loss"]
    assert rel.max() > 0.02, f"only {rel.max():.3g} apart"
    mistakes = pytest.importorskip("schedules.mistakes")
    expected = mistakes.mistake_curve(
        load_config(config(micro_batch_size=16, accumulation_steps=4)), "per_micro_batch"
    )
    np.testing.assert_array_equal(bug["lr"].to_numpy(), expected["lr"].to_numpy())


def test_scheduler_before_optimizer_skips_the_first_lr() -> None:
    cfg = config(micro_batch_size=16, accumulation_steps=4, epochs=1)
    frame = run_frame(cfg, variant=BEFORE_OPTIMIZER)
    curve = lr_curve(cfg)["lr"].to_numpy()
    np.testing.assert_array_equal(frame["lr"].to_numpy()[:-1], curve[1:])
    assert curve[0] == 0.0 and frame["lr"].iloc[0] > 0


# --------------------------------------------------------------------------------------------------
# the recorded lr is the designed curve


CURVE_CASES = {
    "warmup + cosine, 2 groups, short windows": {
        **config(micro_batch_size=16, accumulation_steps=3),
        "optimizer": {
            "name": "AdamW",
            "lr": 0.003,
            "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
        },
    },
    "StepLR per epoch, drop_last": {
        "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9}},
        "training": {
            "dataset_size": 1000,
            "micro_batch_size": 32,
            "accumulation_steps": 4,
            "epochs": 4,
            "drop_last": True,
        },
        "warmup": {"steps": 5, "start_factor": 0.1},
        "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 1, "gamma": 0.5}, "interval": "epoch"},
    },
    "OneCycleLR, 2 ranks": {
        "optimizer": {"name": "SGD", "lr": 0.05},
        "training": {
            "dataset_size": 3000,
            "micro_batch_size": 16,
            "accumulation_steps": 2,
            "world_size": 2,
            "epochs": 2,
        },
        "decay": {"scheduler": "OneCycleLR"},
    },
}


@pytest.mark.parametrize("case", list(CURVE_CASES))
def test_recorded_lr_equals_lr_curve_exactly(case: str) -> None:
    cfg = load_config(CURVE_CASES[case])
    frame = run_frame(cfg)
    curve = lr_curve(cfg)
    assert len(frame) == len(curve)
    for column in curve.columns:
        np.testing.assert_array_equal(frame[column].to_numpy(), curve[column].to_numpy(), err_msg=column)


def test_max_steps_runs_the_first_rows_of_the_designed_curve() -> None:
    frame = run_frame(SGD, max_steps=30)
    np.testing.assert_array_equal(frame["lr"].to_numpy(), lr_curve(SGD)["lr"].to_numpy()[:30])
    assert not math.isnan(frame["val_loss"].iloc[-1])  # the last step is evaluated


def test_param_groups_split_body_and_head() -> None:
    model = make_model("mlp", 0)
    two = param_groups(model, 2)
    assert [len(g) for g in two] == [4, 2]  # backbone: 2 layers x (weight, bias); head: the last layer
    assert two[1][0] is model.layers[-1].weight
    assert [len(g) for g in param_groups(model, 5)] == [2, 2, 0, 0, 2]
    assert sum(len(g) for g in param_groups(model, 1)) == 6


def test_plateau_is_fed_the_real_validation_loss() -> None:
    cfg = {
        **config(micro_batch_size=32, accumulation_steps=2, epochs=2),
        "decay": None,
        "warmup": None,
        # An improvement must beat the best by 10: never, so every evaluation after the first reduces.
        "plateau": {
            "mode": "min",
            "factor": 0.5,
            "patience": 0,
            "threshold": 10.0,
            "threshold_mode": "abs",
            "eval_every": 10,
            "metric": {"synthetic": {"start": 99.0, "floor": 98.0}},
        },
    }
    training = train(cfg, device="cpu")
    frame = training.frame(list(training))
    evaluations = training.schedule.evaluations
    assert [e.step for e in evaluations] == list(range(9, len(frame), 10))
    for e in evaluations:
        assert e.metric == frame["val_loss"].iloc[e.step]
        assert 1.0 < e.metric < 3.0  # a cross-entropy over 10 classes, not the synthetic 98-99
    assert frame["val_loss"].notna().sum() == len(evaluations) + (0 if (len(frame) - 1) % 10 == 9 else 1)
    lr = frame["lr"].to_numpy()
    assert lr[10] == lr[0] and lr[20] == pytest.approx(lr[0] / 2) and lr[30] == pytest.approx(lr[0] / 4)


def test_val_loss_is_recorded_at_epoch_ends_without_plateau(mlp_64x1) -> None:
    steps = mlp_64x1.loc[mlp_64x1["val_loss"].notna(), "step"].tolist()
    assert steps == [40, 81, 122]


# --------------------------------------------------------------------------------------------------
# divergence and stop


HUGE_LR = {
    "optimizer": {"name": "SGD", "lr": 10.0},
    "training": {"dataset_size": 5000, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 2},
}


def test_a_huge_lr_diverges_with_a_clear_message() -> None:
    training = train(HUGE_LR, device="cpu", model="linear")
    records = []
    with pytest.raises(
        Diverged, match=r"loss became (nan|inf) at step (\d+) \(lr 10\): stopping; \2 steps recorded"
    ):
        for r in training:
            records.append(r)
    assert 0 < len(records) < 40 and all(math.isfinite(r.loss) for r in records)


def test_cli_train_writes_the_partial_csv_and_exits_1(tmp_path, capsys) -> None:
    path = tmp_path / "huge.json"
    path.write_text(load_config(HUGE_LR).to_json())
    out = tmp_path / "run.csv"
    code = main(["train", str(path), "-o", str(out), "--device", "cpu", "--model", "linear"])
    err = capsys.readouterr().err
    assert code == 1
    assert "loss became" in err and "steps recorded" in err and "Traceback" not in err
    frame = pd.read_csv(out)
    recorded = int(err.split("; ")[-1].split()[0])
    assert len(frame) == recorded > 0
    assert {"step", "epoch", "lr", "loss", "samples"} <= set(frame.columns)


def test_cli_train_csv_matches_the_curve(tmp_path, capsys) -> None:
    path = tmp_path / "design.json"
    path.write_text(load_config(SGD).to_json())
    out = tmp_path / "run.csv"
    code = main(["train", str(path), "-o", str(out), "--device", "cpu", "--seed", "3", "--max-steps", "25"])
    assert code == 0, capsys.readouterr().err
    frame = pd.read_csv(out)
    assert list(frame.columns) == record_columns(["default"])
    np.testing.assert_array_equal(frame["lr"].to_numpy(), lr_curve(SGD)["lr"].to_numpy()[:25])
    assert "trained 25 steps on cpu" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--max-steps", "0"], "max_steps"),
        (["--max-steps", str(MAX_LIVE_STEPS + 1)], "max_steps"),
        (["--seed", "-1"], "seed"),
    ],
)
def test_cli_train_rejects_bad_arguments_with_exit_2(tmp_path, capsys, args, field) -> None:
    path = tmp_path / "design.json"
    path.write_text(load_config(SGD).to_json())
    assert main(["train", str(path), "--device", "cpu", *args]) == 2
    assert capsys.readouterr().err.startswith(f"{field}: ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_device_cuda_without_cuda_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "design.json"
    path.write_text(load_config(SGD).to_json())
    assert main(["train", str(path), "--device", "cuda"]) == 2
    assert "device: cuda was requested but torch.cuda.is_available() is False" in capsys.readouterr().err


def test_auto_picks_cuda_when_available() -> None:
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("cuda", cuda_available=True) == "cuda"
    assert resolve_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device: cuda was requested"):
        resolve_device("cuda", cuda_available=False)


def test_stop_event_and_callable_end_the_run_between_micro_batches() -> None:
    event = threading.Event()
    training = train(config(micro_batch_size=16, accumulation_steps=4), device="cpu", stop=event)
    seen = []
    for r in training:
        seen.append(r)
        if len(seen) == 5:
            event.set()
    assert len(seen) == 5 and training.stopped
    calls = []
    training = train(SGD, device="cpu", stop=lambda: len(calls) > 3 or calls.append(1))
    assert len(list(training)) == 4 and training.stopped  # 4 checks pass, the 5th stops


def test_onecycle_stepped_per_micro_batch_fails_like_torch_does() -> None:
    cfg = {
        **config(micro_batch_size=16, accumulation_steps=4, epochs=1),
        "warmup": None,
        "decay": {"scheduler": "OneCycleLR"},
    }
    training = train(cfg, device="cpu", variant=PER_MICRO_BATCH)
    records = []
    with pytest.raises(
        ScheduleFailed,
        match=r"torch refused to step the scheduler at optimizer step (\d+) .*; \1 steps recorded",
    ):
        for r in training:
            records.append(r)
    # OneCycleLR allows total_steps (41) scheduler steps: 4 per optimizer step, so it fails in step 10.
    assert len(records) == 10


# --------------------------------------------------------------------------------------------------
# caps


def test_caps_name_the_field() -> None:
    big = load_config(config(dataset_size=MAX_LIVE_DATASET + 1, micro_batch_size=64))
    with pytest.raises(ConfigError, match=r"training\.dataset_size: must be <= 200000 for the live run"):
        check_live(big)
    long = load_config(config(dataset_size=100_000, micro_batch_size=1, epochs=1))
    with pytest.raises(
        ConfigError, match=r"training\.epochs: the live run takes at most 20000 optimizer steps"
    ):
        check_live(long)
    assert check_live(long, max_steps=100) == 100
    wide = load_config(config(micro_batch_size=2048, world_size=4))
    with pytest.raises(
        ConfigError, match=r"training\.micro_batch_size: micro_batch_size \* world_size must be <= 4096"
    ):
        check_live(wide)
    with pytest.raises(ConfigError, match=r"model: must be one of mlp, cnn, linear"):
        check_live(load_config(SGD), model="resnet")


# --------------------------------------------------------------------------------------------------
# background runs


def test_comparison_settings() -> None:
    cfg = load_config(config(micro_batch_size=64, accumulation_steps=1))
    settings, notes = comparison_settings(
        cfg, same_batch_other_split=True, per_micro_batch_bug=True, before_optimizer_bug=True
    )
    assert [(s.label, s.split, s.variant) for s in settings] == [
        ("64x1 design", (64, 1), "correct"),
        ("16x4 same batch", (16, 4), "correct"),
        ("16x4 bug: sched per micro-batch", (16, 4), PER_MICRO_BATCH),
        ("64x1 bug: sched before optimizer", (64, 1), BEFORE_OPTIMIZER),
    ]
    assert notes == []
    assert other_split(16, 4) == (64, 1) and other_split(6, 1) == (3, 2) and other_split(1, 1) is None


def test_live_run_runs_jobs_in_the_background_and_stops_within_a_second() -> None:
    cfg = load_config(config(dataset_size=50_000, micro_batch_size=16, accumulation_steps=4, epochs=10))
    settings, _ = comparison_settings(cfg, same_batch_other_split=True)
    run = live_run_for(settings, device="cpu", max_steps=MAX_LIVE_STEPS, slots=threading.BoundedSemaphore(1))
    assert run.snapshot().status == "ready"
    assert run.start()
    deadline = time.monotonic() + 20
    while run.snapshot().done < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.stop()
    assert run.join(30.0), "the run did not stop"  # a generous bound against a hang only
    snap = run.snapshot()
    # Stop is checked every micro-batch: the thread ended after at most a few more micro-batches
    # (bench/run.py reports the Stop latency in seconds).
    assert snap.status == "stopped" and snap.done < 60_000
    # Interleaved round robin: both settings ran, each has about half the steps.
    assert snap.outcomes == {"16x4 design": "stopped", "64x1 same batch": "stopped"}
    sizes = [len(f) for f in snap.frames.values()]
    assert abs(sizes[0] - sizes[1]) <= 1 and min(sizes) >= 10
    csv = run.frame()
    assert list(csv.columns[:4]) == ["setting", "variant", "micro_batch_size", "accumulation_steps"]
    assert len(csv) == snap.done >= 20


def test_settings_run_interleaved_and_each_gives_what_it_gives_alone() -> None:
    """Round robin per optimizer step: the records are in turn order, and interleaving changes nothing."""
    cfg = load_config(config(micro_batch_size=16, accumulation_steps=4))
    settings, _ = comparison_settings(cfg, same_batch_other_split=True, per_micro_batch_bug=True)
    run = live_run_for(settings, device="cpu", max_steps=12, slots=threading.BoundedSemaphore(1))
    order: list[str] = []
    for job in run.jobs:  # record the order in which the worker takes records
        job.records = _tagged(job.records, job.label, order)
    assert run.start() and run.join(60)
    labels = [s.label for s in settings]
    assert order == labels * 12  # one step of each setting in turn, never two of one in a row
    snap = run.snapshot()
    assert snap.outcomes == dict.fromkeys(labels, "done")
    for s in settings:
        alone = run_frame(s.config, max_steps=12, variant=s.variant)
        got = snap.frames[s.label]
        assert got["loss"].tolist() == alone["loss"].tolist()  # bit for bit
        assert got["lr"].tolist() == alone["lr"].tolist()


def _tagged(records, label: str, order: list[str]):
    for record in records:
        order.append(label)
        yield record


def test_settings_a_stop_never_reached_are_not_run_and_the_csv_keeps_integers() -> None:
    cfg = load_config(config(micro_batch_size=16, accumulation_steps=4))
    settings, _ = comparison_settings(cfg, same_batch_other_split=True, per_micro_batch_bug=True)
    run = live_run_for(settings, device="cpu", max_steps=50, slots=threading.BoundedSemaphore(1))
    first = run.jobs[0]

    def stop_after_first_record(records):
        record = next(records)
        run.stop()  # before the other settings took their first step
        yield record
        yield from records

    first.records = stop_after_first_record(first.records)
    assert run.start() and run.join(60)
    snap = run.snapshot()
    assert snap.status == "stopped"
    assert snap.outcomes == {
        "16x4 design": "stopped",
        "64x1 same batch": "not run",
        "16x4 bug: sched per micro-batch": "not run",
    }
    text = run.frame().to_csv(index=False)
    header, row = text.splitlines()[:2]
    assert header.startswith(
        "setting,variant,micro_batch_size,accumulation_steps,world_size,step,epoch,samples,lr,"
    )
    assert row.startswith("16x4 design,correct,16,4,1,0,0,64,0.0,")  # integers, not 16.0,4.0,1.0,0.0,...


def test_live_run_reports_busy_when_the_server_is_full_and_keeps_going_after_a_divergence() -> None:
    slots = threading.BoundedSemaphore(1)
    first = live_run_for(
        comparison_settings(load_config(HUGE_LR), same_batch_other_split=True)[0],
        model="linear",
        device="cpu",
        slots=slots,
    )
    second = live_run_for(comparison_settings(load_config(SGD))[0], device="cpu", slots=slots)
    assert first.start()
    assert not second.start() and second.snapshot().status == "busy"
    assert first.join(30)
    snap = first.snapshot()
    assert snap.status == "done"
    assert set(snap.outcomes.values()) == {"diverged"}  # both settings ran, each until it diverged
    assert len(snap.messages) == 2 and "loss became" in snap.messages[0]
    assert slots.acquire(blocking=False)  # the slot was given back


def test_a_live_run_nobody_watches_stops_itself() -> None:
    run = live_run_for(
        comparison_settings(load_config(config(dataset_size=50_000, epochs=10)))[0],
        device="cpu",
        max_steps=MAX_LIVE_STEPS,
        slots=threading.BoundedSemaphore(1),
        idle_timeout=0.2,
    )
    assert run.start() and run.join(10)
    assert run.stop_reason.startswith("stopped: nobody watched the run")
    assert run.snapshot().status == "stopped"


def test_live_run_labels_must_be_unique() -> None:
    run = LiveRun(slots=threading.BoundedSemaphore(1))
    run.add("a", iter([]), 0, ["step"])
    with pytest.raises(ValueError, match="unique"):
        run.add("a", iter([]), 0, ["step"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice per thread is Linux's")
def test_background_run_thread_is_scheduled_below_the_server() -> None:
    # The run's thread lowers its own priority by BACKGROUND_NICE (the web server's event loop gets a
    # core first); the thread that started it keeps its own.
    from schedules.train.base import BACKGROUND_NICE

    class Record:  # what a job yields: anything with to_row()
        def to_row(self) -> dict:
            return {"step": 0, "nice": os.getpriority(os.PRIO_PROCESS, threading.get_native_id())}

    def nice_of_this_thread():
        yield Record()

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    run = LiveRun(slots=threading.BoundedSemaphore(1))
    run.add("a", nice_of_this_thread(), 1, ["step", "nice"])
    assert run.start() and run.join(30)
    assert run.snapshot().frames["a"]["nice"].tolist() == [min(19, mine + BACKGROUND_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
