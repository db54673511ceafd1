"""Session state: the key names, the current design, and the config <-> widget mapping.

The current design is ``st.session_state[DESIGN_JSON]``: a valid config as JSON text.  Every page
reads it; the designer writes it whenever its widgets make a new valid config; the Live page's range
test may write a new one (and set ``DESIGN_FROM_RANGE_TEST``).  The designer notices a design that
changed under it (``DESIGN_JSON != SYNCED_JSON``) and rebuilds its widgets from it.

The mapping functions (:func:`config_to_widgets`, :func:`widgets_to_config`) are pure: they take and
return plain dicts keyed by widget key, so they are tested without a running app.  Widget bounds and
help texts come from the pydantic model (:func:`bounds`, :func:`help_text`).
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from app.configs import config_of, remember_config
from schedules.build import load_config
from schedules.design import (
    DECAY_KWARGS,
    ConfigError,
    DecayConfig,
    OptimizerConfig,
    ParamGroup,
    PlateauConfig,
    Problem,
    ScheduleConfig,
    StackConfig,
    SyntheticMetric,
    TrainingConfig,
    WarmupConfig,
    WSDConfig,
)
from schedules.design.base import MAX_PARAM_GROUPS
from schedules.design.plan import accounting
from schedules.share import decode_design, encode_design, fits_in_link

from .ramp_text import ramp_to_text, text_to_ramp

# --------------------------------------------------------------------------------------------------
# session-state keys

#: The current design: valid config JSON text (shared with the Live page).
DESIGN_JSON = "design_json"
#: Set True by the Live page's range test when it writes a new lr into DESIGN_JSON.
DESIGN_FROM_RANGE_TEST = "design_from_range_test"
#: Saved designs for the Compare page: {name: config JSON}.
SAVED_DESIGNS = "saved_designs"
#: The design the designer's widgets were last built from or produced.
SYNCED_JSON = "designer_synced_json"
#: (design JSON, ?design= token or None) last put into the URL: publish_design's shortcut.
PUBLISHED = "published_design"
#: Last value of every designer widget (widgets that are not drawn lose their own state).
WIDGET_VALUES = "designer_widget_values"
#: Messages waiting to be shown on the designer: list of (kind, title, lines).
NOTICES = "designer_notices"
#: file_id of the last upload that was processed (an upload is applied once).
UPLOAD_DONE = "designer_upload_done"
#: True once the session has been initialised (from the link or the default design).
INITIALISED = "studio_initialised"

QUERY_PARAM = "design"
DEFAULT_PRESET = "cosine"

W = "w."  # prefix of every designer widget key
UPLOAD_KEY = "designer_upload"
PRESET_KEY = "designer_preset"
SAVE_NAME_KEY = "designer_save_name"


#: The collapsible sections: name -> (title, icon, open on a first visit). Only an open section's
#: widgets are drawn (a lazy expander: keyed, rerun on open/close); a closed one sends nothing. The
#: browser re-renders every element on the page on each rerun, so drawing one section of inputs
#: instead of four is what brings a redraw near a bare page's (bench/ui_latency.py;
#: docs/performance.md). A closed section's values live on in the design (app/views/designer/widgets.py restores them when it opens).
DESIGNER_SECTIONS = {
    "preset": ("Start from a preset", ":material/auto_awesome:", False),
    "share": ("Import, share & save", ":material/swap_vert:", False),
    "optimizer": ("Optimizer & param groups", ":material/tune:", False),
    "data": ("Data & batching", ":material/dataset:", True),
    "warmup": ("Warmup", ":material/trending_up:", False),
    "wsd": ("Warmup-stable-decay (WSD)", ":material/stairs_2:", False),
    "decay": ("Decay", ":material/trending_down:", False),
    "plateau": ("Plateau (ReduceLROnPlateau)", ":material/horizontal_rule:", False),
    "stack": ("Your stack", ":material/layers:", False),
    "export": ("Export: downloads, snippets, events, JSON", ":material/download:", False),
    "schedule_free": ("Schedule-free AdamW / SGD: no decay to design", ":material/all_inclusive:", False),
}
#: Which sections the user left open, kept across pages (a widget's own state is dropped by Streamlit
#: on a page that does not draw it).
OPEN_SECTIONS = "designer_open_sections"


def section_key(name: str) -> str:
    """The session-state key of a section's open state (True: open)."""
    return f"designer_section_{name}"


