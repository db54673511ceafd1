"""Validation problems that name the field, the allowed range and the value given.

Every way a config can be wrong ends up as a list of :class:`Problem`\\s, rendered one per line as
``<field.path>: <what is allowed>, got <value>``.  The CLI prints these lines and exits 2; the app
shows them in an error box; nothing ever shows a traceback.
"""

from __future__ import annotations

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
            text = "{" + ", ".join(str(k) for k in value) + "}"
    elif isinstance(value, list | tuple):
        text = repr(list(value))
    else:
        text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def join_path(parts: Iterable[str | int]) -> str:
    """``("training", "accumulation_steps")`` -> ``"training.accumulation_steps"``; ints index lists."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(config)"


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
        if not self.has_value:
            return f"{self.path}: {self.allowed}"
        return f"{self.path}: {self.allowed}, got {show_value(self.got)}"


def _split(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for dotted in path.split("."):
        name, _, rest = dotted.partition("[")
        if name:
            parts.append(name)
        while rest:
            idx, _, rest = rest.partition("]")
            parts.append(int(idx))
            rest = rest.lstrip("[")
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
