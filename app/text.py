"""User strings as text, the one place the app escapes them.

A design's name, a run's message, a log's column, a param group's name, a value echoed in an error:
none of it is the app's own Markdown or HTML, so none of it may become an image, a link, a colour or
a formula.

- :func:`md` for everything Streamlit renders as Markdown (``st.markdown``, ``st.caption``,
  ``st.error`` and the other boxes, ``st.title``, button labels): the characters that start
  Markdown's constructs are backslash-escaped (CommonMark shows an escaped character as itself):
  ``[ ]`` and ``<`` before a letter, ``/``, ``!`` or ``?`` (links, images, autolinks, HTML), `` ` * ~ `` and ``_`` outside a word (code, emphasis), ``$`` (Streamlit's
  maths), ``\\``; and a leading ``# > - + =`` or ``1.`` (headings, quotes, lists).  GFM finds bare
  links (``http://``, ``www.``, ``a@b.c``) in the text *after* parsing, where escapes are gone, and
  Streamlit reads ``:color[...]``, ``:material/...:`` and ``:emoji:`` codes: those are broken with a
  zero-width space (after ``http``, ``www``, a ``:`` before a word, before ``@``), which shows as
  nothing.  Line breaks become spaces.  Everything else (``'``, ``.``, ``:`` before a space, ``>=``)
  stays as it is, so messages read the same.
- :func:`plot` for Plotly's trace names, legend groups and hover templates, which read a subset of
  HTML (``<a href>`` makes a clickable link) and ``%{...}`` placeholders: ``<``, ``>``, ``&``, ``"``,
  ``'`` and ``%`` become character references.

Pure functions (no Streamlit): the chart modules use them too.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["md", "plot"]

_ALWAYS = re.compile(r"([\\`*~\[\]$]|<(?=[A-Za-z/!?]))")
#: An underscore between two letters or digits (``dataset_size``) cannot emphasise (CommonMark's
#: flanking rules): only the others are escaped, so field names read as they are.
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
#: What GFM turns into links *after* parsing (a transform over the text, where backslash escapes are
#: already gone), and Streamlit's ``:color[``, ``:material/...:`` and ``:emoji:``: broken with a zero-width
#: space, which the page shows as nothing.
_AFTER_PARSING = re.compile(r"(?i)(https?|mailto|xmpp|www)(?=[:.])|(?=@)|(?<=:)(?=[\w/+-])")
_LEADING = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")
ZERO_WIDTH_SPACE = "\u200b"


def md(value: Any) -> str:
    """``value`` as text that Streamlit's Markdown shows as is (see the module docstring)."""
    text = " ".join(str(value).splitlines())
    text = _ALWAYS.sub(r"\\\1", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _AFTER_PARSING.sub(lambda m: (m.group(1) or "") + ZERO_WIDTH_SPACE, text)
    return _LEADING.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if not m.group(2)[0].isdigit() else m.group(2) + "\\"), text
    )


def plot(value: Any) -> str:
    """``value`` as text that Plotly shows as is in a trace name, legend or hover label."""
    return html.escape(str(value), quote=True).replace("%", "&#37;")
