"""Shared Streamlit pieces of the pages: the cached curve, error boxes, keyed widget helpers.

Thin on purpose: everything computed here comes from ``schedules``.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from app import configs, state
from schedules.budget import APP_CURVE_SECONDS, BytesLRU
from schedules.curve import Curve, ProgressFn, compute_curve
from schedules.design import ConfigError
from schedules.mistakes import mistake_curve

#: Curves longer than this show a progress bar while they are computed.
PROGRESS_OVER = 200_000
#: Bytes of curves kept between reruns, shared by every session of the server (a byte budget, not an
#: entry count: the largest curve a valid design makes is about 130 MB, see schedules.budget).
CURVE_CACHE_BYTES = 256 * 1024 * 1024
#: Bytes of the Compare page's loop-mistake curves (drawn only: kept as float32).
MISTAKE_CACHE_BYTES = 64 * 1024 * 1024
#: Entries of the small caches (snippets: a few KB each).
CACHE_ENTRIES = 16


#: Bytes one plateau evaluation and one event take in Python objects (tracemalloc, 100k of each):
#: a design with an evaluation and a reduction at every step holds far more in these than in lrs.
EVALUATION_BYTES = 230
EVENT_BYTES = 430


def _curve_bytes(curve: Curve) -> int:
    frame = int(curve.frame.memory_usage(index=True, deep=False).sum())
    shared = np.shares_memory(curve.frame["lr"].to_numpy(), curve.lrs[:, :1])
    objects = EVALUATION_BYTES * len(curve.evaluations) + EVENT_BYTES * len(curve.events)
    return frame + (0 if shared else int(curve.lrs.nbytes)) + objects + 4096


def _frame_bytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(index=True, deep=False).sum()) + 1024


CURVES: BytesLRU[str, Curve] = BytesLRU(CURVE_CACHE_BYTES, _curve_bytes)
MISTAKES: BytesLRU[tuple[str, str, int | None], pd.DataFrame] = BytesLRU(MISTAKE_CACHE_BYTES, _frame_bytes)


def cached_curve(cache_key: str) -> Curve:
    """The curve of a config, keyed on its canonical JSON (``ScheduleConfig.cache_key()``).

    Unchanged inputs never recompute: the curve is kept in :data:`CURVES` (shared by all sessions,
    bounded by bytes; concurrent sessions asking for the same curve compute it once).  The
    computation is capped at :data:`~schedules.budget.APP_CURVE_SECONDS` (a
    :class:`~schedules.budget.ComputeTimeout` error box names the run length).  Long curves
    (> PROGRESS_OVER steps) draw a progress bar while they run.
    """
    return CURVES.get_or_compute(cache_key, lambda: _compute(cache_key))


cached_curve.clear = CURVES.clear  # type: ignore[attr-defined]  # as st.cache_data's .clear()


@contextlib.contextmanager
def progress_bar(total: int, what: str, unit: str = "") -> Iterator[ProgressFn | None]:
    """A progress bar while a computation of ``total`` optimizer steps runs (None, no bar, up to
    :data:`PROGRESS_OVER` steps); yields the ``progress(done, of)`` callback ``schedules`` calls
    (``done`` and ``of`` count optimizer steps, or ``unit`` when given, e.g. "exports")."""
    if total <= PROGRESS_OVER:
        yield None
        return
    label = f"Computing {what}: {total:,} optimizer steps…"
    bar = st.progress(0.0, text=label)

    def progress(done: int, of: int) -> None:
        count = f"{done:,} of {of:,} {unit}" if unit else f"{done:,} done"
        bar.progress(min(1.0, done / max(1, of)), text=f"{label} {count}")

    try:
        yield progress
    finally:
        bar.empty()


def _compute(cache_key: str) -> Curve:
    cfg = configs.config_of(cache_key)
    with progress_bar(cfg.plan.total_steps, "the curve") as progress:
        return compute_curve(cfg, progress=progress, time_limit=APP_CURVE_SECONDS)


def cached_mistake(cache_key: str, kind: str, at: int | None = None) -> pd.DataFrame:
    """``schedules.mistakes.mistake_curve`` cached on (config, kind, resume step), compact: these
    curves are only drawn (the Compare page), so ``lr`` is float32 and ``step`` int32.  Exports never
    come from here."""

    def compute() -> pd.DataFrame:
        cfg = configs.config_of(cache_key)
        with progress_bar(cfg.plan.total_steps, "a loop mistake's curve") as progress:
            frame = mistake_curve(cfg, kind, at, time_limit=APP_CURVE_SECONDS, progress=progress)
        compact = pd.DataFrame(
            {
                "step": frame["step"].to_numpy().astype(np.int32),
                "samples": frame["samples"].to_numpy(),
                "lr": frame["lr"].to_numpy().astype(np.float32),
            }
        )
        compact.attrs.update(frame.attrs)
        return compact

    return MISTAKES.get_or_compute((cache_key, kind, at), compute)


cached_mistake.clear = MISTAKES.clear  # type: ignore[attr-defined]


@st.cache_data(max_entries=4 * CACHE_ENTRIES, show_spinner=False)
def cached_snippet(cache_key: str, kind: str) -> str:
    """A loop snippet of a config (``build_scheduler`` or ``plain_torch``), made once per design."""
    from schedules.snippets import build_scheduler_snippet, plain_torch_snippet

    cfg = configs.config_of(cache_key)
    return plain_torch_snippet(cfg) if kind == "plain_torch" else build_scheduler_snippet(cfg)


_FIGURES: OrderedDict[tuple, Any] = OrderedDict()
_FIGURES_LOCK = threading.Lock()
FIGURE_ENTRIES = 32


def cached_figure(curve: Curve, **view: Any):
    """``charts.lr_figure`` memoised on (design, view options): a revisit or a view toggle back and
    forth re-sends a stored figure instead of rebuilding it (building one costs more than sending it).

    Figures are kept in a small LRU shared by the sessions of this server (a figure is a pure
    function of its key); callers must not mutate the returned figure.
    """
    from app import charts

    key = (curve.config.cache_key(), tuple(sorted(view.items())))
    with _FIGURES_LOCK:
        fig = _FIGURES.get(key)
        if fig is not None:
            _FIGURES.move_to_end(key)
            return fig
    fig = charts.lr_figure(curve, **view)
    with _FIGURES_LOCK:
        _FIGURES[key] = fig
        while len(_FIGURES) > FIGURE_ENTRIES:
            _FIGURES.popitem(last=False)
    return fig


@st.cache_data(max_entries=4 * CACHE_ENTRIES, show_spinner=False)
def cached_stack(cache_key: str, settings_json: str):
    """``schedules.stacks.stack_curve`` cached on (config, stack settings)."""
    from schedules.design import StackConfig
    from schedules.stacks import stack_curve

    settings = StackConfig.model_validate_json(settings_json)
    return stack_curve(configs.config_of(cache_key), settings, curve=cached_curve(cache_key))


def stack_of(config, settings):
    """What ``settings``' stack does with ``config`` (a :class:`schedules.stacks.StackCurve`)."""
    return cached_stack(configs.key_of(config), settings.model_dump_json())