def key(path: str) -> str:
    """Widget key of a config path, e.g. ``key("training.epochs") == "w.training.epochs"``."""
    return W + path


def decay_key(scheduler: str, field: str) -> str:
    return key(f"decay.kwargs.{scheduler}.{field}")


def group_key(i: int, field: str) -> str:
    return key(f"optimizer.param_groups.{i}.{field}")


# --------------------------------------------------------------------------------------------------
# defaults


def default_config() -> ScheduleConfig:
    from schedules.presets import apply_preset

    cfg = apply_preset(DEFAULT_PRESET)
    return load_config({**cfg.to_dict(), "name": "cosine with warmup"})


def default_design_json() -> str:
    return default_config().to_json()


# --------------------------------------------------------------------------------------------------
# field metadata: bounds and help


def model_field(model: type[BaseModel], name: str):
    return model.model_fields[name]


def bounds(model: type[BaseModel], name: str) -> tuple[float | int | None, float | int | None]:
    """``(min_value, max_value)`` for a number widget from the field's ``ge/gt/le/lt``.

    Exclusive bounds become the nearest allowed value (``gt=0`` on a float: the smallest positive
    float a widget can usefully hold, 1e-12; on an int: 1).
    """
    field = model_field(model, name)
    is_int = field_kind(model, name) in ("int", "int?")
    lo = hi = None
    for meta in field.metadata:
        if getattr(meta, "ge", None) is not None:
            lo = meta.ge
        if getattr(meta, "gt", None) is not None:
            lo = (
                meta.gt + 1
                if is_int
                else (meta.gt + 1e-12 if meta.gt == 0 else math.nextafter(meta.gt, math.inf))
            )
        if getattr(meta, "le", None) is not None:
            hi = meta.le
        if getattr(meta, "lt", None) is not None:
            hi = meta.lt - 1 if is_int else math.nextafter(meta.lt, -math.inf)
    if is_int:
        lo = int(lo) if lo is not None else None
        hi = int(hi) if hi is not None else None
    else:
        lo = float(lo) if lo is not None else None
        hi = float(hi) if hi is not None else None
    return lo, hi


FieldKind = Literal["int", "int?", "float", "float?", "floats?", "ints?", "choice?", "bool?", "str", "bool"]


def field_kind(model: type[BaseModel], name: str) -> str:
    """How a field is edited: ``int``/``float`` (``?``: may be left empty = default), ``floats?`` (a
    number or one per group), ``ints?`` (a list), ``choice?`` (a Literal), ``bool?``, ``str``."""
    ann = model_field(model, name).annotation
    args = [a for a in typing.get_args(ann)] or [ann]
    optional = type(None) in args
    args = [a for a in args if a is not type(None)]
    flat: list[Any] = []
    for a in args:
        flat.extend(typing.get_args(a) if typing.get_origin(a) is typing.Union else [a])
    s = "?" if optional else ""
    if any(typing.get_origin(a) is Literal for a in flat):
        return "choice" + s
    if flat == [bool]:
        return "bool" + s
    if flat == [int]:
        return "int" + s
    if flat == [float]:
        return "float" + s
    if flat == [str]:
        return "str"
    if any(typing.get_origin(a) is list for a in flat):
        inner = [typing.get_args(a)[0] for a in flat if typing.get_origin(a) is list][0]
        if float in flat or inner is float:
            return "floats" + s
        return "ints" + s
    return "float" + s


def choices(model: type[BaseModel], name: str) -> list[Any]:
    ann = model_field(model, name).annotation
    for a in typing.get_args(ann) or [ann]:
        if typing.get_origin(a) is Literal:
            return list(typing.get_args(a))
    return []


