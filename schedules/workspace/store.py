"""The workspace store: named designs, run records and forecast fits in one SQLite file.

``Workspace()`` opens (creating on first use) ``$STUDIO_WORKSPACE/workspace.sqlite3``, or
``~/.lr-schedule-studio/workspace.sqlite3`` when ``STUDIO_WORKSPACE`` is not set.

- **Durability.** WAL mode with ``synchronous=NORMAL``: every committed transaction survives a crash
  or ``kill -9`` of the writing process (an OS crash or power cut may lose the last few).  Every
  write is one ``BEGIN IMMEDIATE`` transaction on a fresh connection, so writers in several threads
  or processes queue on SQLite's lock (``busy_timeout`` :data:`BUSY_TIMEOUT_S`) and never interleave.
- **Versions.** The schema carries a version (``PRAGMA user_version``, see :mod:`.schema`); an older
  file is migrated when opened, in one transaction.  A file from a *newer* studio, or a SQLite file
  that is not a workspace, is refused with a :class:`WorkspaceError` before anything is written.
- **Delete with undo.** ``delete_*`` marks a record deleted (it disappears from lists);
  ``restore_*`` brings it back; :meth:`Workspace.purge` removes deleted records for good.
- **Runs** keep their rows in blocks (:mod:`.codec`), appended as they are recorded
  (:meth:`Workspace.append_rows`), and read back as one DataFrame (:meth:`Workspace.run_frame`).
- **One file.** :meth:`Workspace.export` writes a consistent copy of the whole workspace (a SQLite
  file, also while others write); :meth:`Workspace.import_file` merges such a file in (records it
  already holds, by ``uid``, are skipped; a design whose name is taken gets a new name).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..build import load_config
from ..design import ScheduleConfig
from .codec import encode_columns, frame_from_blocks
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

ENV_VAR = "STUDIO_WORKSPACE"
DEFAULT_DIR = Path("~/.lr-schedule-studio")
FILE_NAME = "workspace.sqlite3"
#: How long a writer waits for another's transaction before giving up.
BUSY_TIMEOUT_S = 30.0
#: Longest design / run name.
MAX_NAME = 200
#: Rows per block when a whole frame is stored at once (an imported log).
IMPORT_BLOCK_ROWS = 4096

RUN_KINDS = ("live", "import")
RUN_STATUSES = ("running", "done", "stopped", "diverged", "failed", "imported")


class WorkspaceError(RuntimeError):
    """The workspace cannot do what was asked; the message says why (shown as is, never a traceback).

    ``invalid`` is true when the cause is the input (a bad name, a file that is not a workspace or
    comes from a newer version): the CLI then exits 2, else 1."""

    def __init__(self, message: str, *, invalid: bool = False):
        super().__init__(message)
        self.invalid = invalid


# --------------------------------------------------------------------------------------------------
# where it lives


def workspace_dir() -> Path:
    """``$STUDIO_WORKSPACE`` when set (and not empty), else ``~/.lr-schedule-studio``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else DEFAULT_DIR.expanduser()


def workspace_path() -> Path:
    """The workspace file: ``workspace_dir() / "workspace.sqlite3"``."""
    return workspace_dir() / FILE_NAME


