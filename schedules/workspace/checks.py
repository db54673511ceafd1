"""What an imported workspace file must be before anything of it is added: its schema and every record.

An exported file comes from anyone, so :mod:`.transfer` reads it only through these checks:

- **The schema** (:func:`check_schema`): exactly the tables and indexes a workspace of the file's
  version has, as :data:`.schema.MIGRATIONS` make them (compared with a fresh in-memory database built
  by the same migrations), and nothing else: no view, trigger or extra table or index.  So a table
  replaced by a view over a recursive query, or a trigger that runs when a migration updates a row,
  is refused before any row is read.  A new migration is checked with no change here.
- **Every record** (:func:`check_record`): each column by the type its record's field has
  (:mod:`.records`: text, a finite number, an integer, a JSON list or object, or ``None`` where the
  field is optional), text within :data:`~.records.MAX_TEXT` characters (names within
  :data:`~.records.MAX_NAME`), JSON within :data:`~.records.MAX_JSON_BYTES`; then the rules of each
  table (a run's kind and status are known ones, tags and columns are lists of short strings, a
  fit's parameters are finite numbers).  A new column of a record is checked by its type with no
  change here.
- **Every block of a run's rows** (:func:`check_blocks`): numbered 0, 1, ... with consecutive rows
  adding up to the run's ``n_rows`` (at most :data:`~.records.MAX_RUN_ROWS`), each decoded within
  the codec's bounds (:mod:`.codec`) to the rows it states, with columns the run lists.
- **Last, every design's and run's config** (:func:`check_config`) loads and builds: the one check
  that imports torch, so a file refused for anything else is refused without it.

Every refusal is a :class:`WorkspaceError` (invalid) of one line naming the record and the field.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Union, get_args, get_origin, get_type_hints

from ..design import ConfigError
from .codec import CodecError, decode_columns
from .errors import WorkspaceError
from .records import (
    DESIGNS,
    FITS,
    MAX_JSON_BYTES,
    MAX_NAME,
    MAX_RUN_CELLS,
    MAX_RUN_COLUMNS,
    MAX_RUN_ROWS,
    MAX_TAGS,
    MAX_TEXT,
    RUNS,
    Table,
    config_hash,
)
from .schema import MIGRATIONS

__all__ = [
    "MAX_RECORDS",
    "MAX_UID",
    "check_blocks",
    "check_config",
    "check_record",
    "check_schema",
    "expected_schema",
    "unexpected_objects",
]

#: Most records of each table an imported file may hold.
MAX_RECORDS = 10_000
#: Longest ``uid`` (a new one is 32 hex digits).
MAX_UID = 64
#: Columns whose text is a name (at most :data:`MAX_NAME` characters); other text: :data:`MAX_TEXT`.
NAME_COLUMNS = frozenset({"name", "law", "stack", "device", "kind", "status", "hash"})

_SPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------------
# the schema


def _normal(sql: str | None) -> str:
    return _SPACE.sub(" ", (sql or "").strip()).lower()


def expected_schema(version: int) -> set[tuple[str, str, str, str]]:
    """``{(type, name, table, sql)}`` of every object a workspace of ``version`` has, from the
    migrations themselves (run on an empty in-memory database; sql with its whitespace collapsed)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("BEGIN")
        for v in range(version):
            MIGRATIONS[v](conn)
        conn.execute("COMMIT")
        return _objects(conn)
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> set[tuple[str, str, str, str]]:
    return {
        (str(t), str(n), str(tb), _normal(sql))
        for t, n, tb, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
    }


def unexpected_objects(conn: sqlite3.Connection, version: int) -> tuple[list[str], list[str]]:
    """``(unexpected, missing)``: the file's objects a workspace of ``version`` does not have (``"view
    designs"``), and the ones it lacks."""
    have, want = _objects(conn), expected_schema(version)
    unexpected = sorted(have - want)
    missing = sorted(want - have)
    names_wanted = {(t, n) for t, n, _, _ in want}
    described = [
        f"{t} {n!r}" + (" (defined differently)" if (t, n) in names_wanted else "")
        for t, n, _, _ in unexpected
    ]
    names_had = {(t, n) for t, n, _, _ in have}
    lacking = [f"{t} {n!r}" for t, n, _, _ in missing if (t, n) not in names_had]
    return described, lacking


