"""The "Data & batching" section: dataset, micro-batch, accumulation, world size, epochs or max steps, and
the optional batch ramp and tokens per sample."""

from __future__ import annotations

import streamlit as st

from app import state
from app.ramp_text import EXAMPLE
from app.views.designer.widgets import input_for, number, seeded, ss
from schedules.design import TrainingConfig


def data_section():
    # One pair of columns, filled top to bottom (rows line up: each row holds two inputs of one kind):
    # four rows of st.columns(2) were 12 layout blocks for the browser to re-render on every rerun.
    a, b = st.columns(2)
    number(a, "training.dataset_size", "Dataset size (N)", TrainingConfig, "dataset_size", step=1000)
    number(b, "training.micro_batch_size", "Micro-batch size (b)", TrainingConfig, "micro_batch_size")
    number(a, "training.accumulation_steps", "Accumulation (A)", TrainingConfig, "accumulation_steps")
    number(b, "training.world_size", "World size (W)", TrainingConfig, "world_size")
    use_max = ss.get(state.key("training.use_max_steps"))
    number(a, "training.epochs", "Epochs", TrainingConfig, "epochs", disabled=bool(use_max))
    if not use_max:  # the greyed field follows the total, so switching it on starts from there
        total = state.total_steps_of_widgets(ss)
        lo, hi = state.bounds(TrainingConfig, "max_steps")
        if total is not None and (lo is None or total >= lo) and (hi is None or total <= hi):
            ss[state.key("training.max_steps")] = total
    number(b, "training.max_steps", "Max steps", TrainingConfig, "max_steps", disabled=not use_max)
    seeded(
        a.toggle,
        "Set max steps",
        key=state.key("training.use_max_steps"),
        help=TrainingConfig.model_fields["max_steps"].description,
    )
    input_for(b.toggle, "training.drop_last", "drop_last")
    input_for(
        a.text_input,
        "training.batch_ramp",
        "Batch ramp (optional)",
        placeholder=EXAMPLE,
        help_path="training.batch_ramp",
    )
    number(
        b, "training.tokens_per_sample", "Tokens per sample (optional)", TrainingConfig, "tokens_per_sample"
    )
