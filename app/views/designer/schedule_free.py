"""The schedule-free section: what a schedule-free optimizer does instead of a decay, for this run."""

from __future__ import annotations

import streamlit as st

from app import charts
from app.views.designer.widgets import section

SF_ON = "designer_schedule_free_on"
SF_KIND = "designer_schedule_free_kind"


def schedule_free_panel(curve) -> None:
    """What a schedule-free optimizer does instead of a decay (Defazio et al. 2024), for this run."""
    section(st, "schedule_free", schedule_free_section, curve)


def schedule_free_section(curve) -> None:
    from schedules.train import schedule_free

    if not schedule_free.available():
        st.caption("The `schedulefree` package is not installed here, so this view is off.")
        return
    on = st.toggle(
        "Show what schedule-free does instead",
        key=SF_ON,
        help=f"{schedule_free.SOURCE}. The optimizer warms its step size up itself and averages its "
        "iterates; there is no lr scheduler.",
    )
    if not on:
        return
    kind = st.radio("Optimizer", list(schedule_free.KINDS), horizontal=True, key=SF_KIND)
    p = curve.plan
    frame = schedule_free.trace(curve.config.optimizer.lr, p.total_steps, p.warmup_steps)
    title = f"schedulefree.{schedule_free.KINDS[kind]}: {p.total_steps:,} steps"
    fig = charts.schedule_free_trace_figure(frame, title)
    st.plotly_chart(fig, key="schedule_free_chart", config={"displaylogo": False})
    st.caption(
        f"The step size warms up over the design's {p.warmup_steps:,} warmup steps and then stays at the peak; "
        "instead of a decay, each step mixes the new point into the averaged iterate x with weight "
        "c_k = w_k / sum(w) (w_k = lr_max^2 by default: a uniform average after warmup, c_k ~ 1/k). "
        "Evaluate and save x: call optimizer.eval() first and optimizer.train() before training again."
    )
    st.code(
        schedule_free.snippet(
            kind, curve.config.optimizer.lr, p.warmup_steps, p.accumulation_steps, p.total_steps
        ),
        language="python",
    )
