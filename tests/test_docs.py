"""The documentation stays navigable: README.md and docs/*.md link only to files (and headings) that
exist, docs/cli.md documents every ``python -m schedules`` subcommand, the README links every docs page
and stays short (at most 300 lines: the two commands, the tour and the links; the rest lives in docs/).

Anchors are GitHub's: a heading's text, lower-cased, punctuation other than ``-`` and ``_`` dropped,
spaces turned into ``-``, and ``-1``, ``-2`` ... appended to repeats.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from schedules.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
MAX_README_LINES = 300

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
#: ``[text](target)`` and ``![alt](target)``, with an optional ``"title"``; text may hold one level of
#: brackets (``[`lr/<group>`]``) and the target may be written ``<...>``.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto: ...


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's markdown text."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(page: Path) -> list[str]:
    return [m.group(2) for _, line in prose_lines(page.read_text()) if (m := HEADING.match(line))]


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(page):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link and image outside code."""
    out = []
    for number, line in prose_lines(page.read_text()):
        line = CODE_SPAN.sub("", line)
        out += [(number, m.group(1)) for m in INLINE_LINK.finditer(line)]
        if m := REFERENCE_DEF.match(line):
            out.append((number, m.group(1)))
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """One line per link of ``page`` whose file (or heading) does not exist, paths relative to ``root``."""
    problems = []
    for number, target in links(page):
        if not target or EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page
        where = f"{page.relative_to(root)}:{number}: {target}"
        if not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor} in {resolved.relative_to(root)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page: Path) -> None:
    assert links(page), f"{page.relative_to(ROOT)} links nowhere"
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading (with parens)\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[fine](other.md#a-code-heading-with-parens) [also fine](#page)\n"
        "[gone](missing.md) ![gone too](missing.png) [bad anchor](other.md#nowhere)\n"
        "`[in code](missing-too.md)`\n\n```\n[in a fence](missing-three.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md:4: missing.md: no such file",
        "page.md:4: missing.png: no such file",
        "page.md:4: other.md#nowhere: no heading with anchor #nowhere in other.md",
    ]


def test_slugs_follow_github() -> None:
    assert (
        slug("Warmup-stable-decay (WSD) and cosine to a floor")
        == "warmup-stable-decay-wsd-and-cosine-to-a-floor"
    )
    assert slug("`workspace list`") == "workspace-list"
    assert slug("AMP, checked with a real `GradScaler`") == "amp-checked-with-a-real-gradscaler"
    assert slug("muP width multiplier per param group") == "mup-width-multiplier-per-param-group"


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Every subcommand path (``curve``, ``workspace list`` ...) of ``parser``."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(f"{prefix}{name}")
                out += subcommands(sub, f"{prefix}{name} ")
    return out


def test_every_subcommand_is_documented_in_cli_md() -> None:
    cli_md = DOCS / "cli.md"
    commands = subcommands(build_parser())
    assert {"curve", "validate", "train", "workspace", "workspace list"} <= set(commands)
    titles = {h.replace("`", "").strip() for h in headings(cli_md)}
    spans = {
        m.group(2).strip() for _, line in prose_lines(cli_md.read_text()) for m in CODE_SPAN.finditer(line)
    }
    missing = [c for c in commands if c not in titles and c not in spans]
    assert missing == [], f"docs/cli.md has no heading or code span for: {missing}"


def test_readme_is_short_and_links_every_docs_page() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert unlinked == [], f"docs pages not linked from README.md: {unlinked}"