def curve_of(config) -> Curve:
    return cached_curve(configs.key_of(config))


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def md_text(text: str) -> str:
    """``text`` with every Markdown character escaped, for a user string inside a Markdown message
    (a design's name shows as typed, never as formatting or a link)."""
    return str(text).translate(_MARKDOWN).replace("\n", " ")


def show_problems(title: str, error: ConfigError | list[str], kind: str = "error") -> None:
    """An error (or warning) box with one line per problem, the field path in code style."""
    lines = error.lines() if isinstance(error, ConfigError) else list(error)
    body = [f"**{title}**"] if title else []
    for line in lines:
        path, sep, rest = line.partition(": ")
        problem = sep and kind in ("error", "warning") and " " not in path
        body.append(f"- `{path}`: {rest}" if problem else f"- {line}")
    box: Callable[..., Any] = {
        "error": st.error,
        "warning": st.warning,
        "info": st.info,
        "success": st.success,
    }[kind]
    icons = {
        "error": ":material/error:",
        "warning": ":material/warning:",
        "info": ":material/info:",
        "success": ":material/check_circle:",
    }
    box("\n".join(body), icon=icons[kind])


#: A figure card's look (inline: st.html keeps class, title and style attributes, not <style> rules):
#: like six st.metric in a bordered container, in the theme's colours (inherited) and font.
_CARD = "border:1px solid rgba(128,128,128,.3);border-radius:.5rem;padding:.75rem 1rem"
_ROW = "display:flex;flex-wrap:wrap;gap:.25rem 1.25rem"
_FIGURE = "flex:1 1 6.5rem;min-width:6.5rem;cursor:help"
_LABEL = "font-size:.875rem;opacity:.75;text-decoration:underline dotted rgba(128,128,128,.6)"
_VALUE = "font-size:1.75rem;line-height:1.35;white-space:nowrap"
_NOTE = "font-size:.875rem;opacity:.6;margin-top:.25rem"


def figure_card(figures: list[tuple[str, str, str]], note: str = "") -> str:
    """HTML of a card of labelled figures ``(label, value, explanation)`` and a note line under them,
    for ``st.html``: one element where a row of ``st.metric`` in columns is about 15 (every rerun's
    deltas are re-rendered by the browser; bench/ui_latency.py).  The explanation is the figure's hover
    text; every string is escaped (a param group's name is the user's)."""
    esc = html.escape
    cells = "".join(
        f'<div class="lrs-figure" data-label="{esc(label)}" title="{esc(explain)}" style="{_FIGURE}">'
        f'<div class="lrs-label" style="{_LABEL}">{esc(label)}</div>'
        f'<div class="lrs-value" style="{_VALUE}">{esc(value)}</div></div>'
        for label, value, explain in figures
    )
    tail = f'<div class="lrs-note" style="{_NOTE}">{esc(note)}</div>' if note else ""
    return f'<div class="lrs-figures" style="{_CARD}"><div style="{_ROW}">{cells}</div>{tail}</div>'


def show_notices() -> None:
    for kind, title, lines in state.pop_notices():
        show_problems(title, lines, kind)
