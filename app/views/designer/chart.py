"""The lr chart and its view controls (one fragment: a view toggle reruns only the chart)."""

from __future__ import annotations

import streamlit as st

from app import charts, ui


@st.fragment
def chart(curve, run=None) -> None:
    """The chart and its view controls: a view toggle reruns only this fragment, not the page."""
    # One horizontal container, not four columns: fewer elements for the browser to redraw per rerun.
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    axes = ["step", "epoch", "samples"] + (["tokens"] if curve.plan.tokens_per_sample else [])
    if st.session_state.get("designer_x_axis") not in (None, *axes):  # tokens_per_sample was removed
        st.session_state["designer_x_axis"] = "step"
    x_axis = row.segmented_control(
        "x axis",
        axes,
        label_visibility="collapsed",
        default="step",
        required=True,
        key="designer_x_axis",
        format_func=lambda x: {
            "step": "optimizer steps",
            "epoch": "epochs",
            "samples": "samples",
            "tokens": "tokens",
        }[x],
    )
    log_y = row.toggle(
        "log lr", key="designer_log_y", help="Logarithmic lr axis (steps with lr 0 are not drawn)."
    )
    groups = row.toggle("all groups", value=True, key="designer_groups", help="One trace per param group.")
    epochs = row.toggle(
        "epoch lines", value=True, key="designer_epochs", help="Light lines at epoch boundaries."
    )
    fig = ui.cached_figure(
        curve, x_axis=x_axis or "step", log_y=log_y, show_groups=groups, show_epochs=epochs
    )
    if run is not None and not run.matches:
        fig = charts.add_stack_overlay(fig, curve, run.frame, f"what {run.label} does", x_axis or "step")
    st.plotly_chart(fig, key="designer_chart", config={"displaylogo": False})
