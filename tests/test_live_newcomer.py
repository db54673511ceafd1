"""What a new user ran into on the Live page: a steps cap that cut the design, a run lost on reload, a
steps/s that differed between settings finishing together, a "final loss" that meant something else in
the Library, ticked-but-ignored boxes under schedule-free, and an lr axis in other units."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app import library, live_charts
from schedules import load_config
from schedules.train import runs
from schedules.train.base import MAX_LIVE_STEPS
from schedules.train.runs import LiveRun, last_run_of

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"

#: 37,536 samples / 32 = 1,173 optimizer steps: the cosine the old 1,000-step cap cut short.
COSINE_1173 = {
    "name": "cosine 1173",
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 37_536, "micro_batch_size": 32, "epochs": 1},
    "warmup": {"steps": 20},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def live_page(design: dict) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["design_json"] = load_config(design).to_json()
    at.run()
    at.switch_page("views/live.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_steps_cap_starts_at_the_designs_length_and_says_when_it_cuts() -> None:
    at = live_page(COSINE_1173)
    assert at.number_input(key="live_steps").value == 1173  # the whole cosine, not 1,000 of it
    assert not [c.value for c in at.caption if "of the design's" in c.value]
    at.number_input(key="live_steps").set_value(1000).run()
    assert (
        ":orange[Runs 1,000 of the design's 1,173 optimizer steps: the schedule is cut at step 1,000, 85% of "
        "the way.]"
    ) in [c.value for c in at.caption]
    # a design of another length resets the cap to it; longer than the live run's limit: the limit, said
    long = {**COSINE_1173, "training": {"dataset_size": 37_536, "micro_batch_size": 1, "epochs": 1}}
    at.session_state["design_json"] = load_config(long).to_json()
    at.run()
    assert at.number_input(key="live_steps").value == MAX_LIVE_STEPS
    note = [c.value for c in at.caption if "of the design's" in c.value]
    assert note == [
        ":orange[Runs 20,000 of the design's 37,536 optimizer steps: the schedule is cut at step 20,000, 53% of "
        "the way (a live run takes at most 20,000).]"
    ]


# --------------------------------------------------------------------------------------------------
# the run manager: the last run of a browser, and each setting's own time


@dataclass
class Record:
    step: int
    loss: float
    wall_time: float

    def to_row(self) -> dict:
        return {
            "step": self.step,
            "loss": self.loss,
            "lr": 0.1,
            "val_loss": math.nan,
            "wall_time": self.wall_time,
        }


COLUMNS = ["step", "loss", "lr", "val_loss", "wall_time"]


def records(n: int, pause: float, clock: float | None = None):
    """``n`` records, ``pause`` seconds each; ``clock``: each record's wall_time is ``(k + 1) * clock``
    (the ranks' own clock of a setting on processes) instead of the seconds since the first."""
    t0 = time.perf_counter()
    for k in range(n):
        time.sleep(pause)
        yield Record(k, 1.0 / (k + 1), (k + 1) * clock if clock is not None else time.perf_counter() - t0)


def test_the_last_run_of_a_browser_is_kept_for_a_reload(monkeypatch) -> None:
    monkeypatch.setattr(runs, "_LAST_BY_OWNER", runs.OrderedDict())
    run = LiveRun(owner="browser:a")
    run.add("s", records(3, 0.0), 3, COLUMNS)
    assert last_run_of("browser:a") is None  # not started
    assert run.start() and run.join(30)
    assert last_run_of("browser:a") is run and last_run_of("browser:a", "train") is run
    assert last_run_of("browser:a", "range") is None and last_run_of("browser:b") is None
    assert last_run_of(None) is None
    monkeypatch.setattr(runs, "LAST_RUN_KEPT_S", 0.0)
    assert last_run_of("browser:a") is None  # an ended run is kept for LAST_RUN_KEPT_S only
    monkeypatch.setattr(runs, "LAST_RUN_KEPT_S", 1800.0)
    monkeypatch.setattr(runs, "LAST_RUNS_KEPT", 2)
    others = []
    for owner in ("browser:b", "browser:c"):
        other = LiveRun(owner=owner)
        other.add("s", records(1, 0.0), 1, COLUMNS)
        assert other.start() and other.join(30)
        others.append(other)
    assert last_run_of("browser:a") is None  # the oldest owner went first
    assert [last_run_of("browser:b"), last_run_of("browser:c")] == others


def test_steps_per_second_is_each_settings_own_time() -> None:
    """Two settings taking turns finish together; one's steps cost 4x the other's: its steps/s is about a
    quarter (the old figure, steps over the shared wall time, was the same for both).  A setting on real
    processes (own_clock) is timed by its records' wall_time."""
    run = LiveRun()
    run.add("slow", records(20, 0.02), 20, COLUMNS)
    run.add("fast", records(20, 0.005), 20, COLUMNS)
    ranks = run.add("ranks", records(20, 0.0, clock=0.01), 20, COLUMNS)  # its ranks: 20 steps in 0.2 s
    assert run.start() and run.join(60)
    ranks.own_clock = True
    snap = run.snapshot()
    table = live_charts.summary_table(run, snap.frames).set_index("setting")
    rate = {k: float(v.replace(",", "")) for k, v in table["steps/s"].items()}
    assert 20 <= rate["slow"] <= 50.5  # at most 1 / 0.02 = 50
    assert 80 <= rate["fast"] <= 200.5 and rate["fast"] > 2.5 * rate["slow"]
    assert rate["ranks"] == 100  # 20 steps / 0.2 s on its own clock, not the time spent waiting for it
    assert run.jobs[0].busy >= 20 * 0.02


def test_final_loss_is_the_same_figure_on_live_and_library() -> None:
    loss = pd.Series(np.arange(100, 0, -1, dtype=float))  # 100, 99, ..., 1
    # the last 5% of 100 steps: 5, 4, 3, 2, 1 -> 3.0
    assert live_charts.final_loss(loss) == 3.0
    assert live_charts.final_loss(pd.Series([2.0])) == 2.0 and math.isnan(
        live_charts.final_loss(pd.Series([]))
    )
    frame = pd.DataFrame({"step": np.arange(100), "loss": loss, "lr": 0.1})
    summary = library.runs_summary({"run": frame})
    assert live_charts.FINAL_LOSS == "final loss (raw, mean of last 5%)"
    assert summary[live_charts.FINAL_LOSS].tolist() == [3.0]


def test_every_live_and_library_lr_axis_uses_the_designers_units() -> None:
    frame = pd.DataFrame(
        {
            "step": np.arange(50),
            "loss": np.linspace(2, 1, 50),
            "lr": 3e-4,
            "val_loss": np.nan,
            "wall_time": 1.0,
        }
    )
    _, lr_fig, loss_lr_fig = live_charts.run_figures({"design": frame})
    assert (lr_fig.layout.yaxis.tickformat, lr_fig.layout.yaxis.exponentformat) == (".3~g", "e")
    assert loss_lr_fig.layout.xaxis.exponentformat == "e"  # not plotly's default SI prefixes (300µ)
    _, lib_lr = library.runs_figures({"run": frame})
    assert (lib_lr.layout.yaxis.tickformat, lib_lr.layout.yaxis.exponentformat) == (".3~g", "e")


@pytest.mark.real
def test_a_live_run_of_the_whole_design_records_every_step() -> None:
    at = live_page({**COSINE_1173, "training": {"dataset_size": 640, "micro_batch_size": 8, "epochs": 1}})
    assert at.number_input(key="live_steps").value == 80
    at.checkbox(key="live_bug_micro").set_value(False)
    at.checkbox(key="live_other_split").set_value(False)
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    assert run.join(120)
    at.run()
    frame = run.frame()
    assert len(frame) == 80 and frame["step"].tolist() == list(range(80))
    table = at.dataframe[0].value
    assert live_charts.FINAL_LOSS in table.columns
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert spec["layout"]["yaxis"]["tickformat"] == ".3~g"
