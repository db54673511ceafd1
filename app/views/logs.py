"""Run logs: a real run's lr and loss (CSV, HF trainer_state.json, TensorBoard event file, a trace of
``python -m schedules trace``) over the current design, its validation loss as the design's plateau
metric, and *Diagnose* (app/diagnose_panel.py).  Logic: schedules.logs, schedules.trace."""

from __future__ import annotations

import streamlit as st

from app import caches, diagnose_panel, library, state, ui
from schedules.design import ConfigError
from schedules.logs import MAX_LOG_BYTES, agreement_figure, log_settings, lr_agreement, plateau_from_log
from schedules.report import log_figure

ss = st.session_state
K_UPLOAD = "logs_upload"
K_LOG_Y = "logs_log_y"
K_APPLIED = "logs_applied"
K_SETTING = "logs_setting"
#: What this server accepts: the library reads up to MAX_LOG_BYTES, but Streamlit refuses uploads over
#: server.maxUploadSize (.streamlit/config.toml), so the uploader states the smaller of the two.
UPLOAD_MB = ui.upload_mb(MAX_LOG_BYTES)


st.title("Run logs")
st.caption(
    "Upload a real run's log or trace to see its learning rate and loss over the current design, "
    "diagnose what went wrong with its schedule, and use its validation loss as the design's plateau metric."
)
upload = st.file_uploader(
    ui.upload_label(
        "Log file: CSV, trainer_state.json, JSON Lines, or a TensorBoard events.out.tfevents.* file",
        UPLOAD_MB,
    ),
    key=K_UPLOAD,
    max_upload_size=UPLOAD_MB,
    help="Columns/tags are matched by name: step or global_step; lr, learning_rate or lr-AdamW; loss or "
    "train_loss; val_loss or eval_loss (and the train/… eval/… spellings). "
    f"This server takes files up to {UPLOAD_MB} MB (server.maxUploadSize); larger logs: "
    f"schedules.logs.read_log in Python reads up to {MAX_LOG_BYTES // 1_000_000} MB.",
)
applied = ss.pop(K_APPLIED, None)
if applied is not None:
    ui.show_problems(
        "The design's plateau now uses this run's validation loss.",
        applied,
        "success" if not applied else "warning",
    )

if upload is None:
    st.info(
        "No log yet. A trace (`python -m schedules trace -o trace.csv -- python train.py`), "
        "`python -m schedules train DESIGN.json -o run.csv`, an HF `trainer_state.json`, "
        "a Lightning `metrics.csv` or a TensorBoard event file all work.",
        icon=":material/upload_file:",
    )
    st.stop()

settings = log_settings(upload.getvalue(), upload.name)
setting = None
if len(settings) > 1:
    setting = st.selectbox(
        "Run to show",
        settings,
        key=K_SETTING,
        help="This CSV holds several runs (the Live run's settings), one per value of its 'setting' column.",
    )
try:
    log = caches.cached_log(upload.getvalue(), upload.name, setting)
except ConfigError as exc:
    ui.show_problems(f"{upload.name} could not be read", exc)  # shown as text by show_problems
    st.stop()

config = state.current_config()
curve = ui.curve_of(config)
cols = st.columns([3, 2])
with cols[0]:
    st.markdown("\n".join(f"- {ui.md(line)}" for line in log.summary()))
    if log.convention == "rows":
        st.caption("Steps are curve rows (python -m schedules train or trace output).")
    else:
        st.caption(
            "Steps count completed optimizer steps (HF, Lightning, TensorBoard): the lr logged at step s is row s."
        )
    for note in log.notes:  # what was dropped and why; column names are the file's: shown as text
        st.caption(ui.md(note))
with cols[1]:
    agreement = lr_agreement(log, curve.frame)
    if agreement is not None and agreement["rows"]:
        if agreement["matches"]:
            verdict = "matches"
        elif agreement["shift"] == 1:
            verdict = "one step ahead"
        elif agreement["shift"] == -1:
            verdict = "one step behind"
        else:
            verdict = f"{agreement['max_abs']:.3g} off ({agreement['max_peak_rel']:.1%} of peak)"
        st.metric(
            "Logged lr vs this design",
            verdict,
            delta=agreement_figure(agreement),  # the figure behind the verdict, also for "matches"
            delta_color="off",
            delta_arrow="off",
            help=f"Largest difference over {agreement['rows']} logged steps: {agreement['max_abs']:.3g} "
            f"(absolute), {agreement['max_peak_rel']:.2%} of the design's peak lr {agreement['peak']:.3g}"
            + (f"; worst at step {agreement['worst_row']}" if not agreement["matches"] else ""),
        )
        if agreement["message"]:
            st.warning(
                agreement["message"][0].upper() + agreement["message"][1:] + ".", icon=":material/warning:"
            )
    elif agreement is not None:
        st.caption("The logged steps are all past the design's end.")
    log_y = st.toggle("Log lr axis", key=K_LOG_Y)
    library.save_log_button(log, upload.name, upload.file_id)

st.plotly_chart(log_figure(curve, log, log_y=log_y), key="logs_figure", config={"displaylogo": False})

diagnose_panel.render(upload.getvalue(), upload.name, upload.file_id, setting)

st.subheader("Validation loss as the plateau metric")
if log.has("val_loss"):
    n = len(log.series["val_loss"])
    st.caption(
        f"{n} validation values. The design's ReduceLROnPlateau will get them, one per evaluation, "
        "evaluating as often as this run did."
    )
    if st.button("Use its validation loss as the plateau metric", type="primary", key="logs_use_val_loss"):
        try:
            new, warnings = plateau_from_log(log, config)
        except ConfigError as exc:
            ui.show_problems("Could not use it", exc)
        else:
            state.set_design(new)
            ss[K_APPLIED] = warnings
            st.rerun()
else:
    st.caption("This log has no validation loss (columns like val_loss or eval_loss).")
