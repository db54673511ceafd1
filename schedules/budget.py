"""What one request may cost the server: work, wall time and cache memory.

A shared link must not take the server down, so every computation a config can start is bounded
*before* it runs and *while* it runs:

* **Work** (checked at validation, before anything is computed): a curve records
  ``total_steps x param groups`` lrs.  :data:`MAX_CURVE_CELLS` caps that product, so the largest curve
  is about ``MAX_CURVE_CELLS x 16`` bytes of lrs plus 24 bytes per step of step/epoch/samples columns
  (about 130 MB), whatever the link says.  The refusal names ``optimizer.param_groups``.
  :data:`MAX_EVALUATIONS` caps a plateau's evaluations the same way (``plateau.eval_every``).
* **Wall time** (checked while stepping, every :data:`CHECK_EVERY` steps): :class:`Deadline` raises
  :class:`ComputeTimeout`, a :class:`~schedules.design.problems.ConfigError` naming the run length, with how
  far it got.  The app uses :data:`APP_CURVE_SECONDS`, the CLI ``--time-limit`` (default
  :data:`CLI_CURVE_SECONDS`).
* **Memory held between requests**: :class:`BytesLRU` evicts least-recently used entries beyond a byte
  budget (not an entry count: 16 entries of a big curve were 34 GB possible before).

Computation never holds the GIL for long: it is Python-level stepping of torch's scheduler objects
(the interpreter switches threads every ``sys.getswitchinterval()``, 5 ms) and ``lr_lambda``
expressions are float-only (:mod:`schedules.design.expr`), so no single operation runs for seconds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .design import ConfigError, Problem
from .design.base import MAX_CURVE_CELLS, MAX_EVALUATIONS  # checked when a design is validated

__all__ = [
    "APP_CURVE_SECONDS",
    "CHECK_EVERY",
    "CLI_CURVE_SECONDS",
    "MAX_CURVE_CELLS",
    "MAX_EVALUATIONS",
    "PROGRESS_EVERY",
    "BytesLRU",
    "ComputeTimeout",
    "Deadline",
    "deep_nbytes",
    "length_field",
]
#: Wall-time cap of one curve computation in the app (a link must not occupy the server longer).
APP_CURVE_SECONDS = 30.0
#: Default wall-time cap of ``python -m schedules curve`` (``--time-limit`` changes it; 0: none).
CLI_CURVE_SECONDS = 300.0
#: Steps between deadline checks (a few ms of work).
CHECK_EVERY = 2_000
#: Steps between progress reports of a long computation (the app's progress bar).
PROGRESS_EVERY = 50_000


class ComputeTimeout(ConfigError):
    """A computation ran past its wall-time cap; ``problems`` says which field makes it long."""


class Deadline:
    """``check(done)`` raises :class:`ComputeTimeout` once ``seconds`` have passed since creation.

    ``seconds=None`` (or <= 0) never expires.  ``progress(done, total)``, when given, is called from
    ``check`` every :data:`PROGRESS_EVERY` steps (a long computation drives the app's progress bar
    through its deadline).  ``field`` and ``total`` phrase the message, e.g.
    ``training.max_steps: the curve must compute within 30 s; it stopped at step 812,000 of
    2,000,000 (shorten the run, or compute it with the CLI), got '2,000,000 steps'``.
    """

    def __init__(
        self,
        seconds: float | None,
        *,
        field: str = "training",
        total: int = 0,
        what: str = "curve",
        progress: Callable[[int, int], None] | None = None,
    ):
        self.seconds = seconds if seconds and seconds > 0 else None
        self.field = field
        self.total = total
        self.what = what
        self.progress = progress
        self._reported = 0
        self._end = time.monotonic() + self.seconds if self.seconds else None

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() > self._end

    def check(self, done: int) -> None:
        if self.progress is not None and done - self._reported >= PROGRESS_EVERY:
            self._reported = done
            self.progress(done, self.total)
        if self._end is not None and time.monotonic() > self._end:
            raise ComputeTimeout(
                Problem(
                    self.field,
                    f"the {self.what} must compute within {self.seconds:g} s; it stopped at step "
                    f"{done:,} of {self.total:,} (shorten the run, or compute it with the CLI: "
                    "python -m schedules curve --time-limit 0)",
                    f"{self.total:,} steps",
                )
            )


def length_field(config: Any) -> str:
    """The field that sets a config's run length (for messages about its cost)."""
    return "training.max_steps" if config.training.max_steps is not None else "training.epochs"


K = TypeVar("K")
V = TypeVar("V")


class BytesLRU(Generic[K, V]):
    """A thread-safe least-recently-used cache bounded by the bytes of its values.

    ``get_or_compute(key, compute)`` runs ``compute()`` at most once per key at a time: concurrent
    callers of the same key wait for the first (six sessions opening one link compute it once).  A
    value larger than the whole budget is returned but not kept.  ``sizeof(value)`` gives a value's
    bytes.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[V], int]):
        self.max_bytes = int(max_bytes)
        self._sizeof = sizeof
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[K, threading.Lock] = {}

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._data

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            self._data.move_to_end(key)
            return item[0]

    def put(self, key: K, value: V) -> None:
        size = _Failure.nbytes if isinstance(value, _Failure) else int(self._sizeof(value))
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._data:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value, or ``compute()``'s (kept).  A :class:`ConfigError` it raises (a refusal,
        a :class:`ComputeTimeout`) is kept too and raised again: a slow link costs the server once."""
        value = self._hit(key)
        if value is not None:
            return value
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            value = self._hit(key)
            if value is None:
                try:
                    try:
                        value = compute()
                    except ConfigError as exc:
                        self.put(key, _Failure(exc))  # type: ignore[arg-type]
                        raise
                    self.put(key, value)
                finally:
                    with self._lock:
                        self._computing.pop(key, None)
            return value

    def _hit(self, key: K) -> V | None:
        value = self.get(key)
        if isinstance(value, _Failure):
            raise value.error
        return value


class _Failure:
    """A remembered refusal (a few hundred bytes)."""

    nbytes = 256

    def __init__(self, error: ConfigError):
        self.error = error


def deep_nbytes(value: Any, _depth: int = 0) -> int:
    """About the bytes a cached value holds: numpy arrays, pandas frames and series, str and bytes,
    and what containers, dataclasses and plain objects hold of these (for :class:`BytesLRU`).

    Counts the data, not Python's per-object overhead beyond 64 bytes a container; shared arrays
    count once per reference (an over-estimate, the safe side of a budget)."""
    import dataclasses

    import numpy as np
    import pandas as pd

    if _depth > 8:  # a guard against cycles; cached values are shallow
        return 64
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=True).sum())
    if isinstance(value, pd.Series):
        return int(value.memory_usage(index=True, deep=True))
    if isinstance(value, str | bytes | bytearray):
        return len(value) + 49
    if isinstance(value, dict):
        return 64 + sum(deep_nbytes(k, _depth + 1) + deep_nbytes(v, _depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value) if not isinstance(value, list | tuple) else value
        if len(items) > 1000:  # a long list: its first 1000 items, scaled
            return 64 + deep_nbytes(items[:1000], _depth) * len(items) // 1000
        return 64 + sum(deep_nbytes(v, _depth + 1) for v in items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(deep_nbytes(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return 64 + sum(deep_nbytes(v, _depth + 1) for v in vars(value).values())
    return 32
