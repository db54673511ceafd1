"""The Warmup section: a linear ramp from ``start_factor`` x lr up to the lr."""

from __future__ import annotations

import streamlit as st

from app import state
from app.views.designer.widgets import Length, current, number, seeded
from schedules.design import WarmupConfig

LENGTH = Length("warmup.mode", "warmup.", "Warmup", WarmupConfig, ratio_step=0.01)


def warmup_section():
    if current(state.key("wsd.on")):
        st.caption("Not used: the WSD section above has its own warmup and decay.")
    on = seeded(
        st.toggle,
        "Linear warmup",
        key=state.key("warmup.on"),
        help="A linear ramp from start_factor x lr up to the lr.",
    )
    if on:
        mode = LENGTH.mode(
            st, "Length given as", help="A number of optimizer steps, or a fraction of all steps."
        )
        a, b = st.columns(2)
        LENGTH.number(a, mode)
        number(b, "warmup.start_factor", "start_factor", WarmupConfig, "start_factor", step=0.05)
