"""Issue 17, denial of service: work, wall time, cache memory and live-run slots are bounded.

Each test was written to fail first on the code before the fix (quoted in its docstring).  Nothing
here asserts a duration: a wall-time cap is checked by giving a limit so small it must trip.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app import state, ui
from schedules import ConfigError, compute_curve, load_config
from schedules.budget import MAX_CURVE_CELLS, BytesLRU, ComputeTimeout, deep_nbytes
from schedules.cli import main as cli_main
from schedules.logs import RunLog
from schedules.mistakes import mistake_curve
from schedules.share import decode_design
from schedules.train import runs as live_mod
from schedules.train.runs import LiveRun, run_of, xsrf_token

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
GROUPS32 = [{"name": f"g{i}", "lr_scale": 1.0} for i in range(32)]
#: The red team's 379-character link: 2,000,000 steps x 32 param groups.
MEMORY_BOMB = {
    "optimizer": {"name": "SGD", "lr": 0.1, "param_groups": GROUPS32},
    "training": {"dataset_size": 2_000_000, "micro_batch_size": 1, "epochs": 1},
}


def token(doc: dict) -> str:
    raw = json.dumps(doc).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


# -- work: steps x groups, refused before computing ---------------------------------------------------


def test_memory_bomb_link_is_refused_before_computing_naming_the_groups():
    """Was: accepted; computing it took 68 s and left the server holding 2.9 GB."""
    link = token(MEMORY_BOMB)
    assert len(link) < 400
    with pytest.raises(ConfigError) as exc:
        decode_design(link)
    assert exc.value.lines() == [
        f"optimizer.param_groups: total steps x param groups must be <= {MAX_CURVE_CELLS:,} "
        "(2,000,000 steps x 32 groups = 64,000,000): use at most 2 groups for this run, or a shorter run, "
        "got '32 groups'"
    ]
    # at the budget exactly: accepted (2,000,000 x 2); over it by one group: refused
    two = {**MEMORY_BOMB, "optimizer": {**MEMORY_BOMB["optimizer"], "param_groups": GROUPS32[:2]}}
    assert load_config(two).optimizer.param_groups is not None
    three = {**MEMORY_BOMB, "optimizer": {**MEMORY_BOMB["optimizer"], "param_groups": GROUPS32[:3]}}
    with pytest.raises(ConfigError, match="optimizer.param_groups: total steps x param groups"):
        load_config(three)


def test_a_plateau_evaluated_too_often_is_refused_before_computing_naming_eval_every():
    """Was: 2,000,000 steps evaluated at every step kept 2M evaluation records and up to 2M reduction
    events (about 1.3 GB of Python objects) for one link."""
    from schedules.budget import MAX_EVALUATIONS

    design = {
        "optimizer": {"name": "SGD", "lr": 10.0},
        "training": {"max_steps": 2_000_000},
        "plateau": {"eval_every": 1, "patience": 0, "factor": 0.999999, "metric": {"synthetic": {}}},
    }
    with pytest.raises(ConfigError) as info:
        load_config(design)
    assert MAX_EVALUATIONS == 200_000
    assert info.value.lines() == [
        "plateau.eval_every: must give at most 200,000 evaluations, this run has 2,000,000: "
        "evaluate at most every 10 steps for this run, got 1"
    ]
    assert (
        load_config({**design, "plateau": {**design["plateau"], "eval_every": 10}}).plateau.eval_every == 10
    )
    # per-epoch evaluations cannot reach the cap: training.epochs is at most 100,000
    assert load_config({**design, "plateau": {"eval_every": "epoch"}}).plateau.eval_every == "epoch"


def test_the_designer_refuses_the_memory_bomb_link_without_computing_a_curve():
    ui.cached_curve.clear()
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params[state.QUERY_PARAM] = token(MEMORY_BOMB)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(w.value for w in at.warning)
    assert "could not be loaded" in shown and "optimizer.param_groups" in shown
    # only the default design's curve was computed (one small entry), never the bomb's
    assert len(ui.CURVES) == 1 and ui.CURVES.nbytes < 10_000_000


# -- memory: compact curves, caches bounded by bytes ----------------------------------------------------


def test_a_curve_keeps_one_copy_of_its_lrs():
    """Was: ``lrs`` and the frame's lr columns were two float64 copies of the same numbers."""
    groups = [{"name": "a"}, {"name": "b", "lr_scale": 0.5}]
    curve = compute_curve(
        {
            "optimizer": {"name": "SGD", "lr": 0.1, "param_groups": groups},
            "training": {"dataset_size": 1000, "micro_batch_size": 10, "epochs": 1},
            "decay": {"scheduler": "CosineAnnealingLR"},
        }
    )
    for i, col in enumerate(["lr/a", "lr/b"]):
        assert np.shares_memory(curve.frame[col].to_numpy(), curve.lrs[:, i])
    assert curve.frame["lr"].dtype == np.float64  # exports stay float64 (exact round trip)
    assert curve.frame["lr/b"].tolist() == (curve.lrs[:, 1]).tolist()
    assert curve.frame["lr"].iloc[50] == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 50 / 100)), rel=1e-12)


