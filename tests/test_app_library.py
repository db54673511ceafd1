"""The Library page and the workspace wiring of the other pages, driven through the real app with
AppTest: the Designer's Save, Compare's choices, the Live page's recorder, Run logs' Save, and the
Library's search, open, rename, duplicate, delete + undo, compare, import and export.

conftest.py gives every test its own STUDIO_WORKSPACE folder; a new AppTest is a new browser
session (what a reload or a server restart gives), so finding a record in a second AppTest shows it
outlived the first."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from designer_app import open_sections
from figure_json import spec_of, xy
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config, lr_curve
from schedules.workspace import SCHEMA_VERSION, Workspace, workspace_path

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 1.0},
    "training": {"dataset_size": 32, "micro_batch_size": 4, "accumulation_steps": 1, "epochs": 2},
    "warmup": {"steps": 4},
}
WSD = {
    **SMALL,
    "name": "wsd",
    "warmup": {"steps": 2},
    "decay": {"scheduler": "LinearLR", "kwargs": {"end_factor": 0.1}},
}


def app(design: dict = SMALL) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def library_page(design: dict = SMALL) -> AppTest:
    at = app(design)
    at.switch_page("views/library.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest, column: str):
    """The one dataframe on the page with this column (designs: sha256, runs: kind, compare: peak lr)."""
    [frame] = [d.value for d in at.dataframe if column in d.value.columns]
    return frame


def button(at: AppTest, key: str):
    return at.button(key=key)


def save_on_designer(at: AppTest, name: str) -> None:
    at.text_input(key=state.SAVE_NAME_KEY).input(name).run()
    [save] = [b for b in at.button if b.label == "Save"]
    save.click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_designer_save_goes_to_the_workspace_and_outlives_the_session() -> None:
    at = app()
    save_on_designer(at, "warmup 4")
    assert any("Saved 'warmup 4' to the Library" in s.value for s in at.success)
    [d] = Workspace().designs()
    assert d.name == "warmup 4" and load_config(d.config) == load_config(SMALL)

    # A new session (a reload, or the server restarted): the Library and Compare still have it.
    again = library_page(WSD)
    assert table(again, "sha256")["name"].tolist() == ["warmup 4"]
    again.switch_page("views/compare.py").run()
    assert "warmup 4" in again.multiselect(key="compare_designs").options
    # Only designs saved in this session are selected at first.
    assert again.multiselect(key="compare_designs").value == ["Current design"]


def test_search_rename_duplicate_delete_and_undo() -> None:
    ws = Workspace()
    ws.save_design("cosine long", SMALL, tags=["imagenet"])
    ws.save_design("wsd short", WSD, notes="cooldown 20%")
    at = library_page()
    assert at.tabs[0].label == "Designs (2)"
    at.text_input(key="library_search").input("IMAGENET").run()
    assert table(at, "sha256")["name"].tolist() == ["cosine long"]
    at.text_input(key="library_search").input("").run()

    at.selectbox(key="library_design").set_value(ws.design("wsd short").id).run()
    at.text_input(key="library_rename").input("wsd 20% cooldown").run()
    button(at, "library_rename_button").click().run()
    assert any("Renamed to 'wsd 20% cooldown'" in s.value for s in at.success)
    assert {d.name for d in ws.designs()} == {"cosine long", "wsd 20% cooldown"}

    button(at, "library_duplicate").click().run()
    assert {d.name for d in ws.designs()} == {"cosine long", "wsd 20% cooldown", "wsd 20% cooldown (copy)"}
    assert at.selectbox(key="library_design").value == ws.design("wsd 20% cooldown (copy)").id

    # Renaming onto a taken name: a message, nothing changes.
    at.text_input(key="library_rename").input("cosine long").run()
    button(at, "library_rename_button").click().run()
    assert any("a design named 'cosine long' already exists" in e.value for e in at.error)

    button(at, "library_delete").click().run()
    assert {d.name for d in ws.designs()} == {"cosine long", "wsd 20% cooldown"}
    assert at.tabs[0].label == "Designs (2)"
    undo = button(at, "library_undo_button")
    assert undo.label == "Undo: restore design 'wsd 20% cooldown (copy)'"
    undo.click().run()
    assert {d.name for d in ws.designs()} == {"cosine long", "wsd 20% cooldown", "wsd 20% cooldown (copy)"}
    assert any("Restored design" in s.value for s in at.success)


def test_open_puts_the_design_in_the_designer() -> None:
    Workspace().save_design("wsd", WSD)
    at = library_page()
    button(at, "library_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert load_config(at.session_state[state.DESIGN_JSON]) == load_config(WSD)
    assert at.number_input(key="w.warmup.steps").value == 2  # the designer's widgets show it


def test_compare_picks_from_the_library() -> None:
    ws = Workspace()
    ws.save_design("wsd", WSD)
    ws.save_design("other", {**SMALL, "warmup": {"steps": 8}})
    at = library_page()
    at.multiselect(key="library_compare").set_value(["wsd"]).run()
    button(at, "library_compare_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="compare_designs").value == ["Current design", "wsd"]
    x, y = xy(spec_of(at.get("plotly_chart")[0]), "wsd")
    # samples axis: step k has consumed 4 (k + 1) samples; row 1 of a 2-step warmup from 0 is lr 0.5.
    assert x[:2].tolist() == [4, 8] and y[:2].tolist() == [0.0, 0.5]


def _train_rows(config: dict, steps: int):
    from schedules.train.loop import train

    records = list(train(load_config(config), device="cpu", seed=0, max_steps=steps, threads=1))
    import pandas as pd

    return pd.DataFrame([r.to_row() for r in records])


def test_runs_tab_overlays_runs_and_deletes_with_undo() -> None:
    ws = Workspace()
    a = ws.save_frame("run a", _train_rows(SMALL, 12), kind="live", config=load_config(SMALL), device="cpu")
    b = ws.save_frame("run b", _train_rows(WSD, 16), kind="live", config=load_config(WSD), device="cpu")
    at = library_page()
    assert at.tabs[1].label == "Runs (2)"
    runs_table = table(at, "kind")
    assert runs_table["name"].tolist() == ["run b", "run a"] and runs_table["steps"].tolist() == [16, 12]
    assert runs_table["status"].tolist() == ["done", "done"]
    at.multiselect(key="library_runs").set_value([a, b]).run()
    loss, lr = (spec_of(c) for c in at.get("plotly_chart"))
    assert [t["name"] for t in lr["data"]] == ["run a (#1)", "run b (#2)"]
    assert xy(lr, "run b (#2)")[1].tolist() == lr_curve(load_config(WSD))["lr"].tolist()[:16]
    assert xy(loss, "run a (#1)")[1].tolist() == ws.run_frame(a)["loss"].tolist()
    summary = table(at, "peak lr")
    assert summary["steps"].tolist() == [12, 16]
    assert summary["peak lr"].tolist() == [1.0, 1.0]

    at.selectbox(key="library_run").set_value(a).run()
    button(at, "library_run_delete").click().run()
    assert [r.id for r in ws.runs()] == [b]
    button(at, "library_undo_button").click().run()
    assert {r.id for r in ws.runs()} == {a, b}


def test_import_and_refusal_of_a_newer_file(tmp_path: Path) -> None:
    other = Workspace(tmp_path / "other" / "workspace.sqlite3")
    other.save_design("from elsewhere", WSD)
    run_id = other.start_run("their run", device="cuda")
    other.append_rows(run_id, {"step": [0, 1], "loss": [2.0, 1.5]})
    other.finish_run(run_id, "done")
    exported = other.export(tmp_path / "export.sqlite3")
    other.close()

    at = library_page()
    at.file_uploader(key="library_import").set_value(
        ("export.sqlite3", exported.read_bytes(), "application/octet-stream")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(
        "Imported 1 designs, 1 runs and 0 forecast fits from export.sqlite3" in s.value for s in at.success
    )
    ws = Workspace()
    assert [d.name for d in ws.designs()] == ["from elsewhere"]
    assert ws.run_frame(ws.runs()[0].id)["loss"].tolist() == [2.0, 1.5]

    newer = tmp_path / "newer.sqlite3"
    newer.write_bytes(exported.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    at = library_page()
    at.file_uploader(key="library_import").set_value(
        ("newer.sqlite3", newer.read_bytes(), "application/octet-stream")
    ).run()
    [err] = at.error
    assert (
        "newer.sqlite3: was written by a newer LR Schedule Studio" in err.value and "not changed" in err.value
    )
    assert ws.counts()["designs"] == 1


def test_export_offers_the_whole_workspace() -> None:
    Workspace().save_design("x", SMALL)
    at = library_page()
    button(at, "library_prepare_export").click().run()
    data = at.session_state["library_export"]
    assert data.startswith(b"SQLite format 3\x00")
    [download] = [d for d in at.get("download_button") if d.label.startswith("Download workspace")]


def test_a_workspace_that_cannot_be_opened_is_a_message(monkeypatch, tmp_path: Path) -> None:
    folder = tmp_path / "newer"
    with Workspace(folder / "workspace.sqlite3") as ws:
        ws.save_design("x", SMALL)
    conn = sqlite3.connect(folder / "workspace.sqlite3", isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    monkeypatch.setenv("STUDIO_WORKSPACE", str(folder))
    at = library_page()
    [err] = at.error
    assert "The workspace could not be opened" in err.value and "newer LR Schedule Studio" in err.value
    # The Designer's Save still works for the session, and says where it went.
    at.switch_page("views/designer/page.py").run()
    save_on_designer(at, "kept for the session")
    assert any("for this session only" in w.value for w in at.warning)
    assert "kept for the session" in at.session_state[state.SAVED_DESIGNS]


def test_live_runs_are_saved_as_they_record() -> None:
    at = app({**SMALL, "name": "tiny live", "training": {**SMALL["training"], "dataset_size": 256}})
    at.switch_page("views/live.py").run()
    at.number_input(key="live_steps").set_value(20).run()
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    assert run.join(120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    ws = Workspace()
    runs = ws.runs()
    snap = run.snapshot()
    assert len(runs) == len(snap.frames) >= 2
    for info in runs:
        label = info.meta["setting"]
        assert info.name.startswith("tiny live @ ") and info.name.endswith(f" · {label}")
        assert info.status == "done" and info.kind == "live" and info.n_rows == 20
        assert ws.run_frame(info.id)["loss"].tolist() == snap.frames[label]["loss"].tolist()
    assert any("Saved to the **Library** as it records" in c.value for c in at.caption)
    at.switch_page("views/library.py").run()
    assert at.tabs[1].label == f"Runs ({len(runs)})"


def test_run_logs_page_saves_an_uploaded_log() -> None:
    at = app()
    at.switch_page("views/logs.py").run()
    csv = "step,lr,loss,val_loss\n0,0.0,2.5,\n1,0.5,2.25,\n2,1.0,2.0,2.1\n"
    at.file_uploader(key="logs_upload").set_value(("my-run.csv", csv.encode(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="logs_save_to_library").click().run()
    [info] = Workspace().runs()
    assert (info.name, info.kind, info.status, info.n_rows) == ("my-run.csv", "import", "imported", 3)
    frame = Workspace().run_frame(info.id)
    assert frame["loss"].tolist() == [2.5, 2.25, 2.0]
    assert frame["val_loss"].tolist()[2] == 2.1 and math.isnan(frame["val_loss"][0])
    assert any("Saved to the Library as run" in c.value for c in at.caption)
    assert workspace_path().exists()


@pytest.mark.parametrize("page", ["views/library.py"])
def test_empty_library_explains_what_to_do(page: str) -> None:
    at = library_page()
    texts = [i.value for i in at.info]
    assert any("No saved designs yet" in t for t in texts)
    assert any("No runs yet" in t for t in texts)


def test_designs_get_tags_and_notes_in_the_ui_and_search_finds_them() -> None:
    ws = Workspace()
    ws.save_design("baseline", load_config(SMALL).to_json())
    at = library_page()
    [d] = ws.designs()
    at.text_input(key=f"library_tags_{d.id}").input("baseline,  small batch ,, baseline")
    at.text_area(key=f"library_notes_{d.id}").input("Loss 0.42 after 3 epochs; try *twice* the lr.")
    at.button(key="library_annotate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [d] = Workspace().designs()
    assert (
        d.tags == ["baseline", "small batch"] and d.notes == "Loss 0.42 after 3 epochs; try *twice* the lr."
    )
    assert any("Saved the tags and notes of 'baseline'" in s.value for s in at.success)
    row = table(at, "sha256").iloc[0]
    assert (row["tags"], row["notes"]) == ("baseline, small batch", d.notes)  # a table cell: plain text
    at.text_input(key="library_search").input("small batch").run()
    assert table(at, "sha256")["name"].tolist() == ["baseline"]
    # a new session (a reload) shows them in the inputs
    again = library_page()
    assert again.text_input(key=f"library_tags_{d.id}").value == "baseline, small batch"
    assert again.text_area(key=f"library_notes_{d.id}").value == d.notes


def test_runs_say_their_optimizer_stack_and_design() -> None:
    ws = Workspace()
    saved = load_config({**SMALL, "name": "saved one"})
    ws.save_design("saved one", saved.to_json())
    cols = ["step", "loss", "lr"]
    ws.start_run("linked", config=saved, stack="plain", columns=cols)  # its design is in the Library
    ws.start_run("unsaved", config=load_config({**SMALL, "name": "scratch"}), stack="plain", columns=cols)
    ws.start_run(
        "schedule-free",
        config=load_config({**SMALL, "name": "scratch"}),
        stack="plain",
        columns=cols,
        meta={"optimizer": "schedulefree.SGDScheduleFree"},
    )
    ws.start_run("imported log", kind="import", columns=cols, status="imported")
    at = library_page()
    runs = table(at, "kind").set_index("name")
    assert runs.loc["linked", "design"] == "saved one"
    assert runs.loc["unsaved", "design"] == "scratch (not saved)"
    assert runs.loc["imported log", "design"] == "–"
    assert runs.loc["linked", "optimizer"] == "torch.optim.SGD + lr scheduler"
    assert (
        runs.loc["schedule-free", "optimizer"]
        == "schedulefree.SGDScheduleFree (schedule-free, no lr scheduler)"
    )
    assert runs.loc["imported log", "optimizer"] == "–"
    assert runs.loc["linked", "stack"] == "plain" and runs.loc["imported log", "stack"] == "–"
    at.selectbox(key="library_run").set_value(Workspace().runs()[0].id).run()
    caption = [c.value for c in at.caption if "optimizer" in c.value]
    assert caption and "stack" in caption[0] and "design" in caption[0]