def check_schema(conn: sqlite3.Connection, version: int, what: str) -> None:
    """Refuse (WorkspaceError) a file whose schema is not exactly that of a workspace of ``version``."""
    unexpected, missing = unexpected_objects(conn, version)
    if unexpected:
        raise WorkspaceError(
            f"{what}: is not a workspace export: it has {unexpected[0]}"
            + (f" and {len(unexpected) - 1} more unexpected object(s)" if len(unexpected) > 1 else "")
            + f" (a version-{version} workspace has only its own tables and indexes); nothing was imported",
            invalid=True,
        )
    if missing:
        raise WorkspaceError(
            f"{what}: is not a workspace export: it lacks {missing[0]}; nothing was imported", invalid=True
        )


# --------------------------------------------------------------------------------------------------
# records: each column by its field's type, then the table's own rules


def _refuse(where: str, column: str, rule: str, value: Any) -> WorkspaceError:
    shown = repr(value)
    if len(shown) > 80:
        shown = f"{shown[:60]}... ({len(value) if hasattr(value, '__len__') else len(shown):,} long)"
    return WorkspaceError(f"{where}: {column}: {rule}, got {shown}; nothing was imported", invalid=True)


def _field_kind(hint: Any) -> tuple[str, bool]:
    """``(kind, optional)``: kind is text | real | integer | list | dict."""
    optional = False
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        optional = len(args) < len(get_args(hint))
        hint = args[0] if len(args) == 1 else hint
    origin = get_origin(hint) or hint
    kind = {str: "text", float: "real", int: "integer", list: "list", dict: "dict"}.get(origin, "any")
    return kind, optional


def _typed(table: Table[Any], column: str, value: Any, where: str) -> Any:
    """``value`` checked by the type of the record's field; JSON columns are returned parsed."""
    kind, optional = _field_kind(get_type_hints(table.record_type)[column])
    if value is None:
        if optional:
            return None
        raise _refuse(where, column, "must not be empty (NULL)", value)
    if kind == "text" or kind in ("list", "dict"):
        if not isinstance(value, str):
            raise _refuse(where, column, "must be text", value)
        limit = (
            MAX_JSON_BYTES if kind in ("list", "dict") else (MAX_NAME if column in NAME_COLUMNS else MAX_TEXT)
        )
        if column == "config":
            limit = MAX_JSON_BYTES
        if len(value) > limit:
            raise _refuse(where, column, f"must be at most {limit:,} characters", value)
        if kind == "text":
            return value
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise _refuse(where, column, f"must be a JSON {kind}", value) from None
        if not isinstance(parsed, list if kind == "list" else dict):
            raise _refuse(where, column, f"must be a JSON {kind}", value)
        return parsed
    if kind == "real":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _refuse(where, column, "must be a finite number", value)
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(where, column, "must be an integer", value)
        return value
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON has no {name}")


def _strings(where: str, column: str, values: list[Any], most: int) -> None:
    if len(values) > most:
        raise _refuse(where, column, f"must have at most {most} entries", values)
    for v in values:
        if not isinstance(v, str) or len(v) > MAX_NAME:
            raise _refuse(where, column, f"must be a list of strings of at most {MAX_NAME} characters", v)


def _name(where: str, name: str) -> None:
    if not name.strip():
        raise _refuse(where, "name", "must be a non-empty name", name)


def _uid(where: str, uid: str) -> None:
    if not uid or len(uid) > MAX_UID or not uid.isascii() or not uid.isprintable():
        raise _refuse(where, "uid", f"must be 1 to {MAX_UID} printable ASCII characters", uid)


def _config(where: str, column: str, text: str) -> str:
    """The config's hash; refused when it does not load and build."""
    from ..build import load_config  # torch: imported once a file's cheap checks have passed

    try:
        return config_hash(load_config(text))
    except ConfigError as exc:
        raise WorkspaceError(
            f"{where}: {column}: is not a valid design ({exc.lines()[0]}); nothing was imported", invalid=True
        ) from None


def _design_rules(where: str, rec: dict[str, Any]) -> None:
    _name(where, rec["name"])
    _strings(where, "tags", rec["tags"], MAX_TAGS)


