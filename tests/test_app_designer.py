"""The Designer page driven through the real app (``app/main.py``) with Streamlit's AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from designer_app import open_sections, show_tab, summary, summary_html
from figure_json import array, spec_of, trace, y_at
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config
from schedules.presets import apply_preset
from schedules.share import encode_design

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

#: 100 samples, micro-batch 10, 3 epochs: 10 steps per epoch, 30 in all; warmup 10 steps from 0 to 1e-3.
SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 1e-3},
    "training": {"dataset_size": 100, "micro_batch_size": 10, "accumulation_steps": 1, "epochs": 3},
    "warmup": {"steps": 10},
}


def start(design: dict | None = None, query: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    if design is not None:
        at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    if query is not None:
        at.query_params[state.QUERY_PARAM] = query
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def chart(at: AppTest) -> dict:
    return spec_of(at.get("plotly_chart")[0])


def test_default_design_renders() -> None:
    at = start()
    no_exception(at)
    assert at.title[0].value == "cosine with warmup"
    figures = summary(at)
    assert figures["Total steps"] == "4,689"
    assert figures["Warmup steps"] == "235"  # ceil(0.05 * 4689)
    spec = chart(at)
    assert y_at(spec, "lr", 235) == pytest.approx(3e-4)
    assert load_config(at.session_state[state.DESIGN_JSON]).decay.scheduler == "CosineAnnealingLR"
    assert at.query_params[state.QUERY_PARAM]  # the design is in the URL


def test_summary_card_names_the_largest_lr_group_and_escapes_user_text() -> None:
    """The card is HTML (one st.html element): a param group's name is the user's, so it is escaped and
    reads back as typed; the lr figures are the group with the largest base lr's (here 1e-3 x 3)."""
    name = '<b onmouseover="x()">head</b> & co'
    groups = [{"name": "body", "lr_scale": 1.0}, {"name": name, "lr_scale": 3.0}]
    at = start({**SMALL, "optimizer": {**SMALL["optimizer"], "param_groups": groups}})
    no_exception(at)
    card = summary_html(at)
    assert "<b " not in card and "&lt;b onmouseover=&quot;x()&quot;&gt;head&lt;/b&gt; &amp; co" in card
    figures = summary(at)
    assert list(figures) == [
        "Total steps", "Warmup steps", "Steps / epoch", "Effective batch", f"Peak lr ({name})", f"Final lr ({name})"
    ]  # fmt: skip
    assert (
        figures["Total steps"] == "30"
        and figures["Steps / epoch"] == "10"
        and figures["Effective batch"] == "10"
    )
    # warmup of 10 steps from 0 up to 1e-3 x 3, reached first at step 10
    assert figures[f"Peak lr ({name})"] == "3e-3"
    assert "First reached at step 10." in card and "3 epoch(s) · 300 samples" in card


def test_widgets_change_the_curve() -> None:
    at = start(SMALL)
    no_exception(at)
    spec = chart(at)
    assert y_at(spec, "lr", 5) == pytest.approx(5e-4)
    assert array(trace(spec, "warmup end")["x"]).tolist() == [10]
    assert summary(at)["Total steps"] == "30"

    at.number_input(key="w.warmup.steps").set_value(20).run()
    no_exception(at)
    spec = chart(at)
    assert y_at(spec, "lr", 5) == pytest.approx(2.5e-4)
    assert y_at(spec, "lr", 10) == pytest.approx(5e-4)
    assert load_config(at.session_state[state.DESIGN_JSON]).warmup.steps == 20

    at.number_input(key="w.training.accumulation_steps").set_value(2).run()
    assert summary(at)["Total steps"] == "15"  # ceil(10 / 2) = 5 steps per epoch
    assert summary(at)["Effective batch"] == "20"

    at.selectbox(key="w.decay.scheduler").set_value("StepLR").run()
    at.number_input(key="w.decay.kwargs.StepLR.step_size").set_value(1).run()
    at.number_input(key="w.decay.kwargs.StepLR.gamma").set_value(0.5).run()
    no_exception(at)
    # 15 steps, warmup 20 > 15: the decay never starts; shorten the warmup to 4.
    at.number_input(key="w.warmup.steps").set_value(4).run()
    spec = chart(at)
    assert y_at(spec, "lr", 4) == pytest.approx(1e-3)
    assert y_at(spec, "lr", 6) == pytest.approx(2.5e-4)  # two decay steps of x0.5
    assert at.session_state[state.DESIGN_JSON] == load_config(at.session_state[state.DESIGN_JSON]).to_json()


