"""The workspace under real processes: two writers at once, kill -9 during a live run, and the CLI
(python -m schedules workspace list|show|export|import|train)."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from schedules import load_config
from schedules.workspace import SCHEMA_VERSION, Workspace, config_hash

#: Real processes or a real library end to end: left out of `make test-fast`.
pytestmark = pytest.mark.real

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}

SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 256, "micro_batch_size": 16, "accumulation_steps": 2, "epochs": 2},
    "warmup": {"steps": 4},
}

WRITER = r"""
import json, os, sys, time
from pathlib import Path
from schedules import load_config
from schedules.workspace import Workspace
path, who, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
ws = Workspace(path)
base = load_config(json.loads(sys.argv[5]))
Path(f"{go}.{who}.ready").touch()
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
for i in range(n):
    # A valid config per design (copied, not re-validated: validation builds a torch optimizer).
    cfg = base.model_copy(update={"name": f"{who}-{i}", "optimizer": base.optimizer.model_copy(update={"lr": 0.001 * (i + 1)})})
    ws.save_design(f"{who}-{i}", cfg, notes=who, tags=[who])
    run = ws.start_run(f"{who}-run-{i}", config=cfg, device="cpu", meta={"who": who, "i": i})
    ws.append_rows(run, {"step": [0, 1, 2], "lr": [i + 0.5, i + 0.25, i + 0.125], "loss": [float(i), 1.0 / (i + 1), float("nan")]})
    ws.append_rows(run, {"step": [3, 4], "lr": [-1.0 * i, 2.0], "loss": [0.0, 1e-300]})
    ws.finish_run(run, "done")
