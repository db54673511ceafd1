"""Your stack: which framework steps the scheduler (the input section), and under the chart what it does
with the design and the fix (verified by recomputing)."""

from __future__ import annotations

import streamlit as st

from app import state, ui
from app.views.designer.widgets import current, input_for, number, section, seeded, ss
from schedules.design import ConfigError, ScheduleConfig, StackConfig
from schedules.stacks.options import STACK_LABELS, STACK_NAMES

FIX_BUTTON = "designer_apply_stack_fix"


def stack_inputs(col) -> None:
    """The "Your stack" section: which framework steps the scheduler, and its settings."""
    section(col, "stack", stack_section, default=bool(current(state.key("stack.on"))))


def stack_section() -> None:
    seeded(
        st.toggle,
        "Train through a framework",
        key=state.key("stack.on"),
        help="Draw what HF Trainer, accelerate, Lightning or DeepSpeed do with this design.",
    )
    if not ss.get(state.key("stack.on")):
        st.caption("Off: the design is stepped once per optimizer step, as the curve shows.")
        return
    input_for(st.selectbox, "stack.name", "Stack", list(STACK_NAMES), format_func=lambda n: STACK_LABELS[n])
    name = ss.get(state.key("stack.name"))
    a, b = st.columns(2)
    number(a, "stack.num_processes", "processes", StackConfig, "num_processes", placeholder="world_size")
    number(b, "stack.scheduler_scale", "scheduler built for steps x", StackConfig, "scheduler_scale")
    number(st, "stack.step_every", "design steps once every N scheduler calls", StackConfig, "step_every")
    if name == "accelerate":
        input_for(st.checkbox, "stack.split_batches", "split_batches")
        input_for(st.checkbox, "stack.step_scheduler_with_optimizer", "step_scheduler_with_optimizer")
    if name == "lightning":
        a, b = st.columns(2)
        input_for(a.selectbox, "stack.lightning_interval", "interval", ["epoch", "step"])
        number(b, "stack.lightning_frequency", "frequency", StackConfig, "lightning_frequency")
        input_for(
            st.selectbox, "stack.lightning_plateau", "a plateau goes to Lightning", ["inside", "monitor"]
        )
    number(st, "stack.amp_skipped_steps", "AMP: steps GradScaler skips", StackConfig, "amp_skipped_steps")


def apply_stack_fix(settings: StackConfig) -> None:
    """Button callback: put the fix's settings into the stack widgets (the design updates on rerun)."""
    values = ss[state.WIDGET_VALUES]
    for name in StackConfig.model_fields:
        k = state.key(f"stack.{name}")
        ss[k] = values[k] = getattr(settings, name)


def stack_run(cfg: ScheduleConfig):
    if cfg.stack is None:
        return None
    try:
        return ui.stack_of(cfg, cfg.stack)
    except ConfigError as exc:
        ui.show_problems("Your stack cannot be computed.", exc)
        return None


def your_stack(run) -> None:
    """The diagnosis under the chart: one line in numbers, and the fix (verified by recomputing)."""
    st.subheader("Your stack", anchor=False)
    if run.matches:
        st.success(run.diagnosis, icon=":material/check_circle:")
        return
    st.warning(f"**What {run.label} does:** {run.diagnosis}", icon=":material/warning:")
    if run.fix is None:
        st.info(f"No setting of {run.label} reproduces the design.", icon=":material/info:")
        return
    a, b = st.columns([4, 1])
    a.info(
        f"**Fix:** {run.fix.description}. Verified: recomputing {run.label} with it gives the design's lr "
        f"at every one of the {len(run.design):,} optimizer steps (within 1e-12).",
        icon=":material/build:",
    )
    b.button("Apply fix", key=FIX_BUTTON, on_click=apply_stack_fix, args=(run.fix.settings,), width="stretch")
