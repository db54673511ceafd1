"""Library: the workspace's saved designs, runs (live and imported) and forecast fits, kept across
reloads and server restarts.  List, search, open, rename, duplicate, delete (with undo), compare;
import / export the whole workspace as one file.  Logic: schedules/workspace (app/library.py)."""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app import library, state, ui
from schedules.build import load_config
from schedules.design import ConfigError
from schedules.workspace import WorkspaceError

ss = st.session_state
K_SEARCH = "library_search"
K_DESIGN = "library_design"
K_RENAME = "library_rename"
K_COMPARE = "library_compare"
K_RUNS = "library_runs"
K_RUN = "library_run"
K_RUN_RENAME = "library_run_rename"
K_FIT = "library_fit"
K_UNDO = "library_undo"
K_NOTICE = "library_notice"
K_IMPORT = "library_import"
K_EXPORT = "library_export"
#: Compare page keys this page sets (app/views/compare.py).
COMPARE_DESIGNS = "compare_designs"
CURRENT = "Current design"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _notice(kind: str, text: str) -> None:
    ss[K_NOTICE] = (kind, text)


def _guard(action):
    """Run a workspace action from a callback; a failure becomes a message on the page."""

    def run(*args):
        try:
            action(*args)
        except (WorkspaceError, ConfigError) as exc:
            _notice("error", str(exc))
        except Exception as exc:  # sqlite3 errors: a message, never a traceback
            _notice("error", f"{type(exc).__name__}: {exc}")

    return run


# -- actions (callbacks) ---------------------------------------------------------------------------


#: What a record kind is called in the messages (the undo button names the kind itself).
KIND_NAMES = {"design": "design", "run": "run", "fit": "forecast fit"}


@_guard
def _rename(kind: str, record_id: int, key: str) -> None:
    """Rename a design or a run to the text of ``key`` (then cleared)."""
    new = (ss.get(key) or "").strip()
    ws = library.workspace()
    renamed = {"design": ws.rename_design, "run": ws.rename_run}[kind](record_id, new)
    ss[key] = ""
    _notice("success", f"Renamed to {renamed.name!r}.")


#: A design's tags and notes as typed on this page (at most this many characters each).
MAX_TAGS_CHARS = 300
MAX_NOTES_CHARS = 4000


@_guard
def _annotate(design_id: int, tags_key: str, notes_key: str) -> None:
    """Save a design's tags (comma-separated) and notes as typed."""
    d = library.workspace().update_design(
        design_id, tags=library.parse_tags(ss.get(tags_key) or ""), notes=ss.get(notes_key) or ""
    )
    _notice("success", f"Saved the tags and notes of {d.name!r}.")


@_guard
def _duplicate_design(design_id: int) -> None:
    d = library.workspace().duplicate_design(design_id)
    ss[K_DESIGN] = d.id
    _notice("success", f"Duplicated as {d.name!r}.")


@_guard
def _delete(kind: str, record_id: int, name: str) -> None:
    """Delete a design, run or fit (kept for the Undo button)."""
    ws = library.workspace()
    {"design": ws.delete_design, "run": ws.delete_run, "fit": ws.delete_fit}[kind](record_id)
    if kind == "design":
        ss.get(state.SAVED_DESIGNS, {}).pop(name, None)
    ss[K_UNDO] = (kind, record_id, name)
    _notice("info", f"Deleted {KIND_NAMES[kind]} {name!r}.")


@_guard
def _undo() -> None:
    kind, record_id, name = ss.pop(K_UNDO)
    ws = library.workspace()
    restore = {"design": ws.restore_design, "run": ws.restore_run, "fit": ws.restore_fit}[kind]
    _notice("success", f"Restored {kind} {restore(record_id).name!r}.")