def test_axis_log_and_groups_controls() -> None:
    design = {
        **SMALL,
        "optimizer": {**SMALL["optimizer"], "param_groups": [{"name": "a", "lr_scale": 0.5}, {"name": "b"}]},
    }
    at = start(design)
    spec = chart(at)
    assert {"lr/a", "lr/b"} <= {t["name"] for t in spec["data"]}
    assert y_at(spec, "lr/a", 5) == pytest.approx(2.5e-4)
    at.segmented_control(key="designer_x_axis").set_value("samples").run()
    at.toggle(key="designer_log_y").set_value(True).run()
    spec = chart(at)
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert y_at(spec, "lr/b", 60) == pytest.approx(5e-4)  # step 5 has consumed 60 samples


def test_plateau_design_shows_metric_and_reductions() -> None:
    design = {
        **SMALL,
        "plateau": {"patience": 0, "eval_every": 5, "metric": {"values": [3, 2, 2.5, 2.6, 1, 1]}},
    }
    at = start(design)
    no_exception(at)
    spec = chart(at)
    assert trace(spec, "metric")["yaxis"] == "y2"
    assert "metric 2.5, best 2" in trace(spec, "plateau reductions")["text"][0]
    assert len(at.tabs) >= 5  # events, evaluations, two snippets, JSON


def test_tabs_and_downloads_are_lazy() -> None:
    # Only the open tab ("Download") is computed and sent: no snippet or JSON code block on a rerun, and
    # the download buttons' contents are made on click (bench/ui_latency.py measures what this saves).
    at = start(SMALL)
    no_exception(at)
    assert [t.label for t in at.tabs][:2] == ["Download", "Events"]
    assert len(at.code) == 0 and len(at.get("table")) == 0
    assert len(at.get("download_button")) == 4
    show_tab(at, "Events").run()
    assert len(at.get("download_button")) == 0 and len(at.get("table")) == 1


def test_events_table_static_when_short_grid_when_long() -> None:
    # SMALL has one event (warmup end): a static table with its step; with the epoch boundaries of
    # 40 epochs (39 boundaries between them, and the warmup end: 40 rows) it is the scrolling grid.
    at = show_tab(start(SMALL), "Events").run()
    no_exception(at)
    tables = at.get("table")
    assert len(tables) == 1 and len(at.dataframe) == 0
    assert (
        "warmup" in str(tables[0].value.iloc[0].tolist()).lower() and 10 in tables[0].value["step"].tolist()
    )
    at = show_tab(start({**SMALL, "training": {**SMALL["training"], "epochs": 40}}), "Events").run()
    at.toggle(key="designer_event_epochs").set_value(True).run()
    no_exception(at)
    assert len(at.get("table")) == 0 and len(at.dataframe) == 1
    assert len(at.dataframe[0].value) == 40


def test_upload_valid_and_invalid_configs() -> None:
    at = start(SMALL)
    before = at.session_state[state.DESIGN_JSON]
    uploader = at.file_uploader(key=state.UPLOAD_KEY)

    uploader.set_value(("broken.json", b'{"optimizer": {"lr": ', "application/json")).run()
    no_exception(at)
    assert "broken.json was not loaded" in at.error[0].value
    assert "must be valid JSON" in at.error[0].value
    assert at.session_state[state.DESIGN_JSON] == before

    bad = {
        **SMALL,
        "training": {**SMALL["training"], "accumulation_steps": 0},
        "warmup": {"steps": 10, "shape": "cos"},
    }
    at.file_uploader(key=state.UPLOAD_KEY).set_value(
        ("bad.json", json.dumps(bad).encode(), "application/json")
    ).run()
    text = at.error[0].value
    assert "`training.accumulation_steps`: must be an integer >= 1" in text
    assert "`warmup.shape`: is not a known field" in text
    assert at.session_state[state.DESIGN_JSON] == before
    assert y_at(chart(at), "lr", 5) == pytest.approx(5e-4)  # the current design is still drawn

    good = {**SMALL, "name": "uploaded", "warmup": {"steps": 4, "start_factor": 0.5}}
    at.file_uploader(key=state.UPLOAD_KEY).set_value(
        ("good.json", json.dumps(good).encode(), "application/json")
    ).run()
    no_exception(at)
    assert at.title[0].value == "uploaded"
    assert at.number_input(key="w.warmup.steps").value == 4
    assert at.number_input(key="w.warmup.start_factor").value == 0.5
    assert y_at(chart(at), "lr", 2) == pytest.approx(1e-3 * (0.5 + 0.5 * 2 / 4))
    assert load_config(at.session_state[state.DESIGN_JSON]).cache_key() == load_config(good).cache_key()