def test_compare_mistake_curves_are_cached_as_float32_while_exports_stay_float64():
    cfg = load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {"dataset_size": 1000, "micro_batch_size": 10, "accumulation_steps": 2, "epochs": 1},
            "decay": {"scheduler": "CosineAnnealingLR"},
        }
    )
    ui.cached_mistake.clear()
    drawn = ui.cached_mistake(cfg.cache_key(), "per_micro_batch")
    exact = mistake_curve(cfg, "per_micro_batch")
    assert drawn["lr"].dtype == np.float32 and exact["lr"].dtype == np.float64
    assert np.allclose(drawn["lr"].to_numpy(), exact["lr"].to_numpy(), rtol=1e-6, atol=0)
    assert 2 * drawn["lr"].to_numpy().nbytes == exact["lr"].to_numpy().nbytes


def test_bytes_lru_evicts_by_bytes_least_recently_used_first():
    """Was: st.cache_data(max_entries=16), no size bound (16 curves of 2 GB each were possible)."""
    cache: BytesLRU[str, bytes] = BytesLRU(100, len)
    cache.put("a", b"x" * 40)
    cache.put("b", b"x" * 40)
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", b"x" * 40)  # 120 > 100: the least recently used (b) goes
    assert "b" not in cache and "a" in cache and "c" in cache and cache.nbytes == 80
    cache.put("huge", b"x" * 101)  # larger than the whole budget: not kept
    assert "huge" not in cache and cache.nbytes == 80


def test_bytes_lru_computes_a_key_once_for_concurrent_callers_and_remembers_refusals():
    cache: BytesLRU[str, bytes] = BytesLRU(1000, len)
    calls = []
    gate = threading.Event()

    def compute():
        calls.append(1)
        gate.wait(10)
        return b"value"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == [b"value"] * 6 and len(calls) == 1

    def refuse():
        calls.append(2)
        raise ComputeTimeout([])

    for _ in range(3):
        with pytest.raises(ComputeTimeout):
            cache.get_or_compute("slow", refuse)
    assert calls.count(2) == 1  # a slow link costs the server once


def test_deep_nbytes_counts_the_arrays_frames_and_text_a_value_holds():
    frame = pd.DataFrame({"step": np.arange(1000, dtype=np.int64), "value": np.zeros(1000)})
    assert deep_nbytes(frame) >= 16_000  # two 8-byte columns of 1000 rows (plus the index)
    assert deep_nbytes(np.zeros((500, 2))) == 8_000
    assert deep_nbytes(("x" * 10_000, ["y" * 5_000])) >= 15_000
    log = RunLog("csv", "run.csv", {"lr": frame, "loss": frame.copy()}, {"lr": "lr", "loss": "loss"})
    assert deep_nbytes(log) >= 2 * 16_000


