"""Trace a real run and diagnose what happened to its schedule.

``python -m schedules trace -- python train.py ...`` runs the user's own command unchanged with a
tracer in every Python process it starts; ``python -m schedules diagnose TRACE.csv`` names what went
wrong with the schedule, with the evidence and the fix.  In a notebook::

    import schedules

    with schedules.trace("trace.csv", design="design.json") as t:
        train()                          # the user's own loop, untouched
    print(t.diagnose().text())

The modules, lowest first:

- :mod:`.names`     the trace's columns, the environment variable, the sidecar's name
- :mod:`.writer`    one process's part file (stdlib only: it runs inside the user's processes)
- :mod:`.hooks`     torch's own hooks, installed when the user's code imports torch
- :mod:`.inject`    the ``sitecustomize`` put first on the command's ``PYTHONPATH``
- :mod:`.merge`     the parts of every process -> ``TRACE.csv`` and its sidecar ``TRACE.meta.json``
- :mod:`.session`   run a command traced (the CLI) or trace this process (``schedules.trace``)
- :mod:`.observed`  a trace or any run log the studio reads, as the rows to explain
- :mod:`.infer`     the intended family (warmup + cosine / linear / constant / step / WSD) of a curve
- :mod:`.causes`    the cause codes, their texts and the fix per stack
- :mod:`.diagnose`  the comparison: a design's curve (or the inferred family) against the run
- :mod:`.cli`       the ``trace`` and ``diagnose`` commands

Importing this package imports no torch (nor numpy, pandas): a process that never imports torch
(pip, a shell helper started by the traced command) pays nothing for the tracer.

``schedules.trace`` is both this package and the notebook API: calling the package opens a
:class:`~schedules.trace.session.TraceSession`, so ``schedules.trace(...)`` works however the name was
reached first (``import schedules.trace.cli`` binds the package to it, as Python does for every
subpackage).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .names import ENV_DIR, META_SUFFIX, TRACE_COLUMNS, meta_path


def open_trace(path: Any = None, *, design: Any = None) -> Any:
    """``with schedules.trace(path, design=...) as t:``: trace the optimizer steps of this process.

    Args:
        path: the trace CSV to write when the block ends (``None``: keep it in ``t.frame`` only).
        design: a design (path, dict or config) to diagnose against; stored in the sidecar.

    Returns:
        A :class:`~schedules.trace.session.TraceSession` (a context manager).
    """
    from .session import TraceSession

    return TraceSession(path, design=design)


class _Package(types.ModuleType):
    """This package, callable: ``schedules.trace(path, design=...)`` is :func:`open_trace`."""

    def __call__(self, path: Any = None, *, design: Any = None) -> Any:
        return open_trace(path, design=design)


sys.modules[__name__].__class__ = _Package
#: What ``schedules.trace`` resolves to from the package face: this package itself (callable), so the
#: name means the same object however it was reached first.
trace = sys.modules[__name__]

__all__ = ["ENV_DIR", "META_SUFFIX", "TRACE_COLUMNS", "meta_path", "open_trace", "trace"]
