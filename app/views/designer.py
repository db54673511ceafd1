"""Designer: every knob of the config as a widget, the live lr curve, summary, events and exports."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from app import charts, gc_policy, library, state, ui
from schedules.build import decay_kwargs, parse_config_json, supported_optimizers
from schedules.curve import plateau_note
from schedules.design import (
    DECAY_KWARGS,
    MAX_CONFIG_BYTES,
    ConfigError,
    DecayConfig,
    OptimizerConfig,
    ParamGroup,
    PlateauConfig,
    ScheduleConfig,
    StackConfig,
    SyntheticMetric,
    TrainingConfig,
    WarmupConfig,
    WSDConfig,
)
from schedules.design.base import MAX_PARAM_GROUPS
from schedules.design.wsd import SHAPES
from schedules.presets import MODIFIED, PRESETS, apply_preset, name_for
from schedules.snippets import build_scheduler_snippet
from schedules.stacks.options import STACK_NAMES

ss = st.session_state
FLOAT = "%.6g"
#: The config uploader's cap in MB (Streamlit's unit, 2**20 bytes): configs are refused above
#: MAX_CONFIG_BYTES anyway, so the uploader says 1 MB instead of the server's 16 MB log limit.
CONFIG_MB = max(1, math.ceil(MAX_CONFIG_BYTES / 2**20))
PRESET_TITLES = {p.title.lower() for p in PRESETS.values()}
CONFIG_FILES = (
    f"only lr-schedule/v1 JSON configs are imported here (.json files of at most {MAX_CONFIG_BYTES:,} bytes, "
    "such as the ones exported on this page); HF TrainingArguments and DeepSpeed files go to Import / export"
)

STEPPING_RULE = (
    "**Why `scheduler.step()` comes after `optimizer.step()`.** Row *k* of the curve is the lr that "
    "optimizer step *k* uses. Stepping the scheduler first makes every step use the *next* step's lr "
    "(the first lr is never used; torch warns about it), and stepping it per micro-batch runs the whole "
    "schedule `accumulation_steps` times too fast. The snippets below put it in the right place; the "
    "Compare page draws what the mistakes do."
)


# --------------------------------------------------------------------------------------------------
# widget state: rebuild from the design when it changed elsewhere, restore values of hidden widgets


def sync_widgets() -> None:
    """When the design changed elsewhere (preset, upload, link, range test), rebuild the widget values
    from it. Only widgets on the page (their keys are in the session state) are set here; the others
    are restored from the stored values when their section opens (restore_section). Keeping the
    session state to the drawn widgets matters: Streamlit copies the whole state once per number input.
    """
    design = ss[state.DESIGN_JSON]
    values: dict[str, Any] = ss.setdefault(state.WIDGET_VALUES, {})
    if ss.get(state.SYNCED_JSON) != design or not values:
        values = state.config_to_widgets(state.current_config(), previous=values)
        ss[state.WIDGET_VALUES] = values
        present = set(ss)  # one pass: `k in st.session_state` rebuilds the whole state per key
        for k, v in values.items():
            if k in present:
                ss[k] = v
        ss[state.SYNCED_JSON] = ss[state.DESIGN_JSON]
    if ss.get(state.DESIGN_FROM_RANGE_TEST):
        ss[state.DESIGN_FROM_RANGE_TEST] = False
        lr = state.current_config().optimizer.lr
        state.add_notice("info", f"The Live page's range test set the lr to {ui.format_lr(lr)}.")


def current(k: str, default: Any = None) -> Any:
    """A widget's value, whether its section is drawn (session state) or closed (stored value);
    ``default`` when it has neither."""
    return ss.get(k, ss[state.WIDGET_VALUES].get(k, default))


def section_prefixes(name: str) -> tuple[str, ...]:
    """The widget keys section ``name`` draws (as prefixes): only these are put back into the session
    state when it opens, not the arguments of the other decay schedulers or of unused param groups."""
    if name == "optimizer":
        count = int(current(state.key("optimizer.param_groups.count")) or 1)
        fixed = ("name", "optimizer.name", "optimizer.lr", "optimizer.kwargs", "optimizer.param_groups.count")
        return tuple(state.key(f) for f in fixed) + tuple(
            state.key(f"optimizer.param_groups.{i}.") for i in range(count)
        )
    if name == "decay":
        sched = current(state.key("decay.scheduler"))
        fixed = ("decay.scheduler", "decay.interval", "decay.hold")
        return tuple(state.key(f) for f in fixed) + (state.key(f"decay.kwargs.{sched}."),)
    if name in ("data", "warmup", "wsd", "plateau", "stack"):
        path = "training" if name == "data" else name
        return (state.key(f"{path}."),)
    return ()


def restore_section(name: str) -> None:
    """Put the stored values of section ``name``'s widgets back into the session state before they
    are drawn (Streamlit dropped them when the section was closed)."""
    prefixes = section_prefixes(name)
    if not prefixes:
        return
    present = set(ss)
    for k, v in ss[state.WIDGET_VALUES].items():
        if k not in present and k.startswith(prefixes):
            ss[k] = v


def remember() -> None:
    values = ss[state.WIDGET_VALUES]
    present = set(ss)
    for k in list(values):
        if k in present:
            values[k] = ss[k]


def widget_values() -> dict[str, Any]:
    return {k: ss.get(k, v) for k, v in ss[state.WIDGET_VALUES].items()}


# --------------------------------------------------------------------------------------------------
# widget helpers: bounds from the model, help from the model's descriptions


_UNSET = object()


def seeded(widget, *args, key: str, **kw):
    """Draw a design widget (``widget`` is e.g. ``st.number_input`` or ``col.selectbox``) with the
    design's current value as its default, not only in the session state.

    The browser keeps its own copy of each widget's value, and it forgets a widget that a finished
    run did not draw (a section that was closed). A widget drawn again whose value the server already
    holds carries no value to the browser, only the widget's default: without this, the browser showed
    the minimum (``Dataset size`` 1) and sent it back on the next click, so the design silently became
    a 3-step one. With the design's value as the default, a forgetful browser shows the right value.
    A value the widget cannot take (outside its bounds, not among its options) is left out: the
    widget then behaves as before.
    """
    value = current(key, _UNSET)
    if value is _UNSET:
        return widget(*args, key=key, **kw)
    name = getattr(widget, "__name__", "")
    if name in ("selectbox", "radio"):
        options = list(args[1] if len(args) > 1 else kw.get("options", ()))
        if value in options:
            kw["index"] = options.index(value)
    elif name in ("toggle", "checkbox"):
        kw["value"] = bool(value)
    elif name in ("text_input", "text_area"):
        kw["value"] = "" if value is None else str(value)
    elif name == "number_input":
        number = _as_number(value, kw.get("min_value"), kw.get("max_value"), kw.get("step"), kw.get("format"))
        if number is not _UNSET:
            kw["value"] = number
    return widget(*args, key=key, **kw)


def _as_number(value: Any, lo: Any, hi: Any, step: Any, fmt: str | None) -> Any:
    """``value`` as the number type the widget's bounds, step and format use (Streamlit refuses a
    mix), or _UNSET when it does not fit them. None (an empty field) stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _UNSET
    if any(isinstance(x, float) for x in (lo, hi, step)) or (fmt is not None and fmt[-1:] in "eEfFgG"):
        value = float(value)
    elif any(isinstance(x, int) and not isinstance(x, bool) for x in (lo, hi, step)):
        if float(value) != int(value):
            return _UNSET
        value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return _UNSET
    return value


