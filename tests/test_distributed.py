"""The distributed live run: real worker processes on torch.distributed (gloo on this CPU machine).

Every 2-rank run here starts real processes (forked from a fork server that has torch loaded), so
these tests take a while on a loaded machine; timeouts are generous bounds against hangs only.
"""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import load_config, lr_curve
from schedules.cli import main
from schedules.design import ConfigError, make_plan
from schedules.train.base import MAX_LIVE_STEPS, PER_PROCESS, Diverged, record_columns
from schedules.train.distributed import (
    DEFAULT_MAX_CPU_RANKS,
    MAX_RANKS_ENV,
    Backend,
    DistributedTraining,
    max_ranks,
    rank_positions,
    select_backend,
    train_processes,
)
from schedules.train.loop import Training, train
from schedules.train.runs import LiveRun, runs_as_processes, start_training
from schedules.train.settings import distributed_settings, with_world_size

#: Real processes or a real library end to end: left out of `make test-fast`.
pytestmark = pytest.mark.real

HANG_S = 240.0  # a generous bound against a hang only (starting ranks is slow on a loaded machine)

# 2600 samples: 1300 per rank, 81 full micro-batches of 16 and one of 4 per rank, so every epoch ends
# with a short window; 2 epochs of 41 optimizer steps = 82 steps.
DESIGN = {
    "name": "2 ranks, SGD, warmup + cosine",
    "optimizer": {"name": "SGD", "lr": 0.2, "kwargs": {"momentum": 0.9}},
    "training": {
        "dataset_size": 2600,
        "micro_batch_size": 16,
        "accumulation_steps": 2,
        "world_size": 2,
        "epochs": 2,
    },
    "warmup": {"steps": 10, "start_factor": 0.0},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.001}},
}


def design(**training) -> dict:
    c = copy.deepcopy(DESIGN)
    c["training"].update(training)
    return c


def alive(pid: int) -> bool:
    """True while ``pid`` is in the process table (a zombie counts: nobody reaped it)."""
    return Path(f"/proc/{pid}").exists()


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def assert_no_rank_left(pids: list[int]) -> None:
    assert len(pids) == 2
    for pid in pids:
        assert not alive(pid), f"rank process {pid} was left behind"
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid
    if server is not None:  # the ranks are forked from it: none of its children may remain
        assert children_of(server) == []


# --------------------------------------------------------------------------------------------------
# pure logic: backend selection, caps, sampler shards, settings (no processes)


def test_backend_selection_table() -> None:
    gloo, nccl = Backend("gloo", "cpu"), Backend("nccl", "cuda")
    kw = {"cuda_available": True, "cuda_devices": 2, "nccl_available": True}
    assert select_backend("auto", 2, **kw) == nccl
    assert select_backend("cuda", 2, **kw) == nccl
    assert select_backend("cpu", 2, **kw) == gloo
    # auto falls back to gloo on CPU whenever NCCL cannot give every rank its own device
    assert select_backend("auto", 2, cuda_available=False, cuda_devices=0, nccl_available=False) == gloo
    assert select_backend("auto", 3, **kw) == gloo
    assert select_backend("auto", 2, cuda_available=True, cuda_devices=2, nccl_available=False) == gloo
    with pytest.raises(
        ConfigError, match=r"^training\.world_size: must be <= 2 with device cuda: NCCL needs"
    ):
        select_backend("cuda", 3, **kw)
    with pytest.raises(ConfigError, match=r"^device: cuda was requested but torch\.cuda\.is_available\(\)"):
        select_backend("cuda", 2, cuda_available=False, cuda_devices=0, nccl_available=False)
    with pytest.raises(ConfigError, match=r"^device: cuda with several ranks needs NCCL"):
        select_backend("cuda", 2, cuda_available=True, cuda_devices=2, nccl_available=False)
    with pytest.raises(ConfigError, match=r"^device: must be one of auto, cpu, cuda, got 'tpu'"):
        select_backend("tpu", 2)
    if not torch.cuda.is_available():  # this machine
        assert select_backend("auto", 2) == gloo