@_guard
def _import() -> None:
    upload = ss.get(K_IMPORT)
    if upload is None:
        return
    with tempfile.TemporaryDirectory(prefix="studio-upload-") as tmp:
        path = Path(tmp) / "upload.sqlite3"
        path.write_bytes(upload.getvalue())
        try:
            counts = library.workspace().import_file(path)
        except WorkspaceError as exc:  # name the upload, not the temporary copy
            raise WorkspaceError(str(exc).replace(str(path), upload.name)) from None
    _notice(
        "success",
        f"Imported {counts['designs']} designs, {counts['runs']} runs and {counts['fits']} forecast fits from "
        f"{upload.name}" + (f" ({counts['skipped']} were already here)." if counts["skipped"] else "."),
    )


@_guard
def _prepare_export() -> None:
    with tempfile.TemporaryDirectory(prefix="studio-export-") as tmp:
        path = library.workspace().export(Path(tmp) / "workspace.sqlite3")
        ss[K_EXPORT] = path.read_bytes()


def _run_csv(run_id: int) -> bytes:
    """A stored run as CSV bytes (the download button calls this when clicked)."""
    try:
        return library.workspace().run_frame(run_id).to_csv(index=False).encode()
    except (WorkspaceError, OSError) as exc:  # e.g. deleted meanwhile: the file says why
        return f"error\n{exc}\n".encode()


# -- the pieces every tab draws ---------------------------------------------------------------------


def _none(what: str, search: str, how: str, icon: str) -> None:
    """A tab without records: none match the search, or there are none yet (``how``: how to make one)."""
    st.info(
        f"No {what}" + (f" matching {ui.md(repr(search))}." if search else f" yet{how}."),
        icon=f":material/{icon}:",
    )


def _pick(label: str, records: list, key: str, name=lambda r: r.name):
    """The record the tab's actions apply to, chosen by id (the first when the remembered one is gone)."""
    by_id = {r.id: r for r in records}
    if ss.get(key) not in by_id:
        ss[key] = records[0].id
    return by_id[st.selectbox(label, list(by_id), format_func=lambda i: name(by_id[i]), key=key)]


def _delete_button(container, key: str, kind: str, record) -> None:
    container.button(
        "Delete", key=key, icon=":material/delete:", on_click=_delete, args=(kind, record.id, record.name)
    )


def _rename_row(key: str, button_key: str, kind: str, record) -> None:
    r1, r2 = st.columns([3, 1], vertical_alignment="bottom")
    r1.text_input("New name", key=key, placeholder=record.name)
    r2.button("Rename", key=button_key, on_click=_rename, args=(kind, record.id, key))


# -- the page --------------------------------------------------------------------------------------

st.title("Library")
ws, problem = library.try_workspace()
if ws is None:
    st.error(f"The workspace could not be opened: {ui.md(problem)}")
    st.caption(
        "Designs saved on the Designer stay available to this session's Compare page. Set STUDIO_WORKSPACE "
        "to another folder to use a different workspace."
    )
    st.stop()

counts = ws.counts()
st.caption(
    f"Designs, runs and forecast fits kept in {ui.md(ws.path)} ({ws.size_bytes() / 1e6:.1f} MB; STUDIO_WORKSPACE "
    "moves it). They outlive the browser tab and server restarts; live runs are saved as they record."
)

notice = ss.pop(K_NOTICE, None)
if notice is not None:
    kind, text = notice
    {"success": st.success, "info": st.info, "error": st.error, "warning": st.warning}[kind](ui.md(text))
if ss.get(K_UNDO):
    kind, _, name = ss[K_UNDO]
    st.button(
        f"Undo: restore {kind} {ui.md(repr(name))}",
        key="library_undo_button",
        icon=":material/undo:",
        on_click=_undo,
    )

search = st.text_input("Search", key=K_SEARCH, placeholder="name, notes, tags, device…")
designs = ws.designs(search)
runs = ws.runs(search)
fits = ws.fits(search)
t_designs, t_runs, t_fits, t_file = st.tabs(
    [f"Designs ({len(designs)})", f"Runs ({len(runs)})", f"Forecast fits ({len(fits)})", "Import / export"]
)