def number(container, path: str, label: str, model, field: str, *, step=None, fmt=None, help_path=None, **kw):
    lo, hi = state.bounds(model, field)
    kind = state.field_kind(model, field)
    is_int = kind.startswith("int")
    return seeded(
        container.number_input,
        label,
        min_value=lo,
        max_value=hi,
        step=step if step is not None else (1 if is_int else None),
        format=fmt if fmt is not None else (None if is_int else FLOAT),
        key=state.key(path),
        help=state.help_text(help_path or path),
        **kw,
    )


def decay_kwarg(container, sched: str, field: str) -> None:
    model = DECAY_KWARGS[sched]
    kind = state.field_kind(model, field)
    k = state.decay_key(sched, field)
    desc = state.help_text(f"decay.kwargs.{sched}.{field}")
    if kind in ("int?", "float?"):
        lo, hi = state.bounds(model, field)
        seeded(
            container.number_input,
            field,
            min_value=lo,
            max_value=hi,
            step=1 if kind == "int?" else None,
            format=None if kind == "int?" else FLOAT,
            key=k,
            help=desc + " Leave empty for the default.",
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
            + " Leave empty for the default.",
        )
    else:
        seeded(container.text_input, field, key=k, help=desc)


# --------------------------------------------------------------------------------------------------
# callbacks (run before the script, so they may change any widget's state)


