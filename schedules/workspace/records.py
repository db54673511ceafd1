"""The workspace's records (a saved design, a run, a forecast fit) and the values in their rows.

A record is a frozen dataclass whose fields are its table's columns (:mod:`.schema`), and one
mapping, :class:`Table`, reads every table's rows into its records (:data:`DESIGNS`, :data:`RUNS`,
:data:`FITS`).  Lists and dicts are stored as JSON text (:func:`to_json`); names and tags are
checked and tidied here (:func:`check_name`, :func:`check_tags`) before any store writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar, get_origin, get_type_hints

from ..build import load_config
from ..design import ScheduleConfig
from .codec import json_value
from .errors import WorkspaceError

__all__ = [
    "DESIGNS",
    "FITS",
    "MAX_JSON_BYTES",
    "MAX_NAME",
    "MAX_RUN_CELLS",
    "MAX_RUN_COLUMNS",
    "MAX_RUN_ROWS",
    "MAX_TAGS",
    "MAX_TEXT",
    "RUNS",
    "Design",
    "Fit",
    "RunInfo",
    "TABLES",
    "Table",
    "check_name",
    "check_tags",
    "check_text",
    "config_hash",
    "like_escape",
    "new_uid",
    "pid_alive",
    "timestamp",
    "to_json",
]

#: Longest design / run / fit name (and tag, column name, stack, device, law).
MAX_NAME = 200
#: Longest notes or run message.
MAX_TEXT = 10_000
#: Most tags on one record.
MAX_TAGS = 50
#: Largest JSON column (a config, a run's meta, a fit's parameters and meta) in characters.
MAX_JSON_BYTES = 1_000_000
#: Most rows of one run (a live run has at most 20,000; a run log at most 2,000,000 per series).
MAX_RUN_ROWS = 2_000_000
#: Most columns of one run.
MAX_RUN_COLUMNS = 256
#: Most values (rows x columns) of one run: its frame is at most 128 MB of float64.
MAX_RUN_CELLS = 16_000_000

R = TypeVar("R")


def config_hash(config: ScheduleConfig | str | Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical config: equal designs, however written, have equal hashes."""
    cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
    return hashlib.sha256(cfg.cache_key().encode()).hexdigest()


def timestamp() -> float:
    """Now, in unix seconds (``created``, ``updated`` and ``deleted`` hold these)."""
    return time.time()


def new_uid() -> str:
    """A record's ``uid``: random, so the same record in two workspaces is recognised on import."""
    return uuid.uuid4().hex


def check_name(name: Any, what: str) -> str:
    """``name`` with its whitespace collapsed; WorkspaceError (invalid) when empty or over :data:`MAX_NAME`."""
    if not isinstance(name, str) or not name.strip():
        raise WorkspaceError(f"{what}: must be a non-empty name, got {name!r}", invalid=True)
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise WorkspaceError(
            f"{what}: must be at most {MAX_NAME} characters, got {len(name)} characters", invalid=True
        )
    return name


def check_tags(tags: Sequence[str] | None) -> list[str]:
    """The tags tidied (whitespace collapsed, empty and repeated ones dropped, order kept); at most
    :data:`MAX_TAGS` of at most :data:`MAX_NAME` characters each."""
    out: list[str] = []
    for t in tags or []:
        if not isinstance(t, str):
            raise WorkspaceError(f"tags: must be strings, got {t!r}", invalid=True)
        t = " ".join(t.split())
        if len(t) > MAX_NAME:
            raise WorkspaceError(
                f"tags: each must be at most {MAX_NAME} characters, got {len(t)} characters", invalid=True
            )
        if t and t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise WorkspaceError(f"tags: must be at most {MAX_TAGS}, got {len(out)}", invalid=True)
    return out


