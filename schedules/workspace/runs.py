"""Runs: a live run recorded as it trains, or an imported log; their rows in column blocks.

A run record holds where it came from (kind, design, stack, device), its status and metadata; its
rows are appended block by block (:meth:`RunStore.append_rows`, one transaction each, packed by
:mod:`.codec`) and read back as one DataFrame (:meth:`RunStore.run_frame`).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..build import load_config
from ..design import ScheduleConfig
from .codec import CodecError, encode_columns, frame_from_blocks
from .connection import Store
from .designs import latest_design
from .errors import WorkspaceError
from .records import (
    MAX_RUN_CELLS,
    MAX_RUN_COLUMNS,
    MAX_RUN_ROWS,
    MAX_TEXT,
    RUNS,
    RunInfo,
    check_name,
    check_tags,
    check_text,
    config_hash,
    new_uid,
    timestamp,
    to_json,
)

__all__ = ["IMPORT_BLOCK_ROWS", "RUN_KINDS", "RUN_STATUSES", "RunStore", "add_block", "check_size"]

#: Rows per block when a whole frame is stored at once (an imported log).
IMPORT_BLOCK_ROWS = 4096

RUN_KINDS = ("live", "import", "trace")
RUN_STATUSES = ("running", "done", "stopped", "diverged", "failed", "imported")


def add_block(
    conn: sqlite3.Connection, run_id: int, seq: int, first_row: int, n_rows: int, data: bytes
) -> None:
    """Store one block of a run's rows (``data``: :func:`.codec.encode_columns`)."""
    conn.execute(
        "INSERT INTO run_chunks (run_id, seq, first_row, n_rows, data) VALUES (?, ?, ?, ?, ?)",
        (run_id, seq, first_row, n_rows, data),
    )


def check_size(rows: int, columns: int) -> None:
    """Refuse (WorkspaceError) a run over :data:`~.records.MAX_RUN_ROWS` rows,
    :data:`~.records.MAX_RUN_COLUMNS` columns or :data:`~.records.MAX_RUN_CELLS` values."""
    if columns > MAX_RUN_COLUMNS:
        raise WorkspaceError(
            f"run columns: a run has at most {MAX_RUN_COLUMNS} columns, got {columns}", invalid=True
        )
    if rows > MAX_RUN_ROWS:
        raise WorkspaceError(
            f"run rows: a run holds at most {MAX_RUN_ROWS:,} rows, got {rows:,}", invalid=True
        )
    if rows * columns > MAX_RUN_CELLS:
        raise WorkspaceError(
            f"run rows: a run holds at most {MAX_RUN_CELLS:,} values (rows x columns), got {rows:,} x {columns}",
            invalid=True,
        )


