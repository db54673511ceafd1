"""The workspace store (schedules/workspace): designs, runs, fits, migrations, refusal of newer files,
export/import, and the live-run sink.  Concurrency and kill -9: tests/test_workspace_processes.py."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules import load_config
from schedules.workspace import SCHEMA_VERSION, Workspace, WorkspaceError, config_hash, workspace_path
from schedules.workspace.codec import CodecError, decode_columns, encode_columns
from schedules.workspace.records import DESIGNS, FITS, RUNS
from schedules.workspace.schema import APPLICATION_ID, MIGRATIONS
from schedules.workspace.sink import WorkspaceSink

SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 256, "micro_batch_size": 16, "accumulation_steps": 2, "epochs": 2},
    "warmup": {"steps": 4},
}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws" / "workspace.sqlite3")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# where it lives


def test_location_follows_studio_workspace_and_defaults_to_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "elsewhere"))
    assert workspace_path() == tmp_path / "elsewhere" / "workspace.sqlite3"
    ws = Workspace()
    assert ws.path == tmp_path / "elsewhere" / "workspace.sqlite3" and ws.path.is_file()
    monkeypatch.delenv("STUDIO_WORKSPACE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert workspace_path() == tmp_path / "home" / ".lr-schedule-studio" / "workspace.sqlite3"


def test_the_test_suite_never_touches_the_real_workspace() -> None:
    # conftest.py points STUDIO_WORKSPACE at a temporary folder for every test.
    assert workspace_path().parent != (Path.home() / ".lr-schedule-studio")


def test_new_file_is_wal_with_current_schema(ws: Workspace) -> None:
    conn = sqlite3.connect(ws.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        conn.close()
    assert ws.check() == ["ok"]


def test_every_record_field_is_a_column_of_its_table(ws: Workspace) -> None:
    # One mapping (records.Table) reads rows into records: each field from the column of its name.
    conn = sqlite3.connect(ws.path)
    try:
        for table in (DESIGNS, RUNS, FITS):
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table.name})")}
            assert set(table.columns) == columns, table
    finally:
        conn.close()
    assert DESIGNS.json_columns == {"tags"}
    assert RUNS.json_columns == {"columns", "meta", "tags"}
    assert FITS.json_columns == {"params", "runs", "meta"}


# --------------------------------------------------------------------------------------------------
# designs


def test_design_hash_is_sha256_of_the_canonical_config(ws: Workspace) -> None:
    cfg = load_config(SMALL)
    d = ws.save_design("cosine A", SMALL, notes="first try", tags=["wsd", "Baseline"])
    assert d.hash == hashlib.sha256(cfg.cache_key().encode()).hexdigest()
    # The same design written differently (key order, defaults spelled out) has the same hash.
    shuffled = json.loads(cfg.to_json())
    shuffled = dict(reversed(list(shuffled.items())))
    assert config_hash(shuffled) == d.hash
    assert config_hash({**SMALL, "warmup": {"steps": 5}}) != d.hash
    assert load_config(d.config) == cfg
    assert (d.notes, d.tags, d.deleted) == ("first try", ["wsd", "Baseline"], None)


def test_save_under_an_existing_name_updates_that_design(ws: Workspace) -> None:
    first = ws.save_design("mine", SMALL)
    second = ws.save_design("mine", {**SMALL, "warmup": {"steps": 8}})
    assert second.id == first.id and second.created == first.created
    assert second.updated >= first.updated
    assert load_config(second.config).warmup.steps == 8
    assert [d.name for d in ws.designs()] == ["mine"]


def test_search_rename_duplicate_delete_undo(ws: Workspace) -> None:
    a = ws.save_design("Cosine long", SMALL, tags=["imagenet"])
    b = ws.save_design("wsd short", {**SMALL, "name": "wsd"}, notes="try 100% cooldown_2")
    assert {d.name for d in ws.designs("COSINE")} == {"Cosine long"}
    assert {d.name for d in ws.designs("imagenet")} == {"Cosine long"}  # tags
    assert {d.name for d in ws.designs("100%")} == {"wsd short"}  # % is literal, not a wildcard
    assert ws.designs("10_%") == []
    assert ws.designs("nothing like it") == []

    with pytest.raises(WorkspaceError, match="a design named 'wsd short' already exists"):
        ws.rename_design(a.id, "wsd short")
    with pytest.raises(WorkspaceError, match="new name: must be a non-empty name"):
        ws.rename_design(a.id, "   ")
    assert ws.rename_design(a.id, "cosine  90 epochs").name == "cosine 90 epochs"  # spaces squeezed

    copy = ws.duplicate_design(b.id)
    copy2 = ws.duplicate_design(b.id)
    assert (copy.name, copy2.name) == ("wsd short (copy)", "wsd short (copy) (2)")
    assert copy.config == b.config and copy.hash == b.hash and copy.notes == b.notes and copy.uid != b.uid

    ws.delete_design(b.id)
    assert "wsd short" not in {d.name for d in ws.designs()}
    assert [d.name for d in ws.designs(deleted=True)] == ["wsd short"]
    with pytest.raises(WorkspaceError, match="no design 'wsd short'"):
        ws.design("wsd short")
    # The name is free again; undoing the delete then keeps both, the restored one renamed.
    ws.save_design("wsd short", SMALL)
    restored = ws.restore_design(b.id)
    assert restored.name == "wsd short (2)" and restored.deleted is None
    assert restored.config == b.config
    ws.delete_design(copy2.id)
    assert ws.purge() == 1
    assert ws.designs(deleted=True) == []


def test_design_by_id_or_name_and_design_for_config(ws: Workspace) -> None:
    d = ws.save_design("x", SMALL)
    assert ws.design(d.id) == ws.design("x") == ws.design(str(d.id))
    assert ws.design_for(load_config(SMALL)) == d
    assert ws.design_for(load_config({**SMALL, "warmup": None})) is None


def test_bad_names_are_refused_with_the_field_and_value(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match=r"design name: must be a non-empty name, got ''"):
        ws.save_design("", SMALL)
    with pytest.raises(
        WorkspaceError, match=r"design name: must be at most 200 characters, got 201 characters"
    ):
        ws.save_design("x" * 201, SMALL)
    with pytest.raises(WorkspaceError, match=r"kind: must be one of live, import, trace, got 'other'"):
        ws.start_run("r", kind="other")


# --------------------------------------------------------------------------------------------------
# runs and the codec


def test_run_rows_round_trip_exactly_across_blocks(ws: Workspace) -> None:
    design = ws.save_design("small", SMALL)
    run_id = ws.start_run("r", config=load_config(SMALL), device="cpu", stack="plain", meta={"seed": 3})
    info = ws.run(run_id)
    assert (info.status, info.n_rows, info.design_id, info.hash) == ("running", 0, design.id, design.hash)
    lr = [0.1 * k / 7 for k in range(10)]
    loss = [2.5, math.nan, 1.0 / 3.0, -0.0, 1e-300, 2.0, math.inf, 3.0, 4.0, 5.0]
    assert ws.append_rows(run_id, {"step": list(range(4)), "lr": lr[:4], "loss": loss[:4]}) == 4
    assert ws.append_rows(run_id, {"step": list(range(4, 10)), "lr": lr[4:], "loss": loss[4:]}) == 10
    ws.finish_run(run_id, "done")
    frame = ws.run_frame(run_id)
    assert frame["step"].dtype == np.int64 and frame["step"].tolist() == list(range(10))
    assert frame["lr"].tolist() == lr  # exact float64 values
    got = frame["loss"].to_numpy()
    assert np.array_equal(got.view(np.int64), np.array(loss).view(np.int64))  # bits: nan, -0.0, inf kept
    info = ws.run(run_id)
    assert (info.status, info.n_rows, info.columns, info.meta["seed"]) == (
        "done",
        10,
        ["step", "lr", "loss"],
        3,
    )
    assert info.state == "done"


def test_a_run_whose_recorder_died_lists_as_interrupted(ws: Workspace) -> None:
    run_id = ws.start_run("r", meta={"pid": 2**22 + 12345})  # no such process (pid_max is 2**22)
    assert ws.run(run_id).status == "running" and ws.run(run_id).state == "interrupted"
    mine = ws.start_run("mine")
    assert ws.run(mine).state == "running"


def test_save_frame_stores_an_imported_log(ws: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "step": np.arange(10_000, dtype=np.int64),
            "lr": np.linspace(1e-3, 0, 10_000),
            "loss": np.where(np.arange(10_000) % 10 == 0, np.exp(-np.arange(10_000) / 3000), np.nan),
            "source": ["csv"] * 10_000,
        }
    )
    run_id = ws.save_frame("imported log", frame, meta={"file": "run.csv"})
    info = ws.run(run_id)
    assert (info.kind, info.status, info.n_rows) == ("import", "imported", 10_000)
    pd.testing.assert_frame_equal(ws.run_frame(run_id), frame)


def test_runs_search_delete_restore_rename(ws: Workspace) -> None:
    a = ws.start_run("cosine on cuda", device="cuda")
    b = ws.start_run("wsd", device="cpu", kind="import")
    assert [r.id for r in ws.runs("CUDA")] == [a]
    assert [r.id for r in ws.runs(kind="import")] == [b]
    ws.delete_run(a)
    assert [r.id for r in ws.runs()] == [b]
    assert ws.restore_run(a).deleted is None
    assert ws.rename_run(a, "renamed").name == "renamed"
    assert ws.update_run(a, notes="n", tags=["t"]).tags == ["t"]


@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        min_size=0,
        max_size=50,
    ),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=0, max_size=50),
)
def test_codec_round_trips_every_float64_and_int64(floats: list[float], ints: list[int]) -> None:
    n = min(len(floats), len(ints))
    blob = encode_columns({"f": floats[:n], "i": ints[:n], "text": [str(x) for x in ints[:n]]})
    rows, cols = decode_columns(blob)
    assert rows == n
    assert np.array_equal(
        np.asarray(cols["f"]).view(np.int64), np.asarray(floats[:n], dtype=np.float64).view(np.int64)
    )
    assert cols["i"].dtype == np.int64 and cols["i"].tolist() == ints[:n]
    assert list(cols["text"]) == [str(x) for x in ints[:n]]  # (an empty column decodes as an empty array)


def test_codec_refuses_a_damaged_block() -> None:
    blob = encode_columns({"x": [1.0, 2.0]})
    with pytest.raises(CodecError, match="bad magic"):
        decode_columns(b"XXXX" + blob[4:])
    with pytest.raises(CodecError, match="damaged"):
        decode_columns(blob[:-3])


def test_smooth_columns_compress_well() -> None:
    n = 10_000
    cols = {"step": np.arange(n), "samples": np.arange(1, n + 1) * 64, "lr": 1e-3 * np.cos(np.arange(n) / n)}
    raw = 3 * 8 * n
    assert len(encode_columns(cols)) < raw / 3


# --------------------------------------------------------------------------------------------------
# forecast fits


def test_fits_keep_law_parameters_and_source_runs(ws: Workspace) -> None:
    r1, r2 = ws.start_run("a"), ws.start_run("b")
    fit = ws.save_fit(
        "fit on a+b", "multi-power", {"L0": 2.1, "A": 0.5, "alpha": 0.3}, runs=[r1, r2], meta={"rmse": 0.01}
    )
    assert ws.fit(fit.id) == fit
    assert (fit.law, fit.params["alpha"], fit.runs, fit.meta) == (
        "multi-power",
        0.3,
        [r1, r2],
        {"rmse": 0.01},
    )
    assert [f.id for f in ws.fits("MULTI")] == [fit.id]
    ws.delete_fit(fit.id)
    assert ws.fits() == [] and ws.restore_fit(fit.id).deleted is None


# --------------------------------------------------------------------------------------------------
# migrations: a file at every earlier version opens, keeps its data, and gets the current schema


def _file_at_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for v in range(version):
        MIGRATIONS[v](conn)
    conn.execute(f"PRAGMA user_version = {version}")
    if version:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("COMMIT")
    conn.close()


def _fill_v1(conn: sqlite3.Connection) -> None:
    cfg = load_config(SMALL)
    conn.execute(
        "INSERT INTO designs (id, name, config, hash, created, updated, notes, tags) VALUES (1, 'old', ?, ?, 1.0, 2.0, 'n', '[\"t\"]')",
        (cfg.to_json(), config_hash(cfg)),
    )
    conn.execute(
        "INSERT INTO runs (id, name, kind, design_id, status, columns, n_rows, created, updated) "
        "VALUES (1, 'old run', 'live', 1, 'done', '[\"step\",\"lr\"]', 3, 1.0, 2.0)"
    )
    conn.execute(
        "INSERT INTO run_chunks VALUES (1, 0, 0, 3, ?)",
        (encode_columns({"step": [0, 1, 2], "lr": [0.1, 0.2, 0.3]}),),
    )
    conn.execute(
        "INSERT INTO fits (id, name, law, params, runs, created) VALUES (1, 'f', 'annealing', '{\"a\":1}', '[1]', 1.0)"
    )


#: Sample data written in each version's own schema (index = version).
FILL = {1: _fill_v1}


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_migration_from_every_earlier_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "workspace.sqlite3"
    _file_at_version(path, version)
    if version in FILL:
        conn = sqlite3.connect(path, isolation_level=None)
        FILL[version](conn)
        conn.close()
    ws = Workspace(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert ws.check() == ["ok"]
    if version >= 1:
        [d] = ws.designs()
        assert (d.name, d.notes, d.tags, d.created, d.deleted) == ("old", "n", ["t"], 1.0, None)
        assert load_config(d.config) == load_config(SMALL) and len(d.uid) == 32
        [r] = ws.runs()
        assert (r.name, r.design_id, r.n_rows, r.notes, r.tags) == ("old run", 1, 3, "", [])
        assert ws.run_frame(r.id)["lr"].tolist() == [0.1, 0.2, 0.3]
        [f] = ws.fits()
        assert (f.law, f.params, f.runs) == ("annealing", {"a": 1}, [1])
        # v2 behaviour on migrated data: delete with undo, and the name free once deleted.
        ws.delete_design(d.id)
        ws.save_design("old", SMALL)
        assert ws.restore_design(d.id).name == "old (2)"
    # The file works as a new one would.
    run_id = ws.start_run("new")
    ws.append_rows(run_id, {"step": [0]})
    assert ws.run(run_id).n_rows == 1


def test_an_empty_file_becomes_a_workspace(tmp_path: Path) -> None:
    path = tmp_path / "workspace.sqlite3"
    path.write_bytes(b"")
    assert Workspace(path).counts() == {"designs": 0, "runs": 0, "fits": 0, "rows": 0}


# --------------------------------------------------------------------------------------------------
# files it must not touch


def _newer(path: Path) -> None:
    with Workspace(path) as ws:
        ws.save_design("from the future", SMALL)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.execute("PRAGMA journal_mode = DELETE")  # self-contained, as a newer studio leaves it on close
    conn.close()


def test_a_newer_workspace_is_refused_and_never_altered(tmp_path: Path) -> None:
    path = tmp_path / "workspace.sqlite3"
    _newer(path)
    before = file_digest(path)
    with pytest.raises(WorkspaceError) as err:
        Workspace(path)
    message = str(err.value)
    assert f"workspace schema version {SCHEMA_VERSION + 5}" in message
    assert f"reads versions 1 to {SCHEMA_VERSION}" in message and "it was not changed" in message
    assert err.value.invalid
    assert file_digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workspace.sqlite3"]  # no -wal, no -journal
    # Importing it is refused the same way, and changes neither file.
    target = Workspace(tmp_path / "other" / "workspace.sqlite3")
    with pytest.raises(WorkspaceError, match="newer LR Schedule Studio"):
        target.import_file(path)
    assert file_digest(path) == before and target.counts()["designs"] == 0


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite3"
    text.write_text("hello, I am not a database" * 10)
    with pytest.raises(WorkspaceError, match="not a studio workspace \\(not a SQLite database\\)"):
        Workspace(text)
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = file_digest(other)
    with pytest.raises(WorkspaceError, match="is a SQLite file but not a studio workspace"):
        Workspace(other)
    assert file_digest(other) == before


# --------------------------------------------------------------------------------------------------
# export / import


def test_export_import_round_trip_and_idempotent(tmp_path: Path, ws: Workspace) -> None:
    d = ws.save_design("cosine", SMALL, tags=["a"])
    run_id = ws.start_run("run", config=load_config(SMALL), device="cpu")
    ws.append_rows(run_id, {"step": [0, 1, 2], "loss": [3.0, 2.0, math.nan]})
    ws.finish_run(run_id, "done")
    ws.save_fit("fit", "multi-power", {"L0": 1.0}, runs=[run_id])
    gone = ws.save_design("deleted one", {**SMALL, "warmup": None})
    ws.delete_design(gone.id)

    out = ws.export(tmp_path / "backup" / "studio.sqlite3")
    assert sorted(p.name for p in out.parent.iterdir()) == ["studio.sqlite3"]  # one file
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.export(out)

    other = Workspace(tmp_path / "other" / "workspace.sqlite3")
    other.save_design("cosine", {**SMALL, "warmup": {"steps": 1}})  # the name is taken there
    before = file_digest(out)
    assert other.import_file(out) == {"designs": 2, "runs": 1, "fits": 1, "skipped": 0}
    assert file_digest(out) == before
    names = {x.name: x for x in other.designs()}
    assert set(names) == {"cosine", "cosine (2)"}
    assert names["cosine (2)"].hash == d.hash and names["cosine (2)"].tags == ["a"]
    assert [x.name for x in other.designs(deleted=True)] == ["deleted one"]
    [r] = other.runs()
    assert r.design_id == names["cosine (2)"].id and r.device == "cpu"
    assert other.run_frame(r.id)["loss"].tolist()[:2] == [3.0, 2.0]
    [f] = other.fits()
    assert f.runs == [r.id]
    # A second import adds nothing.
    assert other.import_file(out) == {"designs": 0, "runs": 0, "fits": 0, "skipped": 4}
    assert other.counts() == {"designs": 2, "runs": 1, "fits": 1, "rows": 3}


def test_import_of_an_older_export_migrates_a_copy(tmp_path: Path, ws: Workspace) -> None:
    old = tmp_path / "v1.sqlite3"
    _file_at_version(old, 1)
    conn = sqlite3.connect(old, isolation_level=None)
    _fill_v1(conn)
    conn.close()
    before = file_digest(old)
    assert ws.import_file(old) == {"designs": 1, "runs": 1, "fits": 1, "skipped": 0}
    assert file_digest(old) == before
    assert ws.run_frame(ws.runs()[0].id)["lr"].tolist() == [0.1, 0.2, 0.3]


# --------------------------------------------------------------------------------------------------
# the live run's sink


def _live(config, settings_labels=("design",), **kw):
    from schedules.train.base import CORRECT, PER_MICRO_BATCH
    from schedules.train.runs import live_run_for
    from schedules.train.settings import Setting

    variants = {"design": CORRECT, "bug": PER_MICRO_BATCH}
    settings = [Setting(label, config, variants[label]) for label in settings_labels]
    return live_run_for(settings, slots=threading.BoundedSemaphore(1), idle_timeout=math.inf, **kw)


def test_live_run_is_saved_as_it_records(ws: Workspace) -> None:
    cfg = load_config(SMALL)
    design = ws.save_design("small", cfg)
    run = _live(cfg, ("design", "bug"), seed=1)
    flushes: list[tuple[str, int]] = []
    sink = WorkspaceSink(
        ws,
        "small",
        meta={"model": "mlp"},
        flush_rows=5,
        flush_seconds=3600,
        on_flush=lambda label, n: flushes.append((label, n)),
    )
    run.sink = sink
    assert run.start()
    assert run.join(300)
    assert sink.errors == []
    snap = run.snapshot()
    runs = {r.name: r for r in ws.runs()}
    assert set(runs) == {"small · design", "small · bug"}
    steps = 16  # 256 / 16 = 16 micro-batches per epoch, 8 windows of 2, 2 epochs
    # Blocks of 5 rows, then the rest when the job ends: 5, 10, 15, 16.
    assert [n for label, n in flushes if label == "design"] == [5, 10, 15, 16]
    for label in ("design", "bug"):
        info = runs[f"small · {label}"]
        assert (info.status, info.n_rows, info.kind, info.device, info.stack) == (
            "done",
            steps,
            "live",
            "cpu",
            "plain",
        )
        assert info.design_id == design.id and info.meta["seed"] == 1 and info.meta["model"] == "mlp"
        assert info.meta["setting"] == label
        pd.testing.assert_frame_equal(ws.run_frame(info.id), snap.frames[label], check_dtype=False)
    # The lr column the workspace holds is the designed curve.
    from schedules import lr_curve

    assert ws.run_frame(runs["small · design"].id)["lr"].tolist() == lr_curve(cfg)["lr"].tolist()


def test_a_stopped_live_run_keeps_its_rows_and_says_stopped(ws: Workspace) -> None:
    cfg = load_config({**SMALL, "training": {**SMALL["training"], "epochs": 200}})
    run = _live(cfg)
    sink = WorkspaceSink(ws, "long", single=True, flush_rows=1)
    run.sink = sink

    def stop_after_some(label: str, n: int) -> None:
        if n >= 7:
            run.stop()

    sink.on_flush = stop_after_some
    run.start()
    assert run.join(300)
    [info] = ws.runs()
    assert info.name == "long" and info.status == "stopped"
    frame = ws.run_frame(info.id)
    assert len(frame) == info.n_rows >= 7
    assert frame["step"].tolist() == list(range(len(frame)))
    assert len(frame) == len(run.snapshot().frames["design"])


def test_a_failing_workspace_never_stops_the_run(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "workspace.sqlite3")
    cfg = load_config(SMALL)
    run = _live(cfg)
    sink = WorkspaceSink(ws, "x", flush_rows=4)
    run.sink = sink
    # Break the store under the sink: drop the table its blocks go to.
    conn = sqlite3.connect(ws.path)
    conn.execute("DROP TABLE run_chunks")
    conn.commit()
    conn.close()
    run.start()
    assert run.join(300)
    assert run.jobs[0].outcome == "done"
    assert len(run.snapshot().frames["design"]) == 16
    assert (
        len(sink.errors) == 1
        and "not saved to the workspace" in sink.errors[0]
        and "run_chunks" in sink.errors[0]
    )


# --------------------------------------------------------------------------------------------------
# run logs and forecasting through the workspace


def test_a_run_log_round_trips_through_the_workspace(ws: Workspace) -> None:
    from schedules.logs import read_log
    from schedules.workspace.runlogs import log_of_run, save_log

    csv = b"step,learning_rate,train_loss,eval_loss\n1,0.1,2.5,\n2,0.2,2.25,\n3,0.3,,2.4\n4,0.4,2.0,\n"
    log = read_log(csv, "hf.csv")
    run_id = save_log(ws, log)
    info = ws.run(run_id)
    assert (info.kind, info.n_rows, info.columns) == ("import", 4, ["step", "lr", "loss", "val_loss"])
    back = log_of_run(ws, run_id)
    assert (back.source, back.convention, back.columns) == (log.source, log.convention, log.columns)
    for kind in ("lr", "loss", "val_loss"):
        pd.testing.assert_frame_equal(
            back.series[kind], log.series[kind].reset_index(drop=True), check_dtype=False
        )


def test_forecast_fits_on_a_stored_live_run_and_the_fit_is_kept(ws: Workspace) -> None:
    from schedules.forecast.fit import fit_runs, predict
    from schedules.train.loop import train
    from schedules.workspace.runlogs import fit_dict, forecast_run, save_forecast_fit

    config = load_config(
        {**SMALL, "training": {**SMALL["training"], "epochs": 6}, "decay": {"scheduler": "CosineAnnealingLR"}}
    )
    rows = pd.DataFrame([r.to_row() for r in train(config, device="cpu", seed=0, threads=1)])
    run_id = ws.save_frame("live", rows, kind="live", config=config, device="cpu", status="done")
    run = forecast_run(ws, run_id)
    assert run.lr.tolist() == rows["lr"].tolist() and run.loss.tolist() == rows["loss"].tolist()
    fit = fit_runs([run], "multi-power", bootstrap=0)
    stored = save_forecast_fit(ws, "multi-power on live", fit, [run_id])
    again = ws.fit(stored.id)
    assert (again.law, again.params, again.runs) == ("multi-power", fit["params"], [run_id])
    lr = rows["lr"].to_numpy()
    pd.testing.assert_frame_equal(predict(fit_dict(again), lr), predict(fit, lr))
