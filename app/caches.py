"""Byte-bounded caches of the Run logs and Import / export pages, shared by every session.

``st.cache_data(max_entries=...)`` bounds entries, not bytes: eight 16 MB run logs (and the frames
read from them) or 32 exports' target curves of a 2,000,000-step design could hold gigabytes.  These
caches are :class:`schedules.budget.BytesLRU` instances with byte budgets instead (sizes from
:func:`schedules.budget.deep_nbytes`), like the curve cache in :mod:`app.ui`.  A refusal
(:class:`~schedules.design.problems.ConfigError`) is remembered too, so a bad file costs the server once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from app import configs
from schedules.budget import BytesLRU, deep_nbytes
from schedules.logs import RunLog, read_log

#: Bytes of parsed run logs kept (the uploaded bytes are not kept: the key is their SHA-256).
RUN_LOG_CACHE_BYTES = 96 * 1024 * 1024
#: Bytes of exports (code text, JSON payloads and their warnings).
EXPORT_CACHE_BYTES = 16 * 1024 * 1024
#: Bytes of the curves an inexact export gives (drawn over the design).
TARGET_CURVE_CACHE_BYTES = 64 * 1024 * 1024

RUN_LOGS: BytesLRU[tuple[str, str, str | None], RunLog] = BytesLRU(RUN_LOG_CACHE_BYTES, deep_nbytes)
EXPORTS: BytesLRU[tuple[str, str], tuple[object, list[str]]] = BytesLRU(EXPORT_CACHE_BYTES, deep_nbytes)
TARGET_CURVES: BytesLRU[tuple[str, str, str], np.ndarray] = BytesLRU(TARGET_CURVE_CACHE_BYTES, deep_nbytes)


def cached_log(data: bytes, name: str, setting: str | None = None) -> RunLog:
    """``schedules.logs.read_log`` of an upload, once per (content, name, setting)."""
    key = (hashlib.sha256(data).hexdigest(), name, setting)
    return RUN_LOGS.get_or_compute(key, lambda: read_log(data, name, setting))


def cached_export(cache_key: str, target: str, curve: Any = None) -> tuple[object, list[str]]:
    """One export of a design (``curve``: its already computed curve, not part of the key)."""
    from schedules.interop import TARGETS

    return EXPORTS.get_or_compute(
        (cache_key, target), lambda: TARGETS[target].export(configs.config_of(cache_key), curve=curve)
    )


def cached_target_curve(cache_key: str, target: str, payload_json: str) -> np.ndarray:
    """The lrs the target gives for an exported payload, shape (T, groups)."""
    from schedules.interop import target_curve

    return TARGET_CURVES.get_or_compute(
        (cache_key, target, payload_json),
        lambda: target_curve(target, configs.config_of(cache_key), json.loads(payload_json)),
    )


def clear() -> None:
    for cache in (RUN_LOGS, EXPORTS, TARGET_CURVES):
        cache.clear()
