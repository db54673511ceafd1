"""The Export section under the chart: downloads, events, evaluations, snippets and the config JSON, in
lazy tabs (only the open tab is computed and sent)."""

from __future__ import annotations

import streamlit as st

from app import ui
from app.views.designer.downloads import downloads
from app.views.designer.widgets import section

STEPPING_RULE = (
    "**Why `scheduler.step()` comes after `optimizer.step()`.** Row *k* of the curve is the lr that "
    "optimizer step *k* uses. Stepping the scheduler first makes every step use the *next* step's lr "
    "(the first lr is never used; torch warns about it), and stepping it per micro-batch runs the whole "
    "schedule `accumulation_steps` times too fast. The snippets below put it in the right place; the "
    "Compare page draws what the mistakes do."
)


#: The snippet tabs: tab label -> (``ui.cached_snippet`` kind, what the snippet is).
SNIPPETS = {
    "Snippet: build_scheduler": (
        "build_scheduler",
        "Loads the exported JSON with the `schedules` package: the schedulers are built by the same "
        "`build_scheduler` that draws this chart. Save the config as `lr-schedule.json` next to it.",
    ),
    "Snippet: plain torch": (
        "plain_torch",
        "No dependency on this package: the same torch schedulers with every default resolved to a "
        "number for this design (regenerate it after changing the design).",
    ),
}
#: Rows of the events and evaluations tables (a design can have an event at every step).
MAX_TABLE_ROWS = 1000
#: Up to this many events are drawn as a static table, more as the interactive (scrolling) grid.
STATIC_TABLE_ROWS = 30


def tables(curve) -> None:
    section(st, "export", export_section, curve)


def export_section(curve) -> None:
    cfg = curve.config
    names = ["Download", "Events"]
    if cfg.plateau is not None:
        names.append("Evaluations")
    names += [*SNIPPETS, "Config JSON"]
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
    for label, (kind, note) in SNIPPETS.items():
        if tabs[label].open:
            with tabs[label]:
                st.caption(STEPPING_RULE)
                st.caption(note)
                st.code(ui.cached_snippet(cfg.cache_key(), kind), language="python")
    if tabs["Config JSON"].open:
        with tabs["Config JSON"]:
            st.code(cfg.to_json(), language="json")


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
