"""The app's door to the workspace (:mod:`schedules.workspace`): one store per workspace file, and
the small actions other pages take (Designer's Save, the Live page's recorder, Run logs' Save).

Nothing here raises into a page: a workspace that cannot be opened (a newer version, a read-only
folder) gives an error message instead, and the page goes on with what the session holds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from app.text import md, plot
from schedules.design import ScheduleConfig
from schedules.logs import RunLog
from schedules.workspace import Workspace, WorkspaceError, WorkspaceSink, workspace_path
from schedules.workspace.runlogs import save_log

_OPEN: dict[str, Workspace] = {}


def workspace() -> Workspace:
    """The workspace at ``workspace_path()`` (``STUDIO_WORKSPACE``); WorkspaceError when it cannot
    be opened.  One :class:`Workspace` per file for the server (it keeps a connection per thread)."""
    path = workspace_path()
    key = str(path)
    ws = _OPEN.get(key)
    if ws is None or not path.exists():
        try:
            ws = Workspace(path)
        except OSError as exc:  # e.g. a read-only home folder
            raise WorkspaceError(f"{path}: cannot be opened ({exc})") from None
        _OPEN[key] = ws
    return ws


def try_workspace() -> tuple[Workspace | None, str | None]:
    try:
        return workspace(), None
    except WorkspaceError as exc:
        return None, str(exc)


def save_design(name: str, config_json: str) -> str | None:
    """Save to the workspace; None when done, else the reason it was not."""
    try:
        workspace().save_design(name, config_json)
    except (WorkspaceError, OSError) as exc:
        return str(exc)
    except Exception as exc:  # sqlite3 errors (disk full, locked past the timeout): a message, never a trace
        return f"{type(exc).__name__}: {exc}"
    return None


def designs_for_compare() -> list[tuple[str, str]]:
    """``(name, config JSON)`` of the saved designs, most recently updated first ([] when the
    workspace is unavailable)."""
    ws, _ = try_workspace()
    if ws is None:
        return []
    try:
        return [(d.name, d.config) for d in ws.designs()]
    except Exception:
        return []


def live_sink(config: ScheduleConfig, meta: dict) -> WorkspaceSink | None:
    """A recorder that saves a live run's jobs as they record, or None when the workspace is unavailable."""
    ws, _ = try_workspace()
    if ws is None:
        return None
    name = f"{config.name or 'design'} @ {time.strftime('%Y-%m-%d %H:%M:%S')}"
    return WorkspaceSink(ws, name, meta=meta)


def save_run_log(log: RunLog, name: str | None = None) -> tuple[int | None, str | None]:
    """Store an uploaded run log as an imported run: ``(run id, None)`` or ``(None, reason)``."""
    try:
        return save_log(workspace(), log, name), None
    except WorkspaceError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


def location() -> Path:
    return workspace_path()


def show_sink_status(run) -> None:
    """Under the Live page's buttons: where the run is being saved, or why it is not."""
    import streamlit as st

    sink = getattr(run, "sink", None)
    if not isinstance(sink, WorkspaceSink):
        _, problem = try_workspace()
        if problem:
            st.caption(f":orange[Not saved to the Library: {md(problem)}]")
        return
    if sink.errors:
        st.warning(
            "Not all of this run was saved to the Library:\n\n" + "\n\n".join(md(e) for e in sink.errors)
        )
    elif sink.run_ids:
        st.caption(
            f"Saved to the **Library** as it records: *{md(sink.name)}* ({len(sink.run_ids)} "
            f"run{'s' if len(sink.run_ids) != 1 else ''})."
        )


def run_optimizer(run) -> str:
    """What trained a run: a schedule-free optimizer (no lr scheduler; the Live page records it in the
    run's metadata) or the design's ``torch.optim`` class stepped with its lr scheduler; "–" when the
    run does not say (an imported log without a design)."""
    schedule_free = run.meta.get("optimizer") if isinstance(run.meta, dict) else None
    if isinstance(schedule_free, str) and schedule_free:
        return f"{schedule_free} (schedule-free, no lr scheduler)"
    if run.config:
        try:
            name = json.loads(run.config)["optimizer"]["name"]
        except (ValueError, KeyError, TypeError):
            return "–"
        return f"torch.optim.{name} + lr scheduler"
    return "–"


