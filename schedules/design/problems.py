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

from pydantic import BaseModel, ValidationError

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
            if inner.lstrip("-").isdigit() and inner.isascii():
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


# --------------------------------------------------------------------------------------------------
# pydantic's validation errors as problems that name the field and its allowed range

_RANGE_WORDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _field_bounds(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """Describe the allowed range of the field at ``loc`` from its pydantic constraints."""
    field = _field_at(model, loc)
    if field is None:
        return ""
    lo = hi = None
    for meta in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">=")):
            if getattr(meta, attr, None) is not None:
                lo = f"{sym} {getattr(meta, attr)}"
        for attr, sym in (("lt", "<"), ("le", "<=")):
            if getattr(meta, attr, None) is not None:
                hi = f"{sym} {getattr(meta, attr)}"
    return " and ".join(x for x in (lo, hi) if x)


def _field_at(model: type[BaseModel] | None, loc: tuple[Any, ...]):
    import typing

    current: Any = model
    field = None
    for part in loc:
        if isinstance(part, int):  # a list index: stay on the list's item model
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        nxt = None
        for arg in _flatten(field.annotation, typing):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                nxt = arg
        current = nxt
    return field


def _flatten(tp: Any, typing: Any) -> list[Any]:
    args = typing.get_args(tp)
    if not args:
        return [tp]
    out = []
    for a in args:
        out.extend(_flatten(a, typing))
    return out


def _kind_of(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    field = _field_at(model, loc)
    if field is None:
        return "a number"
    import typing

    kinds = {a for a in _flatten(field.annotation, typing) if a is not type(None)}
    if kinds <= {int}:
        return "an integer"
    if kinds <= {int, float} or kinds == {float}:
        return "a number"
    return "a number"


def problems_from_validation(exc: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """Turn a pydantic ValidationError into Problems that name field, range and value."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Drop union-branch tags pydantic inserts into locations ("int", "list[float]", "literal['epoch']").
        etype = err["type"]
        loc = _without_union_tags(loc, model, keep_last=etype == "extra_forbidden")
        value = err.get("input")
        ctx = err.get("ctx") or {}
        if etype == "value_error" and isinstance(ctx.get("error"), ConfigError):
            out.extend(p.prefixed(list(loc)) for p in ctx["error"].problems)
            continue
        path = join_path(loc)
        bounds = _field_bounds(model, loc)
        if etype in _RANGE_WORDS:
            kind = _kind_of(model, loc)
            out.append(Problem(path, f"must be {kind} {bounds or ''}".rstrip(), value))
        elif etype == "finite_number":
            out.append(Problem(path, f"must be a finite number {bounds}".rstrip(), value))
        elif etype in {"int_type", "int_parsing", "int_from_float"}:
            out.append(Problem(path, f"must be an integer {bounds}".rstrip(), value))
        elif etype in {"float_type", "float_parsing"}:
            out.append(Problem(path, f"must be a number {bounds}".rstrip(), value))
        elif etype in {"bool_type", "bool_parsing"}:
            out.append(Problem(path, "must be true or false", value))
        elif etype in {"string_type"}:
            out.append(Problem(path, "must be a string", value))
        elif etype == "string_too_short":
            out.append(Problem(path, f"must have at least {ctx.get('min_length')} character(s)", value))
        elif etype == "string_too_long":
            out.append(Problem(path, f"must have at most {ctx.get('max_length')} characters", value))
        elif etype == "too_short":
            out.append(Problem(path, f"must have at least {ctx.get('min_length')} item(s)", value))
        elif etype == "too_long":
            out.append(
                Problem(
                    path,
                    f"must have at most {ctx.get('max_length')} items",
                    f"{ctx.get('actual_length')} items",
                )
            )
        elif etype in {"list_type"}:
            out.append(Problem(path, "must be a list", value))
        elif etype in {"dict_type", "model_type", "model_attributes_type"}:
            out.append(Problem(path, "must be an object", value))
        elif etype == "literal_error":
            expected = str(ctx.get("expected"))
            several = " or " in expected or "," in expected
            out.append(Problem(path, f"must be {'one of ' if several else ''}{expected}", value))
        elif etype == "missing":
            out.append(Problem(path, "is required", None, has_value=False))
        elif etype == "extra_forbidden":
            parent = _field_at(model, loc[:-1]) if len(loc) > 1 else None
            sub = None
            if parent is not None:
                import typing

                for a in _flatten(parent.annotation, typing):
                    if isinstance(a, type) and issubclass(a, BaseModel):
                        sub = a
            elif len(loc) == 1 and model is not None:
                sub = model
            allowed = f" (allowed: {', '.join(sub.model_fields)})" if sub is not None else ""
            out.append(Problem(path, f"is not a known field{allowed}", value))
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            out.append(Problem(path, msg[:1].lower() + msg[1:], value))
    # The same field can fail several union branches: keep the first message per path.
    seen: set[str] = set()
    unique = []
    for p in out:
        if p.path not in seen:
            unique.append(p)
            seen.add(p.path)
    return unique


_TAGS = {"int", "float", "str", "bool", "nullable"}


def _without_union_tags(
    loc: tuple[Any, ...], model: type[BaseModel] | None, keep_last: bool
) -> tuple[Any, ...]:
    """Drop the union-branch tags pydantic puts into locations (``int``, ``list[float]``,
    ``literal['epoch']``), but never a user's own key: the unknown key of an ``extra_forbidden`` error
    (``training: {"int": 1}`` is ``training.int``) or a key of a free-form ``kwargs`` object."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        user_key = (keep_last and i == len(loc) - 1) or (i > 0 and loc[i - 1] == "kwargs")
        if (
            not user_key
            and isinstance(part, str)
            and ("[" in part or part in _TAGS)
            and not (isinstance(model, type) and part in model.model_fields and i == 0)
        ):
            continue
        out.append(part)
    return tuple(out)