print("wrote", n)
"""


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "schedules", *args],
        cwd=REPO_ROOT,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_two_processes_writing_1000_designs_and_runs_each(tmp_path: Path) -> None:
    path = tmp_path / "workspace.sqlite3"
    Workspace(path)  # created once; both writers open the same file
    go = tmp_path / "go"
    n = 1000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), who, str(n), str(go), json.dumps(SMALL)],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(Path(f"{go}.{w}.ready").exists() for w in "ab") and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
        go.touch()  # both start writing at once
        outs = [p.communicate(timeout=900) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].strip() for o in outs] == [f"wrote {n}"] * 2

    ws = Workspace(path)
    assert ws.check() == ["ok"]
    designs = ws.designs()
    runs = ws.runs()
    assert len(designs) == len(runs) == 2 * n
    assert ws.counts() == {"designs": 2 * n, "runs": 2 * n, "fits": 0, "rows": 5 * 2 * n}
    # The writers really interleaved: each one's records span the other's.
    created = {w: sorted(d.created for d in designs if d.notes == w) for w in "ab"}
    assert created["a"][0] < created["b"][-1] and created["b"][0] < created["a"][-1]
    for d in designs:
        who, i = d.name.split("-")
        cfg = load_config(d.config)
        assert cfg.optimizer.lr == 0.001 * (int(i) + 1) and cfg.name == d.name
        assert d.hash == config_hash(cfg) and d.tags == [who]
    by_design = {d.hash: d.id for d in designs}
    for r in runs:
        who, i = r.meta["who"], r.meta["i"]
        assert r.name == f"{who}-run-{i}" and r.status == "done" and r.n_rows == 5
        assert r.design_id == by_design[r.hash]  # linked to the design saved just before it
    # Every run's rows, exactly (spot-check a spread; decoding all 2000 adds nothing).
    for r in runs[:: max(1, len(runs) // 50)]:
        i = r.meta["i"]
        f = ws.run_frame(r.id)
        assert f["step"].tolist() == [0, 1, 2, 3, 4]
        assert f["lr"].tolist() == [i + 0.5, i + 0.25, i + 0.125, -1.0 * i, 2.0]
        assert f["loss"].tolist()[:2] == [float(i), 1.0 / (i + 1)] and math.isnan(f["loss"][2])


@pytest.mark.slow
def test_kill_9_during_a_live_run_keeps_every_flushed_row(tmp_path: Path) -> None:
    config = {
        "name": "long",
        "optimizer": {"name": "SGD", "lr": 0.05},
        "training": {"dataset_size": 2048, "micro_batch_size": 16, "accumulation_steps": 2, "epochs": 50},
        "warmup": {"steps": 20},
    }
    cfg_path = tmp_path / "long.json"
    cfg_path.write_text(json.dumps(config))
    folder = tmp_path / "ws"
    proc = subprocess.Popen(
        [sys.executable, "-m", "schedules", "workspace", "train", str(cfg_path), "--workspace", str(folder),
         "--progress", "--flush-rows", "7", "--flush-seconds", "60", "--device", "cpu"],
        cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    flushed: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while len(flushed) < 4 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("flushed "):
                flushed.append(int(line.split()[1]))
        assert len(flushed) >= 4, (
            flushed,
            proc.poll(),
            proc.stderr.read() if proc.poll() is not None else "",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert flushed[:4] == [7, 14, 21, 28]

    # "Restart": a new process-level open of the same folder.
    ws = Workspace(folder / "workspace.sqlite3")
    assert ws.check() == ["ok"]
    [info] = ws.runs()
    assert info.status == "running" and info.state == "interrupted"
    assert info.n_rows >= flushed[-1] and info.n_rows % 7 == 0
    assert info.n_rows < info.meta["total_steps"] == 50 * 64  # it really was cut short
    frame = ws.run_frame(info.id)
    assert len(frame) == info.n_rows
    assert frame["step"].tolist() == list(range(info.n_rows))  # no gaps, no torn block

    # The rows are the run's real rows: the same seed, trained again here, gives the same values.
    from schedules.train.loop import train

    records = list(train(load_config(config), device="cpu", seed=0, max_steps=info.n_rows, threads=1))
    again = pd.DataFrame([r.to_row() for r in records])
    for col in ("step", "epoch", "samples", "lr", "loss", "window_samples"):
        assert frame[col].tolist() == again[col].tolist(), col

    # The CLI lists it as interrupted.
    out = _cli("workspace", "list", "runs", "--workspace", str(folder))
    assert out.returncode == 0 and "interrupted" in out.stdout and f"{info.n_rows} rows" in out.stdout


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (``schedules.cli.main``, the code ``python -m schedules`` runs)."""
    from schedules.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list_show_export_import(tmp_path: Path, capsys, monkeypatch) -> None:
    folder = tmp_path / "ws"
    ws = Workspace(folder / "workspace.sqlite3")
    d = ws.save_design("cosine a", SMALL, tags=["x"])
    run_id = ws.start_run("a run", config=load_config(SMALL), device="cpu")
    ws.append_rows(run_id, {"step": [0, 1], "lr": [0.0, 0.025], "loss": [2.5, 2.25]})
    ws.finish_run(run_id, "done")
    ws.save_fit("fit", "multi-power", {"A": 1.5}, runs=[run_id])
    monkeypatch.setenv("STUDIO_WORKSPACE", str(folder))

    code, out, err = _main(capsys, "workspace", "list")
    assert code == 0, err
    assert f"workspace: {folder / 'workspace.sqlite3'}" in out
    assert "cosine a" in out and "a run  (live, done, 2 rows, cpu" in out and "multi-power" in out
    code, out, _ = _main(capsys, "workspace", "list", "--json", "-s", "COSINE")
    listed = json.loads(out)
    assert [x["name"] for x in listed["designs"]] == ["cosine a"] and listed["runs"] == []

    code, out, err = _main(capsys, "workspace", "show", "design", "cosine a")
    assert code == 0 and load_config(out) == load_config(SMALL)
    assert d.hash in err
    csv_path = tmp_path / "run.csv"
    code, out, err = _main(capsys, "workspace", "show", "run", str(run_id), "-o", str(csv_path))
    assert code == 0 and json.loads(err)["rows"] == 2
    assert csv_path.read_text().splitlines() == ["step,lr,loss", "0,0.0,2.5", "1,0.025,2.25"]
    code, out, err = _main(capsys, "workspace", "show", "fit", "1")
    fit = json.loads(out)
    assert fit["params"] == {"A": 1.5} and fit["runs"] == [run_id]

    code, out, err = _main(capsys, "workspace", "show", "design", "nope")
    assert code == 2 and err.startswith("error: design: no design 'nope'")
    assert "Traceback" not in err

    export = tmp_path / "all.sqlite3"
    code, out, err = _main(capsys, "workspace", "export", str(export))
    assert code == 0 and "exported 1 designs, 1 runs (2 rows), 1 fits" in err
    code, out, err = _main(capsys, "workspace", "export", str(export))
    assert code == 2 and "already exists" in err
    other = tmp_path / "other"
    code, out, err = _main(capsys, "workspace", "import", str(export), "--workspace", str(other))
    assert code == 0 and "imported 1 designs, 1 runs, 1 fits" in err
    code, out, err = _main(capsys, "workspace", "import", str(export), "--workspace", str(other))
    assert "imported 0 designs, 0 runs, 0 fits" in err and "(3 already here)" in err
    assert Workspace(other / "workspace.sqlite3").run_frame(1)["loss"].tolist() == [2.5, 2.25]

    bad = tmp_path / "bad.sqlite3"
    bad.write_text("not a database at all, sorry" * 10)
    code, out, err = _main(capsys, "workspace", "import", str(bad))
    assert code == 2 and "not a studio workspace" in err and "Traceback" not in err
    code, out, err = _main(capsys, "workspace", "path")
    assert out.strip() == str(folder / "workspace.sqlite3")


def test_cli_refuses_a_newer_workspace_without_changing_it(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    path = folder / "workspace.sqlite3"
    with Workspace(path) as ws:
        ws.save_design("x", SMALL)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    before = path.read_bytes()
    out = _cli("workspace", "list", "--workspace", str(folder))
    assert out.returncode == 2
    assert f"newer LR Schedule Studio (workspace schema version {SCHEMA_VERSION + 1}" in out.stderr
    assert "it was not changed" in out.stderr and "Traceback" not in out.stderr
    assert path.read_bytes() == before