def test_rank_caps() -> None:
    cpu, cuda = Backend("gloo", "cpu"), Backend("nccl", "cuda")
    assert max_ranks(cpu, env={}) == DEFAULT_MAX_CPU_RANKS == 2
    assert max_ranks(cpu, env={MAX_RANKS_ENV: "4"}) == 4
    assert max_ranks(cuda, cuda_devices=8, env={}) == 8
    assert max_ranks(cuda, cuda_devices=8, env={MAX_RANKS_ENV: "2"}) == 2
    for bad in ("0", "two", "-1"):
        with pytest.raises(ConfigError, match=rf"^{MAX_RANKS_ENV}: must be a positive integer"):
            max_ranks(cpu, env={MAX_RANKS_ENV: bad})
    cfg = load_config(DESIGN)
    assert runs_as_processes(cfg, "cpu", env={})
    assert not runs_as_processes(with_world_size(cfg, 1), "cpu", env={})
    assert not runs_as_processes(with_world_size(cfg, 4), "cpu", env={})  # over the cap: emulated
    assert runs_as_processes(with_world_size(cfg, 4), "cpu", env={MAX_RANKS_ENV: "4"})


def test_over_the_cap_and_single_rank_are_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^training\.world_size: must be >= 2 and <= 2 .*got 3"):
        train_processes(design(world_size=3), device="cpu")
    with pytest.raises(ConfigError, match=r"^training\.world_size: must be >= 2 and <= 2 .*got 1"):
        train_processes(design(world_size=1), device="cpu")
    with pytest.raises(ConfigError, match=r"^variant: must be one of correct, .*scheduler_per_process"):
        train_processes(DESIGN, device="cpu", variant="nope")
    with pytest.raises(ConfigError, match=r"^max_steps: "):
        train_processes(DESIGN, device="cpu", max_steps=MAX_LIVE_STEPS + 1)
    # a design over the cap runs emulated in one process; the multi-process bug needs processes
    # (start_training only builds the run: no process starts before the first record is asked for)
    assert isinstance(start_training(load_config(design(world_size=8)), device="cpu"), Training)
    assert isinstance(start_training(load_config(DESIGN), device="cpu"), DistributedTraining)
    bug = start_training(load_config(design(world_size=2)), device="cpu", variant=PER_PROCESS)
    assert isinstance(bug, DistributedTraining)
    with pytest.raises(ConfigError, match=r"^training\.world_size: must be >= 2"):  # it needs processes
        start_training(load_config(design(world_size=1)), device="cpu", variant=PER_PROCESS)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    b=st.integers(1, 9),
    w=st.integers(1, 4),
    a=st.integers(1, 3),
    drop_last=st.booleans(),
)
def test_rank_shards_union_to_the_single_process_micro_batches(n, b, w, a, drop_last) -> None:
    """DistributedSampler's shards: micro-batch m of all ranks = positions [m*b*W, (m+1)*b*W) (+ padding)."""
    training = {
        "dataset_size": n,
        "micro_batch_size": b,
        "accumulation_steps": a,
        "world_size": w,
        "epochs": 1,
        "drop_last": drop_last,
    }
    try:
        plan = make_plan(load_config({"optimizer": {"name": "SGD", "lr": 0.1}, "training": training}))
    except ConfigError:  # drop_last with fewer than b * W samples: no step at all
        assert drop_last and n < b * w
        return
    shards = [rank_positions(plan, r).tolist() for r in range(w)]  # raises if L differs
    assert len({len(s) for s in shards}) == 1  # every rank the same number of samples
    for m in range(plan.micro_batches_per_epoch):
        got = Counter(p for s in shards for p in s[m * b : (m + 1) * b])
        start = m * b * w
        real = Counter(range(start, start + plan.micro_batch_samples(m)))
        padding = got - real  # the repeated samples DistributedSampler pads the last round with
        assert got - padding == real
        assert sum(padding.values()) < w and all(0 <= p < n for p in padding)
        if padding:
            assert not drop_last and m == plan.micro_batches_per_epoch - 1


