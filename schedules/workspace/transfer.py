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
from pathlib import Path

from .connection import Store, connect, migrate, read_version, refusal
from .designs import free_name
from .errors import WorkspaceError
from .records import FITS, to_json

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
        why = refusal(source, app_id, version)
        if why:
            raise WorkspaceError(why, invalid=True)
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
            have = {
                t: {r[0] for r in conn.execute(f"SELECT uid FROM {t}")} for t in ("designs", "runs", "fits")
            }
            design_ids: dict[int, int] = {}
            for r in src.execute("SELECT * FROM designs ORDER BY id"):
                if r["uid"] in have["designs"]:
                    design_ids[r["id"]] = conn.execute(
                        "SELECT id FROM designs WHERE uid = ?", (r["uid"],)
                    ).fetchone()[0]
                    counts["skipped"] += 1
                    continue
                name = free_name(conn, r["name"]) if r["deleted"] is None else r["name"]
                cur = conn.execute(
                    "INSERT INTO designs (uid, name, config, hash, created, updated, notes, tags, deleted) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r["uid"],
                        name,
                        r["config"],
                        r["hash"],
                        r["created"],
                        r["updated"],
                        r["notes"],
                        r["tags"],
                        r["deleted"],
                    ),
                )
                design_ids[r["id"]] = cur.lastrowid
                counts["designs"] += 1
            run_ids: dict[int, int] = {}
            for r in src.execute("SELECT * FROM runs ORDER BY id"):
                if r["uid"] in have["runs"]:
                    run_ids[r["id"]] = conn.execute(
                        "SELECT id FROM runs WHERE uid = ?", (r["uid"],)
                    ).fetchone()[0]
                    counts["skipped"] += 1
                    continue
                cur = conn.execute(
                    "INSERT INTO runs (uid, name, kind, design_id, config, hash, stack, device, status, message, "
                    "columns, n_rows, created, updated, meta, notes, tags, deleted) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r["uid"], r["name"], r["kind"], design_ids.get(r["design_id"]), r["config"], r["hash"],
                        r["stack"], r["device"], r["status"], r["message"], r["columns"], r["n_rows"],
                        r["created"], r["updated"], r["meta"], r["notes"], r["tags"], r["deleted"],
                    ),
                )  # fmt: skip
                run_ids[r["id"]] = cur.lastrowid
                for c in src.execute(
                    "SELECT seq, first_row, n_rows, data FROM run_chunks WHERE run_id = ? ORDER BY seq",
                    (r["id"],),
                ):
                    conn.execute(
                        "INSERT INTO run_chunks (run_id, seq, first_row, n_rows, data) VALUES (?, ?, ?, ?, ?)",
                        (cur.lastrowid, c["seq"], c["first_row"], c["n_rows"], c["data"]),
                    )
                counts["runs"] += 1
            for r in src.execute("SELECT * FROM fits ORDER BY id"):
                if r["uid"] in have["fits"]:
                    counts["skipped"] += 1
                    continue
                runs = [run_ids.get(i, i) for i in FITS.decode("runs", r["runs"])]
                conn.execute(
                    "INSERT INTO fits (uid, name, law, params, runs, created, meta, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r["uid"],
                        r["name"],
                        r["law"],
                        r["params"],
                        to_json(runs),
                        r["created"],
                        r["meta"],
                        r["deleted"],
                    ),
                )
                counts["fits"] += 1
        return counts
