"""The Decay section: a torch scheduler after the warmup (and an optional hold at the peak), its
arguments, and the line under them that shows their resolved values once the curve is computed."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import state
from app.views.designer.widgets import FLOAT, Length, current, input_for, seeded, ss
from schedules.build import decay_kwargs
from schedules.design import DECAY_KWARGS, DecayConfig, ScheduleConfig

HOLD = Length("decay.hold", "decay.hold_", "Hold", DecayConfig, ratio_step=0.05)


#: A cosine's floor, absolute or as a ratio of the peak: one or the other (typing one empties the other).
FLOORS = ("eta_min", "eta_min_ratio")


def _one_floor(sched: str, field: str) -> None:
    """on_change of a cosine's eta_min / eta_min_ratio: a value in one empties the other."""
    if ss.get(state.decay_key(sched, field)) is not None:
        other = FLOORS[1 - FLOORS.index(field)]
        ss[state.decay_key(sched, other)] = None


def decay_kwarg(container, sched: str, field: str) -> None:
    model = DECAY_KWARGS[sched]
    kind = state.field_kind(model, field)
    k = state.decay_key(sched, field)
    desc = state.help_text(f"decay.kwargs.{sched}.{field}")
    # "Leave empty for the default" once: not after a description that already names the default
    empty = "" if "default" in desc.lower() else " Leave empty for torch's default."
    extra: dict[str, Any] = {}
    if field in FLOORS and all(f in model.model_fields for f in FLOORS):
        extra = {"on_change": _one_floor, "args": (sched, field)}
        empty += " Typing one of eta_min and eta_min_ratio empties the other."
    if kind in ("int?", "float?"):
        lo, hi = state.bounds(model, field)
        seeded(
            container.number_input,
            field,
            **extra,
            min_value=lo,
            max_value=hi,
            step=1 if kind == "int?" else None,
            format=None if kind == "int?" else FLOAT,
            key=k,
            help=desc + empty,
            placeholder="default",
        )
    elif kind == "choice?":
        seeded(
            container.selectbox,
            field,
            [None, *state.choices(model, field)],
            format_func=lambda v: "default" if v is None else str(v),
            key=k,
            help=desc or f"torch's {field} argument; default: torch's default.",
        )
    elif kind == "bool?":
        seeded(
            container.selectbox,
            field,
            [None, True, False],
            format_func=lambda v: "default" if v is None else str(v).lower(),
            key=k,
            help=desc or f"torch's {field} argument.",
        )
    elif kind in ("floats?", "ints?"):
        seeded(
            container.text_input,
            field,
            key=k,
            placeholder="default",
            help=desc
            + (
                " One number, or one per param group separated by commas."
                if kind == "floats?"
                else " Comma-separated."
            )
            + empty,
        )
    else:
        seeded(container.text_input, field, key=k, help=desc)


def decay_section():
    """The decay scheduler and its arguments; returns the slot for their resolved values (or None)."""
    resolved_slot = None
    if current(state.key("wsd.on")):
        st.caption("Not used: the WSD section above has its own warmup and decay.")
    sched = input_for(st.selectbox, "decay.scheduler", "Scheduler", [state.DECAY_NONE, *DECAY_KWARGS])
    if sched != state.DECAY_NONE:
        interval = input_for(st.radio, "decay.interval", "Interval", ["step", "epoch"], horizontal=True)
        if interval == "step":
            hold = HOLD.mode(
                st,
                "Hold at peak after warmup",
                ("none", "steps", "ratio"),
                help=state.help_text("decay.hold_steps"),
            )
            HOLD.number(st, hold)
        fields = list(DECAY_KWARGS[sched].model_fields)
        st.caption(f"`torch.optim.lr_scheduler.{sched}` arguments: empty means the default, resolved below.")
        cols = st.columns(2)
        for i, field in enumerate(fields):
            decay_kwarg(cols[i % 2], sched, field)
        resolved_slot = st.empty()
    st.caption(
        "The scheduler steps once per optimizer step, right after `optimizer.step()` "
        "(see the snippets for why)."
    )
    return resolved_slot


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(_short(v) for v in value[:6])}, …]"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def show_resolved(slot, cfg: ScheduleConfig) -> None:
    """Under the decay arguments: every argument's value as the scheduler is built (defaults resolved)."""
    resolved = decay_kwargs(cfg)
    slot.caption("Resolved: " + ", ".join(f"`{k}={_short(v)}`" for k, v in resolved.items()))
