"""The Live page, driven through the real app entrypoint with Streamlit's AppTest.

AppTest does not tick ``run_every`` fragments, so the tests wait on the session's background run
(``LiveRun.join``) and then rerun the script, which draws the finished state.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from schedules import load_config

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"

SMALL = {
    "name": "small live design",
    "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9}},
    "training": {"dataset_size": 4000, "micro_batch_size": 64, "accumulation_steps": 1, "epochs": 2},
    "warmup": {"steps": 10},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def live_page(design: dict | None = SMALL) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if design is not None:
        at.session_state["design_json"] = load_config(design).to_json()
    at.run()
    at.switch_page("views/live.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finish(at: AppTest, key: str) -> None:
    run = at.session_state[key]
    assert run.join(60), "the background run did not finish"
    at.run()


def markdown_with(at: AppTest, text: str) -> list[str]:
    return [m.value for m in at.markdown if text in m.value]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_a_short_run_draws_overlaid_charts_and_offers_the_csv() -> None:
    at = live_page()
    assert at.title[0].value == "Live run"
    assert "small live design" in at.caption[0].value
    at.number_input(key="live_steps").set_value(40)
    at.button(key="live_start").click().run()
    assert at.session_state["live_run"].total == 120  # three settings of 40 steps
    finish(at, "live_run")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert markdown_with(at, "**done** · 120 / 120 steps")
    loss, lr, loss_lr = figures(at)[:3]
    names = [t["name"] for t in lr["data"]]
    assert names == ["64x1 design", "16x4 same batch", "16x4 bug: sched per micro-batch"]
    assert loss_lr["layout"]["xaxis"]["type"] == "log"
    # The design and the same-batch split overlay exactly; the bug's lr does not.
    assert lr["data"][0]["y"] == lr["data"][1]["y"] != lr["data"][2]["y"]
    table = at.dataframe[0].value
    assert table["status"].tolist() == ["done"] * 3
    assert [d.label for d in at.get("download_button")] == ["Download run as CSV"]


def test_stop_stops_a_long_run_at_once() -> None:
    at = live_page({**SMALL, "training": {**SMALL["training"], "dataset_size": 200_000, "epochs": 10}})
    at.number_input(key="live_steps").set_value(20_000)
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    deadline = time.monotonic() + 20
    while run.snapshot().done < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.running
    at.button(key="live_stop").click().run()
    assert not run.running  # the callback waits for the thread
    (line,) = markdown_with(at, "**stopped**")
    assert " s after Stop" in line  # the latency is shown (bench/ reports its size)
    assert run.snapshot().done < 60_000


def test_errors_name_the_field_and_never_show_a_traceback() -> None:
    import torch

    at = live_page({**SMALL, "training": {**SMALL["training"], "dataset_size": 300_000}})
    at.button(key="live_start").click().run()
    assert not at.exception
    assert any("training.dataset_size: must be <= 200000" in e.value for e in at.error)
    if not torch.cuda.is_available():
        at = live_page()
        at.selectbox(key="live_device").set_value("cuda").run()
        at.button(key="live_start").click().run()
        assert any("device: cuda was requested" in e.value for e in at.error)


def test_range_test_suggests_an_lr_and_carries_it_into_the_designer() -> None:
    at = live_page()
    at.number_input(key="range_steps").set_value(80)
    at.number_input(key="range_min_lr").set_value(1e-4)
    at.button(key="range_start").click().run()
    finish(at, "live_range_run")
    assert not at.exception and not at.error
    (figure,) = figures(at)
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert {t["name"].split(":")[0] for t in figure["data"]} >= {"loss", "smoothed", "steepest", "valley"}
    choice = at.radio(key="range_choice")
    assert choice.value == "valley"
    at.button(key="range_use").click().run()
    design = load_config(at.session_state["design_json"])
    assert at.session_state["design_from_range_test"] is True
    assert design.optimizer.lr != SMALL["optimizer"]["lr"] and 1e-4 <= design.optimizer.lr <= 10
    assert any(f"lr is now {design.optimizer.lr:g}" in s.value for s in at.success)
    assert design.training.micro_batch_size == SMALL["training"]["micro_batch_size"]  # only the lr changed


@pytest.mark.parametrize("design", [None])
def test_without_a_design_the_page_uses_one(design) -> None:
    at = live_page(design)
    assert not at.error and at.caption[0].value.startswith("Training with")
