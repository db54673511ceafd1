"""Reading a design: JSON text, a file or a dict -> a validated :class:`ScheduleConfig`; its JSON Schema.

:func:`read_design` and :func:`parse_design_json` validate the design as data (no torch);
:func:`schedules.load_config` and :func:`schedules.parse_config_json` add torch's own check that the
design builds, and are what users and the rest of the studio call.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .base import MAX_CONFIG_BYTES
from .decay import DECAY_KWARGS
from .problems import ConfigError, Problem, join_path, problems_from_validation
from .spec import ScheduleConfig


def read_design(source: str | os.PathLike | dict[str, Any] | ScheduleConfig) -> ScheduleConfig:
    """Validate a design from a dict, JSON text, a JSON file path, or an existing config (no torch).

    A file is read when ``source`` is a :class:`pathlib.Path` (any ``os.PathLike``) or a string that
    names a ``.json`` file (``read_design("design.json")``). Any other
    string is JSON text: ``read_design("0")`` is "must be a JSON object", never a file look-up.

    Raises :class:`~schedules.design.problems.ConfigError` listing every problem (field path, allowed range,
    value given).
    """
    if isinstance(source, ScheduleConfig):
        return source
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _names_json_file(source)):
        path = Path(source)
        data = read_bounded(path, MAX_CONFIG_BYTES, "a config is a small JSON document")
        try:
            return parse_design_json(data)
        except ConfigError as exc:  # the file's own problems name the file, not "(file)"
            raise ConfigError(
                [
                    Problem(str(path), p.allowed, p.got, p.has_value) if p.path == "(file)" else p
                    for p in exc.problems
                ]
            ) from None
    if isinstance(source, str):
        if not source.lstrip().startswith("{"):
            shown = source if len(source) <= 60 else source[:57] + "..."
            raise ConfigError(
                Problem(
                    "(config)", "must be a JSON object (JSON text, a dict, or a path to a .json file)", shown
                )
            )
        return parse_design_json(source)
    if not isinstance(source, dict):
        raise ConfigError(Problem("(config)", "must be a JSON object", type(source).__name__))
    try:
        return ScheduleConfig.model_validate(source)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, ScheduleConfig)) from None
    except RecursionError:
        raise ConfigError(Problem("(config)", "is nested too deeply", None, has_value=False)) from None


def _names_json_file(text: str) -> bool:
    """A string is taken as a file path only when it looks like one: one line ending in ``.json``."""
    stripped = text.strip()
    return (
        stripped.lower().endswith(".json")
        and "\n" not in stripped
        and not stripped.startswith(("{", "[", '"'))
        and len(stripped) <= 4096
    )


def read_bounded(path: str | os.PathLike, limit: int, why: str = "") -> bytes:
    """The bytes of the file ``path``, reading at most ``limit + 1`` of them: ConfigError naming the
    file when it holds more (``/dev/zero`` stops after ``limit + 1`` bytes), is a folder, or cannot be
    read.  ``why``: said after the limit (``"a config is a small JSON document"``)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(Problem(str(path), "must be a file, not a folder", None, has_value=False))
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(
            Problem(str(path), f"cannot read the file ({exc.strerror or exc})", None, has_value=False)
        ) from None
    if len(data) > limit:
        raise ConfigError(
            Problem(
                str(path),
                f"must be at most {limit:,} bytes" + (f" ({why})" if why else ""),
                f"more than {limit:,} bytes",
            )
        )
    return data


