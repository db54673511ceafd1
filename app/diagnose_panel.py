"""The Run logs page's *Diagnose*: what went wrong with the uploaded run's schedule, and why.

Thin: the diagnosis is :func:`schedules.trace.diagnose.diagnose`, the chart
:func:`schedules.trace.figure.diagnosis_figure`, the Library records :mod:`schedules.trace.library`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from app import library, state, ui
from schedules.build import load_config
from schedules.design import ConfigError, Problem

ss = st.session_state
K_META = "diag_meta_upload"
K_SOURCE = "diag_source"
K_LIBRARY = "diag_library_design"
K_LOG_Y = "diag_log_y"
K_SAVED = "diag_saved"
K_CACHE = "diag_cache"
K_SIDECAR_SEEN = "diag_sidecar_seen"

OWN, CURRENT, LIBRARY, INFER = (
    "The trace's own design",
    "Current design",
    "A design from the Library",
    "Infer it from the run",
)


def _sidecar(upload: Any) -> dict | None:
    """The optional ``TRACE.meta.json`` upload, parsed; ConfigError naming the file when it is not JSON."""
    if upload is None:
        return None
    try:
        doc = json.loads(upload.getvalue().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            Problem(upload.name, f"must be the trace's JSON sidecar ({exc})", None, has_value=False)
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError(
            Problem(upload.name, "must be a JSON object (the trace's sidecar)", type(doc).__name__)
        )
    return doc


def _diagnosis(data: bytes, name: str, meta: dict | None, design_json: str | None, setting: str | None):
    """The diagnosis, kept for this session per (file, sidecar, design): a rerun does not redo it."""
    from schedules.trace.diagnose import diagnose
    from schedules.trace.observed import read_observed

    key = hashlib.sha256(
        b"\0".join(
            [
                data,
                json.dumps(meta, sort_keys=True).encode(),
                (design_json or "").encode(),
                (setting or "").encode(),
            ]
        )
    ).hexdigest()
    cache: dict = ss.setdefault(K_CACHE, {})
    if key not in cache:
        observed = read_observed(data, name, meta, setting)
        design = load_config(design_json) if design_json is not None else None
        cache.clear()  # one diagnosis at a time per session
        cache[key] = diagnose(observed, design)
    return cache[key]


def _pick_design(has_own: bool, sidecar_id: str | None) -> tuple[str | None, str]:
    """The intended design's JSON (None: the trace's own, else inferred) and what was picked.

    A newly uploaded sidecar that holds a design makes that design the one picked."""
    options = ([OWN] if has_own else []) + [CURRENT, LIBRARY, INFER]
    if ss.get(K_SOURCE) not in options or (has_own and ss.get(K_SIDECAR_SEEN) != sidecar_id):
        ss[K_SOURCE] = options[0]
    ss[K_SIDECAR_SEEN] = sidecar_id
    source = st.radio(
        "Intended design",
        options,
        key=K_SOURCE,
        horizontal=True,
        help="What the run was meant to do. Without a design the family (warmup + cosine, linear, "
        "constant, step, WSD) is inferred from the run's own lrs.",
    )
    if source == CURRENT:
        return state.current_config().to_json(), source
    if source == LIBRARY:
        designs = library.designs_for_compare()
        if not designs:
            st.info(
                "The Library has no saved design yet: save one from the Designer, or pick another option."
            )
            return None, INFER
        names = [n for n, _ in designs]
        picked = st.selectbox("Design from the Library", names, key=K_LIBRARY)
        return dict(designs)[picked], source
    return None, source


def _cause_block(i: int, cause: Any) -> None:
    st.markdown(f"**{i}. {cause.title}** · `{cause.code}` · confidence {cause.confidence:.2f}")
    st.text(f"evidence: {cause.evidence.get('text', '')}")
    st.code(cause.fix, language="python")


def _save(data: bytes, name: str, found: Any, meta: dict | None, setting: str | None, file_key: str) -> None:
    from schedules.trace.library import save_diagnosed

    saved: dict = ss.setdefault(K_SAVED, {})
    if file_key in saved:
        st.caption(f"Saved to the Library as run {saved[file_key]} (with its diagnosis).")
        return
    if st.button(
        "Save trace and diagnosis to the Library",
        key="diag_save",
        icon=":material/bookmark_add:",
        help="Keeps the run (a trace as a run of kind 'trace') with this diagnosis in the workspace.",
    ):
        try:
            run_id = save_diagnosed(library.workspace(), data, name, found, meta, setting)
        except Exception as exc:  # a workspace that cannot be written: a message, never a traceback
            st.warning(f"Not saved: {ui.md(exc)}")
        else:
            saved[file_key] = run_id
            st.caption(f"Saved to the Library as run {run_id} (with its diagnosis).")


def _saved_list() -> None:
    from schedules.trace.library import diagnosed_runs

    ws, problem = library.try_workspace()
    if ws is None:
        st.caption(f"Library unavailable: {ui.md(problem)}")
        return
    try:
        runs = diagnosed_runs(ws)
    except Exception as exc:
        st.caption(f"Library unavailable: {ui.md(exc)}")
        return
    if not runs:
        st.caption("No diagnosis saved yet.")
        return
    rows = []
    for r in runs[:50]:
        d = r.meta["diagnosis"]
        causes = d.get("causes") or []
        rows.append(
            {
                "run": r.id,
                "name": r.name,
                "kind": r.kind,
                "verdict": d.get("verdict"),
                "first cause": causes[0].get("code") if causes else "",
                "steps": d.get("steps"),
            }
        )
    st.dataframe(rows, hide_index=True, key="diag_saved_table")


def render(data: bytes, name: str, file_key: str, setting: str | None = None) -> None:
    """The Diagnose section for the uploaded ``data`` (a trace CSV or a run log)."""
    st.subheader("Diagnose")
    st.caption(
        "Name what went wrong with this run's schedule: stepped per micro-batch or per process, sized for "
        "the wrong number of steps, warmup in micro-batches, a reset at a resume, AMP skipped steps, a "
        "plateau on the wrong cadence. A trace (python -m schedules trace) tells the most."
    )
    meta_upload = st.file_uploader(
        "Trace sidecar (optional): the TRACE.meta.json written next to the trace CSV",
        type=["json"],
        key=K_META,
        help="It holds the design given to `trace --design`, the scheduler classes and arguments seen, "
        "and each process's resumes.",
    )
    try:
        meta = _sidecar(meta_upload)
    except ConfigError as exc:
        ui.show_problems("The sidecar could not be read", exc)
        meta = None
    has_own = isinstance((meta or {}).get("design"), dict)
    design_json, source = _pick_design(has_own, meta_upload.file_id if meta_upload is not None else None)
    try:
        if source == INFER and meta is not None:  # infer: the design stored in the sidecar is not used
            meta = {k: v for k, v in meta.items() if k != "design"}
        found = _diagnosis(data, name, meta, design_json, setting)
    except ConfigError as exc:
        ui.show_problems(f"{name} could not be diagnosed", exc)
        return
    what = {OWN: "the trace's own design", CURRENT: "the current design", LIBRARY: "the Library design"}.get(
        source, "the inferred schedule"
    )
    if found.family is not None:
        what += f" ({found.family.text()})"
    if found.matches:
        st.success(
            f"Matches: every lr of the run's {found.observed.steps:,} steps is {what}'s.",
            icon=":material/check_circle:",
        )
    else:
        st.error(
            f"Differs from {what}: {len(found.causes)} cause(s), most likely first.", icon=":material/error:"
        )
    log_y = st.toggle("Log lr axis", key=K_LOG_Y)
    from schedules.trace.figure import diagnosis_figure

    st.plotly_chart(diagnosis_figure(found, log_y=log_y), key="diag_figure", config={"displaylogo": False})
    for i, cause in enumerate(found.causes, 1):
        _cause_block(i, cause)
    for note in found.notes:  # may quote the log's own column names: text
        st.caption(ui.md(note))
    fixed = found.fixed_design()
    cols = st.columns(2)
    with cols[0]:
        if fixed is not None and st.button(
            "Apply: make the intended design the current design",
            type="primary",
            key="diag_apply",
            icon=":material/done_all:",
            help="The intended design (inferred, or the one picked) with its stack settings as the fix "
            "leaves them becomes the current design: the Designer and Export then show it.",
        ):
            changed = state.set_design(fixed)
            state.add_notice(
                "success",
                "The diagnosed run's intended design is now the current design."
                if changed
                else "The current design already is the diagnosed run's intended design.",
            )
            st.switch_page("views/designer/page.py")
    with cols[1]:
        _save(data, name, found, meta, setting, file_key)
    with st.expander("Diagnoses in the Library"):
        _saved_list()
