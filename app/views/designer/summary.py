"""The summary card over the chart: the run's figures in one ``st.html`` element."""

from __future__ import annotations

import streamlit as st

from app import ui
from schedules.curve import Curve


def summary_card(curve: Curve) -> None:
    """The run's figures in one card: one st.html element (six st.metric in columns were 15 elements for
    the browser to re-render on every rerun).  The figures are computed in ``Curve.summary_figures``;
    ``ui.figure_card`` escapes them."""
    figures, note = curve.summary_figures()
    st.html(ui.figure_card(figures, note))
