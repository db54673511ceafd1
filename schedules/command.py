"""What every ``python -m schedules`` command shares: the registry, exit codes and output.

A capability registers its commands here from its own module (``schedules/train/cli.py`` registers
``train``, ``schedules/forecast/cli.py`` ``forecast`` ...) with :func:`command`; :mod:`schedules.cli`,
above them all, imports those modules and builds the parser from :data:`COMMANDS`.  Nothing here
imports the rest of the studio, so a command module never imports upward.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2
#: The namespace attribute listing a command's output arguments (see :func:`mark_outputs`).
OUTPUTS = "output_arguments"
OUTPUT_FOLDERS = "output_folders"

Handler = Callable[[argparse.Namespace], int]

#: name -> (help, add_arguments, handler), in registration order.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register ``name``: ``@command("train", "the live run, headless", _train_args)`` on its handler."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, add_arguments, fn)
        return fn

    return register


class OutputError(ValueError):
    """An output the command must not or cannot write (a folder, one of its inputs, an unwritable
    place): the CLI prints the message as one line and exits 2."""


def mark_outputs(p: argparse.ArgumentParser, *dests: str, folders: tuple[str, ...] = ()) -> None:
    """Declare which arguments of a command name files it writes (default: ``output`` alone), so
    :func:`check_outputs` refuses one that is a folder or an input of the same command; ``folders``:
    those of ``dests`` that may name a folder (``forecast -o DIR/``, ``cooldown -o DIR/``)."""
    p.set_defaults(**{OUTPUTS: dests, OUTPUT_FOLDERS: folders})


def _named_files(value: Any) -> Iterator[str]:
    if isinstance(value, str | os.PathLike):
        yield os.fspath(value)
    elif isinstance(value, list | tuple):
        for v in value:
            if isinstance(v, str | os.PathLike):
                yield os.fspath(v)


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse (OutputError), before any work, an output argument that names a folder or the same
    file as one of the command's inputs (``curve d.json -o d.json`` would destroy ``d.json``)."""
    dests = getattr(args, OUTPUTS, ("output",))
    outputs = {d: getattr(args, d, None) for d in dests}
    inputs = [
        f
        for name, value in vars(args).items()
        if name not in dests and name not in (OUTPUTS, OUTPUT_FOLDERS)
        for f in _named_files(value)
        if f not in ("", "-") and os.path.isfile(f)
    ]
    for dest, value in outputs.items():
        if not isinstance(value, str) or value in ("", "-"):
            continue
        flag = "--" + dest.replace("_", "-")
        if os.path.isdir(value):
            if dest in getattr(args, OUTPUT_FOLDERS, ()):
                continue  # written inside, by name: never one of the inputs
            raise OutputError(f"{flag} {value}: is a folder; give the name of a file to write")
        if os.path.exists(value):
            for f in inputs:
                try:
                    same = os.path.samefile(f, value)
                except OSError:
                    same = False
                if same:
                    raise OutputError(
                        f"{flag} {value}: is also an input of this command ({f}); writing it would destroy "
                        "it: choose another output file"
                    )


def seconds(text: str) -> float:
    """An argparse ``type``: a finite number of seconds >= 0 (``-1``, ``nan``, ``inf`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def open_out(path: str | None) -> tuple[TextIO, bool]:
    """The output stream for ``-o PATH`` (stdout for None or ``-``), and whether to close it.

    OutputError naming the file when it is a folder or cannot be created or written."""
    if path in (None, "-"):
        return sys.stdout, False
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{path}: is a folder; give the name of a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "w", encoding="utf-8", newline=""), True
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def write_text(text: str, path: str | None) -> None:
    """Write ``text`` to ``path`` (stdout for None or ``-``); OutputError as :func:`open_out`."""
    out, close = open_out(path)
    try:
        out.write(text)
    finally:
        if close:
            out.close()


def write_frame(frame, path: str | None) -> None:
    """Write a DataFrame as CSV with full float precision (every value round-trips exactly)."""
    out, close = open_out(path)
    try:
        frame.to_csv(out, index=False, lineterminator="\n")
    finally:
        if close:
            out.close()
