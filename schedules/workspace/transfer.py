"""The whole workspace as one file: export a consistent copy, import (merge) such a copy.

:meth:`TransferStore.export` writes a self-contained SQLite file (through SQLite's backup API, so
a consistent snapshot also while others write); :meth:`TransferStore.import_file` merges such a
file in: records it already holds, by ``uid``, are skipped; a design whose name is taken gets a new
name.

**An import is a validation first** (the file may come from anyone):

1. the file is a regular file of at most :data:`MAX_IMPORT_BYTES` (with its write-ahead log), of a
   schema version this studio reads;
2. it is copied into a temporary folder beside the workspace (``.import-<pid>-*``, removed on every
   path; one left by a killed process is removed by the next import), and only the copy is opened,
   with ``trusted_schema`` off, temporary tables in memory and a page cap;
3. its schema must be exactly a workspace's (:func:`.checks.check_schema`: no view, trigger or other
   object), checked before any row is read or a migration runs; then SQLite's ``quick_check``;
4. every record and every block of a run's rows is checked (:mod:`.checks`), at most
   :data:`~.checks.MAX_RECORDS` records per table;
5. only then are the records added, in one transaction (rolled back whole on any failure).

Steps 2 to 5 run under a deadline (:data:`IMPORT_TIME_LIMIT_S`, a SQLite progress handler and checks
between records); the workspace's write lock is held only for step 5, so other users' writes wait
for the inserts alone, never for the checks.  Any refusal is one :class:`WorkspaceError` line (the
CLI exits 2) and nothing is imported.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .checks import MAX_RECORDS, check_blocks, check_config, check_record, check_schema
from .connection import Store, check_version, migrate, read_version
from .designs import free_name
from .errors import WorkspaceError
from .records import DESIGNS, FITS, RUNS, TABLES, Table, pid_alive, to_json
from .runs import add_block

__all__ = ["IMPORT_TIME_LIMIT_S", "MAX_IMPORT_BYTES", "TransferStore"]

#: Largest workspace file (and its write-ahead log together) an import reads.
MAX_IMPORT_BYTES = 1024 * 2**20
#: Longest an import may take, checks and inserts together, before it is refused (nothing imported).
IMPORT_TIME_LIMIT_S = 60.0
#: SQLite calls the deadline check every this many virtual-machine instructions.
_PROGRESS_OPS = 20_000
_TMP_PREFIX = ".import-"
_TMP_NAME = re.compile(r"^\.import-(\d+)-")


class _Deadline:
    """The import's deadline: a SQLite progress handler, and a check between records."""

    def __init__(self, seconds: float, what: str):
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    def handler(self) -> int:
        return 1 if time.monotonic() > self.end else 0

    def error(self) -> WorkspaceError:
        return WorkspaceError(
            f"{self.what}: checking and importing it took longer than {self.seconds:g} s, so it was "
            "stopped; nothing was imported",
            invalid=True,
        )

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise self.error()


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

    def import_file(
        self,
        source: str | os.PathLike[str],
        *,
        time_limit: float = IMPORT_TIME_LIMIT_S,
        max_bytes: int = MAX_IMPORT_BYTES,
    ) -> dict[str, int]:
        """Merge an exported workspace file in; the file itself is never changed.

        Records whose ``uid`` is already here are skipped (importing twice adds nothing); a design
        whose name is taken by another design gets ``"<name> (2)"``.  Returns counts of what was
        added and skipped.  The file is checked whole first (module docstring); a file that is not a
        sound workspace export, is over ``max_bytes``, comes from a newer version or takes longer
        than ``time_limit`` seconds is refused (WorkspaceError, invalid) and nothing is imported."""
        source = Path(source).expanduser()
        what = str(source)
        if not source.exists():
            raise WorkspaceError(f"{what}: no such file", invalid=True)
        if not source.is_file():
            raise WorkspaceError(f"{what}: is not a regular file (a workspace export is one)", invalid=True)
        parts = [p for p in (source, Path(f"{source}-wal")) if p.is_file()]
        size = sum(p.stat().st_size for p in parts)
        if size > max_bytes:
            raise WorkspaceError(
                f"{what}: must be at most {max_bytes / 2**20:,.0f} MB to import, got {size / 2**20:,.1f} MB",
                invalid=True,
            )
        app_id, version = read_version(source)
        if app_id == 0 and version == 0:
            raise WorkspaceError(f"{what}: is not a studio workspace export (empty or foreign)", invalid=True)
        check_version(source, app_id, version)
        deadline = _Deadline(time_limit, what)
        with self._import_dir() as tmpdir:
            copy = tmpdir / "import.sqlite3"
            for part, target in zip(parts, (copy, Path(f"{copy}-wal")), strict=False):
                _copy_bounded(part, target, max_bytes)
            src = _open_copy(copy, deadline)
            try:
                try:
                    hashes = _checked(src, copy, version, what, deadline)
                    return self._merge(src, hashes, deadline)
                except sqlite3.OperationalError as exc:
                    if "interrupt" in str(exc):
                        raise deadline.error() from None
                    raise _damaged(what, exc) from None
                except sqlite3.DatabaseError as exc:
                    raise _damaged(what, exc) from None
            finally:
                src.close()

    @contextlib.contextmanager
    def _import_dir(self) -> Iterator[Path]:
        """A temporary folder beside the workspace, removed on every path; folders left by an import
        whose process was killed are removed first."""
        parent = self.path.parent
        for stale in parent.glob(f"{_TMP_PREFIX}*"):
            m = _TMP_NAME.match(stale.name)
            if m and not pid_alive(int(m.group(1))):
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=parent))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _merge(
        self, src: sqlite3.Connection, hashes: dict[str, dict[int, Any]], deadline: _Deadline
    ) -> dict[str, int]:
        counts = {"designs": 0, "runs": 0, "fits": 0, "skipped": 0}
        with self._write() as conn:
            conn.set_progress_handler(deadline.handler, _PROGRESS_OPS)
            try:

                def design(r: sqlite3.Row) -> dict[str, Any]:
                    # a live design takes a free name; a deleted one keeps its own (names may repeat there)
                    name = " ".join(r["name"].split())
                    out: dict[str, Any] = {"hash": hashes["designs"][r["id"]]}
                    out["name"] = free_name(conn, name) if r["deleted"] is None else name
                    return out

                def run(r: sqlite3.Row) -> dict[str, Any]:
                    return {
                        "design_id": design_ids.get(r["design_id"]),
                        "name": " ".join(r["name"].split()),
                        "hash": hashes["runs"][r["id"]],
                    }

                def run_blocks(r: sqlite3.Row, run_id: int) -> None:
                    for c in src.execute(
                        "SELECT seq, first_row, n_rows, data FROM run_chunks WHERE run_id = ? ORDER BY seq",
                        (r["id"],),
                    ):
                        add_block(conn, run_id, c["seq"], c["first_row"], c["n_rows"], c["data"])
                    deadline.check()

                def fit(r: sqlite3.Row) -> dict[str, Any]:
                    return {
                        "name": " ".join(r["name"].split()),
                        "runs": to_json([run_ids.get(i, i) for i in FITS.decode("runs", r["runs"])]),
                    }

                design_ids = _copy_new(conn, src, DESIGNS, counts, design)
                run_ids = _copy_new(conn, src, RUNS, counts, run, then=run_blocks)
                _copy_new(conn, src, FITS, counts, fit)
            finally:
                conn.set_progress_handler(None, 0)
        return counts