#: Plain-words explanations, added after the model's description.
PLAIN: dict[str, str] = {
    "optimizer.lr": "Every param group's lr is this times its lr scale. Warmup and decay are factors on it: "
    "the curve's peak is this value (unless a scheduler sets its own max_lr).",
    "optimizer.kwargs": 'Other optimizer arguments as JSON, e.g. {"weight_decay": 0.01, "betas": [0.9, 0.95]}. '
    "They do not change the lr curve, except that CyclicLR/OneCycleLR cycle the momentum or beta1 they find.",
    "training.accumulation_steps": "Gradients of this many micro-batches are summed before one optimizer step. "
    "The schedule counts optimizer steps, so more accumulation means fewer, larger steps.",
    "training.world_size": "Number of GPUs/processes in data parallel: each takes its own micro-batch, so one "
    "optimizer step sees micro_batch_size x accumulation_steps x world_size samples.",
    "training.drop_last": "With drop_last the short last micro-batch of each epoch is skipped "
    "(DataLoader(drop_last=True)).",
    "training.batch_ramp": "Stages batch:until_samples, e.g. 256:1000000, 512:3000000: 256 samples per optimizer "
    "step until 1,000,000 samples are consumed, then 512 until 3,000,000, then the full batch. Each stage "
    "batch is a multiple of micro-batch x world size (the accumulation changes).",
    "warmup.steps": "The lr rises linearly over this many optimizer steps (not micro-batches). Step k of the "
    "warmup uses start_factor + (1 - start_factor) * k / steps of the lr.",
    "warmup.ratio": "Warmup as a fraction of all optimizer steps, rounded up (as Hugging Face's warmup_ratio).",
    "warmup.start_factor": "Where warmup starts, as a fraction of the lr: 0 starts from zero (Hugging Face's "
    "warmup), 0.1 starts at a tenth. The lr then climbs in a straight line and reaches the full lr when "
    "warmup ends.",
    "decay.scheduler": "The torch.optim.lr_scheduler class that runs after warmup (and the hold, if any). "
    "None keeps the lr constant after warmup.",
    "decay.interval": "step: the decay advances after every optimizer step. epoch: only after the last optimizer "
    "step of each epoch (Lightning's interval='epoch'); its lengths then count epochs.",
    "decay.hold_steps": "Keep the peak lr this many optimizer steps after warmup before decaying "
    "(warmup-stable-decay).",
    "plateau.mode": "min: lower is better (a loss). max: higher is better (an accuracy).",
    "plateau.factor": "Each cut multiplies the lr by this: 0.1 makes it ten times smaller, 0.5 halves it.",
    "plateau.patience": "How many evaluations in a row may fail to improve before the lr is cut. With patience 2 "
    "the third bad evaluation in a row cuts the lr.",
    "plateau.threshold": "How much better the metric must get to count as an improvement, so noise does not "
    "reset the patience. In rel mode with 1e-4, a loss must drop below best x (1 - 0.0001).",
    "plateau.threshold_mode": "rel: the threshold is a fraction of the best value. abs: an absolute amount.",
    "plateau.cooldown": "After a cut, this many evaluations are ignored before bad evaluations are counted "
    "again: time for the model to react to the new lr.",
    "plateau.min_lr": "The lr is never cut below this. One number, or one per param group separated by commas.",
    "plateau.eps": "A cut that would change the lr by less than eps is skipped, so tiny lrs are not cut "
    "forever.",
    "plateau.eval_every": "When the metric is measured and passed to ReduceLROnPlateau.step(metric): after the last "
    "optimizer step of each epoch, or every N optimizer steps.",
    "plateau.metric": "Where the metric comes from in this design: a synthetic validation loss (seeded, stalls "
    "where you say) or values you paste, one per evaluation.",
}

_MODELS: dict[str, type[BaseModel]] = {
    "optimizer": OptimizerConfig,
    "training": TrainingConfig,
    "warmup": WarmupConfig,
    "decay": DecayConfig,
    "plateau": PlateauConfig,
    "plateau.metric.synthetic": SyntheticMetric,
    "optimizer.param_groups": ParamGroup,
    "stack": StackConfig,
    "wsd": WSDConfig,
}


