"""Helpers for AppTests of the Designer page."""

from __future__ import annotations

from html.parser import HTMLParser

from streamlit.testing.v1 import AppTest

from app import state


def open_sections(at: AppTest, *names: str) -> AppTest:
    """Open the Designer's sections ``names`` (all of them if none given) for the next run, as a user
    who expanded them: a closed section draws no widgets (``state.DESIGNER_SECTIONS``)."""
    for name in names or tuple(state.DESIGNER_SECTIONS):
        at.session_state[state.section_key(name)] = True
    return at


def show_tab(at: AppTest, label: str) -> AppTest:
    """Open tab ``label`` of the Export section (a lazy tab: only the open one is drawn) for the next run."""
    at.session_state["designer_tabs"] = label
    return at


def summary_html(at: AppTest) -> str:
    """The HTML of the Designer's summary card (one ``st.html`` element, ``ui.figure_card``)."""
    cards = [h.value for h in at.html if 'class="lrs-figures"' in h.value]
    assert len(cards) == 1, f"expected one summary card, found {len(cards)}"
    return cards[0]


def summary(at: AppTest) -> dict[str, str]:
    """The Designer's summary card as {label: value}."""
    parser = _FigureParser()
    parser.feed(summary_html(at))
    return dict(parser.figures)


class _FigureParser(HTMLParser):
    """Collects (label, value) of a figure card: each figure's ``data-label`` and its value's text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[tuple[str, str]] = []
        self._label: str | None = None
        self._in_value = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("class") == "lrs-figure":
            self._label = a.get("data-label") or ""
        self._in_value = a.get("class") == "lrs-value"

    def handle_data(self, data: str) -> None:
        if self._in_value and self._label is not None:
            self.figures.append((self._label, data))
            self._label, self._in_value = None, False
