"""A run's rows stored compactly: columns packed into one compressed blob per block of rows.

Each block (one per flush of a live run, or a few thousand rows of an imported log) holds every
column as a little-endian array: ``int64`` when every value is an integer, ``float64`` otherwise
(NaN for missing values), or JSON for text.  Numeric arrays are *byte-shuffled* before zlib (byte 0
of every value, then byte 1, ...), which lets zlib find the runs of equal high bytes that smooth
series such as ``step``, ``samples`` and ``lr`` have.  Values round-trip exactly (float64 bits).

Layout: ``b"LRC1"``, a 4-byte little-endian header length, the header (JSON: ``[[name, kind,
nbytes], ...]`` and the row count), then zlib of the concatenated column payloads.

**Decoding is bounded** (a stored block may come from an imported file): the header is at most
:data:`MAX_HEADER_BYTES`, a block at most :data:`MAX_BLOCK_ROWS` rows and :data:`MAX_BLOCK_COLUMNS`
columns, a numeric column exactly ``8 * rows`` bytes, and the header's sizes add up to at most
:data:`MAX_BLOCK_BYTES`; zlib inflates at most that many bytes (``decompressobj`` with
``max_length``), so a zip bomb is refused after inflating its stated size, never more.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MAGIC = b"LRC1"
_KINDS = {"i8": np.dtype("<i8"), "f8": np.dtype("<f8")}
#: Largest block header (JSON) in bytes.
MAX_HEADER_BYTES = 1_000_000
#: Most rows in one block (a live run flushes 256, an imported log 4096).
MAX_BLOCK_ROWS = 65_536
#: Most columns in one block (a live run with 32 param groups has about 50).
MAX_BLOCK_COLUMNS = 256
#: Most bytes one block decodes to (all its columns together).
MAX_BLOCK_BYTES = 64 * 2**20


class CodecError(ValueError):
    """A stored block could not be decoded (a damaged or foreign blob)."""


def _kind(values: Sequence[Any]) -> str:
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return "i8"
    if all(
        v is None or (isinstance(v, float | int | np.floating | np.integer) and not isinstance(v, bool))
        for v in values
    ):
        return "f8"
    return "json"


def _shuffle(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr).view(np.uint8).reshape(-1, arr.dtype.itemsize).T.tobytes()


def _unshuffle(raw: bytes, dtype: np.dtype, n: int) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint8).reshape(dtype.itemsize, n).T.copy().view(dtype).reshape(n)


def json_value(v: Any) -> Any:
    """A value as JSON can hold it: numpy scalars as Python numbers, NaN and infinity as None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def encode_columns(columns: Mapping[str, Sequence[Any] | np.ndarray], level: int = 6) -> bytes:
    """Pack equal-length columns (lists or arrays) into one blob."""
    n = None
    header: list[list[Any]] = []
    payload: list[bytes] = []
    for name, values in columns.items():
        if n is None:
            n = len(values)
        elif len(values) != n:
            raise ValueError(f"column {name!r} has {len(values)} values, expected {n}")
        if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
            kind = "i8" if values.dtype.kind in "iu" else "f8"
            arr = values.astype(_KINDS[kind], copy=False)
        else:
            kind = _kind(list(values))
            if kind == "json":
                arr = None
            else:
                arr = np.asarray([math.nan if v is None else v for v in values], dtype=_KINDS[kind])
        if arr is None:
            data = json.dumps([json_value(v) for v in values], separators=(",", ":")).encode()
        else:
            data = _shuffle(arr)
        header.append([name, kind, len(data)])
        payload.append(data)
    head = json.dumps({"rows": n or 0, "columns": header}, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + zlib.compress(b"".join(payload), level)


def block_header(blob: bytes) -> tuple[int, list[tuple[str, str, int]], int]:
    """``(rows, [(name, kind, nbytes), ...], offset of the zlib body)`` of a block, checked against the
    caps (CodecError otherwise); nothing is inflated."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CodecError(f"a stored run block must be bytes, got {type(blob).__name__}")
    if bytes(blob[:4]) != MAGIC:
        raise CodecError("not a run block (bad magic)")
    if len(blob) < 8:
        raise CodecError("a stored run block is damaged (truncated header)")
    (hlen,) = struct.unpack("<I", bytes(blob[4:8]))
    if hlen > MAX_HEADER_BYTES or 8 + hlen > len(blob):
        raise CodecError(f"a stored run block is damaged (header of {hlen} bytes)")
    try:
        head = json.loads(bytes(blob[8 : 8 + hlen]))
    except (ValueError, RecursionError):
        raise CodecError("a stored run block is damaged (its header is not JSON)") from None
    if not isinstance(head, dict) or not isinstance(head.get("columns"), list):
        raise CodecError("a stored run block is damaged (its header has no column list)")
    n = head.get("rows")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_BLOCK_ROWS:
        raise CodecError(f"a stored run block must have 0 to {MAX_BLOCK_ROWS} rows, its header says {n!r}")
    if len(head["columns"]) > MAX_BLOCK_COLUMNS:
        raise CodecError(
            f"a stored run block must have at most {MAX_BLOCK_COLUMNS} columns, got {len(head['columns'])}"
        )
    columns: list[tuple[str, str, int]] = []
    total = 0
    for entry in head["columns"]:
        ok = isinstance(entry, list) and len(entry) == 3
        name, kind, nbytes = entry if ok else (None, None, None)
        if not (
            isinstance(name, str)
            and kind in ("i8", "f8", "json")
            and isinstance(nbytes, int)
            and not isinstance(nbytes, bool)
            and nbytes >= 0
        ):
            raise CodecError(f"a stored run block is damaged (bad column entry {str(entry)[:80]})")
        if kind != "json" and nbytes != 8 * n:
            raise CodecError(
                f"a stored run block is damaged (column {name[:80]!r} has {nbytes} bytes for {n} rows)"
            )
        total += nbytes
        columns.append((name, kind, nbytes))
    if total > MAX_BLOCK_BYTES:
        raise CodecError(
            f"a stored run block must decode to at most {MAX_BLOCK_BYTES:,} bytes, its header says {total:,}"
        )
    return n, columns, 8 + hlen


def _inflate(body: bytes, size: int) -> bytes:
    """zlib of exactly ``size`` bytes; CodecError when it holds more or less (never inflates past it)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(body, size + 1)
    except zlib.error as exc:
        raise CodecError(f"a stored run block is damaged (zlib: {exc})") from None
    if len(out) > size or d.unconsumed_tail:
        raise CodecError(f"a stored run block decodes to more than the {size:,} bytes its header states")
    if len(out) < size or not d.eof:
        raise CodecError(f"a stored run block is damaged (it decodes to {len(out):,} of {size:,} bytes)")
    return out


def decode_columns(blob: bytes) -> tuple[int, dict[str, np.ndarray | list]]:
    """``(rows, {name: array or list})`` from :func:`encode_columns`'s blob (bounded: module docstring)."""
    n, columns, start = block_header(blob)
    body = _inflate(bytes(blob[start:]), sum(c[2] for c in columns))
    out: dict[str, np.ndarray | list] = {}
    pos = 0
    for name, kind, nbytes in columns:
        raw = body[pos : pos + nbytes]
        pos += nbytes
        if kind == "json":
            try:
                values = json.loads(raw)
            except (ValueError, RecursionError):
                raise CodecError(
                    f"a stored run block is damaged (column {name[:80]!r} is not JSON)"
                ) from None
            if not isinstance(values, list) or len(values) != n:
                raise CodecError(f"a stored run block is damaged (column {name[:80]!r} is not {n} values)")
            if any(isinstance(v, list | dict) for v in values):
                raise CodecError(f"a stored run block is damaged (column {name[:80]!r} holds nested values)")
            out[name] = values
        else:
            out[name] = _unshuffle(raw, _KINDS[kind], n)
    return n, out


def frame_from_blocks(
    blobs: Sequence[bytes], columns: Sequence[str], max_rows: int | None = None
) -> pd.DataFrame:
    """The run's frame: blocks in order, with ``columns`` in this order (missing ones NaN).

    CodecError when a block is damaged or the blocks hold more than ``max_rows`` rows together."""
    parts = []
    rows = 0
    for blob in blobs:
        n, _, _ = block_header(blob)
        rows += n
        if max_rows is not None and rows > max_rows:
            raise CodecError(f"a stored run must have at most {max_rows:,} rows, its blocks hold more")
        n, cols = decode_columns(blob)
        parts.append(pd.DataFrame({c: cols[c] if c in cols else np.full(n, np.nan) for c in columns}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, ignore_index=True)