def test_worked_example_shards() -> None:
    """N=10, b=2, W=2: rank 0 takes positions 0,2,4,6,8 (micro-batches [0,2],[4,6],[8]); drop_last: 4."""
    training = {
        "dataset_size": 10,
        "micro_batch_size": 2,
        "accumulation_steps": 1,
        "world_size": 2,
        "epochs": 1,
    }
    plan = make_plan(load_config({"optimizer": {"name": "SGD", "lr": 0.1}, "training": training}))
    assert plan.micro_batches_per_epoch == 3  # ceil(10 / 4)
    assert rank_positions(plan, 0).tolist() == [0, 2, 4, 6, 8]
    assert rank_positions(plan, 1).tolist() == [1, 3, 5, 7, 9]
    dropped = make_plan(
        load_config({"optimizer": {"name": "SGD", "lr": 0.1}, "training": {**training, "drop_last": True}})
    )
    assert dropped.micro_batches_per_epoch == 2  # floor(10 / 4)
    assert rank_positions(dropped, 1).tolist() == [1, 3, 5, 7, 9]  # the batch sampler drops position 9
    odd = make_plan(
        load_config({"optimizer": {"name": "SGD", "lr": 0.1}, "training": {**training, "dataset_size": 9}})
    )
    assert rank_positions(odd, 1).tolist() == [1, 3, 5, 7, 0]  # padded with position 0 (as torch does)


def test_distributed_settings() -> None:
    one = load_config(design(world_size=1, micro_batch_size=32))
    settings, notes = distributed_settings(one, pair=True, per_process_bug=True)
    assert notes == []
    assert [s.label for s in settings] == ["16x2x2 on 2 processes", "16x2x2 bug: sched per process"]
    assert [s.variant for s in settings] == ["correct", PER_PROCESS]
    for s in settings:
        t = s.config.training
        assert (t.micro_batch_size, t.accumulation_steps, t.world_size) == (16, 2, 2)
    two = load_config(DESIGN)
    settings, _ = distributed_settings(two, pair=True, per_process_bug=True)
    assert [s.label for s in settings] == ["32x2 on 1 process", "16x2x2 bug: sched per process"]
    t = settings[0].config.training
    assert (t.micro_batch_size, t.world_size) == (32, 1)
    assert settings[1].config == two
    odd = load_config(design(world_size=1, micro_batch_size=15))
    settings, notes = distributed_settings(odd, pair=True)
    assert settings == [] and "even micro-batch size, got 15" in notes[0]


# --------------------------------------------------------------------------------------------------
# real 2-rank runs


@pytest.fixture(scope="module")
def two_ranks() -> pd.DataFrame:
    training = train_processes(DESIGN, device="cpu", dtype="float64")
    frame = training.frame(list(training))
    assert training.exitcodes == [0, 0]
    assert_no_rank_left(training.pids)
    return frame


def test_two_ranks_equal_one_process_with_twice_the_micro_batch(two_ranks) -> None:
    one = train(design(world_size=1, micro_batch_size=32), device="cpu", dtype="float64")
    single = one.frame(list(one))
    assert len(two_ranks) == len(single) == 82 >= 40
    rel = np.abs(two_ranks["loss"] - single["loss"]) / np.abs(single["loss"])
    assert rel.max() <= 1e-9, f"largest relative loss difference {rel.max():.3g} at step {rel.idxmax()}"
    np.testing.assert_array_equal(two_ranks["samples"], single["samples"])
    np.testing.assert_array_equal(two_ranks["window_samples"], single["window_samples"])
    assert two_ranks["window_samples"].iloc[40] == 2600 - 40 * 64  # the short last window of epoch 0
    val = two_ranks["val_loss"].notna()
    assert list(two_ranks.index[val]) == [40, 81]  # epoch ends
    np.testing.assert_allclose(two_ranks["val_loss"][val], single["val_loss"][val], rtol=1e-9)
    assert (two_ranks["world_size"] == 2).all()


def test_two_rank_lr_column_is_the_designed_curve(two_ranks) -> None:
    curve = lr_curve(load_config(DESIGN))
    assert len(curve) == len(two_ranks)
    np.testing.assert_array_equal(two_ranks["lr"].to_numpy(), curve["lr"].to_numpy())
    assert list(two_ranks.columns) == [*record_columns(["default"]), "world_size"]


