"""Traces and diagnoses in the Library (:mod:`schedules.workspace`), with no schema change.

A **trace** is stored as a run record of kind ``"trace"``: its frame is the trace CSV itself (every
rank's rows: ``rank, step, lr, lr/<group>..., scheduler_steps, micro_batches, skipped, ...``), its
``meta`` holds the sidecar (``trace_meta``) and the diagnosis (``diagnosis``: the ``--json`` dict),
its ``config`` the intended design.  A diagnosed **run log** (not a trace) is stored as an imported
run (kind ``"import"``, as the Run logs page's *Save* does) with the same ``diagnosis`` key in its
meta.  :func:`observed_of_run` reads either back for :func:`schedules.trace.diagnose.diagnose`.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from ..logs import read_log
from ..workspace.records import RunInfo
from ..workspace.runlogs import frame_of_log, log_of_run
from ..workspace.store import Workspace
from .diagnose import Diagnosis
from .observed import Observed, from_trace_frame

#: The run kind a trace is stored as.
TRACE_KIND = "trace"


def save_diagnosed(
    workspace: Workspace,
    data: bytes,
    name: str,
    found: Diagnosis,
    trace_meta: dict[str, Any] | None = None,
    setting: str | None = None,
) -> int:
    """Store the uploaded trace or log (``data``, as read for ``found``) with its diagnosis; its id."""
    config = found.intended.to_json() if found.intended is not None else None
    meta: dict[str, Any] = {"file": name, "diagnosis": found.to_dict()}
    if found.observed.is_trace:
        frame = pd.read_csv(io.BytesIO(data))
        meta.update(source="trace", convention="rows", trace_meta=trace_meta or found.observed.meta or {})
        return workspace.save_frame(name, frame, kind=TRACE_KIND, config=config, stack=found.stack, meta=meta)
    log = read_log(data, name, setting)
    meta.update(
        source=log.source,
        convention=log.convention,
        log_columns=dict(log.columns),
        notes=list(log.notes),
    )
    return workspace.save_frame(
        name, frame_of_log(log), kind="import", config=config, stack=found.stack, meta=meta
    )


def diagnosed_runs(workspace: Workspace) -> list[RunInfo]:
    """The stored runs that carry a diagnosis (traces and diagnosed logs), newest first."""
    return [r for r in workspace.runs() if isinstance((r.meta or {}).get("diagnosis"), dict)]


def observed_of_run(workspace: Workspace, run: RunInfo | int) -> Observed:
    """A stored trace or run log as :class:`Observed`, ready to diagnose again."""
    info = run if isinstance(run, RunInfo) else workspace.run(run)
    if info.kind == TRACE_KIND:
        frame = workspace.run_frame(info.id)
        return from_trace_frame(frame, info.name, (info.meta or {}).get("trace_meta") or None)
    log = log_of_run(workspace, info)
    f = log.rows("lr")
    f = f[f["row"] >= 0]
    return Observed(
        name=info.name,
        source=log.source,
        rows=f["row"].to_numpy(dtype="int64"),
        lr=f["value"].to_numpy(dtype="float64"),
        notes=list((info.meta or {}).get("notes") or []),
    )
