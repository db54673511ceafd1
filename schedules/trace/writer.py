"""One process's part of a trace: an append-only text file, written as the run goes.

Standard library only: it runs inside the user's processes.  Every line is written with one
``os.write`` on a file opened ``O_APPEND``, so a process killed mid-run leaves every row it took, and
processes never share a file (a part is named by pid and start time; a forked child opens its own).

Line format (the merge, :mod:`schedules.trace.merge`, reads it back):

- ``R,<optimizer>,<skipped>,<scheduler_steps>,<plateau_steps>,<micro_batches>,<lr0>;<lr1>...``: one
  optimizer step (``skipped`` 1: a ``GradScaler`` step that did not update); the lrs are each param
  group's ``lr`` read right before the step, written with ``repr`` (exact).
- ``#{json}``: an event (``start``, ``optimizer``, ``scheduler``, ``scheduler_state_loaded``,
  ``optimizer_state_loaded``, ``rank``, ``stack``, ``end``).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from typing import Any

#: Part files are named ``part-<pid>-<ns>`` + this.
PART_SUFFIX = ".lrtrace"
#: Most items of a list (and characters of a string) kept when describing a constructor argument.
MAX_ITEMS = 64
MAX_CHARS = 200


class PartWriter:
    """Writes this process's part file in ``directory``; opened at the first line."""

    def __init__(self, directory: str):
        self.directory = directory
        self.fd: int | None = None
        self.path: str | None = None
        self.pid = os.getpid()

    def _open(self) -> int:
        self.pid = os.getpid()
        name = f"part-{self.pid}-{time.time_ns()}{PART_SUFFIX}"
        self.path = os.path.join(self.directory, name)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        env = {k: os.environ[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE") if k in os.environ}
        self._line(
            "#"
            + json.dumps(
                {
                    "event": "start",
                    "pid": self.pid,
                    "ppid": os.getppid(),
                    "time": time.time(),
                    "argv": [str(a)[:MAX_CHARS] for a in sys.argv[:16]],
                    "env": env,
                }
            )
        )
        return self.fd

    def _line(self, text: str) -> None:
        os.write(self.fd if self.fd is not None else self._open(), (text + "\n").encode("utf-8"))

    def row(self, optimizer: int, skipped: int, scheduler: int, plateau: int, micro: int, lrs: list) -> None:
        """One optimizer step (see the module docstring)."""
        self._line(f"R,{optimizer},{skipped},{scheduler},{plateau},{micro},{';'.join(map(repr, lrs))}")

    def event(self, data: dict[str, Any]) -> None:
        self._line("#" + json.dumps(data, default=str))

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def forked(self) -> PartWriter:
        """The writer of a forked child: the same folder, a part of its own (the parent's fd is left
        to the parent)."""
        return PartWriter(self.directory)


# --------------------------------------------------------------------------------------------------
# describing constructor arguments (JSON-safe, bounded)


def describe(value: Any, depth: int = 0) -> Any:
    """A JSON-safe description of a scheduler's constructor argument.

    Numbers, strings, booleans and ``None`` as they are; lists and dicts item by item (at most
    :data:`MAX_ITEMS`); a ``functools.partial`` (transformers' ``get_*_schedule_with_warmup`` lambdas)
    as ``{"function", "module", "args", "keywords"}``; a scheduler as ``{"scheduler": id}``; another
    callable as ``{"function", "module"}`` plus its simple attributes; anything else by type name.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value[:MAX_CHARS] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth > 4:
        return {"object": type(value).__name__}
    if isinstance(value, (list, tuple)):
        return [describe(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {str(k)[:MAX_CHARS]: describe(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, functools.partial):
        func = value.func
        return {
            "function": getattr(func, "__qualname__", type(func).__name__),
            "module": getattr(func, "__module__", None),
            "args": [describe(v, depth + 1) for v in value.args[:MAX_ITEMS]],
            "keywords": {k: describe(v, depth + 1) for k, v in list(value.keywords.items())[:MAX_ITEMS]},
        }
    kind = type(value)
    if hasattr(value, "optimizer") and hasattr(value, "step") and hasattr(value, "state_dict"):
        return {"scheduler": id(value), "class": kind.__qualname__}
    numel = getattr(value, "numel", None)
    if callable(numel) and hasattr(value, "item"):  # a tensor
        try:
            return float(value.item()) if numel() == 1 else {"tensor": list(getattr(value, "shape", ()))}
        except Exception:
            return {"object": kind.__name__}
    if callable(value):
        out: dict[str, Any] = {
            "function": getattr(value, "__qualname__", kind.__qualname__),
            "module": getattr(value, "__module__", kind.__module__),
        }
        attrs = getattr(value, "__dict__", None)
        if isinstance(attrs, dict):
            simple = {
                k: describe(v, depth + 1)
                for k, v in list(attrs.items())[:MAX_ITEMS]
                if not k.startswith("_") and (v is None or isinstance(v, (bool, int, float, str)))
            }
            if simple:
                out["attributes"] = simple
        return out
    return {"object": kind.__qualname__, "module": kind.__module__}