def test_the_per_process_bug_runs_the_schedule_twice_as_fast(two_ranks) -> None:
    training = train_processes(DESIGN, device="cpu", dtype="float64", variant=PER_PROCESS)
    bug = training.frame(list(training))
    assert_no_rank_left(training.pids)
    curve = lr_curve(load_config(DESIGN))["lr"].to_numpy()
    total = len(curve)  # T = 82
    # the accounting's prediction: step k uses row 2k while the schedule has rows left
    k = np.arange(total // 2)
    np.testing.assert_array_equal(bug["lr"].to_numpy()[k], curve[2 * k])
    assert bug["lr"].iloc[5] == 0.2 and two_ranks["lr"].iloc[5] == 0.1  # warmup of 10 ends at step 5
    assert len(bug) == total  # the run goes on past the schedule's end
    differs = np.abs(bug["loss"] - two_ranks["loss"]) / two_ranks["loss"]
    assert differs.iloc[0] == 0 and differs.max() > 1e-3  # same start, then the lrs differ


def test_stop_ends_every_rank_and_keeps_the_rows() -> None:
    cfg = design(dataset_size=50_000, epochs=10)
    run = LiveRun(slots=threading.BoundedSemaphore(1))
    training = train_processes(cfg, device="cpu", max_steps=MAX_LIVE_STEPS, stop=run.stop_event)
    run.add("2 ranks", training, training.steps, [*record_columns(["default"])])
    assert run.start()
    deadline = time.monotonic() + HANG_S
    while run.snapshot().done < 5 and run.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.snapshot().done >= 5
    assert all(alive(pid) for pid in training.pids)
    run.stop()
    assert run.join(HANG_S), "the run did not stop"
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.outcomes == {"2 ranks": "stopped"}
    assert 5 <= snap.done < MAX_LIVE_STEPS and len(snap.frames["2 ranks"]) == snap.done
    assert snap.stop_latency is not None  # bench/run.py reports it in seconds
    assert_no_rank_left(training.pids)


@pytest.mark.parametrize("victim", [1])
def test_killing_a_rank_ends_the_run_with_a_message_and_keeps_the_rows(victim) -> None:
    cfg = load_config(design(dataset_size=50_000, epochs=10))
    from schedules.train.runs import live_run_for

    run = live_run_for(
        [distributed_settings(with_world_size(cfg, 1, 32), pair=True)[0][0]],
        device="cpu",
        max_steps=MAX_LIVE_STEPS,
        slots=threading.BoundedSemaphore(1),
    )
    job = run.jobs[0]
    assert job.label == "16x2x2 on 2 processes" and job.meta["world_size"] == 2
    assert run.start()
    deadline = time.monotonic() + HANG_S
    while run.snapshot().done < 5 and run.running and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = job.records.pids
    os.kill(pids[victim], signal.SIGKILL)
    assert run.join(HANG_S), "the run did not end after a rank died"
    snap = run.snapshot()
    assert snap.outcomes == {job.label: "failed"}
    (message,) = snap.messages
    assert f"rank {victim} of 2 ended unexpectedly (killed by SIGKILL)" in message
    recorded = int(message.rsplit("; ", 1)[1].split()[0])
    assert recorded == snap.done == len(snap.frames[job.label]) >= 5
    assert "Traceback" not in message
    assert_no_rank_left(pids)
    assert len(run.frame()) == snap.done and (run.frame()["world_size"] == 2).all()


def test_a_diverging_two_rank_run_ends_with_the_single_process_message(tmp_path, capsys) -> None:
    huge = {
        "optimizer": {"name": "SGD", "lr": 10.0},
        "training": {"dataset_size": 5000, "micro_batch_size": 8, "accumulation_steps": 4, "world_size": 2},
    }
    path = tmp_path / "huge.json"
    path.write_text(load_config(huge).to_json())
    out = tmp_path / "run.csv"
    assert main(["train", str(path), "-o", str(out), "--device", "cpu", "--model", "linear"]) == 1
    err = capsys.readouterr().err
    single = train({**huge, "training": {**huge["training"], "world_size": 1, "micro_batch_size": 16}},
                   device="cpu", model="linear")  # fmt: skip
    with pytest.raises(Diverged) as caught:
        for _ in single:
            pass
    # both ranks see the same all-reduced loss and stop at the same step as one process with 2b
    assert f"error: {caught.value}" in err and "Traceback" not in err
    frame = pd.read_csv(out)
    assert len(frame) == caught.value.step > 0 and (frame["world_size"] == 2).all()


# --------------------------------------------------------------------------------------------------
# CLI


def test_cli_train_world_size_two(tmp_path, capsys) -> None:
    path = tmp_path / "design.json"
    path.write_text(load_config(design(world_size=1, micro_batch_size=32)).to_json())
    out = tmp_path / "run.csv"
    args = ["train", str(path), "-o", str(out), "--device", "cpu", "--max-steps", "12", "--world-size", "2"]
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "starting 2 processes" in err and "trained 12 steps" in err
    frame = pd.read_csv(out)
    assert list(frame.columns) == [*record_columns(["default"]), "world_size"]
    assert (frame["world_size"] == 2).all()
    # --world-size 2 is the design with training.world_size = 2 (32 x 2 x 2 = 128 samples a step)
    two = with_world_size(load_config(design(world_size=1, micro_batch_size=32)), 2)
    np.testing.assert_array_equal(frame["lr"].to_numpy(), lr_curve(two)["lr"].to_numpy()[:12])
    np.testing.assert_array_equal(frame["samples"].to_numpy(), 128 * np.arange(1, 13))


@pytest.mark.parametrize(("size", "match"), [("3", "<= 2"), ("0", ">= 1")])
def test_cli_world_size_over_the_cap_exits_2(tmp_path, capsys, size, match) -> None:
    path = tmp_path / "design.json"
    path.write_text(load_config(DESIGN).to_json())
    assert main(["train", str(path), "--device", "cpu", "--world-size", size]) == 2
    err = capsys.readouterr().err
    assert err.startswith("world_size: must be an integer >= 1 and <= 2") and f"got {size}" in err
    assert match in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------
# the Live page


def test_live_page_overlays_two_processes_one_process_and_the_per_process_bug() -> None:
    import json

    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[1] / "app" / "main.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.session_state["design_json"] = load_config(design(world_size=1, micro_batch_size=32)).to_json()
    at.run()
    at.switch_page("views/live.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key="live_steps").set_value(30)
    for key, value in [
        ("live_other_split", False),
        ("live_bug_micro", False),
        ("live_dist_pair", True),
        ("live_bug_process", True),
    ]:
        at.checkbox(key=key).set_value(value)
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    assert [j.label for j in run.jobs] == [
        "32x2 design",
        "16x2x2 on 2 processes",
        "16x2x2 bug: sched per process",
    ]
    assert run.join(HANG_S), "the background run did not finish"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    lr = json.loads(at.get("plotly_chart")[1].proto.spec)
    design_lr, two_lr, bug_lr = (trace["y"] for trace in lr["data"])
    assert design_lr == two_lr != bug_lr  # 2 processes follow the design's curve; the bug does not
    assert at.dataframe[0].value["status"].tolist() == ["done"] * 3
    frame = run.frame()
    assert frame.groupby("setting", sort=False)["world_size"].first().tolist() == [1, 2, 2]


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphan's zombie is init's to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return out


def test_killing_the_parent_leaves_no_rank_behind(tmp_path) -> None:
    """SIGKILL the CLI mid-run: its fork server ends, and the ranks end with it (PDEATHSIG, closed pipe)."""
    import subprocess
    import sys

    path = tmp_path / "design.json"
    path.write_text(load_config(design(dataset_size=50_000, epochs=10)).to_json())
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "schedules",
            "train",
            str(path),
            "--device",
            "cpu",
            "-o",
            str(tmp_path / "run.csv"),
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + HANG_S
        # wait for the fork server (a child of the CLI) to have forked the 2 ranks
        while time.monotonic() < deadline and cli.poll() is None:
            if any(len(children_of(p)) >= 2 for p in children_of(cli.pid)):
                break
            time.sleep(0.2)
        family = descendants(cli.pid)
        assert len(family) >= 3, family
        time.sleep(2.0)  # let the ranks get going
        cli.kill()
        cli.wait(HANG_S)
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline and any(running(p) for p in family):
            time.sleep(0.1)
        assert [p for p in family if running(p)] == []
    finally:
        if cli.poll() is None:
            cli.kill()