def help_text(path: str) -> str:
    """The model's description of ``path`` plus its plain-words explanation."""
    section, _, name = path.rpartition(".")
    desc = ""
    if section.startswith("decay.kwargs."):
        sched = section.split(".")[2]
        model = DECAY_KWARGS.get(sched)
        if model is not None and name in model.model_fields:
            desc = model.model_fields[name].description or ""
    elif section in _MODELS and name in _MODELS[section].model_fields:
        desc = _MODELS[section].model_fields[name].description or ""
    extra = PLAIN.get(path, "")
    return " ".join(x for x in (desc, extra) if x) or path


# --------------------------------------------------------------------------------------------------
# config -> widgets

DECAY_NONE = "None (constant)"
DEFAULT_EXPRESSIONS = {"LambdaLR": "0.5 * (1 + cos(pi * step / n))", "MultiplicativeLR": "0.999"}


def _numbers_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(repr(float(v)) if isinstance(v, float) else str(v) for v in value)
    return repr(float(value)) if isinstance(value, float) else str(value)


def _decay_widget_value(kind: str, value: Any) -> Any:
    if kind in ("floats?", "ints?"):
        return _numbers_text(value)
    if kind == "float?" and value is not None:
        return float(value)
    return value


def _decay_default(scheduler: str, kind: str, name: str) -> Any:
    if kind in ("floats?", "ints?"):
        return ""
    if kind == "str":
        return DEFAULT_EXPRESSIONS.get(scheduler, "1.0")
    return None


#: The synthetic validation loss a newly switched-on plateau starts from: it stops improving at the
#: 4th evaluation (``plateau_from=3``; the model's own default, 6, is kept for config files), so with
#: a patience of 3 and one evaluation per epoch the lr is cut within a 10-epoch run.
DEFAULT_SYNTHETIC = SyntheticMetric(plateau_from=3)


def total_steps_of_widgets(values: Mapping[str, Any]) -> int | None:
    """Optimizer steps the training widgets give without max steps (``epochs * S``); None if invalid.

    The greyed *Max steps* field shows it, so turning on *Set max steps* starts from the current total.
    """
    fields = ("dataset_size", "micro_batch_size", "accumulation_steps", "world_size", "epochs", "drop_last")
    try:
        data = {f: values.get(key(f"training.{f}")) for f in fields}
        data["batch_ramp"] = text_to_ramp(values.get(key("training.batch_ramp")))
        _, _, total = accounting(TrainingConfig.model_validate(data))
    except (ConfigError, ValueError, TypeError):
        return None
    return int(total)


