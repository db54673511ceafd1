"""Issue 30, finding 4: every user string is rendered as text, never Markdown or HTML.

The red team's strings: a design name in a shared link that loads an image from any URL, a bad value
echoed in the link's error box that renders a fake "Fix here" link, an imported run's message in the
Library, param-group names that became clickable links in the legends.  What Streamlit receives is
checked here (AppTest: the Markdown sent, rendered with markdown-it, CommonMark); the browser test
(tests/test_browser_hostile.py) checks what the page shows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import state
from app.text import md, plot
from schedules import load_config
from schedules.share import encode_design
from schedules.workspace import Workspace

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
IMAGE = "![pwned](http://attacker.example/x.png)"
LINK = "[Fix here](http://attacker.example/fix)"
#: Strings that Markdown, GFM, Streamlit's directives and maths, or HTML would all read as something.
HOSTILE = [
    IMAGE,
    LINK,
    "<img src=x onerror=alert(1)>",
    "<a href='http://attacker.example'>click</a>",
    ":red[alarm] :material/warning: :rocket:",
    "$\\href{http://attacker.example}{x}$",
    "**bold** _em_ ~~gone~~ `code`",
    "# heading",
    "- a list",
    "1. a list",
    "> a quote",
    "www.attacker.example and http://attacker.example and me@attacker.example",
    "<http://attacker.example>",
    "back\\slash \\[not a link\\](x)",
]
#: HTML elements that would mean the text was read as Markdown (or HTML) rather than shown.
ELEMENTS = re.compile(r"<(a|img|em|strong|code|s|del|h\d|ul|ol|li|blockquote|script)\b")

markdown_it = pytest.importorskip("markdown_it")


def rendered(markdown: str) -> str:
    """CommonMark HTML of ``markdown`` (with GFM's strikethrough and tables, as Streamlit has)."""
    return markdown_it.MarkdownIt("commonmark").enable(["strikethrough", "table"]).render(markdown)


def text_of(html: str) -> str:
    """The text a reader sees (tags dropped, references decoded, zero-width spaces invisible)."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", "", html)).strip().replace("\u200b", "")


@pytest.mark.parametrize("value", HOSTILE)
def test_md_renders_as_the_same_text_and_nothing_else(value: str) -> None:
    out = rendered(md(value))
    assert not ELEMENTS.search(out), out
    assert text_of(out) == value
    # Streamlit's own syntax: no directive, icon, emoji code or maths delimiter is left unescaped.
    # What GFM links after parsing (bare URLs, www., e-mail) and Streamlit's :codes: are broken with a
    # zero-width space; $ is escaped.
    escaped = md(value)
    assert not re.search(r"(?<!\\)\$", escaped) and not re.search(r":(?=[\w/])", escaped)
    assert "www." not in escaped.lower() and "http:" not in escaped and not re.search(r"[^\u200b]@", escaped)


def test_md_leaves_plain_messages_as_they_are() -> None:
    for line in [
        "training.dataset_size: must be <= 200000, got 300000",
        "Saved 'warmup 4' to the Library.",
        "design 1: name: must be at most 200 characters",
    ]:
        assert md(line) == line


@pytest.mark.parametrize("value", HOSTILE + ["%{x} %{y:.2f}"])
def test_plot_escapes_plotlys_html_and_placeholders(value: str) -> None:
    out = plot(value)
    assert "<" not in out and ">" not in out and "%{" not in out and '"' not in out
    import html as html_lib

    assert html_lib.unescape(out) == value


# --------------------------------------------------------------------------------------------------
# the pages, through AppTest


def _markdown_sent(at: AppTest) -> list[str]:
    elements = [*at.title, *at.markdown, *at.caption, *at.error, *at.warning, *at.info, *at.success]
    return [e.value for e in elements]


def _no_markup(at: AppTest) -> None:
    """No image and no link anywhere on the page (the app's own bold and code around a name are fine)."""
    for source in _markdown_sent(at):
        html = rendered(source)
        assert "<img" not in html and "<a " not in html, source


def test_a_shared_links_design_name_is_shown_as_text() -> None:
    cfg = load_config({"name": IMAGE, "optimizer": {"name": "SGD", "lr": 0.1}, "training": {"max_steps": 20}})
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params[state.QUERY_PARAM] = encode_design(cfg)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (title,) = at.title
    assert title.value == md(IMAGE)
    assert "<img" not in rendered(title.value) and text_of(rendered(title.value)) == IMAGE
    _no_markup(at)


def test_a_bad_value_echoed_from_a_link_is_shown_as_text() -> None:
    """The link's design is refused; its error box names the field and shows the value given as text."""
    import base64
    import zlib

    doc = {
        "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": LINK}},
        "training": {"max_steps": 10},
    }
    token = base64.urlsafe_b64encode(zlib.compress(json.dumps(doc).encode(), 9)).decode().rstrip("=")
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params[state.QUERY_PARAM] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    boxes = [w.value for w in at.warning if "could not be loaded" in w.value]
    assert len(boxes) == 1, [w.value for w in at.warning]
    html = rendered(boxes[0])
    assert "optimizer.kwargs.momentum" in html and "<a " not in html, html
    assert "[Fix here](http" in text_of(html)  # the value, shown as the text it is


def test_an_imported_runs_message_and_name_in_the_library_are_text(tmp_path) -> None:
    source = Workspace(tmp_path / "src" / "workspace.sqlite3")
    run_id = source.start_run(f"run {LINK}", columns=["step", "lr"], device=":red[gpu]", stack="<b>x</b>")
    source.append_rows(run_id, {"step": [0, 1], "lr": [0.1, 0.05]})
    source.finish_run(run_id, "failed", IMAGE)
    source.save_design(
        f"design {IMAGE}", {"optimizer": {"name": "SGD", "lr": 0.1}, "training": {"max_steps": 5}}
    )
    Workspace().import_file(source.export(tmp_path / "export.sqlite3"))

    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page("views/library.py").run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    run_caption = [c for c in captions if "run, failed" in c]
    assert len(run_caption) == 1, captions
    html = rendered(run_caption[0])
    assert "<img" not in html and "<a " not in html and IMAGE in text_of(html), html
    design_caption = [c for c in captions if "sha256 of the canonical" in c]
    assert design_caption and "<img" not in rendered(design_caption[0])
    _no_markup(at)


def test_param_group_names_are_text_in_the_designers_legend() -> None:
    from app.charts import lr_figure
    from schedules.curve import compute_curve

    groups = [
        {"name": "<a href='http://attacker.example'>click</a>", "lr_scale": 1.0},
        {"name": "%{x}", "lr_scale": 0.5},
    ]
    cfg = load_config(
        {"optimizer": {"name": "SGD", "lr": 0.1, "param_groups": groups}, "training": {"max_steps": 20}}
    )
    fig = lr_figure(compute_curve(cfg), show_groups=True)
    names = [t.name for t in fig.data if t.name and t.name.startswith("lr/")]
    assert names == [f"lr/{plot(g['name'])}" for g in groups]
    for trace in fig.data:
        for text in (trace.name or "", trace.hovertemplate or ""):
            assert "<a" not in text and "attacker.example'>" not in text
            assert "%{x}" not in (trace.name or "")


def test_library_run_legends_are_text() -> None:
    import pandas as pd

    from app.library import runs_figures

    frame = pd.DataFrame({"step": [0, 1], "lr": [0.1, 0.05], "loss": [2.0, 1.5]})
    label = "<a href='http://attacker.example'>run</a> (#1)"
    for fig in runs_figures({label: frame}):
        assert [t.name for t in fig.data] == [plot(label)]
