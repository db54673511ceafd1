"""The workspace store: named designs, run records and forecast fits in one SQLite file.

``Workspace()`` opens (creating on first use) ``$STUDIO_WORKSPACE/workspace.sqlite3``, or
``~/.lr-schedule-studio/workspace.sqlite3`` when ``STUDIO_WORKSPACE`` is not set.

- **Durability.** Every committed transaction survives a crash or ``kill -9`` of the writing
  process; writers in several threads or processes queue on SQLite's lock and never interleave
  (:mod:`.connection`).
- **Versions.** An older file is migrated when opened; a file from a *newer* studio, or a SQLite
  file that is not a workspace, is refused with a :class:`WorkspaceError` before anything is
  written (:mod:`.connection`, :mod:`.schema`).
- **Delete with undo.** ``delete_*`` marks a record deleted (it disappears from lists);
  ``restore_*`` brings it back; :meth:`Workspace.purge` removes deleted records for good.
- **Designs** (:mod:`.designs`), **runs** (:mod:`.runs`, rows packed by :mod:`.codec`) and
  **fits** (:mod:`.fits`) are records (:mod:`.records`).
- **One file.** :meth:`Workspace.export` writes a consistent copy of the whole workspace;
  :meth:`Workspace.import_file` merges such a file in (:mod:`.transfer`).
"""

from __future__ import annotations

from pathlib import Path

from .designs import DesignStore
from .fits import FitStore
from .records import TABLES, timestamp
from .runs import RunStore
from .transfer import TransferStore

__all__ = ["Workspace"]


class Workspace(DesignStore, RunStore, FitStore, TransferStore):
    """The store (see the module docstring).  Cheap to create: one per request is fine.

    ``Workspace(path)`` opens ``path`` (a file), else :func:`.connection.workspace_path`; the folder
    is created when missing.  Raises :class:`WorkspaceError` for a file it must not touch.
    """

    def purge(self, older_than_s: float = 0.0) -> int:
        """Remove records deleted more than ``older_than_s`` seconds ago for good; returns how many."""
        cutoff = timestamp() - older_than_s
        with self._write() as conn:
            n = 0
            for table in reversed(TABLES):  # fits, runs, designs: a record before what it refers to
                n += conn.execute(
                    f"DELETE FROM {table.name} WHERE deleted IS NOT NULL AND deleted <= ?", (cutoff,)
                ).rowcount
            return n

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            out = {
                t.name: conn.execute(f"SELECT count(*) FROM {t.name} WHERE deleted IS NULL").fetchone()[0]
                for t in TABLES
            }
            out["rows"] = conn.execute(
                "SELECT coalesce(sum(n_rows), 0) FROM runs WHERE deleted IS NULL"
            ).fetchone()[0]
        return out

    def size_bytes(self) -> int:
        """The file plus its write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def check(self) -> list[str]:
        """SQLite's integrity check: ``["ok"]`` for a sound file."""
        with self._read() as conn:
            return [r[0] for r in conn.execute("PRAGMA integrity_check")]