def on_preset() -> None:
    name = ss.get(state.PRESET_KEY)
    if not name:
        return
    try:
        state.set_design(apply_preset(name, state.current_config()))
    except ConfigError as exc:
        state.add_notice("error", f"Preset {name!r} does not fit this design.", exc.lines())
        return
    state.add_notice("success", f"Applied preset: {PRESETS[name].title}.", [PRESETS[name].note])


def on_upload() -> None:
    upload = ss.get(state.UPLOAD_KEY)
    if upload is None:
        return
    if not upload.name.lower().endswith(".json"):
        state.add_notice(
            "error",
            f"{upload.name} was not loaded; the current design is unchanged.",
            [f"{upload.name}: {CONFIG_FILES}"],
        )
        return
    data = upload.getvalue()
    try:
        cfg = parse_config_json(data)
    except ConfigError as exc:
        state.add_notice(
            "error", f"{upload.name} was not loaded; the current design is unchanged.", exc.lines()
        )
        return
    state.set_design(cfg)
    state.add_notice("success", f"Loaded {upload.name}: {cfg.name!r}.")


def on_save() -> None:
    name = (ss.get(state.SAVE_NAME_KEY) or "").strip() or state.current_config().name
    ss.setdefault(state.SAVED_DESIGNS, {})[name] = ss[state.DESIGN_JSON]
    problem = library.save_design(name, ss[state.DESIGN_JSON])
    if problem is None:
        state.add_notice("success", f"Saved {name!r} to the Library (and for the Compare page).")
    else:
        state.add_notice(
            "warning", f"Saved {name!r} for this session only: the workspace could not be written.", [problem]
        )


# --------------------------------------------------------------------------------------------------
# the input column


def section(col, name: str, body, *args, default: bool | None = None):
    """Draw section ``name`` in ``col``; if it is open, draw ``body(*args)`` in it and return its result."""
    title, icon, first = state.DESIGNER_SECTIONS[name]
    k = state.section_key(name)
    remembered = ss.setdefault(state.OPEN_SECTIONS, {})
    if ss.get(k) is None:  # not `k in ss`: that copies the whole session state
        ss[k] = remembered.get(name, first if default is None else default)
    box = col.expander(title, key=k, on_change="rerun", icon=icon)
    remembered[name] = is_open = bool(ss.get(k))
    if not is_open:
        return None
    restore_section(name)
    with box:
        return body(*args)


def inputs(col):
    """Draw the open sections' inputs; returns the slots filled once the curve is computed: under the
    decay arguments (their resolved values), for Import / share, and under the plateau inputs."""
    section(col, "preset", preset_section)
    io_slot = col.container()
    section(col, "optimizer", optimizer_section)
    section(col, "data", data_section)
    section(col, "warmup", warmup_section)
    section(col, "wsd", wsd_section)
    resolved_slot = section(col, "decay", decay_section)
    plateau_slot = section(col, "plateau", plateau_section)
    return resolved_slot, io_slot, plateau_slot


def preset_section():
    names = list(PRESETS)
    st.selectbox(
        "Preset",
        names,
        index=None,
        format_func=lambda n: PRESETS[n].title,
        key=state.PRESET_KEY,
        placeholder="Choose a preset…",
        help="Keeps your optimizer and training sections; replaces warmup, decay and plateau "
        "(some recipes also set the optimizer or epochs they were published with).",
    )
    chosen = ss.get(state.PRESET_KEY)
    if chosen:
        p = PRESETS[chosen]
        st.caption(f"**Source:** {p.source}  \n{p.note}")
    st.button("Apply preset", on_click=on_preset, disabled=not chosen, icon=":material/check:")


