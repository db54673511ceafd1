"""Designer: every knob of the config as a widget, the live lr curve, summary, events and exports.

The page ``st.navigation`` runs (app/main.py).  It only lays the page out; each section is a module of
this package: the inputs (``preset``, ``share``, ``optimizer``, ``data``, ``warmup``, ``wsd``,
``decay``, ``plateau``, ``stack``) on the left, and on the right the ``summary`` card, the ``chart``,
``stack``'s diagnosis, the export ``tables`` (``downloads``) and ``schedule_free``.  All of them draw
through ``widgets`` at the bottom; none imports this page.
"""

from __future__ import annotations

import streamlit as st

from app import gc_policy, state, ui
from app.views.designer import (
    data,
    decay,
    optimizer,
    plateau,
    preset,
    schedule_free,
    share,
    stack,
    summary,
    tables,
    warmup,
    wsd,
)
from app.views.designer.chart import chart
from app.views.designer.widgets import remember, section, ss, sync_widgets, widget_values
from schedules.design import ConfigError, ScheduleConfig, sanity_warnings


def inputs(col):
    """Draw the open sections' inputs; returns the slots filled once the curve is computed: under the
    decay arguments (their resolved values), for Import / share, and under the plateau inputs."""
    section(col, "preset", preset.preset_section)
    io_slot = col.container()
    section(col, "optimizer", optimizer.optimizer_section)
    section(col, "data", data.data_section)
    section(col, "warmup", warmup.warmup_section)
    section(col, "wsd", wsd.wsd_section)
    resolved_slot = section(col, "decay", decay.decay_section)
    plateau_slot = section(col, "plateau", plateau.plateau_section)
    return resolved_slot, io_slot, plateau_slot


def main() -> None:
    sync_widgets()
    preset.mark_modified_preset()
    left, right = st.columns([1.1, 2.2], gap="large")
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
    stack.stack_inputs(left)
    remember()
    share.import_share(io_slot, cfg)
    curve_or_none = right_column(right, cfg, problems)
    if curve_or_none is None:
        return
    curve = curve_or_none
    if plateau_slot is not None and problems is None:
        plateau.show_note(plateau_slot, curve)
    if resolved_slot is not None and cfg.decay is not None and problems is None:
        decay.show_resolved(resolved_slot, cfg)


def right_column(right, cfg: ScheduleConfig, problems: ConfigError | None):
    """Title, notices, the chart and what follows it; returns the curve (None if it cannot be drawn).

    The column stays in view while the inputs beside it scroll (:data:`LAYOUT_CSS`)."""
    with right, st.container(key=RIGHT_KEY):
        st.title(ui.md(cfg.name) if cfg.name else "untitled", anchor=False)
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
        if problems is None:  # valid, but almost surely not meant: validate's warning lines
            ui.show_sanity(sanity_warnings(cfg))
        summary.summary_card(curve)
        run = stack.stack_run(cfg)
        chart(curve, run)
        if run is not None:
            stack.your_stack(run)
        tables.tables(curve)
        schedule_free.schedule_free_panel(curve)
    return curve


def page() -> None:
    try:
        main()
    finally:
        gc_policy.freeze_long_lived()  # as the router does after a full run (a section's lazy imports)


#: The key of the right column's container (its CSS class is ``st-key-<key>``).
RIGHT_KEY = "designer_right"

#: The Designer's layout. The right column (chart, summary, exports) sticks under the navigation bar and
#: scrolls on its own when taller than the window, so the chart stays in view while a long section on
#: the left is edited; the page starts closer to the navigation bar and the title is a size smaller, so
#: title, summary card, chart controls and chart fit in a 1280 x 720 window (tests/test_browser_sanity.py).
#: Wide windows only: under 640 px Streamlit stacks the columns.  One style-only st.html: Streamlit sends it
#: outside the page's elements, once per full run (the page fragment's reruns leave it in place).
LAYOUT_CSS = f"""<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 4.5rem; }}
.st-key-{RIGHT_KEY} h1 {{ font-size: 2rem; padding: 0.25rem 0 0.5rem 0; }}
@media (min-width: 640px) {{
  [data-testid="stColumn"]:has(.st-key-{RIGHT_KEY}) {{
    position: sticky; top: 4rem; align-self: flex-start;
    max-height: calc(100vh - 4.5rem); overflow-y: auto; overflow-x: hidden;
  }}
}}
</style>"""
st.html(LAYOUT_CSS)

# The page is one fragment: a widget change on it reruns this page only, not the router around it
# (app/main.py: page config, session setup, navigation), so the server sends and the browser redraws
# the page's own elements and nothing else.  Leaving the page (the navigation) is a full rerun.
st.fragment(page)()
