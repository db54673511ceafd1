"""A run's rows stored compactly: columns packed into one compressed blob per block of rows.

Each block (one per flush of a live run, or a few thousand rows of an imported log) holds every
column as a little-endian array: ``int64`` when every value is an integer, ``float64`` otherwise
(NaN for missing values), or JSON for text.  Numeric arrays are *byte-shuffled* before zlib (byte 0
of every value, then byte 1, ...), which lets zlib find the runs of equal high bytes that smooth
series such as ``step``, ``samples`` and ``lr`` have.  Values round-trip exactly (float64 bits).

Layout: ``b"LRC1"``, a 4-byte little-endian header length, the header (JSON: ``[[name, kind,
nbytes], ...]`` and the row count), then zlib of the concatenated column payloads.
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


def decode_columns(blob: bytes) -> tuple[int, dict[str, np.ndarray | list]]:
    """``(rows, {name: array or list})`` from :func:`encode_columns`'s blob."""
    try:
        if blob[:4] != MAGIC:
            raise CodecError("not a run block (bad magic)")
        (hlen,) = struct.unpack("<I", blob[4:8])
        head = json.loads(blob[8 : 8 + hlen])
        body = zlib.decompress(blob[8 + hlen :])
        n = int(head["rows"])
        out: dict[str, np.ndarray | list] = {}
        pos = 0
        for name, kind, nbytes in head["columns"]:
            raw = body[pos : pos + nbytes]
            pos += nbytes
            if kind == "json":
                out[name] = json.loads(raw)
            else:
                out[name] = _unshuffle(raw, _KINDS[kind], n)
        return n, out
    except CodecError:
        raise
    except (ValueError, KeyError, TypeError, struct.error, zlib.error) as exc:
        raise CodecError(f"a stored run block is damaged ({type(exc).__name__}: {exc})") from None


def frame_from_blocks(blobs: Sequence[bytes], columns: Sequence[str]) -> pd.DataFrame:
    """The run's frame: blocks in order, with ``columns`` in this order (missing ones NaN)."""
    parts = []
    for blob in blobs:
        n, cols = decode_columns(blob)
        parts.append(pd.DataFrame({c: cols[c] if c in cols else np.full(n, np.nan) for c in columns}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, ignore_index=True)