#: Byte-order marks of encodings that are not UTF-8 (a file saved as UTF-16 by an editor).
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def text_of(data: bytes, what: str) -> str:
    """``data`` as UTF-8 text (a UTF-8 byte-order mark dropped); ConfigError naming ``what`` for a
    binary file or another encoding (UTF-16 is named as such)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise ConfigError(
                Problem(what, f"must be UTF-8 text; it is {name} (save it as UTF-8)", None, has_value=False)
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            Problem(
                what,
                "must be UTF-8 text (is it a binary file?)",
                f"byte 0x{data[exc.start]:02x} at offset {exc.start}",
            )
        ) from None


def parse_design_json(text: str | bytes) -> ScheduleConfig:
    """Parse and validate design JSON text (as uploaded or read from a file; no torch)."""
    if len(text) > MAX_CONFIG_BYTES:
        unit = "bytes" if isinstance(text, bytes) else "characters"
        raise ConfigError(
            Problem(
                "(file)",
                f"must be at most {MAX_CONFIG_BYTES:,} {unit} (a config is a small JSON document)",
                f"{len(text):,} {unit}",
            )
        )
    if isinstance(text, bytes):
        text = text_of(text, "(file)")
    try:
        data = json.loads(
            text, parse_constant=_NotANumber, parse_int=_json_int, object_pairs_hook=_no_repeats
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(
            Problem(
                "(file)",
                f"must be valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                None,
                has_value=False,
            )
        ) from None
    except RecursionError:
        raise ConfigError(Problem("(file)", "is nested too deeply", None, has_value=False)) from None
    if not isinstance(data, dict | _NotANumber):  # `[Infinity]` is first of all not a config
        raise ConfigError(Problem("(config)", "must be a JSON object", type(data).__name__))
    markers = list(_markers(data, ()))
    if isinstance(data, dict):  # under an unknown top-level key: read_design names the key itself
        markers = [
            (path, m)
            for path, m in markers
            if path and (path[0] in ScheduleConfig.model_fields or isinstance(m, _RepeatedKey))
        ]
    if markers:  # NaN, Infinity or a huge integer: named by its field, never "(file)"
        raise ConfigError([marker.problem(path) for path, marker in markers[:20]])
    if not isinstance(data, dict):
        raise ConfigError(Problem("(config)", "must be a JSON object", type(data).__name__))
    return read_design(data)


class _NotANumber:
    """What ``NaN``/``Infinity``/``-Infinity`` parse to: found afterwards and reported by field."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:  # as the JSON text had it, where a message shows the value
        return self.name

    def problem(self, path: tuple[Any, ...]) -> Problem:
        return Problem(
            join_path(path) if path else "(file)",
            f"must be a finite number (JSON has no {self.name}: NaN and Infinity are not allowed)",
            self.name,
        )


#: Python refuses int("...") beyond this many digits (sys.int_info.default_max_str_digits).
_MAX_INT_DIGITS = 4300


class _HugeInteger(_NotANumber):
    def problem(self, path: tuple[Any, ...]) -> Problem:
        return Problem(
            join_path(path) if path else "(file)",
            f"must be a number of at most {_MAX_INT_DIGITS} digits",
            self.name,
        )


class _RepeatedKey(_NotANumber):
    """What a key given twice in one object parses to: reported by field, never resolved silently."""

    def problem(self, path: tuple[Any, ...]) -> Problem:
        return Problem(
            join_path(path) if path else "(file)",
            "must appear once in its object (JSON with a repeated key is ambiguous: which value is meant?)",
            self.name,
            has_value=False,
        )


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out[key] = _RepeatedKey(key) if key in out else value
    return out


def _json_int(text: str) -> int | _HugeInteger:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return _HugeInteger(f"a {len(text.lstrip('-'))}-digit integer")
    return int(text)


def _markers(obj: Any, path: tuple[Any, ...], depth: int = 0):
    if isinstance(obj, _NotANumber):
        yield path, obj
    elif depth > 200:
        return
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _markers(v, (*path, k), depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _markers(v, (*path, i), depth + 1)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config, with the per-scheduler kwargs as if/then branches."""
    schema = ScheduleConfig.model_json_schema()
    defs = schema.setdefault("$defs", {})
    branches = []
    for name, model in DECAY_KWARGS.items():
        sub = model.model_json_schema(ref_template="#/$defs/{model}")
        for key, val in sub.pop("$defs", {}).items():
            defs[key] = val
        defs[model.__name__] = sub
        branches.append(
            {
                "if": {"properties": {"scheduler": {"const": name}}, "required": ["scheduler"]},
                "then": {"properties": {"kwargs": {"$ref": f"#/$defs/{model.__name__}"}}},
            }
        )
    defs["DecayConfig"]["allOf"] = branches
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "lr-schedule/v1"
    return schema


SCHEMA_PATH = Path(__file__).with_name("lr-schedule-v1.schema.json")


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
