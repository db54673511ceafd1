"""The "Optimizer & param groups" section: the design's name, optimizer, lr, kwargs and param groups."""

from __future__ import annotations

import streamlit as st

from app import state
from app.views.designer.widgets import FLOAT, input_for, number, seeded
from schedules.build import supported_optimizers
from schedules.design import OptimizerConfig, ParamGroup
from schedules.design.base import MAX_PARAM_GROUPS


def optimizer_section():
    seeded(
        st.text_input,
        "Design name",
        key=state.key("name"),
        max_chars=200,
        help="Shown in exports and on the Compare page.",
    )
    a, b = st.columns(2)
    input_for(a.selectbox, "optimizer.name", "Optimizer", list(supported_optimizers()))
    number(b, "optimizer.lr", "Learning rate", OptimizerConfig, "lr", step=1e-5, fmt="%.3e")
    input_for(
        st.text_input, "optimizer.kwargs", "Optimizer kwargs (JSON)", placeholder='{"weight_decay": 0.01}'
    )
    count = seeded(
        st.number_input,
        "Param groups",
        min_value=1,
        max_value=MAX_PARAM_GROUPS,
        step=1,
        key=state.key("optimizer.param_groups.count"),
        help="Parameter groups with their own lr (lr x lr scale), e.g. a backbone at 0.1x and a head at 1x. "
        "Each group gets its own trace on the chart.",
    )
    for i in range(int(count)):
        a, b, c = st.columns([3, 2, 2])
        seeded(
            a.text_input,
            f"Group {i + 1} name",
            key=state.group_key(i, "name"),
            max_chars=64,
            help=ParamGroup.model_fields["name"].description,
        )
        lo, hi = state.bounds(ParamGroup, "lr_scale")
        seeded(
            b.number_input,
            "lr scale",
            min_value=lo,
            max_value=hi,
            step=0.1,
            format=FLOAT,
            key=state.group_key(i, "lr_scale"),
            help=ParamGroup.model_fields["lr_scale"].description,
        )
        lo, hi = state.bounds(ParamGroup, "width_mult")
        seeded(
            c.number_input,
            "width_mult (muP)",
            min_value=1e-4,
            max_value=hi,
            step=1.0,
            format=FLOAT,
            key=state.group_key(i, "width_mult"),
            placeholder="vector-like",
            help=ParamGroup.model_fields["width_mult"].description
            + " Source: Yang et al. 2021, Tensor Programs V (muTransfer); mup.MuAdam. For SGD, mup.MuSGD "
            "scales differently (vector-like lr x width_mult): this field follows MuAdam.",
        )
