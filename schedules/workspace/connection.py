"""Where the workspace file lives, how it is opened, and how every read and write reaches it.

- **Where.** ``$STUDIO_WORKSPACE/workspace.sqlite3``, or ``~/.lr-schedule-studio/workspace.sqlite3``
  when ``STUDIO_WORKSPACE`` is not set (:func:`workspace_path`).
- **Durability.** WAL mode with ``synchronous=NORMAL``: every committed transaction survives a crash
  or ``kill -9`` of the writing process (an OS crash or power cut may lose the last few).  Every
  write is one ``BEGIN IMMEDIATE`` transaction (:meth:`Store._write`), so writers in several threads
  or processes queue on SQLite's lock (``busy_timeout`` :data:`BUSY_TIMEOUT_S`) and never interleave.
- **Versions.** The schema carries a version (``PRAGMA user_version``, see :mod:`.schema`); an older
  file is migrated when opened, in one transaction (:func:`migrate`).  A file from a *newer* studio,
  or a SQLite file that is not a workspace, is refused with a :class:`WorkspaceError` before
  anything is written.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from .errors import WorkspaceError
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_DIR",
    "ENV_VAR",
    "FILE_NAME",
    "Store",
    "check_version",
    "connect",
    "migrate",
    "read_version",
    "workspace_dir",
    "workspace_path",
]

ENV_VAR = "STUDIO_WORKSPACE"
DEFAULT_DIR = Path("~/.lr-schedule-studio")
FILE_NAME = "workspace.sqlite3"
#: How long a writer waits for another's transaction before giving up.
BUSY_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------------------
# where it lives


def workspace_dir() -> Path:
    """``$STUDIO_WORKSPACE`` when set (and not empty), else ``~/.lr-schedule-studio``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else DEFAULT_DIR.expanduser()


def workspace_path() -> Path:
    """The workspace file: ``workspace_dir() / "workspace.sqlite3"``."""
    return workspace_dir() / FILE_NAME


# --------------------------------------------------------------------------------------------------
# opening


def read_version(path: Path) -> tuple[int, int]:
    """``(application_id, user_version)`` of a SQLite file, read without changing it.

    WorkspaceError (invalid) when the file is not a SQLite database."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(head) == 0:
        return 0, 0
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        raise WorkspaceError(f"{path}: is not a studio workspace (not a SQLite database)", invalid=True)
    # The header holds both numbers (big-endian): user_version at offset 60, application_id at 68.
    # Reading them from the bytes never opens the file for writing; a WAL file still being
    # written may hold a newer header, which the transaction in _prepare() re-checks.
    user_version = int.from_bytes(head[60:64], "big", signed=True)
    app_id = int.from_bytes(head[68:72], "big", signed=True)
    return app_id, user_version


def check_version(path: Path, app_id: int, version: int) -> None:
    """Refuse (WorkspaceError, invalid) a file with a foreign ``application_id`` or a schema version
    this studio cannot read; a workspace of this or an older version, or an empty file, passes."""
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and version != 0):
        why = f"{path}: is a SQLite file but not a studio workspace (application_id {app_id}); it was not changed"
    elif version > SCHEMA_VERSION:
        why = (
            f"{path}: was written by a newer LR Schedule Studio (workspace schema version {version}; this "
            f"version reads versions 1 to {SCHEMA_VERSION}); it was not changed. Upgrade the studio to "
            "open it, or point STUDIO_WORKSPACE at another folder."
        )
    elif version < 0:
        why = f"{path}: has an invalid workspace schema version {version}; it was not changed"
    else:
        return
    raise WorkspaceError(why, invalid=True)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), rows by column name."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring an open connection's file to :data:`SCHEMA_VERSION` in one transaction; returns the
    version it had.  Refuses (WorkspaceError, nothing written) a newer or foreign file."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == 0 and version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise WorkspaceError(
                    f"{path}: is a SQLite file but not a studio workspace; it was not changed", invalid=True
                )
        check_version(path, app_id, version)
        for v in range(version, SCHEMA_VERSION):
            MIGRATIONS[v](conn)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
        return version
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# --------------------------------------------------------------------------------------------------
# reading and writing


class Store:
    """An open workspace file: one connection per thread, reads on it, writes in one transaction each.

    ``Store(path)`` opens ``path`` (a file), else :func:`workspace_path`; the folder is created
    when missing, an older file is migrated.  Raises :class:`WorkspaceError` for a file it must not
    touch.  The record stores (designs, runs, fits) build on it; :class:`.store.Workspace` is them all.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path).expanduser() if path is not None else workspace_path()
        self._local = threading.local()
        self._prepare()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def _prepare(self) -> None:
        if self.path.exists():
            app_id, version = read_version(self.path)
            check_version(self.path, app_id, version)
            if version == SCHEMA_VERSION and app_id == APPLICATION_ID:
                return
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    f"{self.path.parent}: cannot create the workspace folder ({exc})"
                ) from None
        try:
            conn = connect(self.path)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"{self.path}: cannot open the workspace ({exc})") from None
        try:
            migrate(conn, self.path)
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path}: is not a usable workspace ({exc})", invalid=True) from None
        finally:
            conn.close()

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (kept open: closing the last connection to a WAL file
        checkpoints it, which made every write cost a checkpoint)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        yield self._conn()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