def config_to_widgets(config: ScheduleConfig, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every designer widget's value for ``config``.

    Widgets the config does not use (a scheduler not selected, a switched-off section) keep their
    ``previous`` value when given, else a sensible default, so switching a section back on restores
    what was there.
    """
    prev = dict(previous or {})
    out: dict[str, Any] = {}

    def keep(k: str, default: Any) -> Any:
        return prev.get(k, default)

    o, t = config.optimizer, config.training
    out[key("name")] = config.name
    out[key("optimizer.name")] = o.name
    out[key("optimizer.lr")] = float(o.lr)
    out[key("optimizer.kwargs")] = json.dumps(o.kwargs) if o.kwargs else ""
    groups = o.param_groups or []
    out[key("optimizer.param_groups.count")] = max(1, len(groups))
    for i in range(MAX_PARAM_GROUPS):
        if i < len(groups):
            out[group_key(i, "name")] = groups[i].name
            out[group_key(i, "lr_scale")] = float(groups[i].lr_scale)
            wm = groups[i].width_mult
            out[group_key(i, "width_mult")] = float(wm) if wm is not None else None
        else:
            out[group_key(i, "name")] = keep(group_key(i, "name"), "default" if i == 0 else f"group{i}")
            out[group_key(i, "lr_scale")] = keep(group_key(i, "lr_scale"), 1.0)
            out[group_key(i, "width_mult")] = keep(group_key(i, "width_mult"), None)

    for name in ("dataset_size", "micro_batch_size", "accumulation_steps", "world_size", "epochs"):
        out[key(f"training.{name}")] = int(getattr(t, name))
    out[key("training.drop_last")] = bool(t.drop_last)
    out[key("training.batch_ramp")] = ramp_to_text(t.batch_ramp)
    out[key("training.tokens_per_sample")] = t.tokens_per_sample
    try:
        _, _, total = accounting(t)
    except ConfigError:
        total = 1000
    out[key("training.use_max_steps")] = t.max_steps is not None
    out[key("training.max_steps")] = (
        t.max_steps if t.max_steps is not None else keep(key("training.max_steps"), total)
    )

    w = config.warmup
    out[key("warmup.on")] = w is not None
    if w is not None:
        out[key("warmup.mode")] = "ratio" if w.ratio is not None else "steps"
        out[key("warmup.steps")] = (
            w.steps if w.steps is not None else keep(key("warmup.steps"), max(1, math.ceil(total * 0.05)))
        )
        out[key("warmup.ratio")] = float(w.ratio) if w.ratio is not None else keep(key("warmup.ratio"), 0.05)
        out[key("warmup.start_factor")] = float(w.start_factor)
    else:
        out[key("warmup.mode")] = keep(key("warmup.mode"), "steps")
        out[key("warmup.steps")] = keep(key("warmup.steps"), max(1, math.ceil(total * 0.05)))
        out[key("warmup.ratio")] = keep(key("warmup.ratio"), 0.05)
        out[key("warmup.start_factor")] = keep(key("warmup.start_factor"), 0.0)

    d = config.decay
    out[key("decay.scheduler")] = d.scheduler if d is not None else DECAY_NONE
    out[key("decay.interval")] = d.interval if d is not None else keep(key("decay.interval"), "step")
    if d is not None:
        out[key("decay.hold")] = (
            "steps" if d.hold_steps is not None else "ratio" if d.hold_ratio is not None else "none"
        )
    else:
        out[key("decay.hold")] = keep(key("decay.hold"), "none")
    out[key("decay.hold_steps")] = (
        d.hold_steps if d is not None and d.hold_steps is not None else keep(key("decay.hold_steps"), 0)
    )
    out[key("decay.hold_ratio")] = (
        float(d.hold_ratio)
        if d is not None and d.hold_ratio is not None
        else keep(key("decay.hold_ratio"), 0.5)
    )
    for sched, model in DECAY_KWARGS.items():
        for name in model.model_fields:
            kind = field_kind(model, name)
            k = decay_key(sched, name)
            if d is not None and d.scheduler == sched:
                value = d.kwargs.get(name)
                out[k] = (
                    _decay_widget_value(kind, value)
                    if value is not None
                    else _decay_default(sched, kind, name)
                )
            else:
                out[k] = keep(k, _decay_default(sched, kind, name))

    ws = config.wsd
    out[key("wsd.on")] = ws is not None
    wsd_src = ws if ws is not None else WSDConfig(warmup_ratio=0.05, decay_ratio=0.2)
    wsd_values = {
        "wsd.warmup_mode": "ratio" if wsd_src.warmup_ratio is not None else "steps",
        "wsd.warmup_steps": wsd_src.warmup_steps
        if wsd_src.warmup_steps is not None
        else max(0, math.ceil(total * 0.05)),
        "wsd.warmup_ratio": float(wsd_src.warmup_ratio) if wsd_src.warmup_ratio is not None else 0.05,
        "wsd.warmup_type": wsd_src.warmup_type,
        "wsd.warmup_start_set": wsd_src.warmup_start is not None,
        "wsd.warmup_start": float(wsd_src.warmup_start) if wsd_src.warmup_start is not None else 0.0,
        "wsd.stable_set": wsd_src.stable_steps is not None,
        "wsd.stable_steps": wsd_src.stable_steps if wsd_src.stable_steps is not None else 0,
        "wsd.decay_mode": "ratio" if wsd_src.decay_ratio is not None else "steps",
        "wsd.decay_steps": wsd_src.decay_steps
        if wsd_src.decay_steps is not None
        else max(1, math.ceil(total * 0.2)),
        "wsd.decay_ratio": float(wsd_src.decay_ratio) if wsd_src.decay_ratio is not None else 0.2,
        "wsd.decay_type": wsd_src.decay_type,
        "wsd.min_lr_ratio": float(wsd_src.min_lr_ratio),
    }
    for path, value in wsd_values.items():
        out[key(path)] = value if ws is not None else keep(key(path), value)

    p = config.plateau
    out[key("plateau.on")] = p is not None
    pp = p if p is not None else PlateauConfig()
    src = p if p is not None else None
    for name in ("mode", "threshold_mode"):
        out[key(f"plateau.{name}")] = (
            getattr(pp, name) if src else keep(key(f"plateau.{name}"), getattr(pp, name))
        )
    for name in ("factor", "threshold", "eps"):
        v = float(getattr(pp, name))
        out[key(f"plateau.{name}")] = v if src else keep(key(f"plateau.{name}"), v)
    for name in ("patience", "cooldown"):
        v = int(getattr(pp, name))
        out[key(f"plateau.{name}")] = v if src else keep(key(f"plateau.{name}"), v)
    out[key("plateau.min_lr")] = _numbers_text(pp.min_lr) if src else keep(key("plateau.min_lr"), "0.0")
    every = pp.eval_every
    out[key("plateau.eval")] = (
        ("epoch" if every == "epoch" else "steps") if src else keep(key("plateau.eval"), "epoch")
    )
    out[key("plateau.eval_steps")] = (
        int(every) if src and every != "epoch" else keep(key("plateau.eval_steps"), max(1, total // 50))
    )
    metric = pp.metric
    out[key("plateau.metric")] = (
        ("values" if metric.values is not None else "synthetic")
        if src
        else keep(key("plateau.metric"), "synthetic")
    )
    out[key("plateau.metric.values")] = (
        _numbers_text(metric.values)
        if src and metric.values is not None
        else keep(key("plateau.metric.values"), "")
    )
    use_syn = src is not None and metric.synthetic is not None
    syn = metric.synthetic if use_syn and metric.synthetic is not None else DEFAULT_SYNTHETIC
    for name in SyntheticMetric.model_fields:
        v = getattr(syn, name)
        if isinstance(v, float) or field_kind(SyntheticMetric, name) == "float":
            v = float(v)
        k = key(f"plateau.metric.synthetic.{name}")
        out[k] = v if use_syn else keep(k, v)
    # Your stack (optional section): the toggle, then every StackConfig field.
    stack = config.stack
    out[key("stack.on")] = stack is not None
    for name in StackConfig.model_fields:
        k = key(f"stack.{name}")
        v = getattr(stack or StackConfig(), name)
        out[k] = v if stack is not None else keep(k, v)
    return out


# --------------------------------------------------------------------------------------------------
# widgets -> config

_SPLIT = re.compile(r"[,\s;]+")


def parse_numbers(text: str, path: str, integer: bool = False) -> list[float] | list[int]:
    """``"1e-3, 2e-3"`` -> ``[0.001, 0.002]``; ConfigError naming ``path`` on anything else."""
    parts = [p for p in _SPLIT.split(text.strip().strip("[]")) if p]
    out: list[Any] = []
    for i, part in enumerate(parts):
        try:
            value = int(part) if integer else float(part)
        except ValueError:
            what = "integers" if integer else "numbers"
            raise ConfigError(
                Problem(path, f"must be {what} separated by commas (item {i + 1})", part)
            ) from None
        if not integer and not math.isfinite(value):
            raise ConfigError(Problem(path, "must be finite numbers", part))
        out.append(value)
    return out


def _float_or_list(text: str, path: str) -> float | list[float] | None:
    values = parse_numbers(text, path)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def widgets_to_config(values: Mapping[str, Any]) -> ScheduleConfig:
    """The config the widget values describe; ConfigError listing every problem."""
    problems: list[Problem] = []
    v = values

    def get(path: str) -> Any:
        return v.get(key(path))

    kwargs_text = (get("optimizer.kwargs") or "").strip()
    opt_kwargs: Any = {}
    if kwargs_text:
        try:
            opt_kwargs = json.loads(kwargs_text)
        except json.JSONDecodeError as exc:
            problems.append(Problem("optimizer.kwargs", f"must be a JSON object ({exc.msg})", kwargs_text))
    count = int(get("optimizer.param_groups.count") or 1)
    groups = [
        {"name": v.get(group_key(i, "name")) or "", "lr_scale": float(v.get(group_key(i, "lr_scale")) or 0.0)}
        for i in range(count)
    ]
    for i, g in enumerate(groups):
        wm = v.get(group_key(i, "width_mult"))
        if wm is not None:
            g["width_mult"] = wm  # muP: a matrix-like group (lr / width_mult)
    param_groups = None if groups == [{"name": "default", "lr_scale": 1.0}] else groups
    training = {
        name: get(f"training.{name}")
        for name in (
            "dataset_size",
            "micro_batch_size",
            "accumulation_steps",
            "world_size",
            "epochs",
            "drop_last",
        )
    }
    training["max_steps"] = get("training.max_steps") if get("training.use_max_steps") else None
    try:
        training["batch_ramp"] = text_to_ramp(get("training.batch_ramp"))
    except ConfigError as exc:
        problems.extend(exc.problems)
    training["tokens_per_sample"] = get("training.tokens_per_sample")
    data: dict[str, Any] = {
        "format": "lr-schedule/v1",
        "name": get("name") or "",
        "optimizer": {
            "name": get("optimizer.name"),
            "lr": get("optimizer.lr"),
            "kwargs": opt_kwargs,
            "param_groups": param_groups,
        },
        "training": training,
        "warmup": None,
        "decay": None,
        "plateau": None,
    }
    if get("warmup.on"):
        ratio = get("warmup.mode") == "ratio"
        data["warmup"] = {
            "steps": None if ratio else get("warmup.steps"),
            "ratio": get("warmup.ratio") if ratio else None,
            "start_factor": get("warmup.start_factor"),
        }
    sched = get("decay.scheduler")
    if sched and sched != DECAY_NONE:
        model = DECAY_KWARGS[sched]
        kwargs: dict[str, Any] = {}
        for name in model.model_fields:
            kind = field_kind(model, name)
            raw = v.get(decay_key(sched, name))
            path = f"decay.kwargs.{name}"
            try:
                if kind == "floats?":
                    value = _float_or_list(raw or "", path)
                elif kind == "ints?":
                    value = parse_numbers(raw or "", path, integer=True) or None
                elif kind == "str":
                    value = raw or ""
                else:
                    value = raw
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if value is not None:
                kwargs[name] = value
        interval = get("decay.interval") or "step"
        hold = get("decay.hold") if interval == "step" else "none"
        data["decay"] = {
            "scheduler": sched,
            "kwargs": kwargs,
            "interval": interval,
            "hold_steps": get("decay.hold_steps") if hold == "steps" else None,
            "hold_ratio": get("decay.hold_ratio") if hold == "ratio" else None,
        }
    if get("wsd.on"):
        # Warmup-stable-decay replaces the warmup and decay sections (its own lengths and shapes).
        data["warmup"] = data["decay"] = None
        warm_ratio = get("wsd.warmup_mode") == "ratio"
        decay_ratio = get("wsd.decay_mode") == "ratio"
        data["wsd"] = {
            "warmup_steps": None if warm_ratio else get("wsd.warmup_steps"),
            "warmup_ratio": get("wsd.warmup_ratio") if warm_ratio else None,
            "warmup_type": get("wsd.warmup_type"),
            "warmup_start": get("wsd.warmup_start") if get("wsd.warmup_start_set") else None,
            "stable_steps": get("wsd.stable_steps") if get("wsd.stable_set") else None,
            "decay_steps": None if decay_ratio else get("wsd.decay_steps"),
            "decay_ratio": get("wsd.decay_ratio") if decay_ratio else None,
            "decay_type": get("wsd.decay_type"),
            "min_lr_ratio": get("wsd.min_lr_ratio"),
        }
    if get("plateau.on"):
        try:
            min_lr = _float_or_list(get("plateau.min_lr") or "0", "plateau.min_lr")
        except ConfigError as exc:
            problems.extend(exc.problems)
            min_lr = 0.0
        if get("plateau.metric") == "values":
            try:
                metric: dict[str, Any] = {
                    "values": parse_numbers(get("plateau.metric.values") or "", "plateau.metric.values")
                }
            except ConfigError as exc:
                problems.extend(exc.problems)
                metric = {"values": [0.0]}
            if not metric["values"]:
                problems.append(
                    Problem(
                        "plateau.metric.values",
                        "paste at least one value (one per evaluation)",
                        None,
                        has_value=False,
                    )
                )
        else:
            metric = {
                "synthetic": {
                    name: get(f"plateau.metric.synthetic.{name}") for name in SyntheticMetric.model_fields
                }
            }
        data["plateau"] = {
            "mode": get("plateau.mode"),
            "factor": get("plateau.factor"),
            "patience": get("plateau.patience"),
            "threshold": get("plateau.threshold"),
            "threshold_mode": get("plateau.threshold_mode"),
            "cooldown": get("plateau.cooldown"),
            "min_lr": 0.0 if min_lr is None else min_lr,
            "eps": get("plateau.eps"),
            "metric": metric,
            "eval_every": "epoch" if get("plateau.eval") == "epoch" else get("plateau.eval_steps"),
        }
    if get("stack.on"):
        data["stack"] = {name: get(f"stack.{name}") for name in StackConfig.model_fields}
    if problems:
        raise ConfigError(problems)
    return load_config(data)


# --------------------------------------------------------------------------------------------------
# session helpers (these touch st.session_state / st.query_params)


def init_session() -> None:
    """Called by the router on every run: make sure a design exists (from a ``?design=`` link on the
    session's first run, else the default design) and keep the link in the URL up to date."""
    import streamlit as st

    ss = st.session_state
    if not ss.get(INITIALISED):
        ss[INITIALISED] = True
        token = st.query_params.get(QUERY_PARAM)
        if token and DESIGN_JSON not in ss:
            try:
                ss[DESIGN_JSON] = decode_design(token).to_json()
            except ConfigError as exc:
                add_notice(
                    "warning",
                    "The design in this link could not be loaded; showing the default design.",
                    exc.lines(),
                )
    if DESIGN_JSON not in ss:
        ss[DESIGN_JSON] = default_design_json()
    ss.setdefault(SAVED_DESIGNS, {})
    publish_design()


def current_config() -> ScheduleConfig:
    """The current design (a stored design that no longer validates falls back to the default)."""
    import streamlit as st

    try:
        return config_of(st.session_state[DESIGN_JSON])
    except (ConfigError, KeyError):
        st.session_state[DESIGN_JSON] = default_design_json()
        return config_of(st.session_state[DESIGN_JSON])


def set_design(config: ScheduleConfig) -> bool:
    """Make ``config`` the current design; True when it changed."""
    import streamlit as st

    text = config.to_json()
    if st.session_state.get(DESIGN_JSON) == text:
        return False
    st.session_state[DESIGN_JSON] = text
    remember_config(text, config)
    return True


def design_token(config: ScheduleConfig) -> str:
    return encode_design(config)


def publish_design() -> None:
    """Put the current design into the URL (``?design=``) when it fits in a link.  Cheap when the URL
    already holds it (the Designer calls this on every rerun: a preset or an upload changes the design
    in a callback, and a page-fragment rerun does not pass through the router's init_session)."""
    import streamlit as st

    design = st.session_state.get(DESIGN_JSON)
    if design is None:
        return
    published = st.session_state.get(PUBLISHED)
    if published is not None and published[0] == design and st.query_params.get(QUERY_PARAM) == published[1]:
        return
    try:
        token = encode_design(config_of(design))
    except ConfigError:
        return
    if not fits_in_link(token):
        if QUERY_PARAM in st.query_params:
            del st.query_params[QUERY_PARAM]
        st.session_state[PUBLISHED] = (design, None)
        return
    if st.query_params.get(QUERY_PARAM) != token:
        st.query_params[QUERY_PARAM] = token
    st.session_state[PUBLISHED] = (design, token)


def add_notice(kind: str, title: str, lines: list[str] | None = None) -> None:
    import streamlit as st

    st.session_state.setdefault(NOTICES, []).append((kind, title, list(lines or [])))


def pop_notices() -> list[tuple[str, str, list[str]]]:
    import streamlit as st

    return st.session_state.pop(NOTICES, [])
