"""Validation problems that name the field, the allowed range and the value given.

Every way a config can be wrong ends up as a list of :class:`Problem`\\s, rendered one per line as
``<field.path>: <what is allowed>, got <value>``.  The CLI prints these lines and exits 2; the app
shows them in an error box; nothing ever shows a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_MAX_VALUE_CHARS = 60


def show_value(value: Any) -> str:
    """A short, unambiguous rendering of a user-supplied value for an error message."""
    if isinstance(value, bool) or value is None:
        text = "true" if value is True else "false" if value is False else "null"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "an object"
        if len(value) <= 4:
            text = "{" + ", ".join(_plain_key(str(k)) and str(k) or json.dumps(str(k)) for k in value) + "}"
    elif isinstance(value, list | tuple):
        try:
            text = repr(list(value[:50])) if len(value) > 50 else repr(list(value))
        except ValueError:  # an integer too long for repr
            text = (
                "["
                + ", ".join(show_value(v) for v in list(value)[:8])
                + (", ...]" if len(value) > 8 else "]")
            )
    elif isinstance(value, int) and value.bit_length() > 200:
        text = f"a {int(value.bit_length() * 0.30103) + 1}-digit integer"
    else:
        try:
            text = repr(value)
        except ValueError:
            text = f"a {type(value).__name__} too long to show"
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def join_path(parts: Iterable[str | int]) -> str:
    """``("training", "accumulation_steps")`` -> ``"training.accumulation_steps"``; ints index lists."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _plain_key(str(part)):
            out += ("." if out else "") + str(part)
        else:  # empty, dotted, bracketed or control-character keys are quoted: ["a.b"]
            out += f"[{json.dumps(str(part))[:_MAX_VALUE_CHARS]}]"
    return out or "(config)"


def _plain_key(key: str) -> bool:
    return bool(key) and key.isprintable() and not any(c in key for c in '.[]" ') and len(key) <= 64


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, what is allowed, and what was given."""

    path: str
    allowed: str
    got: Any = None
    has_value: bool = True

    def prefixed(self, prefix: Sequence[str | int]) -> Problem:
        if not prefix:
            return self
        path = join_path(prefix) if self.path == "(config)" else join_path([*prefix, *_split(self.path)])
        return Problem(path, self.allowed, self.got, self.has_value)

    def __str__(self) -> str:
        text = f"{self.path}: {self.allowed}"
        if self.has_value:
            text += f", got {show_value(self.got)}"
        return _one_line(text)


def _one_line(text: str) -> str:
    """Escape control characters so a problem is always exactly one printable line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _split(path: str) -> list[str | int]:
    """The inverse of :func:`join_path`: ``'a.b[0]["x.y"]'`` -> ``["a", "b", 0, "x.y"]``."""
    parts: list[str | int] = []
    i, n = 0, len(path)
    name = ""
    while i < n:
        c = path[i]
        if c == ".":
            if name:
                parts.append(name)
            name = ""
            i += 1
        elif c == "[":
            if name:
                parts.append(name)
            name = ""
            end = path.find("]", i)
            inner = path[i + 1 : end] if end != -1 else path[i + 1 :]
            if inner.startswith('"'):
                # a quoted key: find the closing quote that is followed by "]"
                j = i + 2
                while j < n and not (path[j] == '"' and path[j - 1] != "\\" and path[j + 1 : j + 2] == "]"):
                    j += 1
                try:
                    parts.append(json.loads(path[i + 1 : j + 1]))
                except ValueError:
                    parts.append(path[i + 2 : j])
                i = j + 2
                continue
            if inner.lstrip("-").isdigit():
                parts.append(int(inner))
            elif inner:
                parts.append(inner)
            i = (end + 1) if end != -1 else n
        else:
            name += c
            i += 1
    if name:
        parts.append(name)
    return parts


class ConfigError(ValueError):
    """A config (or a request built from one) is invalid; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem] | Problem):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]
