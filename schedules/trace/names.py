"""The names every part of the tracer shares: the trace's columns, the environment variable that
turns the injected tracer on, the sidecar's name.  Standard library only (it is imported inside the
user's processes), and imports nothing of the studio: the package and its modules all import it.
"""

from __future__ import annotations

from typing import Any

#: Columns of a trace CSV, in order (``lr/<group>`` columns follow ``lr`` when there are 2+ groups).
TRACE_COLUMNS = ("rank", "step", "lr", "scheduler_steps", "micro_batches", "skipped", "plateau_steps")
#: The environment variable that turns the injected tracer on: the folder for the part files.
ENV_DIR = "LRS_TRACE_DIR"
#: The sidecar of ``TRACE.csv``: ``TRACE.meta.json`` (schedulers seen, processes, command, design).
META_SUFFIX = ".meta.json"


def meta_path(csv_path: Any) -> str:
    """The sidecar JSON of a trace CSV: ``run.csv`` -> ``run.meta.json``."""
    text = str(csv_path)
    stem = text[:-4] if text.lower().endswith(".csv") else text
    return stem + META_SUFFIX
