"""Run logs <-> workspace runs: an uploaded log (:class:`schedules.logs.RunLog`) stored as a run
record, and a stored run read back as a RunLog for the pages that take one (Run logs, Forecast).

A log's series (lr, loss, val_loss, each with its own steps) become one frame with a ``step`` column
and one column per series, NaN where a series has no value at that step.  The log's source,
step convention and column names go into the run's ``meta``, so :func:`log_of_run` gives back an
equal RunLog.
"""

from __future__ import annotations

import pandas as pd

from ..logs import KINDS, RunLog
from .records import RunInfo
from .store import Workspace


def frame_of_log(log: RunLog) -> pd.DataFrame:
    """``step`` plus one column per series the log has (outer join on step, sorted)."""
    frame: pd.DataFrame | None = None
    for kind in KINDS:
        if not log.has(kind):
            continue
        s = log.series[kind][["step", "value"]].rename(columns={"value": kind})
        frame = s if frame is None else frame.merge(s, on="step", how="outer")
    if frame is None:
        return pd.DataFrame({"step": pd.Series(dtype="int64")})
    frame = frame.sort_values("step", kind="stable").reset_index(drop=True)
    frame["step"] = frame["step"].astype("int64")
    return frame


def save_log(workspace: Workspace, log: RunLog, name: str | None = None) -> int:
    """Store ``log`` as an imported run; returns its id."""
    meta = {
        "source": log.source,
        "file": log.name,
        "convention": log.convention,
        "log_columns": dict(log.columns),
        "notes": list(log.notes),
    }
    return workspace.save_frame(name or log.name, frame_of_log(log), kind="import", meta=meta)


def log_of_run(workspace: Workspace, run: RunInfo | int) -> RunLog:
    """A stored run (live or imported) as a RunLog: its lr, loss and val_loss series.

    A live run's rows are curve rows (``python -m schedules train`` convention: ``"rows"``)."""
    info = run if isinstance(run, RunInfo) else workspace.run(run)
    frame = workspace.run_frame(info.id)
    if info.kind == "trace" and "rank" in frame.columns and len(frame):  # a trace: rank 0's steps
        frame = frame[frame["rank"] == frame["rank"].min()].reset_index(drop=True)
    series = {}
    for kind in KINDS:
        if kind in frame.columns:
            s = frame[["step", kind]].dropna().rename(columns={kind: "value"}).reset_index(drop=True)
            s["step"] = s["step"].astype("int64")
            s["value"] = s["value"].astype("float64")
            if len(s):
                series[kind] = s
    if info.kind == "import":
        source = info.meta.get("source", "csv")
        convention = info.meta.get("convention", "completed")
        columns = dict(info.meta.get("log_columns") or {k: k for k in series})
    else:
        source, convention, columns = "workspace", "rows", {k: k for k in series}
    return RunLog(source=source, name=info.name, series=series, columns=columns, convention=convention)


# --------------------------------------------------------------------------------------------------
# forecasting (schedules.forecast): stored runs in, fitted laws out


def forecast_run(workspace: Workspace, run: RunInfo | int):
    """A stored run as a :class:`schedules.forecast.runs.Run` to fit a loss law on.

    Its lr comes from the run's own lr column, else from the design it used (as for a log file)."""
    from ..build import load_config
    from ..forecast.runs import run_from_log

    info = run if isinstance(run, RunInfo) else workspace.run(run)
    design = load_config(info.config) if info.config else None
    return run_from_log(log_of_run(workspace, info), design, name=info.name)


def save_forecast_fit(workspace: Workspace, name: str, fit: dict, runs: list[int]):
    """Store a :func:`schedules.forecast.fit.fit_runs` result: its law and parameters, the ids of the
    workspace runs it was fitted on, and everything else it reports (error, band, settings) as meta."""
    meta = {k: v for k, v in fit.items() if k not in ("law", "params")}
    return workspace.save_fit(name, fit["law"], fit["params"], runs=runs, meta=meta)


def fit_dict(fit) -> dict:
    """A stored fit back in :func:`schedules.forecast.fit.fit_runs`'s form (for ``predict``)."""
    return {**fit.meta, "law": fit.law, "params": dict(fit.params)}