with t_designs:
    if not designs:
        _none(
            "saved designs",
            search,
            ": save one on the Designer (*Import, share & save* → *Save*)",
            "bookmark",
        )
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "name": [d.name for d in designs],
                    "updated": [_when(d.updated) for d in designs],
                    "tags": [", ".join(d.tags) for d in designs],
                    "notes": [d.notes for d in designs],
                    "sha256": [d.hash[:12] for d in designs],
                }
            ),
            hide_index=True,
            key="library_designs_table",
        )
        d = _pick("Design", designs, K_DESIGN)
        a, b, c = st.columns(3)
        if a.button("Open in the Designer", key="library_open", icon=":material/edit:", type="primary"):
            try:
                state.set_design(load_config(d.config))
            except ConfigError as exc:
                ui.show_problems(f"{d.name!r} no longer loads", exc)
            else:
                st.switch_page("views/designer/page.py")
        b.button(
            "Duplicate",
            key="library_duplicate",
            icon=":material/content_copy:",
            on_click=_duplicate_design,
            args=(d.id,),
        )
        _delete_button(c, "library_delete", "design", d)
        _rename_row(K_RENAME, "library_rename_button", "design", d)
        # Tags and notes: one pair of inputs per design (their keys carry its id), saved by the button.
        tags_key, notes_key = f"library_tags_{d.id}", f"library_notes_{d.id}"
        st.text_input(
            "Tags",
            value=", ".join(d.tags),
            key=tags_key,
            max_chars=MAX_TAGS_CHARS,
            placeholder="e.g. baseline, small batch",
            help="Comma-separated; the search above finds designs by tag.",
        )
        st.text_area(
            "Notes",
            value=d.notes,
            key=notes_key,
            max_chars=MAX_NOTES_CHARS,
            placeholder="What this design is for, what you saw when you ran it…",
            help="Kept with the design in the workspace; the search above finds words in them.",
        )
        st.button(
            "Save tags and notes",
            key="library_annotate",
            icon=":material/sell:",
            on_click=_annotate,
            args=(d.id, tags_key, notes_key),
        )
        st.caption(
            f"**{ui.md(d.name)}**: created {_when(d.created)}, updated {_when(d.updated)}; sha256 of the canonical "
            f"config `{d.hash}`."
        )

        st.markdown("**Compare saved designs**")
        names = [x.name for x in designs]
        ss[K_COMPARE] = [n for n in ss.get(K_COMPARE, []) if n in names]
        picked = st.multiselect("Designs to compare", names, key=K_COMPARE, placeholder="Choose designs…")
        if st.button(
            "Compare", key="library_compare_button", disabled=not picked, icon=":material/stacked_line_chart:"
        ):
            ss[COMPARE_DESIGNS] = [CURRENT, *picked]
            st.switch_page("views/compare.py")

