"""Crafted workspace files (issue 30's red team): each is a real export, then altered with sqlite3.

``build(kind, folder)`` writes one and returns its path; :data:`KINDS` names every kind, and
:data:`EXPECT` the words its refusal must contain.  Used by ``tests/test_hostile_workspaces.py`` and
``bench/dos_health.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from schedules.workspace import Workspace
from schedules.workspace.codec import MAGIC, encode_columns

SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 256, "micro_batch_size": 16, "accumulation_steps": 2, "epochs": 2},
    "warmup": {"steps": 4},
}

#: The recursive query the red team put behind a view: 2e9 rows, sorted (a sort file of GBs).
RECURSIVE = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
    "SELECT x AS id, 'n' || x AS uid, 'name ' || x AS name, '{}' AS config, '' AS hash, 0.0 AS created, "
    "0.0 AS updated, '' AS notes, '[]' AS tags, NULL AS deleted FROM c ORDER BY random()"
)


def export(folder: Path, *, rows: int = 3, designs: int = 1) -> Path:
    """A sound export: ``designs`` designs, one run of ``rows`` rows (one block), one fit."""
    ws = Workspace(folder / "source" / "workspace.sqlite3")
    for i in range(designs):
        ws.save_design(f"design {i}" if i else "cosine", SMALL)
    run_id = ws.start_run("run", columns=["step", "lr"], device="cpu")
    ws.append_rows(run_id, {"step": np.arange(rows), "lr": np.linspace(0.1, 0.0, rows)})
    ws.finish_run(run_id, "done")
    ws.save_fit("fit", "multi-power", {"L0": 1.0}, runs=[run_id])
    ws.close()
    return ws.export(folder / "export.sqlite3")


def zlib_bomb(inflated: int = 1 << 30) -> bytes:
    """A valid zlib stream of ``inflated`` zero bytes (a multiple of 16 MiB) in about 1 KB per 1 MB of
    output: one compressed 16 MiB segment after a full flush is the same bytes every time, so it is
    made once and repeated, then an empty final block and the Adler-32 of the whole output."""
    chunk = bytes(1 << 24)
    n = max(1, inflated // len(chunk))
    comp = zlib.compressobj(9)
    first = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(n):
        adler = zlib.adler32(chunk, adler)
    return first + again * (n - 1) + b"\x03\x00" + struct.pack(">I", adler)


def bomb_block(inflated: int = 1 << 30) -> bytes:
    """A block whose header states 3 rows of one float column (24 bytes), and whose zlib body inflates
    to ``inflated`` bytes of zeros (1 GiB: about 1 MB in the file)."""
    head = json.dumps({"rows": 3, "columns": [["lr", "f8", 24]]}).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + zlib_bomb(inflated)


def honest_bomb_block() -> bytes:
    """A block whose header *states* 65,536 rows x 256 float columns (128 MiB): over the 64 MiB cap."""
    rows, cols = 65_536, 256
    head = json.dumps({"rows": rows, "columns": [[f"c{i}", "f8", 8 * rows] for i in range(cols)]}).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + zlib.compress(bytes(1 << 16))


def _edit(path: Path, *sql: str, args: tuple = ()) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for i, statement in enumerate(sql):
        conn.execute(statement, args if i == len(sql) - 1 else ())
    conn.close()


def build(kind: str, folder: Path) -> Path:
    """Write the hostile file ``kind`` under ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = export(folder)
    if kind == "recursive view":
        _edit(path, "DROP TABLE designs", f"CREATE VIEW designs AS {RECURSIVE}")
    elif kind == "trigger":
        _edit(
            path,
            "CREATE TRIGGER grow AFTER INSERT ON designs BEGIN "
            "INSERT INTO fits (name, law, params, created) SELECT name, 'x', '{}', 0 FROM designs; END",
        )
    elif kind == "extra table":
        _edit(path, "CREATE TABLE notes_of_mine (x)")
    elif kind == "zip bomb":
        _edit(path, "UPDATE run_chunks SET data = ?", args=(bomb_block(),))
    elif kind == "stated bomb":
        _edit(path, "UPDATE run_chunks SET data = ?", args=(honest_bomb_block(),))
    elif kind == "long name":
        _edit(path, "UPDATE designs SET name = ?", args=("x" * 200_000,))
    elif kind == "bad block":
        _edit(path, "UPDATE run_chunks SET data = ?", args=(b"LRC1" + bytes(range(256)) * 4,))
    elif kind == "foreign block":
        _edit(path, "UPDATE run_chunks SET data = ?", args=(b"not a block at all",))
    elif kind == "rows mismatch":
        _edit(
            path, "UPDATE run_chunks SET data = ?", args=(encode_columns({"step": [0, 1], "lr": [0.1, 0.0]}),)
        )
    elif kind == "broken fit":
        _edit(path, "UPDATE fits SET params = '{\"L0\": 1.0,'")
    elif kind == "nan fit":
        _edit(path, "UPDATE fits SET params = '{\"L0\": NaN}'")
    elif kind == "bad config":
        _edit(path, 'UPDATE designs SET config = \'{"optimizer": {"lr": -1}}\'')
    elif kind == "bad kind":
        _edit(path, "UPDATE runs SET kind = '<script>'")
    elif kind == "huge rows":
        _edit(path, "UPDATE runs SET n_rows = 900000000")
    elif kind == "orphan block":
        _edit(path, "UPDATE run_chunks SET run_id = 77")
    elif kind == "text in a number":
        _edit(path, "UPDATE designs SET created = 'yesterday'")
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path


