"""The Warmup-stable-decay (WSD) section: warmup, a stable phase at the peak, a short decay to a floor."""

from __future__ import annotations

import streamlit as st

from app import state
from app.views.designer.widgets import Length, input_for, number, seeded
from schedules.design import WSDConfig
from schedules.design.wsd import SHAPES

WARMUP = Length("wsd.warmup_mode", "wsd.warmup_", "Warmup", WSDConfig, ratio_step=0.01)
DECAY = Length("wsd.decay_mode", "wsd.decay_", "Decay", WSDConfig, ratio_step=0.05)


def wsd_section():
    wsd_on = seeded(
        st.toggle,
        "Use a WSD design",
        key=state.key("wsd.on"),
        help="Warmup, a stable phase at the peak, then a short decay (cooldown) to a floor, as "
        "transformers.get_wsd_schedule (Hu et al. 2024; 1-sqrt cooldown: Hagele et al. 2024). "
        "Replaces the Warmup and Decay sections below.",
    )
    if wsd_on:
        a, b = st.columns(2)
        WARMUP.number(b, WARMUP.mode(a, "Warmup length as"))
        a, b = st.columns(2)
        input_for(a.selectbox, "wsd.warmup_type", "Warmup shape", list(SHAPES))
        start_set = seeded(
            b.toggle,
            "Own warmup start",
            key=state.key("wsd.warmup_start_set"),
            help="Off: the warmup starts at min_lr_ratio, as transformers does.",
        )
        if start_set:
            number(st, "wsd.warmup_start", "Warmup start factor", WSDConfig, "warmup_start", step=0.05)
        a, b = st.columns(2)
        DECAY.number(b, DECAY.mode(a, "Decay length as"))
        a, b = st.columns(2)
        input_for(a.selectbox, "wsd.decay_type", "Decay shape", list(SHAPES))
        number(b, "wsd.min_lr_ratio", "min_lr_ratio", WSDConfig, "min_lr_ratio", step=0.05)
        stable_set = seeded(
            st.toggle,
            "Fix the stable length",
            key=state.key("wsd.stable_set"),
            help="Off: stable = total - warmup - decay (transformers' num_stable_steps inferred). On: "
            "steps after warmup + stable + decay stay at min_lr_ratio.",
        )
        if stable_set:
            number(st, "wsd.stable_steps", "Stable steps", WSDConfig, "stable_steps", step=10)