def _damaged(what: str, exc: sqlite3.Error) -> WorkspaceError:
    return WorkspaceError(
        f"{what}: is damaged or truncated, not a readable workspace export (SQLite: {exc}); nothing was imported",
        invalid=True,
    )


def _copy_bounded(source: Path, target: Path, max_bytes: int) -> None:
    """Copy at most ``max_bytes`` (a file that grows meanwhile is refused, never copied on and on)."""
    copied = 0
    with open(source, "rb") as fin, open(target, "wb") as fout:
        while chunk := fin.read(1 << 20):
            copied += len(chunk)
            if copied > max_bytes:
                raise WorkspaceError(
                    f"{source}: must be at most {max_bytes / 2**20:,.0f} MB to import (it grew while read)",
                    invalid=True,
                )
            fout.write(chunk)


def _open_copy(copy: Path, deadline: _Deadline) -> sqlite3.Connection:
    """The private copy, opened defensively: no trusted schema, temporary data in memory, a deadline."""
    try:
        src = sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _damaged(deadline.what, exc) from None
    src.row_factory = sqlite3.Row
    src.set_progress_handler(deadline.handler, _PROGRESS_OPS)
    for pragma in ("trusted_schema = OFF", "temp_store = MEMORY", "cell_size_check = ON"):
        with contextlib.suppress(sqlite3.Error):
            src.execute(f"PRAGMA {pragma}")
    return src


def _checked(
    src: sqlite3.Connection, copy: Path, version: int, what: str, deadline: _Deadline
) -> dict[str, dict[int, Any]]:
    """Check the copy whole (schema, soundness, every record and block) and bring it to the current
    version; returns each record's config hash as recomputed (``{table: {id: hash}}``)."""
    check_schema(src, version, what)
    problems = [r[0] for r in src.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise WorkspaceError(
            f"{what}: is damaged or truncated, not a readable workspace export (SQLite: {problems[0]}); "
            "nothing was imported",
            invalid=True,
        )
    pages = src.execute("PRAGMA page_count").fetchone()[0]
    src.execute(f"PRAGMA max_page_count = {pages + pages // 2 + 1024}")  # room for the migrations only
    src.execute("PRAGMA foreign_keys = ON")
    migrate(src, copy)
    src.execute("PRAGMA query_only = ON")
    for table in TABLES:
        n = src.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
        if n > MAX_RECORDS:
            raise WorkspaceError(
                f"{what}: {table.name}: must be at most {MAX_RECORDS:,} records to import, got {n:,}; "
                "nothing was imported",
                invalid=True,
            )
    orphan = src.execute(
        "SELECT run_id FROM run_chunks WHERE run_id NOT IN (SELECT id FROM runs) LIMIT 1"
    ).fetchone()
    if orphan is not None:
        raise WorkspaceError(
            f"{what}: run_chunks: has rows of run {orphan[0]!r}, which is not in the file; nothing was imported",
            invalid=True,
        )
    hashes: dict[str, dict[int, Any]] = {}
    for table in TABLES:
        hashes[table.name] = {}
        for r in src.execute(f"SELECT * FROM {table.name} ORDER BY id"):
            deadline.check()
            rec = check_record(table, r, what)
            if table is RUNS:
                check_blocks(
                    (
                        (c[0], c[1], c[2], c[3])
                        for c in src.execute(
                            "SELECT seq, first_row, n_rows, data FROM run_chunks WHERE run_id = ? ORDER BY seq",
                            (r["id"],),
                        )
                    ),
                    rec,
                    what,
                )
    for table in TABLES:  # last: the one check that imports torch
        if "config" in table.columns:
            for r in src.execute(f"SELECT id, config FROM {table.name} ORDER BY id"):
                deadline.check()
                hashes[table.name][r["id"]] = check_config(table, r["id"], r["config"], what)
    return hashes


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