def test_invalid_widget_values_show_errors_not_tracebacks() -> None:
    at = start({**SMALL, "decay": {"scheduler": "MultiStepLR"}})
    at.text_input(key="w.decay.kwargs.MultiStepLR.milestones").input("5, x").run()
    no_exception(at)
    assert "`decay.kwargs.milestones`: must be integers separated by commas" in at.error[0].value
    at.text_input(key="w.decay.kwargs.MultiStepLR.milestones").input("5, 3").run()
    assert "strictly increasing" in at.error[0].value
    at.text_input(key="w.decay.kwargs.MultiStepLR.milestones").input("5, 8").run()
    assert not at.error
    at.toggle(key="w.training.drop_last").set_value(True).run()
    at.number_input(key="w.training.dataset_size").set_value(5).run()
    no_exception(at)
    assert "`training.dataset_size`: with drop_last" in at.error[0].value
    assert at.get("plotly_chart")  # the last valid design is still drawn


def test_preset_and_outside_change_rebuild_the_widgets() -> None:
    at = start(SMALL)
    at.selectbox(key=state.PRESET_KEY).set_value("linear").run()
    at.button[0].click().run()
    no_exception(at)
    assert at.title[0].value == "Linear decay with warmup"
    assert at.selectbox(key="w.decay.scheduler").value == "LinearLR"
    assert at.radio(key="w.warmup.mode").value == "ratio"
    assert at.number_input(key="w.training.dataset_size").value == 100  # training kept

    # The Live page's range test writes a new lr into the design.
    design = json.loads(at.session_state[state.DESIGN_JSON])
    design["optimizer"]["lr"] = 0.02
    at.session_state[state.DESIGN_JSON] = json.dumps(design)
    at.session_state[state.DESIGN_FROM_RANGE_TEST] = True
    at.run()
    no_exception(at)
    assert at.number_input(key="w.optimizer.lr").value == 0.02
    assert "range test set the lr to 0.02" in at.info[0].value
    assert at.session_state[state.DESIGN_FROM_RANGE_TEST] is False
    assert load_config(at.session_state[state.DESIGN_JSON]).optimizer.lr == 0.02


def test_design_link_loads_and_bad_link_warns() -> None:
    at = start(query=encode_design(apply_preset("one_cycle")))
    no_exception(at)
    assert at.title[0].value == "One-cycle"
    assert at.selectbox(key="w.decay.scheduler").value == "OneCycleLR"

    at = start(query="definitely-not-a-design")
    no_exception(at)
    assert "could not be loaded" in at.warning[0].value
    assert at.title[0].value == "cosine with warmup"


def test_pages_switch_and_designer_state_survives() -> None:
    at = start(SMALL)
    at.number_input(key="w.warmup.steps").set_value(6).run()
    at.switch_page("views/compare.py").run()
    no_exception(at)
    assert at.title[0].value == "Compare"
    at.switch_page("views/designer/page.py").run()
    no_exception(at)
    assert at.number_input(key="w.warmup.steps").value == 6
    assert y_at(chart(at), "lr", 3) == pytest.approx(5e-4)


def test_live_page_renders_without_exception() -> None:
    at = start(SMALL)
    at.switch_page("views/live.py").run()
    no_exception(at)


def test_long_curve_progress_and_cache(monkeypatch) -> None:
    from app import ui

    computed = []
    real = ui.compute_curve
    monkeypatch.setattr(ui, "compute_curve", lambda cfg, **kw: computed.append(1) or real(cfg, **kw))

    long = {**SMALL, "training": {**SMALL["training"], "max_steps": 250_000}}
    key = load_config(long).cache_key()
    ui.cached_curve.clear()
    first = ui.cached_curve(key)
    again = ui.cached_curve(key)
    assert first.plan.total_steps == again.plan.total_steps == 250_000
    assert len(computed) == 1  # the second call is a cache hit (bench/ times the difference)
    assert (again.lrs == first.lrs).all()

    ui.cached_curve.clear()
    at = start(long)  # the progress bar path inside the cached function, then a cache-hit rerun
    no_exception(at)
    assert summary(at)["Total steps"] == "250,000"
    at.run()
    no_exception(at)
    assert summary(at)["Total steps"] == "250,000"
