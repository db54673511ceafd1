"""The "Import, share & save" section: upload a config, the page address that holds the design, Save."""

from __future__ import annotations

import streamlit as st

from app import library, state, ui
from app.views.designer.widgets import section, ss
from schedules.build import parse_config_json
from schedules.design import MAX_CONFIG_BYTES, ConfigError, ScheduleConfig

#: The config uploader's cap in MB: configs are refused above MAX_CONFIG_BYTES anyway, so the uploader
#: says 1 MB instead of the server's 16 MB log limit (ui.upload_mb).
CONFIG_MB = ui.upload_mb(MAX_CONFIG_BYTES)


CONFIG_FILES = (
    f"only lr-schedule/v1 JSON configs are imported here (.json files of at most {MAX_CONFIG_BYTES:,} bytes, "
    "such as the ones exported on this page); HF TrainingArguments and DeepSpeed files go to Import / export"
)


def on_upload() -> None:
    upload = ss.get(state.UPLOAD_KEY)
    if upload is None:
        return
    if not upload.name.lower().endswith(".json"):
        state.add_notice(
            "error",
            f"{upload.name} was not loaded; the current design is unchanged.",
            [f"{upload.name}: {CONFIG_FILES}"],
        )
        return
    data = upload.getvalue()
    try:
        cfg = parse_config_json(data)
    except ConfigError as exc:
        state.add_notice(
            "error", f"{upload.name} was not loaded; the current design is unchanged.", exc.lines()
        )
        return
    state.set_design(cfg)
    state.add_notice("success", f"Loaded {upload.name}: {cfg.name!r}.")


def on_save() -> None:
    name = (ss.get(state.SAVE_NAME_KEY) or "").strip() or state.current_config().name
    ss.setdefault(state.SAVED_DESIGNS, {})[name] = ss[state.DESIGN_JSON]
    problem = library.save_design(name, ss[state.DESIGN_JSON])
    if problem is None:
        state.add_notice("success", f"Saved {name!r} to the Library (and for the Compare page).")
    else:
        state.add_notice(
            "warning", f"Saved {name!r} for this session only: the workspace could not be written.", [problem]
        )


def import_share(slot, cfg: ScheduleConfig) -> None:
    section(slot, "share", share_section, cfg)


def share_section(cfg: ScheduleConfig) -> None:
    st.file_uploader(
        ui.upload_label("Import a JSON config", CONFIG_MB),
        key=state.UPLOAD_KEY,
        on_change=on_upload,
        max_upload_size=CONFIG_MB,
        help=f"{CONFIG_FILES[0].upper()}{CONFIG_FILES[1:]}. A bad file shows what is wrong and leaves the "
        "current design as it is.",
    )
    token = state.design_token(cfg)
    if state.fits_in_link(token):
        st.caption(
            "**Share:** the page address holds this design (`?design=…`): copy it from the address bar; it "
            "opens the same design, also after a reload."
        )
    else:
        st.caption("This design is too large for a link: share the JSON file instead.")
    a, b = st.columns([3, 2], vertical_alignment="bottom")
    a.text_input(
        "Save as",
        key=state.SAVE_NAME_KEY,
        placeholder=cfg.name,
        help="Name under which Compare lists it.",
    )
    b.button(
        "Save",
        on_click=on_save,
        icon=":material/bookmark_add:",
        width="stretch",
        help="Save to the Library (the workspace: kept across reloads and restarts) and for the Compare page. "
        "Saving under an existing name updates that design.",
    )
    saved = ss.get(state.SAVED_DESIGNS) or {}
    if saved:
        st.caption("Saved for Compare: " + ", ".join(ui.md(n) for n in saved))
