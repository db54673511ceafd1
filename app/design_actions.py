"""One row of actions for a design a page proposes (a scale-up rule's design, Forecast's suggestion, a
cooldown branch): *Open in Designer*, *Save to Library*, *Download JSON*, so a proposal never ends in a
wall.  The design's name is the user's (or made from it): it is shown as text, never as Markdown."""

from __future__ import annotations

import re

import streamlit as st

from app import library, state, ui
from schedules.design import ScheduleConfig

DESIGNER_PAGE = "views/designer/page.py"


def file_name(config: ScheduleConfig) -> str:
    """A safe file name for the design's JSON: its name's letters, digits, dots and dashes."""
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", config.name).strip("._") or "design"
    return f"{stem[:80]}.json"


def open_in_designer(config: ScheduleConfig, source: str) -> None:
    """Make ``config`` the current design and go to the Designer, which says where it came from."""
    state.set_design(config)
    state.add_notice("success", f"Opened {ui.md_text(config.name)} from {source}.")
    st.switch_page(DESIGNER_PAGE)


def save(config: ScheduleConfig) -> str | None:
    """Save to the Library (and for Compare in this session); None when saved, else the reason."""
    text = config.to_json()
    st.session_state.setdefault(state.SAVED_DESIGNS, {})[config.name] = text
    return library.save_design(config.name, text)


def design_actions(config: ScheduleConfig, key: str, source: str, container=None) -> None:
    """The three actions for ``config`` in ``container`` (default: the page); ``key`` makes the widget
    keys unique, ``source`` names the page section in the Designer's notice."""
    box = container if container is not None else st
    a, b, c = box.columns(3)
    if a.button("Open in Designer", key=f"{key}_open", icon=":material/edit:", width="stretch"):
        open_in_designer(config, source)
    if b.button("Save to Library", key=f"{key}_save", icon=":material/bookmark_add:", width="stretch"):
        problem = save(config)
        name = ui.md_text(config.name)
        if problem is None:
            box.success(f"Saved {name} to the Library.", icon=":material/check_circle:")
        else:
            box.warning(
                f"Saved {name} for this session only (Compare): the workspace could not be written: "
                f"{ui.md_text(problem)}",
                icon=":material/warning:",
            )
    c.download_button(
        "Download JSON",
        config.to_json() + "\n",
        file_name=file_name(config),
        mime="application/json",
        key=f"{key}_download",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
