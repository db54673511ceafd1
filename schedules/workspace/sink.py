"""Save a live run into the workspace while it records.

A :class:`WorkspaceSink` is attached to a :class:`schedules.train.runs.LiveRun` (``run.sink = sink``)
before ``start()``.  Each job becomes one run record (status ``running``) when it starts; its rows
are buffered and written as one block every :data:`FLUSH_ROWS` rows or :data:`FLUSH_SECONDS`
seconds, whichever comes first (one transaction each), and the job's outcome (done, stopped,
diverged, failed) is written when it ends.  A crash or ``kill -9`` therefore loses at most the rows
recorded since the last flush; the record stays ``running`` and lists as *interrupted*.

The sink never raises into the run: a write that fails (disk full, a locked file past the busy
timeout) is kept in :attr:`WorkspaceSink.errors`, that job stops being saved, and training goes on.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from ..design import ScheduleConfig
from .codec import MAX_BLOCK_ROWS
from .store import Workspace

FLUSH_ROWS = 256
FLUSH_SECONDS = 0.5


class WorkspaceSink:
    """The live run's recorder (see the module docstring).

    ``name``: the run names are ``"<name> · <job label>"`` (just ``name`` for a single job when
    ``single=True``).  ``meta`` is added to every run's metadata (model, seed, ...).  ``on_flush(label,
    rows)`` is called after each committed block with the job's row count so far.
    """

    def __init__(
        self,
        workspace: Workspace,
        name: str,
        *,
        stack: str = "plain",
        meta: dict[str, Any] | None = None,
        flush_rows: int = FLUSH_ROWS,
        flush_seconds: float = FLUSH_SECONDS,
        single: bool = False,
        on_flush: Callable[[str, int], None] | None = None,
    ):
        self.workspace = workspace
        self.name = name
        self.stack = stack
        self.meta = dict(meta or {})
        self.flush_rows = min(MAX_BLOCK_ROWS, max(1, int(flush_rows)))
        self.flush_seconds = float(flush_seconds)
        self.single = single
        self.on_flush = on_flush
        self.run_ids: dict[str, int] = {}
        self.errors: list[str] = []
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._columns: dict[str, list[str]] = {}
        self._last_flush: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- the LiveRun hook --------------------------------------------------------------------------
    def start(self, job: Any) -> None:
        records = job.records
        config = getattr(records, "config", None)
        device = getattr(records, "device", "")
        meta = {
            **self.meta,
            **{k: v for k, v in (job.meta or {}).items() if isinstance(v, str | int | float | bool)},
            "setting": job.label,
            "total_steps": int(job.total),
        }
        for attr, key in (("seed", "seed"), ("model_name", "model"), ("variant", "variant")):
            value = getattr(records, attr, None)
            if value is not None:
                meta.setdefault(key, value)
        name = self.name if self.single else f"{self.name} · {job.label}"
        try:
            run_id = self.workspace.start_run(
                name,
                kind="live",
                columns=list(job.columns),
                config=config if isinstance(config, ScheduleConfig) else None,
                stack=self.stack,
                device=str(device),
                meta=meta,
            )
        except Exception as exc:  # never into the run
            self._fail(job.label, exc)
            return
        with self._lock:
            self.run_ids[job.label] = run_id
            self._buffers[job.label] = []
            self._columns[job.label] = list(job.columns)
            self._last_flush[job.label] = time.monotonic()

    def row(self, job: Any, row: dict[str, Any]) -> None:
        label = job.label
        buf = self._buffers.get(label)
        if buf is None:
            return
        buf.append(row)
        if len(buf) >= self.flush_rows or time.monotonic() - self._last_flush[label] >= self.flush_seconds:
            self.flush(label)

    def end(self, job: Any) -> None:
        label = job.label
        if label not in self._buffers:
            return
        self.flush(label)
        run_id = self.run_ids.get(label)
        if run_id is None or label not in self._buffers:
            return
        status = job.outcome if job.outcome in ("done", "stopped", "diverged", "failed") else "stopped"
        try:
            self.workspace.finish_run(run_id, status, job.message or "")
        except Exception as exc:
            self._fail(label, exc)
        self._buffers.pop(label, None)

    # -- writing -----------------------------------------------------------------------------------
    def flush(self, label: str) -> None:
        buf = self._buffers.get(label)
        run_id = self.run_ids.get(label)
        if not buf or run_id is None:
            if label in self._last_flush:
                self._last_flush[label] = time.monotonic()
            return
        rows, self._buffers[label] = buf, []
        names = list(self._columns[label])
        for r in rows:
            for c in r:
                if c not in names:
                    names.append(c)
        columns = {c: [r.get(c, math.nan) for r in rows] for c in names}
        try:
            total = self.workspace.append_rows(run_id, columns)
        except Exception as exc:
            self._fail(label, exc)
            return
        self._last_flush[label] = time.monotonic()
        if self.on_flush is not None:
            self.on_flush(label, total)

    def _fail(self, label: str, exc: Exception) -> None:
        self.errors.append(f"{label}: not saved to the workspace ({type(exc).__name__}: {exc})")
        self._buffers.pop(label, None)
