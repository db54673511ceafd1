"""The Plateau section: ReduceLROnPlateau's knobs and the metric it watches (synthetic or pasted), and
the note under them on why it did or did not cut the lr once the curve is computed."""

from __future__ import annotations

import streamlit as st

from app import state, ui
from app.views.designer.widgets import input_for, number, seeded
from schedules.curve import Curve, plateau_note, plateau_rise_note
from schedules.design import PlateauConfig, SyntheticMetric


def plateau_section():
    """ReduceLROnPlateau's knobs and its metric; returns the slot for the note on its cuts (or None)."""
    plateau_slot = None
    on = seeded(
        st.toggle,
        "Reduce on plateau",
        key=state.key("plateau.on"),
        help="Cut the lr when a validation metric stops improving. The cut multiplies the current lr, "
        "on top of warmup/decay.",
    )
    if on:
        plateau_slot = st.empty()  # why the lr was (not) cut, filled once the curve is computed
        a, b = st.columns(2)
        input_for(a.selectbox, "plateau.mode", "mode", ["min", "max"])
        number(b, "plateau.factor", "factor", PlateauConfig, "factor", step=0.05)
        a, b = st.columns(2)
        number(a, "plateau.patience", "patience", PlateauConfig, "patience")
        number(b, "plateau.cooldown", "cooldown", PlateauConfig, "cooldown")
        a, b = st.columns(2)
        number(a, "plateau.threshold", "threshold", PlateauConfig, "threshold", step=1e-4)
        input_for(b.selectbox, "plateau.threshold_mode", "threshold_mode", ["rel", "abs"])
        a, b = st.columns(2)
        input_for(a.text_input, "plateau.min_lr", "min_lr")
        number(b, "plateau.eps", "eps", PlateauConfig, "eps", step=1e-8, fmt="%.1e")
        a, b = st.columns(2)
        ev = input_for(
            a.radio,
            "plateau.eval",
            "Evaluate",
            ["epoch", "steps"],
            horizontal=True,
            help_path="plateau.eval_every",
        )
        seeded(
            b.number_input,
            "every N steps",
            min_value=1,
            max_value=2_000_000,
            step=1,
            key=state.key("plateau.eval_steps"),
            disabled=ev != "steps",
            help="Evaluate after every N optimizer steps.",
        )
        src = input_for(
            st.radio,
            "plateau.metric",
            "Metric source",
            ["synthetic", "values"],
            horizontal=True,
            format_func=lambda s: {"synthetic": "synthetic loss", "values": "paste values"}[s],
        )
        if src == "values":
            seeded(
                st.text_area,
                "Metric values (one per evaluation)",
                key=state.key("plateau.metric.values"),
                placeholder="2.31, 1.87, 1.62, 1.55, 1.54, 1.55, …",
                help="Your validation curve, one value per evaluation, separated by commas, spaces or new lines.",
            )
        else:
            st.caption(SyntheticMetric.__doc__.split("\n\n")[0].replace("\n", " "))
            cols = st.columns(2)
            for i, field in enumerate(SyntheticMetric.model_fields):
                path = f"plateau.metric.synthetic.{field}"
                opt = {"placeholder": "never"} if field == "plateau_from" else {}
                number(cols[i % 2], path, field, SyntheticMetric, field, **opt)
    return plateau_slot


def show_note(slot, curve: Curve) -> None:
    """Under the plateau inputs: why the lr was (not) cut in this curve, and a warning when the decay
    pulls a cut lr back up (its eta_min above the cut)."""
    note, rise = plateau_note(curve), plateau_rise_note(curve)
    if rise is None:
        if note is not None:
            slot.caption(note)
        return
    box = slot.container()
    if note is not None:
        box.caption(note)
    box.warning(ui.md(rise), icon=":material/trending_up:")
