"""The Run logs page's *Diagnose*, driven through the real app (AppTest), on a real trace.

The trace is taken here, in this process, with ``schedules.trace(...)`` around a real torch loop on
``tests/trace_scripts/plain_design.json`` (24 optimizer steps of 4 micro-batches, warmup 4 + cosine):
correct, or with the scheduler stepped after every micro-batch (4 scheduler steps per optimizer
step: row k shows the design's row 4k + 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import schedules
from schedules.build import load_config

ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")
DESIGN = ROOT / "tests" / "trace_scripts" / "plain_design.json"


def traced(tmp_path: Path, per_micro_batch: bool) -> tuple[bytes, bytes]:
    config = schedules.load_config(DESIGN)
    path = tmp_path / ("bad.csv" if per_micro_batch else "good.csv")
    with schedules.trace(path, design=DESIGN):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = schedules.build_scheduler(optimizer, config)
        for _ in range(24):
            for _ in range(4):
                model(torch.randn(8, 2)).pow(2).mean().backward()
                if per_micro_batch:
                    scheduler.step()
            optimizer.step()
            if not per_micro_batch:
                scheduler.step()
            optimizer.zero_grad()
    return path.read_bytes(), path.with_name(path.stem + ".meta.json").read_bytes()


def page(design_path: Path = DESIGN):
    from streamlit.testing.v1 import AppTest

    from app import state

    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state[state.DESIGN_JSON] = load_config(design_path).to_json()
    at.run()
    at.switch_page("views/logs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at, csv: bytes, meta: bytes | None = None, name: str = "trace.csv"):
    at.file_uploader(key="logs_upload").set_value((name, csv, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    if meta is not None:
        at.file_uploader(key="diag_meta_upload").set_value(
            ("trace.meta.json", meta, "application/json")
        ).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def diag_spec(at) -> dict:
    from figure_json import spec_of

    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the log over the design, then the diagnosis
    return spec_of(charts[1])


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("traces")
    return {"bad": traced(tmp, True), "good": traced(tmp, False)}


def test_a_trace_stepped_per_micro_batch_is_diagnosed_with_evidence_on_the_chart_and_applied(traces):
    from figure_json import xy

    from app import state

    csv, meta = traces["bad"]
    other = load_config({**json.loads(DESIGN.read_text()), "name": "something else"})
    at = page()
    at.session_state[state.DESIGN_JSON] = other.to_json()  # the current design is not the trace's
    upload(at, csv, meta)
    assert at.radio(key="diag_source").value == "The trace's own design"
    assert any("Differs from the trace's own design" in e.value for e in at.error)
    titles = [m.value for m in at.markdown if "confidence" in m.value]
    assert "`scheduler_per_micro_batch`" in titles[0]  # named first
    evidence = [t.value for t in at.text]
    assert "scheduler.step() ran 4x per optimizer step" in evidence[0]
    assert "first differs at step 0: expected lr 0, got 0.1" in evidence[0]
    assert any("scheduler.step()" in c.value for c in at.code)  # the fix as a code line
    spec = diag_spec(at)
    names = [t["name"] for t in spec["data"]]
    assert names[:3] == ["design lr", "run lr", "model: scheduler_per_micro_batch"]
    x, y = xy(spec, "run lr")
    assert x.tolist() == list(range(24))
    # the model reproduces the run (row k = the design's row 4k + 4 while that exists)
    mx, my = xy(spec, "model: scheduler_per_micro_batch")
    assert my[: len(y)].tolist() == pytest.approx(y.tolist(), abs=1e-12)
    marks = [t for t in spec["data"] if t.get("mode") == "markers+text"]
    assert marks and marks[0]["x"] == [0]  # the first differing step is 0 (lr 0 expected, design's row 4 got)
    # Apply: the trace's design is the current design, and the Designer shows it
    at.button(key="diag_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    current = load_config(at.session_state[state.DESIGN_JSON])
    assert current.name == load_config(DESIGN).name and current.plan.total_steps == 24


def test_a_correct_trace_matches_and_inferring_the_design_matches_too(traces):
    csv, meta = traces["good"]
    at = upload(page(), csv, meta)
    assert any("Matches" in s.value for s in at.success)
    assert not [m for m in at.markdown if "confidence" in m.value]  # no cause
    at.radio(key="diag_source").set_value("Infer it from the run").run()
    assert not at.exception
    assert any("Matches" in s.value and "cosine" in s.value for s in at.success), [
        s.value for s in at.success
    ]
    assert [t["name"] for t in diag_spec(at)["data"]][:2] == ["inferred intended lr", "run lr"]


def test_without_the_sidecar_the_current_design_is_compared(traces):
    csv, _ = traces["bad"]
    at = upload(page(), csv)  # the current design is the trace's own (page() sets it)
    assert at.radio(key="diag_source").value == "Current design"
    titles = [m.value for m in at.markdown if "confidence" in m.value]
    assert "`scheduler_per_micro_batch`" in titles[0]


def test_save_keeps_the_trace_and_its_diagnosis_in_the_library(traces):
    from app import library
    from schedules.trace.diagnose import diagnose
    from schedules.trace.library import diagnosed_runs, observed_of_run

    csv, meta = traces["bad"]
    at = upload(page(), csv, meta)
    at.button(key="diag_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved to the Library as run" in c.value for c in at.caption)
    ws = library.workspace()
    runs = diagnosed_runs(ws)
    assert len(runs) == 1 and runs[0].kind == "trace"
    saved = runs[0].meta["diagnosis"]
    assert saved["verdict"] == "differs" and saved["causes"][0]["code"] == "scheduler_per_micro_batch"
    # read back: the same rows, and the same diagnosis again
    observed = observed_of_run(ws, runs[0])
    assert observed.is_trace and observed.rows.tolist() == list(range(24))
    again = diagnose(observed)
    assert again.causes[0].code == "scheduler_per_micro_batch"
    # the page lists it
    at.run()
    table = at.dataframe[-1].value  # the expander "Diagnoses in the Library"
    assert table["first cause"].tolist() == ["scheduler_per_micro_batch"]
    # the Library page lists it as a run of kind 'trace', its CSV the trace itself
    at.switch_page("views/library.py").run()
    assert not at.exception, [e.value for e in at.exception]
    [runs] = [d.value for d in at.dataframe if "kind" in d.value.columns and "device" in d.value.columns]
    assert runs["kind"].tolist() == ["trace"] and runs["steps"].tolist() == [24]


def test_a_log_without_lr_and_a_bad_sidecar_get_one_clear_message(traces):
    at = upload(page(), b"step,loss\n0,1.0\n1,0.9\n", name="loss_only.csv")
    assert any(
        "loss_only.csv could not be diagnosed" in e.value and "no lr column" in e.value for e in at.error
    )
    csv, _ = traces["good"]
    at = upload(page(), csv)
    at.file_uploader(key="diag_meta_upload").set_value(
        ("trace.meta.json", b"{not json", "application/json")
    ).run()
    assert not at.exception
    assert any("trace.meta.json" in e.value for e in at.error)
