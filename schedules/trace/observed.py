"""What a run did, as the diagnosis reads it: a trace, or any run log the studio reads.

A **trace** (``python -m schedules trace`` output, recognised by its ``scheduler_steps`` and
``micro_batches`` columns) gives every optimizer step of every rank with the counts around it, and
its sidecar ``TRACE.meta.json`` (read when it lies next to the CSV) the schedulers' constructor
arguments and the resumes.  A **log** (CSV, HF ``trainer_state.json``, JSON Lines, TensorBoard; see
:mod:`schedules.logs`) gives the lr at the logged steps only, aligned with the design's rows as the
Run logs page aligns it (``step`` = optimizer steps completed = the row).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..design import ConfigError, Problem
from ..logs import ALIASES, check_log_size, read_log

#: Columns that make a CSV a trace.
TRACE_MARKERS = ("scheduler_steps", "micro_batches")
COUNTS = ("scheduler_steps", "micro_batches", "skipped", "plateau_steps")


@dataclass
class Observed:
    """The lr a run used, per optimizer step (rank 0 for a trace), and what else is known."""

    name: str
    source: str  # trace | csv | json | tensorboard | workspace
    rows: np.ndarray  # the curve rows that have an lr, sorted, unique
    lr: np.ndarray  # the first param group's lr at those rows
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # lr/<group> of a trace (2+ groups)
    counts: pd.DataFrame | None = None  # a trace's COUNTS for rank 0, one row per step
    ranks: dict[int, np.ndarray] = field(default_factory=dict)  # a trace: each rank's lr per step
    meta: dict[str, Any] | None = None
    total: int | None = None  # optimizer steps of the run, when known
    notes: list[str] = field(default_factory=list)

    @property
    def is_trace(self) -> bool:
        return self.counts is not None

    @property
    def steps(self) -> int:
        """Optimizer steps of the run: known, else the last row with an lr + 1."""
        if self.total is not None:
            return self.total
        return int(self.rows[-1]) + 1 if len(self.rows) else 0

    @property
    def dense(self) -> bool:
        return len(self.rows) == self.steps and bool(np.array_equal(self.rows, np.arange(len(self.rows))))

    @property
    def stack(self) -> str:
        """The stack a trace saw (``plain`` when unknown)."""
        return str((self.meta or {}).get("stack") or "plain")

    @property
    def ticks(self) -> np.ndarray | None:
        """A trace's scheduler steps before each optimizer step reads its lr (cumulated counts)."""
        if self.counts is None:
            return None
        return np.cumsum(self.counts["scheduler_steps"].to_numpy(dtype=np.int64))

    def design_json(self) -> dict[str, Any] | None:
        """The design the trace was taken with (``trace --design``), when its sidecar has one."""
        design = (self.meta or {}).get("design")
        return design if isinstance(design, dict) else None

    def schedulers(self, rank: int = 0) -> list[dict[str, Any]]:
        """The schedulers rank ``rank``'s processes built on the traced optimizer (sidecar)."""
        for r in (self.meta or {}).get("ranks", []):
            if r.get("rank") == rank:
                return [s for p in r.get("processes", []) for s in p.get("schedulers", [])]
        return []

    def trailing(self, kind: str, rank: int = 0) -> int:
        """``scheduler_steps`` or ``plateau_steps`` taken after the last optimizer step (sidecar)."""
        for r in (self.meta or {}).get("ranks", []):
            if r.get("rank") == rank and r.get("processes"):
                return int((r["processes"][-1].get("trailing") or {}).get(kind, 0))
        return 0

    def states_loaded(self, rank: int = 0) -> list[dict[str, Any]]:
        for r in (self.meta or {}).get("ranks", []):
            if r.get("rank") == rank:
                return [e for p in r.get("processes", []) for e in p.get("state_loaded", [])]
        return []


def _is_trace(columns: list[str]) -> bool:
    return all(c in columns for c in TRACE_MARKERS) and "lr" in columns and "step" in columns


