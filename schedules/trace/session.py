"""Run a command traced (``python -m schedules trace``), or trace this process (``schedules.trace``).

:func:`run_traced` starts the user's command unchanged, with the tracer injected into every Python
process it starts: ``PYTHONPATH`` begins with :mod:`schedules.trace.inject` (its ``sitecustomize``)
and the folder this ``schedules`` package is in, and ``LRS_TRACE_DIR`` names a fresh folder for the
processes' part files.  The command's stdin, stdout and stderr are the caller's own; its exit code is
returned unchanged (a signal ``N`` as ``128 + N``, as shells report it).  When it has ended, the parts
are merged into the trace (:mod:`schedules.trace.merge`).

:class:`TraceSession` hooks torch in this very process for the length of a ``with`` block (a
notebook), and removes every hook when the block ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .names import ENV_DIR, meta_path

if TYPE_CHECKING:
    import pandas as pd

# merge (numpy, pandas) is imported once the command has ended: it starts without waiting for them

INJECT_DIR = Path(__file__).resolve().parent / "inject"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class CommandError(Exception):
    """The command could not be started (not found, not executable): exit 2."""


def traced_environment(directory: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the tracer turned on (see the module)."""
    env = dict(os.environ if base is None else base)
    paths = [str(INJECT_DIR), str(PACKAGE_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[ENV_DIR] = directory
    return env


@dataclass
class TraceResult:
    exit_code: int
    frame: pd.DataFrame
    meta: dict[str, Any]
    csv_path: Path | None
    meta_path: Path | None


def run_traced(
    command: list[str], output: str | os.PathLike[str] | None, design_json: str | None = None
) -> TraceResult:
    """Run ``command`` traced; write ``output`` (and its sidecar) unless ``None``."""
    if not command:
        raise CommandError("no command given: python -m schedules trace [-o TRACE.csv] -- COMMAND ...")
    directory = tempfile.mkdtemp(prefix="lr-trace-")
    try:
        try:
            proc = subprocess.Popen(command, env=traced_environment(directory))
        except FileNotFoundError:
            raise CommandError(f"{command[0]}: command not found") from None
        except PermissionError:
            raise CommandError(f"{command[0]}: permission denied (not executable)") from None
        except OSError as exc:
            raise CommandError(f"{command[0]}: cannot be started ({exc.strerror or exc})") from None
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # the command got the same Ctrl-C: let it finish, then merge
                continue
        code = 128 - code if code < 0 else code
        from .merge import merge_directory, write_trace

        frame, meta = merge_directory(directory, command=command, exit_code=code, design=design_json)
        csv = side = None
        if output is not None:
            csv, side = write_trace(frame, meta, output)
        return TraceResult(code, frame, meta, csv, side)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class TraceSession:
    """``with schedules.trace(path, design=...) as t:`` (see :func:`schedules.trace.open_trace`).

    After the block: ``t.frame`` (the trace), ``t.meta`` (the sidecar's content), ``t.path`` and
    ``t.meta_path`` when written, and :meth:`diagnose`."""

    def __init__(self, path: Any = None, *, design: Any = None):
        self.path = Path(path) if path is not None else None
        self.meta_path = Path(meta_path(self.path)) if self.path is not None else None
        self.design = design
        self.frame: pd.DataFrame | None = None
        self.meta: dict[str, Any] | None = None
        self._dir: str | None = None

    def __enter__(self) -> TraceSession:
        from . import hooks

        design_json = None
        if self.design is not None:
            from ..build import load_config

            design_json = load_config(self.design).to_json()
        self._design_json = design_json
        self._dir = tempfile.mkdtemp(prefix="lr-trace-")
        try:
            hooks.install(self._dir)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: Any) -> bool:
        from . import hooks
        from .merge import merge_directory, write_trace

        hooks.uninstall()
        try:
            self.frame, self.meta = merge_directory(
                self._dir, command=["(this process)"], exit_code=None, design=self._design_json
            )
            if self.path is not None:
                write_trace(self.frame, self.meta, self.path)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        return False

    def diagnose(self, design: Any = None):
        """The :class:`~schedules.trace.diagnose.Diagnosis` of the traced steps (against ``design``,
        else the session's design, else the inferred schedule)."""
        from .diagnose import diagnose
        from .observed import from_trace_frame

        if self.frame is None:
            raise RuntimeError("the trace is read when the with block has ended")
        observed = from_trace_frame(self.frame, str(self.path or "trace"), self.meta)
        return diagnose(observed, design if design is not None else self.design)
