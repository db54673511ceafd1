"""The "Start from a preset" section, and the renaming of a preset-named design once it is changed."""

from __future__ import annotations

import streamlit as st

from app import state
from app.views.designer.widgets import current, ss, widget_values
from schedules.design import ConfigError
from schedules.presets import MODIFIED, PRESETS, apply_preset, name_for

PRESET_TITLES = {p.title.lower() for p in PRESETS.values()}


def on_preset() -> None:
    name = ss.get(state.PRESET_KEY)
    if not name:
        return
    try:
        state.set_design(apply_preset(name, state.current_config()))
    except ConfigError as exc:
        state.add_notice("error", f"Preset {name!r} does not fit this design.", exc.lines())
        return
    state.add_notice("success", f"Applied preset: {PRESETS[name].title}.", [PRESETS[name].note])


def preset_section():
    names = list(PRESETS)
    st.selectbox(
        "Preset",
        names,
        index=None,
        format_func=lambda n: PRESETS[n].title,
        key=state.PRESET_KEY,
        placeholder="Choose a preset…",
        help="Keeps your optimizer and training sections; replaces warmup, decay and plateau (the two "
        "ImageNet recipes also set SGD at lr 0.1 and the 90 epochs they were published with).",
    )
    chosen = ss.get(state.PRESET_KEY)
    if chosen:
        p = PRESETS[chosen]
        st.caption(f"**Source:** {p.source}  \n{p.note}")
    st.button("Apply preset", on_click=on_preset, disabled=not chosen, icon=":material/check:")


def mark_modified_preset() -> None:
    """Before the widgets are drawn: a preset-named design whose schedule was changed is renamed
    "<preset> (modified)" (and back when it is the preset again), so exports are not misnamed."""
    name = str(current(state.key("name")) or "").removesuffix(MODIFIED).lower()
    if name not in PRESET_TITLES:  # the common case costs one lookup
        return
    try:
        cfg = state.widgets_to_config(widget_values())
    except ConfigError:
        return
    name = name_for(cfg)
    if name != cfg.name:
        ss[state.key("name")] = ss[state.WIDGET_VALUES][state.key("name")] = name