def _run_rules(where: str, rec: dict[str, Any]) -> None:
    from .runs import RUN_KINDS, RUN_STATUSES

    _name(where, rec["name"])
    if rec["kind"] not in RUN_KINDS:
        raise _refuse(where, "kind", f"must be one of {', '.join(RUN_KINDS)}", rec["kind"])
    if rec["status"] not in RUN_STATUSES:
        raise _refuse(where, "status", f"must be one of {', '.join(RUN_STATUSES)}", rec["status"])
    _strings(where, "columns", rec["columns"], MAX_RUN_COLUMNS)
    if len(set(rec["columns"])) != len(rec["columns"]):
        raise _refuse(where, "columns", "must not repeat a name", rec["columns"])
    if not 0 <= rec["n_rows"] <= MAX_RUN_ROWS:
        raise _refuse(where, "n_rows", f"must be between 0 and {MAX_RUN_ROWS:,}", rec["n_rows"])
    if rec["n_rows"] * len(rec["columns"]) > MAX_RUN_CELLS:
        raise _refuse(
            where,
            "n_rows",
            f"times its {len(rec['columns'])} columns must be at most {MAX_RUN_CELLS:,}",
            rec["n_rows"],
        )
    _strings(where, "tags", rec["tags"], MAX_TAGS)


def _fit_rules(where: str, rec: dict[str, Any]) -> None:
    _name(where, rec["name"])
    if not rec["law"].strip():
        raise _refuse(where, "law", "must be a non-empty name", rec["law"])
    for key, value in rec["params"].items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _refuse(where, f"params.{key[:80]}", "must be a finite number", value)
    if len(rec["runs"]) > MAX_RECORDS or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in rec["runs"]
    ):
        raise _refuse(
            where, "runs", f"must be a list of at most {MAX_RECORDS} run ids (integers)", rec["runs"]
        )


#: The rules of each table on top of the columns' types (a table without any: types only).
RULES: dict[str, Callable[[str, dict[str, Any]], None]] = {
    DESIGNS.name: _design_rules,
    RUNS.name: _run_rules,
    FITS.name: _fit_rules,
}


def check_config(table: Table[Any], record_id: int, config: str | None, what: str) -> str | None:
    """The hash of a design's or run's config (None without one), refused naming the record when the
    config does not load and build.  Called after every record's types and every block have passed:
    it is the one check that needs torch (seconds to import on a loaded machine), so a file refused
    for anything else is refused without it."""
    if config is None:
        return None
    return _config(f"{what}: {table.noun} {record_id!r}", "config", config)


def check_record(table: Table[Any], row: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The row's stored values (JSON columns as text, re-serialised), checked; WorkspaceError naming
    the record (``<file>: design 3``) and the column otherwise."""
    where = f"{what}: {table.noun} {row['id']!r}"
    rec = {c: _typed(table, c, row[c], where) for c in table.columns}
    _uid(where, rec["uid"])
    RULES.get(table.name, lambda w, r: None)(where, rec)
    return {
        c: (json.dumps(v, separators=(",", ":"), allow_nan=False) if c in table.json_columns else v)
        for c, v in rec.items()
    }


# --------------------------------------------------------------------------------------------------
# a run's blocks


def check_blocks(blocks: Iterable[tuple[int, int, int, bytes]], run: Mapping[str, Any], what: str) -> int:
    """Check a run's blocks ``(seq, first_row, n_rows, data)`` in ``seq`` order against the run's
    ``n_rows`` and ``columns`` (decoding each within the codec's bounds); returns how many there are."""
    where = f"{what}: run {run['id']!r}"
    columns = set(json.loads(run["columns"]))
    rows = 0
    count = 0
    for seq, first_row, n_rows, data in blocks:
        here = f"{where}: block {seq!r}"
        if seq != count or first_row != rows or not isinstance(n_rows, int) or n_rows < 1:
            raise WorkspaceError(
                f"{here}: must be block {count} starting at row {rows} with at least one row, got block "
                f"{seq!r} at row {first_row!r} with {n_rows!r} rows; nothing was imported",
                invalid=True,
            )
        if rows + n_rows > run["n_rows"]:
            raise WorkspaceError(
                f"{here}: the run's blocks hold more than its {run['n_rows']:,} rows; nothing was imported",
                invalid=True,
            )
        try:
            decoded_rows, cols = decode_columns(data)
        except CodecError as exc:
            raise WorkspaceError(f"{here}: {exc}; nothing was imported", invalid=True) from None
        if decoded_rows != n_rows:
            raise WorkspaceError(
                f"{here}: decodes to {decoded_rows} rows, its record says {n_rows}; nothing was imported",
                invalid=True,
            )
        extra = sorted(set(cols) - columns)
        if extra:
            raise WorkspaceError(
                f"{here}: has column {extra[0][:80]!r}, which the run does not list; nothing was imported",
                invalid=True,
            )
        rows += n_rows
        count += 1
    if rows != run["n_rows"]:
        raise WorkspaceError(
            f"{where}: its blocks hold {rows:,} rows, its record says {run['n_rows']:,}; nothing was imported",
            invalid=True,
        )
    return count