def optimizer_section():
    seeded(
        st.text_input,
        "Design name",
        key=state.key("name"),
        max_chars=200,
        help="Shown in exports and on the Compare page.",
    )
    a, b = st.columns(2)
    seeded(
        a.selectbox,
        "Optimizer",
        list(supported_optimizers()),
        key=state.key("optimizer.name"),
        help=state.help_text("optimizer.name"),
    )
    number(b, "optimizer.lr", "Learning rate", OptimizerConfig, "lr", step=1e-5, fmt="%.3e")
    seeded(
        st.text_input,
        "Optimizer kwargs (JSON)",
        key=state.key("optimizer.kwargs"),
        placeholder='{"weight_decay": 0.01}',
        help=state.help_text("optimizer.kwargs"),
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
    seeded(
        b.toggle, "drop_last", key=state.key("training.drop_last"), help=state.help_text("training.drop_last")
    )


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
        mode = seeded(
            st.radio,
            "Length given as",
            ["steps", "ratio"],
            horizontal=True,
            key=state.key("warmup.mode"),
            help="A number of optimizer steps, or a fraction of all steps.",
        )
        a, b = st.columns(2)
        if mode == "steps":
            number(a, "warmup.steps", "Warmup steps", WarmupConfig, "steps", step=10)
        else:
            number(a, "warmup.ratio", "Warmup ratio", WarmupConfig, "ratio", step=0.01)
        number(b, "warmup.start_factor", "start_factor", WarmupConfig, "start_factor", step=0.05)


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
        mode = seeded(
            a.radio, "Warmup length as", ["steps", "ratio"], horizontal=True, key=state.key("wsd.warmup_mode")
        )
        if mode == "steps":
            number(b, "wsd.warmup_steps", "Warmup steps", WSDConfig, "warmup_steps", step=10)
        else:
            number(b, "wsd.warmup_ratio", "Warmup ratio", WSDConfig, "warmup_ratio", step=0.01)
        a, b = st.columns(2)
        seeded(
            a.selectbox,
            "Warmup shape",
            list(SHAPES),
            key=state.key("wsd.warmup_type"),
            help=state.help_text("wsd.warmup_type"),
        )
        start_set = seeded(
            b.toggle,
            "Own warmup start",
            key=state.key("wsd.warmup_start_set"),
            help="Off: the warmup starts at min_lr_ratio, as transformers does.",
        )
        if start_set:
            number(st, "wsd.warmup_start", "Warmup start factor", WSDConfig, "warmup_start", step=0.05)
        a, b = st.columns(2)
        mode = seeded(
            a.radio, "Decay length as", ["steps", "ratio"], horizontal=True, key=state.key("wsd.decay_mode")
        )
        if mode == "steps":
            number(b, "wsd.decay_steps", "Decay steps", WSDConfig, "decay_steps", step=10)
        else:
            number(b, "wsd.decay_ratio", "Decay ratio", WSDConfig, "decay_ratio", step=0.05)
        a, b = st.columns(2)
        seeded(
            a.selectbox,
            "Decay shape",
            list(SHAPES),
            key=state.key("wsd.decay_type"),
            help=state.help_text("wsd.decay_type"),
        )
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


def decay_section():
    """The decay scheduler and its arguments; returns the slot for their resolved values (or None)."""
    resolved_slot = None
    if current(state.key("wsd.on")):
        st.caption("Not used: the WSD section above has its own warmup and decay.")
    sched = seeded(
        st.selectbox,
        "Scheduler",
        [state.DECAY_NONE, *DECAY_KWARGS],
        key=state.key("decay.scheduler"),
        help=state.help_text("decay.scheduler"),
    )
    if sched != state.DECAY_NONE:
        interval = seeded(
            st.radio,
            "Interval",
            ["step", "epoch"],
            horizontal=True,
            key=state.key("decay.interval"),
            help=state.help_text("decay.interval"),
        )
        if interval == "step":
            hold = seeded(
                st.radio,
                "Hold at peak after warmup",
                ["none", "steps", "ratio"],
                horizontal=True,
                key=state.key("decay.hold"),
                help=state.help_text("decay.hold_steps"),
            )
            if hold == "steps":
                number(st, "decay.hold_steps", "Hold steps", DecayConfig, "hold_steps", step=10)
            elif hold == "ratio":
                number(st, "decay.hold_ratio", "Hold ratio", DecayConfig, "hold_ratio", step=0.05)
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
        seeded(
            a.selectbox,
            "mode",
            ["min", "max"],
            key=state.key("plateau.mode"),
            help=state.help_text("plateau.mode"),
        )
        number(b, "plateau.factor", "factor", PlateauConfig, "factor", step=0.05)
        a, b = st.columns(2)
        number(a, "plateau.patience", "patience", PlateauConfig, "patience")
        number(b, "plateau.cooldown", "cooldown", PlateauConfig, "cooldown")
        a, b = st.columns(2)
        number(a, "plateau.threshold", "threshold", PlateauConfig, "threshold", step=1e-4)
        seeded(
            b.selectbox,
            "threshold_mode",
            ["rel", "abs"],
            key=state.key("plateau.threshold_mode"),
            help=state.help_text("plateau.threshold_mode"),
        )
        a, b = st.columns(2)
        seeded(
            a.text_input, "min_lr", key=state.key("plateau.min_lr"), help=state.help_text("plateau.min_lr")
        )
        number(b, "plateau.eps", "eps", PlateauConfig, "eps", step=1e-8, fmt="%.1e")
        a, b = st.columns(2)
        ev = seeded(
            a.radio,
            "Evaluate",
            ["epoch", "steps"],
            horizontal=True,
            key=state.key("plateau.eval"),
            help=state.help_text("plateau.eval_every"),
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
        src = seeded(
            st.radio,
            "Metric source",
            ["synthetic", "values"],
            horizontal=True,
            key=state.key("plateau.metric"),
            format_func=lambda s: {"synthetic": "synthetic loss", "values": "paste values"}[s],
            help=state.help_text("plateau.metric"),
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


STACK_LABELS = {
    "plain": "plain loop",
    "hf": "HF Trainer",
    "accelerate": "accelerate",
    "lightning": "Lightning",
    "deepspeed": "DeepSpeed",
}
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
    seeded(
        st.selectbox,
        "Stack",
        list(STACK_NAMES),
        key=state.key("stack.name"),
        format_func=lambda n: STACK_LABELS[n],
        help=state.help_text("stack.name"),
    )
    name = ss.get(state.key("stack.name"))
    a, b = st.columns(2)
    number(a, "stack.num_processes", "processes", StackConfig, "num_processes", placeholder="world_size")
    number(b, "stack.scheduler_scale", "scheduler built for steps x", StackConfig, "scheduler_scale")
    if name == "accelerate":
        seeded(
            st.checkbox,
            "split_batches",
            key=state.key("stack.split_batches"),
            help=state.help_text("stack.split_batches"),
        )
        seeded(
            st.checkbox,
            "step_scheduler_with_optimizer",
            key=state.key("stack.step_scheduler_with_optimizer"),
            help=state.help_text("stack.step_scheduler_with_optimizer"),
        )
    if name == "lightning":
        a, b = st.columns(2)
        seeded(
            a.selectbox,
            "interval",
            ["epoch", "step"],
            key=state.key("stack.lightning_interval"),
            help=state.help_text("stack.lightning_interval"),
        )
        number(b, "stack.lightning_frequency", "frequency", StackConfig, "lightning_frequency")
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
        f"at every one of the {len(run.design):,} optimizer steps.",
        icon=":material/build:",
    )
    b.button("Apply fix", key=FIX_BUTTON, on_click=apply_stack_fix, args=(run.fix.settings,), width="stretch")


# --------------------------------------------------------------------------------------------------
# page


def summary_figures(curve, s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The summary card's figures, (label, value, explanation), from the curve and its ``summary()``."""
    # With several param groups, report the group with the largest base lr (the one the lr knob is).
    g = max(range(len(curve.group_names)), key=lambda i: curve.config.optimizer.base_lrs()[i])
    lr = curve.lrs[:, g]
    which = f" ({curve.group_names[g]})" if len(curve.group_names) > 1 else ""
    return [
        ("Total steps", f"{s['total_steps']:,}", "Optimizer steps in the run."),
        ("Warmup steps", f"{s['warmup_steps']:,}", "Optimizer steps of linear warmup."),
        (
            "Steps / epoch",
            f"{s['steps_per_epoch']:,}",
            f"ceil(micro-batches per epoch {s['micro_batches_per_epoch']:,} / accumulation steps).",
        ),
        (
            "Effective batch",
            f"{s['effective_batch']:,}",
            "micro_batch_size x accumulation_steps x world_size.",
        ),
        ("Peak lr" + which, ui.format_lr(float(lr.max())), f"First reached at step {int(lr.argmax()):,}."),
        ("Final lr" + which, ui.format_lr(float(lr[-1])), "The lr of the last optimizer step."),
    ]


def summary_card(curve) -> None:
    """The run's figures in one card: one st.html element (six st.metric in columns were 15 elements for
    the browser to re-render on every rerun)."""
    s = curve.summary()
    extra = [f"{s['epochs']} epoch(s)", f"{s['samples']:,} samples"]
    if s["hold_steps"]:
        extra.append(f"hold {s['hold_steps']:,} steps")
    if s["restarts"]:
        extra.append(f"{s['restarts']} restart(s)")
    if curve.config.plateau is not None:
        extra.append(
            f"{s['plateau_reductions']} plateau reduction(s) in {len(curve.evaluations)} evaluations"
        )
    st.html(ui.figure_card(summary_figures(curve, s), " · ".join(extra)))


@st.fragment
def chart(curve, run=None) -> None:
    """The chart and its view controls: a view toggle reruns only this fragment, not the page."""
    # One horizontal container, not four columns: fewer elements for the browser to redraw per rerun.
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    x_axis = row.segmented_control(
        "x axis",
        ["step", "epoch", "samples"],
        label_visibility="collapsed",
        default="step",
        required=True,
        key="designer_x_axis",
        format_func=lambda x: {"step": "optimizer steps", "epoch": "epochs", "samples": "samples"}[x],
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


def tables(curve) -> None:
    section(st, "export", export_section, curve)


def export_section(curve) -> None:
    cfg = curve.config
    names = ["Download", "Events"]
    if cfg.plateau is not None:
        names.append("Evaluations")
    names += ["Snippet: build_scheduler", "Snippet: plain torch", "Config JSON"]
    # Lazy tabs: only the open tab's content is computed and sent on a rerun.
    tabs = dict(
        zip(names, st.tabs(names, key="designer_tabs", on_change="rerun", default="Download"), strict=True)
    )
    if tabs["Download"].open:
        with tabs["Download"]:
            downloads(cfg, curve)
    if tabs["Events"].open:
        with tabs["Events"]:
            events_tab(curve)
    if "Evaluations" in tabs and tabs["Evaluations"].open:
        with tabs["Evaluations"]:
            st.caption(
                "Each evaluation's metric goes to ReduceLROnPlateau.step(metric) right after the optimizer step "
                "that ends its period; a reduction shows from the next step on."
            )
            st.dataframe(
                curve.evaluations_frame(MAX_TABLE_ROWS), hide_index=True, width="stretch", height=300
            )
            if len(curve.evaluations) > MAX_TABLE_ROWS:
                st.caption(f"The first {MAX_TABLE_ROWS:,} of {len(curve.evaluations):,} evaluations.")
    if tabs["Snippet: build_scheduler"].open:
        with tabs["Snippet: build_scheduler"]:
            st.caption(STEPPING_RULE)
            st.caption(
                "Loads the exported JSON with the `schedules` package: the schedulers are built by the same "
                "`build_scheduler` that draws this chart. Save the config as `lr-schedule.json` next to it."
            )
            st.code(ui.cached_snippet(cfg.cache_key(), "build_scheduler"), language="python")
    if tabs["Snippet: plain torch"].open:
        with tabs["Snippet: plain torch"]:
            st.caption(STEPPING_RULE)
            st.caption(
                "No dependency on this package: the same torch schedulers with every default resolved to a "
                "number for this design (regenerate it after changing the design)."
            )
            st.code(ui.cached_snippet(cfg.cache_key(), "plain_torch"), language="python")
    if tabs["Config JSON"].open:
        with tabs["Config JSON"]:
            st.code(cfg.to_json(), language="json")


#: Rows of the events and evaluations tables (a design can have an event at every step).
MAX_TABLE_ROWS = 1000


#: Up to this many events are drawn as a static table, more as the interactive (scrolling) grid.
STATIC_TABLE_ROWS = 30


def events_tab(curve) -> None:
    show_epochs = st.toggle("include epoch boundaries", key="designer_event_epochs")
    exclude = () if show_epochs else ("epoch",)
    events = curve.events_frame(exclude, limit=MAX_TABLE_ROWS)
    if len(events) > STATIC_TABLE_ROWS:
        st.dataframe(events, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(events)))
    elif len(events):
        # A few rows: a static table. The interactive grid costs the browser far more on every rerun
        # (this tab is open by default, so every widget change redrew it).
        st.table(events, hide_index=True, border="horizontal")
    if len(events):
        shown_all = sum(1 for e in curve.events if e.kind not in exclude)
        if shown_all > len(events):
            st.caption(
                f"The first {len(events):,} of {shown_all:,} events; the chart marks them all (thinned)."
            )
    else:
        st.caption("No events: no warmup end, restart or plateau reduction in this design.")


def _slug(cfg: ScheduleConfig) -> str:
    return (
        "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in cfg.name.lower()).strip("-") or "design"
    )


def downloads(cfg: ScheduleConfig, curve) -> None:
    slug = _slug(cfg)
    row = st.container(horizontal=True)
    row.download_button(
        "Config JSON",
        data=lambda: cfg.to_json() + "\n",
        file_name=f"{slug}.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
        key="designer_download_json",
        width="stretch",
        help="The lr-schedule/v1 config: import it here again, or load it in your training script.",
    )
    row.download_button(
        "Curve CSV",
        data=lambda: curve.frame.to_csv(index=False, lineterminator="\n"),
        file_name=f"{slug}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="designer_download_csv",
        width="stretch",
        help="One row per optimizer step: step, epoch, samples, lr (and lr/<group> per group).",
    )
    row.download_button(
        "Loop: build_scheduler",
        data=lambda: build_scheduler_snippet(cfg, f"{slug}.json"),
        file_name="train_with_schedules.py",
        mime="text/x-python",
        on_click="ignore",
        icon=":material/code:",
        key="designer_download_snippet",
        width="stretch",
        help="A training loop that loads the config JSON with schedules.build_scheduler.",
    )
    row.download_button(
        "Loop: plain torch",
        data=lambda: ui.cached_snippet(cfg.cache_key(), "plain_torch"),
        file_name="train_plain_torch.py",
        mime="text/x-python",
        on_click="ignore",
        icon=":material/code:",
        key="designer_download_plain",
        width="stretch",
        help="A training loop with the torch schedulers spelled out (no dependency on this package).",
    )


def import_share(slot, cfg: ScheduleConfig) -> None:
    section(slot, "share", share_section, cfg)


def share_section(cfg: ScheduleConfig) -> None:
    st.file_uploader(
        f"Import a config (JSON, up to {CONFIG_MB} MB)",
        key=state.UPLOAD_KEY,
        on_change=on_upload,
        max_upload_size=CONFIG_MB,
        help=f"{CONFIG_FILES[0].upper()}{CONFIG_FILES[1:]}. A bad file shows what is wrong and leaves the "
        "current design as it is.",
    )
    token = state.design_token(cfg)
    if state.fits_in_link(token):
        st.caption(
            "**Share:** the page address holds this design (`?design=…`): copy it from the address bar; it "
            "opens the same design, also after a reload."
        )
    else:
        st.caption("This design is too large for a link: share the JSON file instead.")
    a, b = st.columns([3, 2], vertical_alignment="bottom")
    a.text_input(
        "Save as",
        key=state.SAVE_NAME_KEY,
        placeholder=cfg.name,
        help="Name under which Compare lists it.",
    )
    b.button(
        "Save",
        on_click=on_save,
        icon=":material/bookmark_add:",
        width="stretch",
        help="Save to the Library (the workspace: kept across reloads and restarts) and for the Compare page. "
        "Saving under an existing name updates that design.",
    )
    saved = ss.get(state.SAVED_DESIGNS) or {}
    if saved:
        st.caption("Saved for Compare: " + ", ".join(f"`{n}`" for n in saved))


def mark_modified_preset() -> None:
    """Before the widgets are drawn: a preset-named design whose schedule was changed is renamed
    "<preset> (modified)" (and back when it is the preset again), so exports are not misnamed."""
    name = str(current(state.key("name")) or "").removesuffix(MODIFIED).lower()
    if name not in PRESET_TITLES:  # the common case costs one lookup
        return
    try:
        cfg = state.widgets_to_config(widget_values())
    except ConfigError:
        return
    name = name_for(cfg)
    if name != cfg.name:
        ss[state.key("name")] = ss[state.WIDGET_VALUES][state.key("name")] = name


def main() -> None:
    sync_widgets()
    mark_modified_preset()
    left, right = st.columns([1, 2.3], gap="large")
    remember()
    problems: ConfigError | None = None
    try:
        cfg = state.widgets_to_config(widget_values())
    except ConfigError as exc:
        problems = exc
        cfg = state.current_config()
    else:
        if state.set_design(cfg):
            ss[state.SYNCED_JSON] = ss[state.DESIGN_JSON]
        cfg = state.current_config()
    state.publish_design()  # also after a preset or an upload (callbacks) changed the design
    # The inputs before the chart: the browser renders them while the curve is computed (tens of ms of
    # torch stepping), and then has only the chart and the figures left to draw.  Drawn first, they are
    # also there whatever the right column does: an upload is the way out of a bad design.
    resolved_slot, io_slot, plateau_slot = inputs(left)
    stack_inputs(left)
    remember()
    import_share(io_slot, cfg)
    curve_or_none = right_column(right, cfg, problems)
    if curve_or_none is None:
        return
    curve = curve_or_none
    note = plateau_note(curve) if problems is None else None
    if plateau_slot is not None and note is not None:
        plateau_slot.caption(note)
    slot = resolved_slot
    if slot is not None and cfg.decay is not None and problems is None:
        resolved = decay_kwargs(cfg)
        slot.caption("Resolved: " + ", ".join(f"`{k}={_short(v)}`" for k, v in resolved.items()))


def right_column(right, cfg: ScheduleConfig, problems: ConfigError | None):
    """Title, notices, the chart and what follows it; returns the curve (None if it cannot be drawn)."""
    with right:
        st.title(cfg.name or "untitled", anchor=False)
        ui.show_notices()
        if problems is not None:
            ui.show_problems("The design has problems; the chart shows the last valid design.", problems)
        try:
            curve = ui.curve_of(cfg)
        except ConfigError as exc:
            ui.show_problems("This design cannot be drawn.", exc)
            return None
        for line in curve.warnings:
            st.warning(line, icon=":material/warning:")
        summary_card(curve)
        run = stack_run(cfg)
        chart(curve, run)
        if run is not None:
            your_stack(run)
        tables(curve)
        schedule_free_panel(curve)
    return curve


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
    fig = go.Figure()
    fig.add_scatter(x=frame["step"], y=frame["lr"], mode="lines", name="step size (lr x warmup)")
    fig.add_scatter(
        x=frame["step"], y=frame["averaging"], mode="lines", name="averaging weight c_k", yaxis="y2"
    )
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={
            "text": f"schedulefree.{schedule_free.KINDS[kind]}: {p.total_steps:,} steps",
            "font": {"size": 14},
        },
        xaxis={"title": "optimizer step"},
        yaxis={"title": "step size"},
        yaxis2={"title": "c_k", "overlaying": "y", "side": "right", "type": "log"},
        legend={"orientation": "h", "y": -0.25},
    )
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


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(_short(v) for v in value[:6])}, …]"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def page() -> None:
    try:
        main()
    finally:
        gc_policy.freeze_long_lived()  # as the router does after a full run (a section's lazy imports)


# The page is one fragment: a widget change on it reruns this page only, not the router around it
# (app/main.py: page config, session setup, navigation), so the server sends and the browser redraws
# the page's own elements and nothing else.  Leaving the page (the navigation) is a full rerun.
st.fragment(page)()