def from_trace_frame(frame: pd.DataFrame, name: str, meta: dict[str, Any] | None = None) -> Observed:
    """An :class:`Observed` from a trace frame (the CSV read back, or a session's frame)."""
    if frame.empty:
        raise ConfigError(
            Problem(name, "has no optimizer steps (was torch's optimizer ever stepped?)", "0 rows")
        )
    frame = frame.copy()
    if "rank" not in frame.columns:
        frame["rank"] = 0
    for col in ("rank", "step", "lr", *[c for c in COUNTS if c in frame.columns]):
        values = pd.to_numeric(frame[col], errors="coerce")
        if col != "lr" and values.isna().any():
            bad = int(values.isna().to_numpy().argmax())
            raise ConfigError(
                Problem(f"{name}: row {bad + 2}, column {col}", "must be a number", frame[col].iloc[bad])
            )
        frame[col] = values
    for col in COUNTS:
        if col not in frame.columns:
            frame[col] = 0
    ranks_seen = sorted(int(r) for r in frame["rank"].unique())
    notes: list[str] = []
    per_rank: dict[int, np.ndarray] = {}
    for r in ranks_seen:
        part = frame[frame["rank"] == r].sort_values("step", kind="stable")
        per_rank[r] = part["lr"].to_numpy(dtype=np.float64)
    first = ranks_seen[0]
    own = frame[frame["rank"] == first].sort_values("step", kind="stable").reset_index(drop=True)
    steps = own["step"].to_numpy(dtype=np.int64)
    if not np.array_equal(steps, np.arange(len(steps))):
        notes.append(f"rank {first}'s steps are not 0, 1, 2, ...: read as logged rows")
    lr = own["lr"].to_numpy(dtype=np.float64)
    keep = np.isfinite(lr)
    if not keep.any():
        raise ConfigError(Problem(f"{name}: column lr", "has no numeric values", "all empty"))
    groups = {c[3:]: own[c].to_numpy(dtype=np.float64) for c in own.columns if str(c).startswith("lr/")}
    if len(ranks_seen) > 1:
        notes.append(f"{len(ranks_seen)} ranks ({', '.join(map(str, ranks_seen))}); rank {first} is compared")
    return Observed(
        name=name,
        source="trace",
        rows=steps[keep],
        lr=lr[keep],
        groups=groups,
        counts=own[list(COUNTS)].astype(np.int64).reset_index(drop=True),
        ranks=per_rank,
        meta=meta,
        total=len(own),
        notes=notes,
    )


def _read_meta(path: Path) -> dict[str, Any] | None:
    from .names import meta_path

    side = Path(meta_path(path))
    if not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _max_steps(data: bytes) -> int | None:
    """HF ``trainer_state.json``'s ``max_steps`` (the run's optimizer steps), when there is one."""
    if data.lstrip()[:1] != b"{":
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    value = doc.get("max_steps") if isinstance(doc, dict) else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def read_observed(
    data: bytes, name: str, meta: dict[str, Any] | None = None, setting: str | None = None
) -> Observed:
    """A trace or a run log from its bytes (``name`` tells the format, as for the Run logs page).

    Raises ConfigError naming the file: empty, unreadable, or without an lr."""
    check_log_size(data, name)
    if not data.strip():
        raise ConfigError(Problem(name, "is empty", f"{len(data)} bytes"))
    head = data[:4096].decode("utf-8", errors="replace").splitlines()[0] if data else ""
    if "," in head and _is_trace([c.strip() for c in head.split(",")]):
        import io

        try:
            frame = pd.read_csv(io.BytesIO(data))
        except (pd.errors.ParserError, ValueError) as exc:
            raise ConfigError(Problem(name, f"must be a trace CSV ({exc})", None, has_value=False)) from None
        return from_trace_frame(frame, name, meta)
    log = read_log(data, name, setting)
    if not log.has("lr"):
        raise ConfigError(
            Problem(
                name,
                "has no lr column: diagnose needs the lr of the run's steps "
                f"(columns like {', '.join(ALIASES['lr'][:3])} or lr-AdamW)",
                f"found {', '.join(log.columns.values()) or 'nothing'}",
            )
        )
    f = log.rows("lr")
    f = f[f["row"] >= 0]
    rows = f["row"].to_numpy(dtype=np.int64)
    total = _max_steps(data)
    notes = list(log.notes)
    if total is not None:
        notes.append(f"max_steps {total} (from the file)")
        inside = rows < total
        rows, f = rows[inside], f[inside]
    return Observed(
        name=name,
        source=log.source,
        rows=rows,
        lr=f["value"].to_numpy(dtype=np.float64),
        meta=meta,
        total=total,
        notes=notes,
    )


def read_observed_path(path: str | Path, setting: str | None = None) -> Observed:
    """:func:`read_observed` of a file, with the trace's sidecar when it lies next to it."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(Problem(str(p), "cannot be read: no such file", None, has_value=False)) from None
    except IsADirectoryError:
        raise ConfigError(Problem(str(p), "is a folder, not a log file", None, has_value=False)) from None
    except OSError as exc:
        raise ConfigError(
            Problem(str(p), f"cannot be read ({exc.strerror or exc})", None, has_value=False)
        ) from None
    return read_observed(data, str(p), _read_meta(p), setting)


def finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def peak_of(values: np.ndarray) -> float:
    v = finite(np.asarray(values, dtype=float))
    return float(np.max(np.abs(v))) if len(v) else math.nan
