"""What every ``python -m schedules`` command shares: the registry, exit codes and output.

A capability registers its commands here from its own module (``schedules/train/cli.py`` registers
``train``, ``schedules/forecast/cli.py`` ``forecast`` ...) with :func:`command`; :mod:`schedules.cli`,
above them all, imports those modules and builds the parser from :data:`COMMANDS`.  Nothing here
imports the rest of the studio, so a command module never imports upward.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]

#: name -> (help, add_arguments, handler), in registration order.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register ``name``: ``@command("train", "the live run, headless", _train_args)`` on its handler."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, add_arguments, fn)
        return fn

    return register


def open_out(path: str | None) -> tuple[TextIO, bool]:
    """The output stream for ``-o PATH`` (stdout for None or ``-``), and whether to close it."""
    if path in (None, "-"):
        return sys.stdout, False
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8", newline=""), True


def write_frame(frame, path: str | None) -> None:
    """Write a DataFrame as CSV with full float precision (every value round-trips exactly)."""
    out, close = open_out(path)
    try:
        frame.to_csv(out, index=False, lineterminator="\n")
    finally:
        if close:
            out.close()
