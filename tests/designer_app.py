"""Helpers for AppTests of the Designer page."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app import state


def open_sections(at: AppTest, *names: str) -> AppTest:
    """Open the Designer's sections ``names`` (all of them if none given) for the next run, as a user
    who expanded them: a closed section draws no widgets (``state.DESIGNER_SECTIONS``)."""
    for name in names or tuple(state.DESIGNER_SECTIONS):
        at.session_state[state.section_key(name)] = True
    return at


def show_tab(at: AppTest, label: str) -> AppTest:
    """Open tab ``label`` of the Export section (a lazy tab: only the open one is drawn) for the next run."""
    at.session_state["designer_tabs"] = label
    return at