def run_design(run, design_names: dict[int, str]) -> str:
    """The design a run trained: the saved design it is linked to, else the name inside the config it
    recorded (marked as not saved in the Library), else "–" (an imported log without a design)."""
    if run.design_id is not None and run.design_id in design_names:
        return design_names[run.design_id]
    if run.config:
        try:
            name = json.loads(run.config).get("name") or "untitled"
        except (ValueError, AttributeError):
            return "–"
        return f"{name} (not saved)"
    return "–"


def parse_tags(text: str) -> list[str]:
    """``"warmup, small batch ,, warmup"`` -> ``["warmup", "small batch"]`` (the workspace tidies them)."""
    from schedules.workspace.records import check_tags

    return check_tags(text.split(","))


K_LOGS_SAVED = "library_logs_saved"


def save_log_button(log: RunLog, name: str, file_id: str) -> None:
    """The Run logs page's "Save to the Library": stores the log once per upload."""
    import streamlit as st

    saved: dict = st.session_state.setdefault(K_LOGS_SAVED, {})
    if file_id in saved:
        st.caption(f"Saved to the Library as run {saved[file_id]}.")
        return
    if st.button(
        "Save to the Library",
        key="logs_save_to_library",
        icon=":material/bookmark_add:",
        help="Keep this run in the workspace, to find it again and compare it with other runs.",
    ):
        run_id, problem = save_run_log(log, name)
        if problem is not None:
            st.warning(f"Not saved: {md(problem)}")
        else:
            saved[file_id] = run_id
            st.caption(f"Saved to the Library as run {run_id}.")


# --------------------------------------------------------------------------------------------------
# comparing runs (pure: DataFrames in, figures / tables out)


def runs_figures(frames: dict[str, pd.DataFrame], max_points: int = 2000):
    """Loss against optimizer step and lr against optimizer step, one trace per run.

    Runs longer than ``max_points`` are drawn with every k-th row (k = ceil(n / max_points));
    a run without a column simply has no trace in that figure."""
    import plotly.graph_objects as go

    from app.charts import COLORS, TEMPLATE, lr_axis

    loss_fig, lr_fig = go.Figure(), go.Figure()
    for i, (label, f) in enumerate(frames.items()):
        color = COLORS[i % len(COLORS)]
        stride = max(1, -(-len(f) // max_points))
        part = f.iloc[::stride]
        for col, fig in (("loss", loss_fig), ("lr", lr_fig)):
            if col in part.columns and part[col].notna().any():
                rows = part[part[col].notna()]
                fig.add_scatter(
                    x=rows["step"],
                    y=rows[col],
                    mode="lines",
                    name=plot(label),
                    line={"color": color, "width": 2},
                )
    for fig, title, y in ((loss_fig, "Training loss", "loss"), (lr_fig, "Learning rate", "lr")):
        fig.update_layout(
            template=TEMPLATE,
            title=title,
            height=340,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            xaxis_title="optimizer step",
            yaxis_title=y,
            showlegend=True,
            legend={"orientation": "h", "y": -0.25},
        )
    lr_fig.update_yaxes(**lr_axis())  # the Designer's units
    return loss_fig, lr_fig


def runs_summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run: steps, final training loss (the Live page's figure: raw, mean of the last 5%),
    best training loss, last validation loss, peak and final lr."""
    from app.live_charts import FINAL_LOSS, final_loss

    rows = []
    for label, f in frames.items():
        loss, val, lr = (
            f[c].dropna() if c in f.columns else pd.Series(dtype="float64")
            for c in ("loss", "val_loss", "lr")
        )
        rows.append(
            {
                "run": label,
                "steps": len(f),
                FINAL_LOSS: final_loss(loss) if len(loss) else None,
                "best loss": float(loss.min()) if len(loss) else None,
                "last val_loss": float(val.iloc[-1]) if len(val) else None,
                "peak lr": float(lr.max()) if len(lr) else None,
                "final lr": float(lr.iloc[-1]) if len(lr) else None,
            }
        )
    return pd.DataFrame(rows)