with t_runs:
    if not runs:
        _none(
            "runs",
            search,
            ": live runs are saved here as they record, and Run logs can save an uploaded log",
            "monitoring",
        )
    else:
        design_names = {x.id: x.name for x in ws.designs()}
        st.dataframe(
            pd.DataFrame(
                {
                    "name": [r.name for r in runs],
                    "kind": [r.kind for r in runs],
                    "status": [r.state for r in runs],
                    "steps": [r.n_rows for r in runs],
                    "optimizer": [library.run_optimizer(r) for r in runs],
                    "stack": [r.stack or "–" for r in runs],
                    "device": [r.device for r in runs],
                    "design": [library.run_design(r, design_names) for r in runs],
                    "created": [_when(r.created) for r in runs],
                }
            ),
            hide_index=True,
            key="library_runs_table",
        )
        run_by_id = {r.id: r for r in runs}
        ss[K_RUNS] = [i for i in ss.get(K_RUNS, []) if i in run_by_id]
        overlay = st.multiselect(
            "Runs to compare",
            list(run_by_id),
            format_func=lambda i: f"{run_by_id[i].name} (#{i})",
            key=K_RUNS,
            placeholder="Choose runs…",
        )
        frames = {}
        for i in overlay:
            try:  # a block damaged on disk (or stored by an older version) is named, never decoded unbounded
                frames[f"{run_by_id[i].name} (#{i})"] = ws.run_frame(i)
            except WorkspaceError as exc:
                st.error(f"Run #{i} cannot be shown: {ui.md(exc)}", icon=":material/error:")
        if frames:
            loss_fig, lr_fig = library.runs_figures(frames)
            f1, f2 = st.columns(2)
            f1.plotly_chart(loss_fig, key="library_runs_loss", config={"displaylogo": False})
            f2.plotly_chart(lr_fig, key="library_runs_lr", config={"displaylogo": False})
            st.dataframe(library.runs_summary(frames), hide_index=True, key="library_runs_summary")

        r = _pick("Run", runs, K_RUN, name=lambda x: f"{x.name} (#{x.id})")
        st.caption(  # every part is the run record's (an imported file's): shown as text
            ui.md(
                f"{r.kind} run, {r.state}{': ' + r.message if r.message else ''}; {r.n_rows} steps"
                + (f" on {r.device}" if r.device else "")
                + f"; optimizer {library.run_optimizer(r)}"
                + (f"; stack {r.stack}" if r.stack else "")
                + f"; design {library.run_design(r, design_names)}"
                + f"; created {_when(r.created)}."
            )
        )
        a, b, c = st.columns(3)
        if r.config is not None and a.button(
            "Open its design", key="library_run_design", icon=":material/edit:"
        ):
            state.set_design(load_config(r.config))
            st.switch_page("views/designer/page.py")
        b.download_button(  # built when clicked, never on a rerun (a run may be millions of rows)
            "Download CSV",
            data=functools.partial(_run_csv, r.id),
            file_name=f"run-{r.id}.csv",
            mime="text/csv",
            key="library_run_csv",
            on_click="ignore",
        )
        _delete_button(c, "library_run_delete", "run", r)
        _rename_row(K_RUN_RENAME, "library_run_rename_button", "run", r)

with t_fits:
    if not fits:
        _none("forecast fits", search, "", "insights")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "name": [f.name for f in fits],
                    "law": [f.law for f in fits],
                    "parameters": [
                        ", ".join(
                            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in f.params.items()
                        )
                        for f in fits
                    ],
                    "runs": [", ".join(f"#{i}" for i in f.runs) for f in fits],
                    "created": [_when(f.created) for f in fits],
                }
            ),
            hide_index=True,
            key="library_fits_table",
        )
        _delete_button(st, "library_fit_delete", "fit", _pick("Fit", fits, K_FIT))

with t_file:
    st.markdown(
        f"**Export** the whole workspace ({counts['designs']} designs, {counts['runs']} runs, {counts['fits']} "
        "forecast fits) as one file: a consistent SQLite snapshot, also while runs are recording. "
        "Import it here or with `python -m schedules workspace import FILE` on another machine."
    )
    st.button(
        "Prepare export", key="library_prepare_export", icon=":material/archive:", on_click=_prepare_export
    )
    if ss.get(K_EXPORT):
        st.download_button(
            f"Download workspace ({len(ss[K_EXPORT]) / 1e6:.1f} MB)",
            data=ss[K_EXPORT],
            file_name="lr-schedule-studio-workspace.sqlite3",
            mime="application/vnd.sqlite3",
            key="library_export_download",
            on_click="ignore",
            icon=":material/download:",
        )
    st.file_uploader(
        ui.upload_label("Import a workspace file", ui.upload_mb()),
        key=K_IMPORT,
        max_upload_size=ui.upload_mb(),
        on_change=_import,
        help="A file exported here (or by `python -m schedules workspace export`). Its records are added; "
        "records already here are skipped; a design whose name is taken gets a new name. A file from a "
        "newer version of the studio is refused and nothing changes.",
    )