def _csv_log(rows: int, seed: int) -> bytes:
    lines = ["step,lr,loss"] + [
        f"{k},{0.1 * (1 - k / rows):.6g},{2.0 + seed + 1 / (k + 1):.6g}" for k in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_run_log_cache_is_bounded_by_bytes(monkeypatch):
    """Was: st.cache_data(max_entries=8) keyed on the upload's bytes: eight 16 MB logs and their frames
    were kept whatever their size."""
    from app import caches

    assert isinstance(caches.RUN_LOGS, BytesLRU) and caches.RUN_LOGS.max_bytes == caches.RUN_LOG_CACHE_BYTES
    caches.clear()
    monkeypatch.setattr(caches.RUN_LOGS, "max_bytes", 2_000_000)
    rows = 20_000
    logs = [caches.cached_log(_csv_log(rows, seed), f"run{seed}.csv") for seed in range(8)]
    one = deep_nbytes(logs[0])
    assert one >= 2 * 16 * rows  # lr and loss series: int64 step + float64 value per row, counted
    assert caches.RUN_LOGS.nbytes <= 2_000_000  # the bound holds
    assert 1 <= len(caches.RUN_LOGS) < 8 and len(caches.RUN_LOGS) <= 2_000_000 // one
    # the latest is kept (the same object comes back), the oldest was evicted (read again)
    assert caches.cached_log(_csv_log(rows, 7), "run7.csv") is logs[7]
    again = caches.cached_log(_csv_log(rows, 0), "run0.csv")
    assert again is not logs[0] and again.series["loss"]["value"].iloc[0] == pytest.approx(3.0)
    caches.clear()


def test_export_target_curve_cache_is_bounded_by_bytes(monkeypatch):
    """Was: st.cache_data(max_entries=32): 32 target curves of a 2,000,000-step design (1 GB)."""
    from app import caches

    caches.clear()
    monkeypatch.setattr(caches.TARGET_CURVES, "max_bytes", 1_000_000)
    curves = []
    for warmup in (100, 200, 300, 400):
        cfg = load_config(
            {
                "optimizer": {"name": "AdamW", "lr": 1e-3},
                "training": {"dataset_size": 50_000, "micro_batch_size": 1, "epochs": 1},
                "warmup": {"steps": warmup},
                "decay": {"scheduler": "CosineAnnealingLR"},
            }
        )
        payload, _ = caches.cached_export(cfg.cache_key(), "hf")
        lrs = caches.cached_target_curve(cfg.cache_key(), "hf", json.dumps(payload))
        assert lrs.shape == (50_000, 1) and lrs[warmup, 0] == pytest.approx(1e-3)
        curves.append(lrs)
    assert caches.TARGET_CURVES.nbytes <= 1_000_000  # 400 KB each: two fit, the older went
    assert len(caches.TARGET_CURVES) == 2
    assert isinstance(caches.EXPORTS, BytesLRU) and 0 < caches.EXPORTS.nbytes <= caches.EXPORT_CACHE_BYTES
    caches.clear()


# -- wall time ----------------------------------------------------------------------------------------


def test_a_long_computation_stops_at_its_wall_time_cap_naming_the_run_length():
    """Was: no cap (a valid 1,999,999-step LambdaLR took 27 s in the CLI and blocked a session)."""
    cfg = {
        "optimizer": {"name": "SGD", "lr": 0.1},
        "training": {"dataset_size": 1000, "micro_batch_size": 1, "epochs": 1, "max_steps": 100_000},
        "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "1 / sqrt(1 + step)"}},
    }
    with pytest.raises(ComputeTimeout) as exc:
        compute_curve(cfg, time_limit=1e-9)  # trips at the first check, after 2,000 steps
    (line,) = exc.value.lines()
    assert line == (
        "training.max_steps: the curve must compute within 1e-09 s; it stopped at step 2,000 of 100,000 "
        "(shorten the run, or compute it with the CLI: python -m schedules curve --time-limit 0), "
        "got '100,000 steps'"
    )
    with pytest.raises(ComputeTimeout, match="mistake curve must compute"):
        mistake_curve(cfg, "before_optimizer_step", time_limit=1e-9)
    assert len(compute_curve(cfg, time_limit=None).frame) == 100_000  # no cap: computes


def test_cli_curve_time_limit_exits_2_with_the_message(tmp_path, capsys):
    path = tmp_path / "long.json"
    path.write_text(
        json.dumps(
            {"training": {"dataset_size": 1000, "micro_batch_size": 1, "epochs": 1, "max_steps": 50_000}}
        )
    )
    assert cli_main(["curve", str(path), "--time-limit", "1e-9", "-o", str(tmp_path / "out.csv")]) == 2
    assert capsys.readouterr().err.startswith("training.max_steps: the curve must compute within 1e-09 s")
    assert cli_main(["curve", str(path), "--time-limit", "0", "-o", str(tmp_path / "out.csv")]) == 0


# -- live-run slots -----------------------------------------------------------------------------------


def _endless(stop: threading.Event):
    class Row:
        def to_row(self):
            return {"step": 0}

    while not stop.is_set():
        time.sleep(0.01)
        yield Row()


def _run(owner: str | None, slots: threading.Semaphore, kind: str = "train") -> LiveRun:
    run = LiveRun(slots=slots, owner=owner, kind=kind)
    run.add("job", _endless(run.stop_event), 10**6, ["step"])
    return run


def test_one_browser_holds_at_most_one_slot_and_another_browser_can_start():
    """Was: start, reload, start again: one user held both server slots; others got "busy"."""
    slots = threading.BoundedSemaphore(2)
    first = _run("browser:a", slots)
    assert first.start() and run_of("browser:a") is first
    again = _run("browser:a", slots)  # the same browser after a reload
    assert not again.start() and again.refused == "owner" and again.snapshot().status == "busy"
    ranged = _run("browser:a", slots, kind="range")  # a range test is a run too
    assert not ranged.start() and ranged.refused == "owner"
    other = _run("browser:b", slots)  # another user gets the second slot
    try:
        assert other.start()
        third = _run("browser:c", slots)
        assert not third.start() and third.refused == "server"
    finally:
        for run in (first, other):
            run.stop()
            assert run.join(10)
    assert run_of("browser:a") is None
    late = _run("browser:a", slots)  # its run ended: the browser may start again
    assert late.start()
    late.stop()
    assert late.join(10)


def test_a_run_whose_session_ended_stops_and_frees_its_slot(monkeypatch):
    """Was: the slot stayed taken until the 120 s idle timeout (133 s in the red team's run)."""
    monkeypatch.setattr(live_mod, "SESSION_GONE_S", 0.3)
    slots = threading.BoundedSemaphore(1)
    connected = {"x": True}
    run = _run("browser:gone", slots)
    assert run.start()
    run.watch(lambda: connected["x"])
    time.sleep(0.8)
    assert run.running  # connected: keeps running
    connected["x"] = False  # the session ended (Streamlit's runtime no longer has it)
    assert run.join(30)
    assert run.stop_reason == "stopped: its browser session ended"
    nxt = _run("browser:next", slots)
    assert nxt.start()  # the slot is free
    nxt.stop()
    assert nxt.join(10)


def test_a_reloaded_page_adopting_the_run_keeps_it_running(monkeypatch):
    monkeypatch.setattr(live_mod, "SESSION_GONE_S", 0.3)
    slots = threading.BoundedSemaphore(1)
    old_session, new_session = {"x": True}, {"x": True}
    run = _run("browser:reload", slots)
    assert run.start()
    run.watch(lambda: old_session["x"])
    old_session["x"] = False  # reload: the old session ends...
    run.watch(lambda: new_session["x"])  # ...and the new one adopts the run (adopt_orphans)
    time.sleep(1.0)
    assert run.running
    run.stop()
    assert run.join(10)


def test_a_browser_is_known_by_its_xsrf_token_across_reloads():
    """Was: the run was tied to the Streamlit session, which a reload replaces.  The cookie is
    re-masked on every page load (two values seen on one chromium across a reload); the token is not."""
    before = "2|782c3fb2|5ce7638d91d0228ef5e30ca1abd74dea|1796058452"
    after = "2|694bcd3d|4d80910280b7d001e484fe2ebab0bf65|1796058452"
    assert before != after and xsrf_token(before) == xsrf_token(after) == "24cb5c3fe9fc1d3c8dcf3313d3fb7258"
    other = "2|cf7281d2|40de053edb32afb4e7e5486f9a7083bd|1796058421"
    assert xsrf_token(other) != xsrf_token(before)
    assert xsrf_token("plain") == "plain" and xsrf_token("2|zz|zz|1") == "2|zz|zz|1"


def test_long_mistake_and_resume_curves_report_progress_through_their_deadline():
    """Issue 16: a progress bar above 200k steps also for the Compare page's loop-mistake curves (was:
    only the design's own curve reported progress).  The values do not change with a callback."""
    from schedules.budget import PROGRESS_EVERY

    cfg = load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {
                "dataset_size": 240_000,
                "micro_batch_size": 1,
                "accumulation_steps": 2,
                "epochs": 1,
            },
            "warmup": {"steps": 1000},
            "decay": {"scheduler": "CosineAnnealingLR"},
        }
    )
    for kind in ("per_micro_batch", "resume_fresh"):
        calls: list[tuple[int, int]] = []
        frame = mistake_curve(
            cfg, kind, progress=lambda done, total, calls=calls: calls.append((done, total))
        )
        assert [total for _, total in calls] == [120_000, 120_000], calls  # 120,000 optimizer steps
        assert PROGRESS_EVERY <= calls[0][0] < PROGRESS_EVERY + 256 and calls[1][0] >= 2 * PROGRESS_EVERY
        assert frame["lr"].equals(mistake_curve(cfg, kind)["lr"])


def test_the_app_progress_bar_only_above_200k_steps():
    with ui.progress_bar(ui.PROGRESS_OVER, "the curve") as progress:
        assert progress is None
    with ui.progress_bar(ui.PROGRESS_OVER + 1, "the curve") as progress:
        assert callable(progress)
        progress(50_000, ui.PROGRESS_OVER + 1)
    with ui.progress_bar(ui.PROGRESS_OVER + 1, "the exports", "exports") as progress:
        progress(2, 5)  # the Import / export page counts exports