def check_text(text: Any, what: str) -> str:
    """Notes or a message: text of at most :data:`MAX_TEXT` characters (WorkspaceError otherwise)."""
    if not isinstance(text, str):
        raise WorkspaceError(f"{what}: must be text, got {type(text).__name__}", invalid=True)
    if len(text) > MAX_TEXT:
        raise WorkspaceError(
            f"{what}: must be at most {MAX_TEXT:,} characters, got {len(text):,} characters", invalid=True
        )
    return text


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
    kind: str  # live | import | trace
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
        return not pid_alive(pid)

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


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (on this host) still runs; a zombie counts as gone."""
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


# --------------------------------------------------------------------------------------------------
# rows <-> records: the one mapping


class Table(Generic[R]):
    """A record type's table.  The record's dataclass fields are the table's columns; a field typed
    as a list or a dict is a JSON column (text written by :func:`to_json`), any other is stored as is.

    ``DESIGNS.record(row)`` turns a row (``SELECT *``) into a :class:`Design`, and so on for every
    table; :meth:`get` and :meth:`first` read one record.

    Args:
        name: the SQL table (``"designs"``).
        noun: the record in messages (``"design"``).
        record_type: the frozen dataclass a row becomes.
    """

    def __init__(self, name: str, noun: str, record_type: type[R]):
        hints = get_type_hints(record_type)
        self.name = name
        self.noun = noun
        self.record_type = record_type
        self.columns: tuple[str, ...] = tuple(f.name for f in fields(record_type))
        self.json_columns = frozenset(c for c in self.columns if get_origin(hints[c]) in (list, dict))

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {self.record_type.__name__})"

    def decode(self, column: str, value: Any) -> Any:
        """A stored value of ``column`` as the record holds it (a JSON column parsed); WorkspaceError
        when a JSON column does not parse (a damaged file)."""
        if column not in self.json_columns:
            return value
        try:
            return json.loads(value)
        except (TypeError, ValueError, RecursionError):
            raise WorkspaceError(
                f"{self.noun}: its {column} is damaged (not JSON) in this workspace file"
            ) from None

    def record(self, row: sqlite3.Row) -> R:
        """The record of a whole row."""
        return self.record_type(**{c: self.decode(c, row[c]) for c in self.columns})

    def first(self, conn: sqlite3.Connection, where: str, args: Sequence[Any] = ()) -> R | None:
        """The record of the first row of ``SELECT * FROM <table> WHERE <where>`` (``where`` may end
        in ``ORDER BY ... LIMIT 1``), or None."""
        try:
            row = conn.execute(f"SELECT * FROM {self.name} WHERE {where}", args).fetchone()
        except OverflowError:  # an id beyond SQLite's 64-bit integers: there is no such record
            return None
        return None if row is None else self.record(row)

    def get(self, conn: sqlite3.Connection, record_id: int) -> R:
        """The record with this id, deleted or not; WorkspaceError (invalid) when there is none."""
        found = self.first(conn, "id = ?", (record_id,))
        if found is None:
            raise WorkspaceError(f"{self.noun}: no {self.noun} with id {record_id}", invalid=True)
        return found

    def listing(
        self,
        conn: sqlite3.Connection,
        *,
        deleted: bool,
        order: str,
        search: str = "",
        search_columns: Sequence[str] = (),
        where: str = "",
        args: Sequence[Any] = (),
    ) -> list[R]:
        """The records not deleted (or, with ``deleted``, the deleted ones) that meet ``where`` and
        contain ``search`` (any case) in one of ``search_columns``, ordered by ``order``."""
        sql = f"SELECT * FROM {self.name} WHERE deleted IS " + ("NOT NULL" if deleted else "NULL")
        params = list(args)
        if where:
            sql += f" AND {where}"
        if search.strip():
            sql += " AND (" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in search_columns) + ")"
            params += ["%" + like_escape(search.strip()) + "%"] * len(search_columns)
        return [self.record(r) for r in conn.execute(f"{sql} ORDER BY {order}", params)]

    def insert(self, conn: sqlite3.Connection, values: Mapping[str, Any]) -> int:
        """Insert one row of stored values (JSON columns as text), column by name; returns its id."""
        unknown = [c for c in values if c not in self.columns]
        if unknown:
            raise ValueError(
                f"Expected columns of {self.name} ({', '.join(self.columns)}), but got {unknown}"
            )
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        cur = conn.execute(f"INSERT INTO {self.name} ({names}) VALUES ({marks})", list(values.values()))
        return int(cur.lastrowid)

    def mark_deleted(self, conn: sqlite3.Connection, record_id: int) -> None:
        """Delete with undo: the record leaves the lists (see :meth:`restore`)."""
        conn.execute(
            f"UPDATE {self.name} SET deleted = ? WHERE id = ? AND deleted IS NULL", (timestamp(), record_id)
        )

    def restore(self, conn: sqlite3.Connection, record_id: int) -> None:
        """Undo :meth:`mark_deleted`."""
        conn.execute(f"UPDATE {self.name} SET deleted = NULL WHERE id = ?", (record_id,))


DESIGNS = Table("designs", "design", Design)
RUNS = Table("runs", "run", RunInfo)
FITS = Table("fits", "fit", Fit)
#: Every table, in the order records refer to each other (a run to a design, a fit to runs).
TABLES = (DESIGNS, RUNS, FITS)


# --------------------------------------------------------------------------------------------------
# values


def to_json(value: Any) -> str:
    """Compact JSON text of a list or dict column; NaN and infinity become null, numpy scalars numbers."""

    def clean(v: Any) -> Any:
        v = json_value(v)
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), separators=(",", ":"), allow_nan=False)


def like_escape(text: str) -> str:
    """``text`` matched literally by ``LIKE ... ESCAPE '\\'`` (its ``%``, ``_`` and ``\\`` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