def _check_one_of(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise WorkspaceError(f"{what}: must be one of {', '.join(choices)}, got {value!r}", invalid=True)


class RunStore(Store):
    """The runs of a workspace file (see the module docstring)."""

    def start_run(
        self,
        name: str,
        *,
        kind: str = "live",
        columns: Sequence[str] = (),
        config: ScheduleConfig | str | None = None,
        stack: str = "",
        device: str = "",
        meta: Mapping[str, Any] | None = None,
        status: str = "running",
    ) -> int:
        """A new run record (no rows yet); returns its id.  ``meta`` records the recorder's pid and
        host, so a run left ``running`` by a killed process shows as ``interrupted``."""
        name = check_name(name, "run name")
        _check_one_of("kind", kind, RUN_KINDS)
        _check_one_of("status", status, RUN_STATUSES)
        check_size(0, len(columns))
        text = digest = None
        if config is not None:
            cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
            text, digest = cfg.to_json(), config_hash(cfg)
        info = {"pid": os.getpid(), "host": socket.gethostname(), **dict(meta or {})}
        now = timestamp()
        with self._write() as conn:
            design = latest_design(conn, digest) if digest is not None else None
            return RUNS.insert(
                conn,
                {
                    "uid": new_uid(),
                    "name": name,
                    "kind": kind,
                    "design_id": design.id if design is not None else None,
                    "config": text,
                    "hash": digest,
                    "stack": stack,
                    "device": device,
                    "status": status,
                    "columns": to_json(list(columns)),
                    "created": now,
                    "updated": now,
                    "meta": to_json(info),
                },
            )

    def append_rows(self, run_id: int, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> int:
        """Append a block of rows (equal-length columns) to a run, in one transaction; returns the
        run's row count after it."""
        n = len(next(iter(columns.values()))) if columns else 0
        if n == 0:
            return self.run(run_id).n_rows
        blob = encode_columns(columns)
        with self._write() as conn:
            row = conn.execute("SELECT n_rows, columns FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"run: no run with id {run_id}", invalid=True)
            seq = conn.execute(
                "SELECT coalesce(max(seq) + 1, 0) FROM run_chunks WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            known = RUNS.decode("columns", row["columns"])
            cols = known + [c for c in columns if c not in known]
            total = row["n_rows"] + n
            check_size(total, len(cols))
            add_block(conn, run_id, seq, row["n_rows"], n, blob)
            conn.execute(
                "UPDATE runs SET n_rows = ?, columns = ?, updated = ? WHERE id = ?",
                (total, to_json(cols), timestamp(), run_id),
            )
            return total

    def finish_run(self, run_id: int, status: str, message: str = "") -> None:
        """Set the run's outcome; a message over :data:`~.records.MAX_TEXT` characters is cut there."""
        _check_one_of("status", status, RUN_STATUSES)
        message = str(message)
        if len(message) > MAX_TEXT:
            message = message[: MAX_TEXT - 3] + "..."
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, message = ?, updated = ? WHERE id = ?",
                (status, message, timestamp(), run_id),
            )

    def save_frame(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        kind: str = "import",
        config: ScheduleConfig | str | None = None,
        stack: str = "",
        device: str = "",
        meta: Mapping[str, Any] | None = None,
        status: str | None = None,
    ) -> int:
        """Store a whole run (e.g. an imported log) at once; returns its id."""
        check_size(len(frame), len(frame.columns))
        run_id = self.start_run(
            name,
            kind=kind,
            columns=[str(c) for c in frame.columns],
            config=config,
            stack=stack,
            device=device,
            meta=meta,
            status="running",
        )
        for start in range(0, len(frame), IMPORT_BLOCK_ROWS):
            part = frame.iloc[start : start + IMPORT_BLOCK_ROWS]
            self.append_rows(run_id, {str(c): _column(part[c]) for c in frame.columns})
        self.finish_run(run_id, status or ("imported" if kind == "import" else "done"))
        return run_id

    def runs(self, search: str = "", *, kind: str | None = None, deleted: bool = False) -> list[RunInfo]:
        """Runs, newest first (``search`` as for :meth:`designs`; ``kind``: live or import)."""
        with self._read() as conn:
            return RUNS.listing(
                conn,
                deleted=deleted,
                order="created DESC, id DESC",
                search=search,
                search_columns=("name", "notes", "tags", "device", "stack"),
                where="kind = ?" if kind is not None else "",
                args=(kind,) if kind is not None else (),
            )

    def run(self, run_id: int | str) -> RunInfo:
        with self._read() as conn:
            found = None
            if isinstance(run_id, int) or str(run_id).isdecimal():
                found = RUNS.first(conn, "id = ?", (int(run_id),))
            if found is None and isinstance(run_id, str):
                found = RUNS.first(
                    conn, "name = ? AND deleted IS NULL ORDER BY created DESC LIMIT 1", (run_id,)
                )
        if found is None:
            raise WorkspaceError(f"run: no run {run_id!r} in {self.path}", invalid=True)
        return found

    def run_frame(self, run_id: int) -> pd.DataFrame:
        """The run's rows, in the order recorded, with its columns."""
        with self._read() as conn:
            conn.execute("BEGIN")  # one snapshot: the row count and the blocks agree
            try:
                row = conn.execute("SELECT columns, n_rows FROM runs WHERE id = ?", (run_id,)).fetchone()
                blobs = [
                    r[0]
                    for r in conn.execute(
                        "SELECT data FROM run_chunks WHERE run_id = ? ORDER BY seq", (run_id,)
                    )
                ]
            finally:
                conn.execute("ROLLBACK")
        if row is None:
            raise WorkspaceError(f"run: no run with id {run_id}", invalid=True)
        columns = RUNS.decode("columns", row["columns"])
        check_size(row["n_rows"], len(columns))
        try:
            return frame_from_blocks(blobs, columns, max_rows=row["n_rows"])
        except CodecError as exc:
            raise WorkspaceError(f"run {run_id}: {exc}") from None

    def rename_run(self, run_id: int, new_name: str) -> RunInfo:
        new_name = check_name(new_name, "new name")
        with self._write() as conn:
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (new_name, run_id))
        return self.run(run_id)

    def update_run(
        self, run_id: int, *, notes: str | None = None, tags: Sequence[str] | None = None
    ) -> RunInfo:
        with self._write() as conn:
            if notes is not None:
                conn.execute("UPDATE runs SET notes = ? WHERE id = ?", (check_text(notes, "notes"), run_id))
            if tags is not None:
                conn.execute("UPDATE runs SET tags = ? WHERE id = ?", (to_json(check_tags(tags)), run_id))
        return self.run(run_id)

    def delete_run(self, run_id: int) -> None:
        with self._write() as conn:
            RUNS.mark_deleted(conn, run_id)

    def restore_run(self, run_id: int) -> RunInfo:
        with self._write() as conn:
            RUNS.restore(conn, run_id)
        return self.run(run_id)


def _column(series: pd.Series) -> np.ndarray | list:
    if series.dtype.kind in "iuf":
        return series.to_numpy()
    if series.dtype.kind == "b":
        return series.astype("int64").to_numpy()
    return series.tolist()
