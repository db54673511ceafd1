"""Reliability at the app level: concurrent sessions, the server-wide live-run limit, and faults.

Several ``AppTest`` sessions run in this one process, sharing module state exactly as browser sessions
of one ``streamlit run`` server do (the live-run slots are a module-level semaphore).
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from designer_app import open_sections
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config
from schedules.train.base import LIVE_RUN_SLOTS

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

SMALL = {
    "name": "reliability",
    "optimizer": {"name": "SGD", "lr": 0.05},
    "training": {"dataset_size": 200_000, "micro_batch_size": 32, "accumulation_steps": 1, "epochs": 1},
    "warmup": {"steps": 10},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def session(design: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def wait_steps(run, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while run.snapshot().done < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.snapshot().done >= n, run.snapshot()


def test_designer_sessions_do_not_interfere():
    a = session(SMALL)
    b = session({**SMALL, "name": "other", "warmup": {"steps": 20}})
    a.number_input(key="w.warmup.steps").set_value(5).run()
    b.run()
    assert load_config(a.session_state[state.DESIGN_JSON]).warmup.steps == 5
    assert load_config(b.session_state[state.DESIGN_JSON]).warmup.steps == 20
    assert b.number_input(key="w.warmup.steps").value == 20
    assert not a.exception and not b.exception


def test_server_wide_live_run_limit_says_busy_and_frees_slots():
    assert LIVE_RUN_SLOTS == 2
    sessions = [session(SMALL, "views/live.py") for _ in range(LIVE_RUN_SLOTS + 1)]
    runs = []
    try:
        for at in sessions[:LIVE_RUN_SLOTS]:
            at.number_input(key="live_steps").set_value(20_000)
            at.button(key="live_start").click().run()
            run = at.session_state["live_run"]
            assert run.running
            runs.append(run)
        late = sessions[-1]
        late.button(key="live_start").click().run()
        assert not late.exception
        assert any("The server is busy" in e for e in errors(late)), errors(late)
        assert "live_run" not in late.session_state
        # One session at a time: the running ones keep running, unaffected.
        wait_steps(runs[0], 5)
        # Stop frees a slot: the late session can start now.
        sessions[0].button(key="live_stop").click().run()
        assert not runs[0].running
        late.number_input(key="live_steps").set_value(30)
        late.button(key="live_start").click().run()
        assert not errors(late), errors(late)
        assert late.session_state["live_run"].join(60)
    finally:
        for run in runs:
            run.stop()
            run.join(10)


def test_a_diverging_run_keeps_its_rows_downloadable_and_the_page_usable():
    # The least-squares model's SGD diverges above lr 1: lr 5 blows up within a few dozen steps.
    design = {**SMALL, "optimizer": {"name": "SGD", "lr": 5.0}, "warmup": None, "decay": None}
    at = session(design, "views/live.py")
    at.radio(key="live_model").set_value("linear").run()
    at.checkbox(key="live_bug_micro").set_value(False).run()
    at.number_input(key="live_steps").set_value(400)
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    assert run.join(60)
    at.run()
    assert not at.exception
    messages = [w.value for w in at.warning]
    assert any("loss became" in m and "stopping" in m for m in messages), messages
    assert [d.label for d in at.get("download_button")].count("Download run as CSV") == 1
    rows = list(csv.DictReader(io.StringIO(run.frame().to_csv(index=False))))
    assert 0 < len(rows) < 400 * 2  # the recorded part, cut at the divergence
    assert {"step", "epoch", "lr", "loss", "samples"} <= set(rows[0])
    # The app is still usable: a sane run starts and finishes in the same session.
    at.session_state[state.DESIGN_JSON] = load_config(
        {**design, "optimizer": {"name": "SGD", "lr": 0.01}}
    ).to_json()
    at.run()
    at.number_input(key="live_steps").set_value(20)
    at.button(key="live_start").click().run()
    assert at.session_state["live_run"].join(60)
    at.run()
    assert not at.exception and not errors(at)
    assert at.session_state["live_run"].snapshot().status == "done"


def test_stopped_run_keeps_the_recorded_part_downloadable():
    at = session(SMALL, "views/live.py")
    at.number_input(key="live_steps").set_value(20_000)
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    wait_steps(run, 20)
    at.button(key="live_stop").click().run()
    assert not run.running
    labels = [d.label for d in at.get("download_button")]
    assert "Download run as CSV" in labels
    frame = run.frame()
    assert 20 <= len(frame) < 3 * 20_000
    assert {"step", "epoch", "lr", "loss", "samples"} <= set(frame.columns)
    assert frame["loss"].notna().all()


def test_a_bad_upload_between_good_ones_never_loses_the_design():
    at = session(SMALL)
    before = at.session_state[state.DESIGN_JSON]
    for name, data in [
        ("bad.json", b'{"training": {"epochs": -1}}'),
        ("binary.json", bytes(range(256))),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("huge.json", b'{"name": "' + b"x" * 1_100_000 + b'"}'),
    ]:
        at.file_uploader(key=state.UPLOAD_KEY).set_value((name, data, "application/json")).run()
        assert not at.exception, name
        assert at.session_state[state.DESIGN_JSON] == before, name
        assert any(name in e for e in errors(at)), (name, errors(at))
    good = load_config({**SMALL, "name": "uploaded"}).to_json().encode()
    at.file_uploader(key=state.UPLOAD_KEY).set_value(("good.json", good, "application/json")).run()
    assert json.loads(at.session_state[state.DESIGN_JSON])["name"] == "uploaded"


# -- the upload path, fuzzed through the real app ------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

UPLOAD_CASES = {"accepted": 0, "rejected": 0}

_documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=12), c, max_size=4)),
    max_leaves=20,
)
_uploads = st.one_of(
    st.binary(max_size=300),
    _documents.map(lambda d: json.dumps(d, allow_nan=True).encode()),
    st.fixed_dictionaries(
        {
            "training": st.dictionaries(
                st.sampled_from(
                    ["dataset_size", "micro_batch_size", "accumulation_steps", "epochs", "max_steps"]
                ),
                st.one_of(st.integers(-5, 10**7), st.floats(allow_nan=True), st.text(max_size=5)),
                max_size=3,
            )
        },
        optional={"warmup": _documents, "name": st.text(max_size=40)},
    ).map(lambda d: json.dumps(d, allow_nan=True).encode()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(_uploads)
def test_fuzzed_uploads_are_loaded_or_rejected_and_never_lose_the_design(data):
    at = _fuzz_session()
    before = at.session_state[state.DESIGN_JSON]
    at.file_uploader(key=state.UPLOAD_KEY).set_value(("fuzz.json", data, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    after = at.session_state[state.DESIGN_JSON]
    if after == before:
        UPLOAD_CASES["rejected"] += 1
        assert any("fuzz.json was not loaded" in e for e in errors(at)), errors(at)
    else:
        UPLOAD_CASES["accepted"] += 1
        assert load_config(after)  # whatever was accepted is a valid design, and it is drawn
        assert at.get("plotly_chart")


_SESSION: list[AppTest] = []


def _fuzz_session() -> AppTest:
    if not _SESSION:
        _SESSION.append(session({**SMALL, "training": {**SMALL["training"], "dataset_size": 1000}}))
    at = _SESSION[0]
    at.session_state[state.DESIGN_JSON] = load_config(
        {**SMALL, "training": {**SMALL["training"], "dataset_size": 1000}}
    ).to_json()
    at.run()
    return at


def test_report_upload_fuzz_counts(artifacts_dir):
    (artifacts_dir / "upload_fuzz_counts.json").write_text(json.dumps(UPLOAD_CASES))
    print(f"\nupload fuzz cases: {UPLOAD_CASES}")
