"""The Designer's widget layer, under every section: the widgets' state (rebuilt from the design when it
changed elsewhere, restored when a closed section opens), the widget helpers (bounds and help from the
model) and the collapsible section itself.  Imports no other module of this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
from pydantic import BaseModel

from app import state
from schedules.curve import format_lr

ss = st.session_state
FLOAT = "%.6g"


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
        state.add_notice("info", f"The Live page's range test set the lr to {format_lr(lr)}.")


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


def input_for(widget, path: str, label: str, *args, help_path: str | None = None, **kw):
    """The design widget of config ``path`` (``widget`` is e.g. ``col.selectbox``): its key and help
    text come from the path (``help_path`` when the help is another field's), its default from the
    design (:func:`seeded`).  :func:`number` draws number inputs through it, with the model's bounds."""
    return seeded(widget, label, *args, key=state.key(path), help=state.help_text(help_path or path), **kw)


def number(container, path: str, label: str, model, field: str, *, step=None, fmt=None, help_path=None, **kw):
    """The number input of config ``path`` in ``container``: bounds and int / float from ``model.field``."""
    lo, hi = state.bounds(model, field)
    kind = state.field_kind(model, field)
    is_int = kind.startswith("int")
    return input_for(
        container.number_input,
        path,
        label,
        min_value=lo,
        max_value=hi,
        step=step if step is not None else (1 if is_int else None),
        format=fmt if fmt is not None else (None if is_int else FLOAT),
        help_path=help_path,
        **kw,
    )


@dataclass(frozen=True)
class Length:
    """A length given as optimizer steps or as a ratio of all steps: a radio picks the unit, and one number
    input (``<prefix>steps`` or ``<prefix>ratio``, labelled "<what> steps" / "<what> ratio") takes the value.

    Warmup, WSD's warmup and decay, and the decay's hold are all drawn by this one pair of widgets.
    """

    #: Config path of the radio (e.g. ``warmup.mode``).
    mode_path: str
    #: Config path of the two numbers, less ``steps`` / ``ratio`` (e.g. ``wsd.warmup_``).
    prefix: str
    #: Their label, less " steps" / " ratio".
    what: str
    #: The model whose fields they are (bounds and types).
    model: type[BaseModel]
    #: The ratio input's step (the steps input steps by 10).
    ratio_step: float

    def mode(self, container, label: str, modes: tuple[str, ...] = ("steps", "ratio"), **kw) -> str:
        """Draw the radio in ``container``; returns the unit chosen (one of ``modes``)."""
        return seeded(
            container.radio, label, list(modes), horizontal=True, key=state.key(self.mode_path), **kw
        )

    def number(self, container, mode: str) -> None:
        """Draw the number input of ``mode`` (``steps`` or ``ratio``) in ``container``; nothing for another."""
        if mode not in ("steps", "ratio"):
            return
        path = self.prefix + mode
        field = path.split(".", 1)[1]
        step = 10 if mode == "steps" else self.ratio_step
        number(container, path, f"{self.what} {mode}", self.model, field, step=step)


# --------------------------------------------------------------------------------------------------
# the collapsible section


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
