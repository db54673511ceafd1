"""The whole workspace as one file: export a consistent copy, import (merge) such a copy.

:meth:`TransferStore.export` writes a self-contained SQLite file (through SQLite's backup API, so
a consistent snapshot also while others write); :meth:`TransferStore.import_file` merges such a
file in: records it already holds, by ``uid``, are skipped; a design whose name is taken gets a new
name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .connection import Store, check_version, connect, migrate, read_version
from .designs import free_name
from .errors import WorkspaceError
from .records import DESIGNS, FITS, RUNS, Table, to_json
from .runs import add_block

__all__ = ["TransferStore"]


class TransferStore(Store):
    """Export and import of a workspace file (see the module docstring)."""

    def export(self, target: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the whole workspace to one self-contained SQLite file (a consistent snapshot, also
        while others write); returns its path."""
        target = Path(target).expanduser()
        if target.exists() and not overwrite:
            raise WorkspaceError(
                f"{target}: already exists (choose another name, or overwrite)", invalid=True
            )
        if target.resolve() == self.path.resolve():
            raise WorkspaceError(f"{target}: is the workspace itself", invalid=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".sqlite3", dir=target.parent)
        os.close(fd)
        try:
            with self._read() as src:
                dst = sqlite3.connect(tmp, isolation_level=None)
                try:
                    src.backup(dst)
                    dst.execute("PRAGMA journal_mode = DELETE")
                finally:
                    dst.close()
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    def import_file(self, source: str | os.PathLike[str]) -> dict[str, int]:
        """Merge an exported workspace file in; the file itself is never changed.

        Records whose ``uid`` is already here are skipped (importing twice adds nothing); a design
        whose name is taken by another design gets ``"<name> (2)"``.  Returns counts of what was
        added and skipped.  An older file is read through a migrated temporary copy; a newer or
        foreign file is refused (WorkspaceError)."""
        source = Path(source).expanduser()
        if not source.is_file():
            raise WorkspaceError(f"{source}: no such file", invalid=True)
        app_id, version = read_version(source)
        if app_id == 0 and version == 0:
            raise WorkspaceError(
                f"{source}: is not a studio workspace export (empty or foreign)", invalid=True
            )
        check_version(source, app_id, version)
        with tempfile.TemporaryDirectory(prefix="studio-import-") as tmpdir:
            copy = Path(tmpdir) / "import.sqlite3"
            for suffix in ("", "-wal"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
            src = connect(copy)
            try:
                migrate(src, copy)
                return self._merge(src)
            finally:
                src.close()

    def _merge(self, src: sqlite3.Connection) -> dict[str, int]:
        counts = {"designs": 0, "runs": 0, "fits": 0, "skipped": 0}
        with self._write() as conn:

            def design(r: sqlite3.Row) -> dict[str, Any]:
                # a live design takes a free name; a deleted one keeps its own (names may repeat there)
                return {"name": free_name(conn, r["name"])} if r["deleted"] is None else {}

            def run(r: sqlite3.Row) -> dict[str, Any]:
                return {"design_id": design_ids.get(r["design_id"])}

            def run_blocks(r: sqlite3.Row, run_id: int) -> None:
                for c in src.execute(
                    "SELECT seq, first_row, n_rows, data FROM run_chunks WHERE run_id = ? ORDER BY seq",
                    (r["id"],),
                ):
                    add_block(conn, run_id, c["seq"], c["first_row"], c["n_rows"], c["data"])

            def fit(r: sqlite3.Row) -> dict[str, Any]:
                return {"runs": to_json([run_ids.get(i, i) for i in FITS.decode("runs", r["runs"])])}

            design_ids = _copy_new(conn, src, DESIGNS, counts, design)
            run_ids = _copy_new(conn, src, RUNS, counts, run, then=run_blocks)
            _copy_new(conn, src, FITS, counts, fit)
        return counts


def _copy_new(
    conn: sqlite3.Connection,
    src: sqlite3.Connection,
    table: Table[Any],
    counts: dict[str, int],
    changes: Callable[[sqlite3.Row], dict[str, Any]],
    then: Callable[[sqlite3.Row, int], None] | None = None,
) -> dict[int, int]:
    """Copy the rows of ``table`` in ``src`` whose ``uid`` is not here yet, in id order, with
    ``changes(row)`` applied (stored values, JSON as text), then ``then(row, new id)``; counts what
    was added and skipped.  Returns ``{id in src: id here}`` for every row, skipped ones included."""
    have = {r[0] for r in conn.execute(f"SELECT uid FROM {table.name}")}
    ids: dict[int, int] = {}
    for r in src.execute(f"SELECT * FROM {table.name} ORDER BY id"):
        if r["uid"] in have:
            ids[r["id"]] = conn.execute(f"SELECT id FROM {table.name} WHERE uid = ?", (r["uid"],)).fetchone()[
                0
            ]
            counts["skipped"] += 1
            continue
        values = {c: r[c] for c in table.columns if c != "id"}
        ids[r["id"]] = table.insert(conn, {**values, **changes(r)})
        if then is not None:
            then(r, ids[r["id"]])
        counts[table.name] += 1
    return ids