#: Every kind, and words its refusal names (the field or the object).
EXPECT = {
    "recursive view": "view 'designs'",
    "trigger": "trigger 'grow'",
    "extra table": "table 'notes_of_mine'",
    "zip bomb": "decodes to more than the 24 bytes",
    "stated bomb": "at most 67,108,864 bytes",
    "long name": "design 1: name: must be at most 200 characters",
    "bad block": "block 0",
    "foreign block": "bad magic",
    "rows mismatch": "decodes to 2 rows, its record says 3",
    "broken fit": "fit 1: params: must be a JSON dict",
    "nan fit": "fit 1: params: must be a JSON dict",
    "bad config": "design 1: config: is not a valid design",
    "bad kind": "run 1: kind: must be one of",
    "huge rows": "run 1: n_rows: must be between 0 and 2,000,000",
    "orphan block": "run_chunks: has rows of run 77",
    "text in a number": "design 1: created: must be a finite number",
    "truncated": "damaged or truncated",
}
KINDS = tuple(EXPECT)


# --------------------------------------------------------------------------------------------------
# the CLI in a process of its own (tests/test_hostile_workspaces.py, bench/hostile_refusals.py)

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}

#: ``python -m schedules ARGS`` that writes the seconds its command took (after the imports) and its
#: own peak RSS (bytes) to the file named by $MEASURED_FILE.
MEASURED = (
    "import os, resource, sys, time\n"
    "from schedules.cli import main\n"
    "t0 = time.perf_counter()\n"
    "code = main(sys.argv[1:])\n"
    "took = time.perf_counter() - t0\n"
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
    "open(os.environ['MEASURED_FILE'], 'w').write(f'{took} {rss}')\n"
    "sys.exit(code)\n"
)


def run_measured(
    args: list[str], out_file: Path, timeout: float = 120
) -> tuple[subprocess.CompletedProcess, float, float, int]:
    """The CLI in a process of its own: ``(result, seconds in all, seconds of the command after the
    imports, peak RSS in bytes)``."""
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, *args],
        cwd=REPO_ROOT,
        env={**ENV, "MEASURED_FILE": str(out_file)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    took, rss = out_file.read_text().split()
    return result, time.perf_counter() - t0, float(took), int(rss)