def config_hash(config: ScheduleConfig | str | Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical config: equal designs, however written, have equal hashes."""
    cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
    return hashlib.sha256(cfg.cache_key().encode()).hexdigest()


def _now() -> float:
    return time.time()


def _uid() -> str:
    return uuid.uuid4().hex


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise WorkspaceError(f"{what}: must be a non-empty name, got {name!r}", invalid=True)
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise WorkspaceError(
            f"{what}: must be at most {MAX_NAME} characters, got {len(name)} characters", invalid=True
        )
    return name


def _check_tags(tags: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for t in tags or []:
        if not isinstance(t, str):
            raise WorkspaceError(f"tags: must be strings, got {t!r}", invalid=True)
        t = " ".join(t.split())
        if t and t not in out:
            out.append(t)
    return out


# --------------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Design:
    id: int
    uid: str
    name: str
    config: str  # lr-schedule/v1 JSON
    hash: str
    created: float
    updated: float
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    deleted: float | None = None

    def load(self) -> ScheduleConfig:
        return load_config(self.config)


@dataclass(frozen=True)
class RunInfo:
    id: int
    uid: str
    name: str
    kind: str  # live | import
    design_id: int | None
    config: str | None
    hash: str | None
    stack: str
    device: str
    status: str
    message: str
    columns: list[str]
    n_rows: int
    created: float
    updated: float
    meta: dict[str, Any]
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    deleted: float | None = None

    @property
    def interrupted(self) -> bool:
        """Still marked running, but the process that recorded it (on this host) has gone."""
        if self.status != "running":
            return False
        pid, host = self.meta.get("pid"), self.meta.get("host")
        if not isinstance(pid, int) or host != socket.gethostname():
            return False
        return not _pid_alive(pid)

    @property
    def state(self) -> str:
        """``status``, or ``interrupted`` for a run whose recorder died (rows up to its last flush kept)."""
        return "interrupted" if self.interrupted else self.status


@dataclass(frozen=True)
class Fit:
    id: int
    uid: str
    name: str
    law: str
    params: dict[str, Any]
    runs: list[int]
    created: float
    meta: dict[str, Any]
    deleted: float | None = None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # a zombie (killed, not yet reaped by its parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _design(row: sqlite3.Row) -> Design:
    return Design(
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        config=row["config"],
        hash=row["hash"],
        created=row["created"],
        updated=row["updated"],
        notes=row["notes"],
        tags=json.loads(row["tags"]),
        deleted=row["deleted"],
    )


def _run(row: sqlite3.Row) -> RunInfo:
    return RunInfo(
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        kind=row["kind"],
        design_id=row["design_id"],
        config=row["config"],
        hash=row["hash"],
        stack=row["stack"],
        device=row["device"],
        status=row["status"],
        message=row["message"],
        columns=json.loads(row["columns"]),
        n_rows=row["n_rows"],
        created=row["created"],
        updated=row["updated"],
        meta=json.loads(row["meta"]),
        notes=row["notes"],
        tags=json.loads(row["tags"]),
        deleted=row["deleted"],
    )


def _fit(row: sqlite3.Row) -> Fit:
    return Fit(
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        law=row["law"],
        params=json.loads(row["params"]),
        runs=json.loads(row["runs"]),
        created=row["created"],
        meta=json.loads(row["meta"]),
        deleted=row["deleted"],
    )


def _json(value: Any) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), separators=(",", ":"), allow_nan=False)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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


def _refusal(path: Path, app_id: int, version: int) -> str | None:
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and version != 0):
        return f"{path}: is a SQLite file but not a studio workspace (application_id {app_id}); it was not changed"
    if version > SCHEMA_VERSION:
        return (
            f"{path}: was written by a newer LR Schedule Studio (workspace schema version {version}; this "
            f"version reads versions 1 to {SCHEMA_VERSION}); it was not changed. Upgrade the studio to "
            "open it, or point STUDIO_WORKSPACE at another folder."
        )
    if version < 0:
        return f"{path}: has an invalid workspace schema version {version}; it was not changed"
    return None


def _connect(path: Path) -> sqlite3.Connection:
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
        refusal = _refusal(path, app_id, version)
        if refusal:
            raise WorkspaceError(refusal, invalid=True)
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


class Workspace:
    """The store (see the module docstring).  Cheap to create: one per request is fine.

    ``Workspace(path)`` opens ``path`` (a file), else :func:`workspace_path`; the folder is created
    when missing.  Raises :class:`WorkspaceError` for a file it must not touch.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path).expanduser() if path is not None else workspace_path()
        self._local = threading.local()
        self._prepare()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def _prepare(self) -> None:
        if self.path.exists():
            app_id, version = read_version(self.path)
            refusal = _refusal(self.path, app_id, version)
            if refusal:
                raise WorkspaceError(refusal, invalid=True)
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
            conn = _connect(self.path)
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
            conn = self._local.conn = _connect(self.path)
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def __enter__(self) -> Workspace:
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

    # -- designs -----------------------------------------------------------------------------------
    def save_design(
        self,
        name: str,
        config: ScheduleConfig | str | Mapping[str, Any],
        *,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Design:
        """Save ``config`` under ``name``: a new design, or a new version of the design of that name
        (its config, hash and ``updated`` change; ``created``, and notes/tags unless given, stay)."""
        name = _check_name(name, "design name")
        cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
        text, digest, now = cfg.to_json(), config_hash(cfg), _now()
        with self._write() as conn:
            row = conn.execute(
                "SELECT id FROM designs WHERE name = ? AND deleted IS NULL", (name,)
            ).fetchone()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO designs (uid, name, config, hash, created, updated, notes, tags) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (_uid(), name, text, digest, now, now, notes or "", _json(_check_tags(tags))),
                )
                design_id = cur.lastrowid
            else:
                design_id = row["id"]
                conn.execute(
                    "UPDATE designs SET config = ?, hash = ?, updated = ? WHERE id = ?",
                    (text, digest, now, design_id),
                )
                if notes is not None:
                    conn.execute("UPDATE designs SET notes = ? WHERE id = ?", (notes, design_id))
                if tags is not None:
                    conn.execute(
                        "UPDATE designs SET tags = ? WHERE id = ?", (_json(_check_tags(tags)), design_id)
                    )
            return _design(conn.execute("SELECT * FROM designs WHERE id = ?", (design_id,)).fetchone())

    def designs(self, search: str = "", *, deleted: bool = False) -> list[Design]:
        """Designs, most recently updated first; ``search`` matches name, notes and tags (any case);
        ``deleted=True`` lists the deleted ones instead."""
        sql = "SELECT * FROM designs WHERE deleted IS " + ("NOT NULL" if deleted else "NULL")
        args: list[Any] = []
        if search.strip():
            sql += " AND (name LIKE ? ESCAPE '\\' OR notes LIKE ? ESCAPE '\\' OR tags LIKE ? ESCAPE '\\')"
            args += [_like(search.strip())] * 3
        sql += " ORDER BY updated DESC, id DESC"
        with self._read() as conn:
            return [_design(r) for r in conn.execute(sql, args)]

    def design(self, ref: int | str) -> Design:
        """A design by id, or by name (not deleted); WorkspaceError when there is none."""
        with self._read() as conn:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
                row = conn.execute("SELECT * FROM designs WHERE id = ?", (int(ref),)).fetchone()
                if row is None and isinstance(ref, str):
                    row = conn.execute(
                        "SELECT * FROM designs WHERE name = ? AND deleted IS NULL", (ref,)
                    ).fetchone()
            else:
                row = conn.execute(
                    "SELECT * FROM designs WHERE name = ? AND deleted IS NULL", (" ".join(str(ref).split()),)
                ).fetchone()
        if row is None:
            raise WorkspaceError(f"design: no design {ref!r} in {self.path}", invalid=True)
        return _design(row)

    def _free_name(self, conn: sqlite3.Connection, base: str) -> str:
        taken = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM designs WHERE deleted IS NULL AND (name = ? OR name LIKE ? ESCAPE '\\')",
                (base, base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + " (%)"),
            )
        }
        if base not in taken:
            return base
        i = 2
        while f"{base} ({i})" in taken:
            i += 1
        return f"{base} ({i})"

    def rename_design(self, design_id: int, new_name: str) -> Design:
        new_name = _check_name(new_name, "new name")
        with self._write() as conn:
            clash = conn.execute(
                "SELECT id FROM designs WHERE name = ? AND deleted IS NULL AND id != ?", (new_name, design_id)
            ).fetchone()
            if clash is not None:
                raise WorkspaceError(f"new name: a design named {new_name!r} already exists", invalid=True)
            cur = conn.execute(
                "UPDATE designs SET name = ?, updated = ? WHERE id = ? AND deleted IS NULL",
                (new_name, _now(), design_id),
            )
            if cur.rowcount != 1:
                raise WorkspaceError(f"design: no design with id {design_id}", invalid=True)
            return _design(conn.execute("SELECT * FROM designs WHERE id = ?", (design_id,)).fetchone())

    def update_design(
        self, design_id: int, *, notes: str | None = None, tags: Sequence[str] | None = None
    ) -> Design:
        with self._write() as conn:
            if notes is not None:
                conn.execute(
                    "UPDATE designs SET notes = ?, updated = ? WHERE id = ?", (notes, _now(), design_id)
                )
            if tags is not None:
                conn.execute(
                    "UPDATE designs SET tags = ?, updated = ? WHERE id = ?",
                    (_json(_check_tags(tags)), _now(), design_id),
                )
            row = conn.execute("SELECT * FROM designs WHERE id = ?", (design_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"design: no design with id {design_id}", invalid=True)
        return _design(row)

    def duplicate_design(self, design_id: int, new_name: str | None = None) -> Design:
        """A copy (same config, notes and tags) named ``new_name``, else ``"<name> (copy)"``, made unique."""
        src = self.design(design_id)
        with self._write() as conn:
            name = _check_name(new_name, "new name") if new_name else src.name + " (copy)"
            name = self._free_name(conn, name)
            now = _now()
            cur = conn.execute(
                "INSERT INTO designs (uid, name, config, hash, created, updated, notes, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_uid(), name, src.config, src.hash, now, now, src.notes, _json(src.tags)),
            )
            return _design(conn.execute("SELECT * FROM designs WHERE id = ?", (cur.lastrowid,)).fetchone())

    def delete_design(self, design_id: int) -> None:
        """Mark deleted (undo with :meth:`restore_design`)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE designs SET deleted = ? WHERE id = ? AND deleted IS NULL", (_now(), design_id)
            )

    def restore_design(self, design_id: int) -> Design:
        """Undo a delete; the design gets ``"<name> (2)"`` when its name was taken meanwhile."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM designs WHERE id = ?", (design_id,)).fetchone()
            if row is None:
                raise WorkspaceError(f"design: no design with id {design_id}", invalid=True)
            if row["deleted"] is not None:
                name = self._free_name(conn, row["name"])
                conn.execute("UPDATE designs SET deleted = NULL, name = ? WHERE id = ?", (name, design_id))
            return _design(conn.execute("SELECT * FROM designs WHERE id = ?", (design_id,)).fetchone())

    def design_for(self, config: ScheduleConfig | str) -> Design | None:
        """The most recently updated saved design with this exact config, if any."""
        digest = config_hash(config)
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM designs WHERE hash = ? AND deleted IS NULL ORDER BY updated DESC LIMIT 1",
                (digest,),
            ).fetchone()
        return _design(row) if row is not None else None

    # -- runs --------------------------------------------------------------------------------------
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
        name = _check_name(name, "run name")
        if kind not in RUN_KINDS:
            raise WorkspaceError(f"kind: must be one of {', '.join(RUN_KINDS)}, got {kind!r}", invalid=True)
        if status not in RUN_STATUSES:
            raise WorkspaceError(
                f"status: must be one of {', '.join(RUN_STATUSES)}, got {status!r}", invalid=True
            )
        text = digest = None
        if config is not None:
            cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
            text, digest = cfg.to_json(), config_hash(cfg)
        info = {"pid": os.getpid(), "host": socket.gethostname(), **dict(meta or {})}
        now = _now()
        with self._write() as conn:
            design = None
            if digest is not None:
                design = conn.execute(
                    "SELECT id FROM designs WHERE hash = ? AND deleted IS NULL ORDER BY updated DESC LIMIT 1",
                    (digest,),
                ).fetchone()
            cur = conn.execute(
                "INSERT INTO runs (uid, name, kind, design_id, config, hash, stack, device, status, columns, "
                "created, updated, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _uid(),
                    name,
                    kind,
                    design["id"] if design is not None else None,
                    text,
                    digest,
                    stack,
                    device,
                    status,
                    _json(list(columns)),
                    now,
                    now,
                    _json(info),
                ),
            )
            return int(cur.lastrowid)

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
            conn.execute(
                "INSERT INTO run_chunks (run_id, seq, first_row, n_rows, data) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, row["n_rows"], n, blob),
            )
            known = json.loads(row["columns"])
            cols = known + [c for c in columns if c not in known]
            total = row["n_rows"] + n
            conn.execute(
                "UPDATE runs SET n_rows = ?, columns = ?, updated = ? WHERE id = ?",
                (total, _json(cols), _now(), run_id),
            )
            return total

    def finish_run(self, run_id: int, status: str, message: str = "") -> None:
        if status not in RUN_STATUSES:
            raise WorkspaceError(
                f"status: must be one of {', '.join(RUN_STATUSES)}, got {status!r}", invalid=True
            )
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, message = ?, updated = ? WHERE id = ?",
                (status, message, _now(), run_id),
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
        sql = "SELECT * FROM runs WHERE deleted IS " + ("NOT NULL" if deleted else "NULL")
        args: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        if search.strip():
            sql += (
                " AND (name LIKE ? ESCAPE '\\' OR notes LIKE ? ESCAPE '\\' OR tags LIKE ? ESCAPE '\\'"
                " OR device LIKE ? ESCAPE '\\' OR stack LIKE ? ESCAPE '\\')"
            )
            args += [_like(search.strip())] * 5
        sql += " ORDER BY created DESC, id DESC"
        with self._read() as conn:
            return [_run(r) for r in conn.execute(sql, args)]

    def run(self, run_id: int | str) -> RunInfo:
        with self._read() as conn:
            row = None
            if isinstance(run_id, int) or str(run_id).isdigit():
                row = conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None and isinstance(run_id, str):
                row = conn.execute(
                    "SELECT * FROM runs WHERE name = ? AND deleted IS NULL ORDER BY created DESC LIMIT 1",
                    (run_id,),
                ).fetchone()
        if row is None:
            raise WorkspaceError(f"run: no run {run_id!r} in {self.path}", invalid=True)
        return _run(row)

    def run_frame(self, run_id: int) -> pd.DataFrame:
        """The run's rows, in the order recorded, with its columns."""
        with self._read() as conn:
            conn.execute("BEGIN")  # one snapshot: the row count and the blocks agree
            try:
                row = conn.execute("SELECT columns FROM runs WHERE id = ?", (run_id,)).fetchone()
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
        return frame_from_blocks(blobs, json.loads(row["columns"]))

    def rename_run(self, run_id: int, new_name: str) -> RunInfo:
        new_name = _check_name(new_name, "new name")
        with self._write() as conn:
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (new_name, run_id))
        return self.run(run_id)

    def update_run(
        self, run_id: int, *, notes: str | None = None, tags: Sequence[str] | None = None
    ) -> RunInfo:
        with self._write() as conn:
            if notes is not None:
                conn.execute("UPDATE runs SET notes = ? WHERE id = ?", (notes, run_id))
            if tags is not None:
                conn.execute("UPDATE runs SET tags = ? WHERE id = ?", (_json(_check_tags(tags)), run_id))
        return self.run(run_id)

    def delete_run(self, run_id: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET deleted = ? WHERE id = ? AND deleted IS NULL", (_now(), run_id))

    def restore_run(self, run_id: int) -> RunInfo:
        with self._write() as conn:
            conn.execute("UPDATE runs SET deleted = NULL WHERE id = ?", (run_id,))
        return self.run(run_id)

    # -- forecast fits -----------------------------------------------------------------------------
    def save_fit(
        self,
        name: str,
        law: str,
        params: Mapping[str, Any],
        runs: Sequence[int] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> Fit:
        """A fitted loss law: its name (e.g. ``multi-power``), parameters and source runs (ids)."""
        name = _check_name(name, "fit name")
        if not isinstance(law, str) or not law.strip():
            raise WorkspaceError(f"law: must be a non-empty name, got {law!r}", invalid=True)
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO fits (uid, name, law, params, runs, created, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _uid(),
                    name,
                    law,
                    _json(dict(params)),
                    _json([int(r) for r in runs]),
                    _now(),
                    _json(dict(meta or {})),
                ),
            )
            return _fit(conn.execute("SELECT * FROM fits WHERE id = ?", (cur.lastrowid,)).fetchone())

    def fits(self, search: str = "", *, deleted: bool = False) -> list[Fit]:
        sql = "SELECT * FROM fits WHERE deleted IS " + ("NOT NULL" if deleted else "NULL")
        args: list[Any] = []
        if search.strip():
            sql += " AND (name LIKE ? ESCAPE '\\' OR law LIKE ? ESCAPE '\\')"
            args += [_like(search.strip())] * 2
        with self._read() as conn:
            return [_fit(r) for r in conn.execute(sql + " ORDER BY created DESC, id DESC", args)]

    def fit(self, fit_id: int) -> Fit:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM fits WHERE id = ?", (int(fit_id),)).fetchone()
        if row is None:
            raise WorkspaceError(f"fit: no fit with id {fit_id}", invalid=True)
        return _fit(row)

    def delete_fit(self, fit_id: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE fits SET deleted = ? WHERE id = ? AND deleted IS NULL", (_now(), fit_id))

    def restore_fit(self, fit_id: int) -> Fit:
        with self._write() as conn:
            conn.execute("UPDATE fits SET deleted = NULL WHERE id = ?", (fit_id,))
        return self.fit(fit_id)

    # -- the whole workspace -----------------------------------------------------------------------
    def purge(self, older_than_s: float = 0.0) -> int:
        """Remove records deleted more than ``older_than_s`` seconds ago for good; returns how many."""
        cutoff = _now() - older_than_s
        with self._write() as conn:
            n = 0
            for table in ("fits", "runs", "designs"):
                n += conn.execute(
                    f"DELETE FROM {table} WHERE deleted IS NOT NULL AND deleted <= ?", (cutoff,)
                ).rowcount
            return n

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            out = {
                t: conn.execute(f"SELECT count(*) FROM {t} WHERE deleted IS NULL").fetchone()[0]
                for t in ("designs", "runs", "fits")
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
        refusal = _refusal(source, app_id, version)
        if refusal:
            raise WorkspaceError(refusal, invalid=True)
        with tempfile.TemporaryDirectory(prefix="studio-import-") as tmpdir:
            copy = Path(tmpdir) / "import.sqlite3"
            for suffix in ("", "-wal"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
            src = _connect(copy)
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
                name = self._free_name(conn, r["name"]) if r["deleted"] is None else r["name"]
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
                runs = [run_ids.get(i, i) for i in json.loads(r["runs"])]
                conn.execute(
                    "INSERT INTO fits (uid, name, law, params, runs, created, meta, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r["uid"],
                        r["name"],
                        r["law"],
                        r["params"],
                        _json(runs),
                        r["created"],
                        r["meta"],
                        r["deleted"],
                    ),
                )
                counts["fits"] += 1
        return counts


def _column(series: pd.Series) -> np.ndarray | list:
    if series.dtype.kind in "iuf":
        return series.to_numpy()
    if series.dtype.kind == "b":
        return series.astype("int64").to_numpy()
    return series.tolist()
