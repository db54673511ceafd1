"""The workspace's records (a saved design, a run, a forecast fit) and the values in their rows.

A record is a frozen dataclass whose fields are its table's columns (:mod:`.schema`).  Lists and
dicts are stored as JSON text (:func:`to_json`); names and tags are checked and tidied here
(:func:`check_name`, :func:`check_tags`) before any store writes them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..build import load_config
from ..design import ScheduleConfig
from .errors import WorkspaceError

__all__ = [
    "MAX_NAME",
    "Design",
    "Fit",
    "RunInfo",
    "check_name",
    "check_tags",
    "config_hash",
    "design_of_row",
    "fit_of_row",
    "like",
    "new_uid",
    "pid_alive",
    "run_of_row",
    "timestamp",
    "to_json",
]

#: Longest design / run name.
MAX_NAME = 200


def config_hash(config: ScheduleConfig | str | Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical config: equal designs, however written, have equal hashes."""
    cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
    return hashlib.sha256(cfg.cache_key().encode()).hexdigest()


def timestamp() -> float:
    return time.time()


def new_uid() -> str:
    return uuid.uuid4().hex


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise WorkspaceError(f"{what}: must be a non-empty name, got {name!r}", invalid=True)
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise WorkspaceError(
            f"{what}: must be at most {MAX_NAME} characters, got {len(name)} characters", invalid=True
        )
    return name


def check_tags(tags: Sequence[str] | None) -> list[str]:
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


def design_of_row(row: sqlite3.Row) -> Design:
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


def run_of_row(row: sqlite3.Row) -> RunInfo:
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


def fit_of_row(row: sqlite3.Row) -> Fit:
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


def to_json(value: Any) -> str:
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


def like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
