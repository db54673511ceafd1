"""``python -m schedules trace`` and ``python -m schedules diagnose``.

``trace [--design D.json] [-o TRACE.csv] -- COMMAND ...`` runs the command traced and exits with the
command's own exit code (2 when the command cannot be started or the design is invalid).
``diagnose LOG [--design D.json] [--json]`` exits 0 when the run matches, 1 when it differs, 2 on
bad input (an empty log, a log without an lr, an unreadable file: one line naming it).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..command import EXIT_ERROR, EXIT_INVALID, EXIT_OK, command

DEFAULT_OUTPUT = "lr-trace.csv"


def _trace_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--design",
        default=None,
        metavar="D.json",
        help="the intended design (stored in the sidecar; diagnosed after the run)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=DEFAULT_OUTPUT,
        help=f"trace CSV to write (default {DEFAULT_OUTPUT}; its sidecar: <name>.meta.json)",
    )
    p.add_argument(
        "cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command to run, unchanged"
    )


@command(
    "trace",
    "run a training command unchanged with the tracer in every Python process: one row per optimizer step per rank",
    _trace_args,
)
def cmd_trace(args: argparse.Namespace) -> int:
    """Run a command unchanged with the tracer in every Python process it starts."""
    from .session import CommandError, run_traced

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    design_json = None
    if args.design is not None:
        from ..build import load_config

        design_json = load_config(args.design).to_json()  # invalid: ConfigError -> exit 2, before running
    try:
        result = run_traced(cmd, args.output, design_json)
    except CommandError as exc:
        print(f"trace: {exc}", file=sys.stderr)
        return EXIT_INVALID
    frame = result.frame
    ranks = sorted(frame["rank"].unique().tolist()) if len(frame) else []
    per_rank = (
        ", ".join(f"rank {r}: {int((frame['rank'] == r).sum())}" for r in ranks) or "no optimizer steps"
    )
    print(f"trace: {per_rank} -> {result.csv_path} (+ {result.meta_path.name})", file=sys.stderr)
    if design_json is not None and len(frame):
        from .diagnose import diagnose
        from .observed import from_trace_frame

        found = diagnose(from_trace_frame(frame, str(result.csv_path), result.meta))
        print(f"trace: {found.lines()[0]}", file=sys.stderr)
    return result.exit_code


def main_trace(argv: list[str]) -> int:
    """``python -m schedules trace ...`` without the rest of the CLI (see ``schedules/__main__.py``):
    the same arguments, exit codes and messages as through :func:`schedules.cli.main`."""
    from ..design import ConfigError

    parser = argparse.ArgumentParser(prog="python -m schedules trace", description=cmd_trace.__doc__)
    _trace_args(parser)
    try:
        args = parser.parse_args(argv)
        return cmd_trace(args)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _diagnose_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "log", help="a trace CSV or any run log (CSV, trainer_state.json, JSON Lines, TensorBoard)"
    )
    p.add_argument(
        "--design",
        default=None,
        metavar="D.json",
        help="the intended design (default: the trace's own, else inferred)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"verdict", "causes": [{"code", "confidence", "evidence", "fix"}]}',
    )
    p.add_argument(
        "--stack",
        default=None,
        choices=("plain", "hf", "accelerate", "lightning", "deepspeed"),
        help="the stack of the fix lines (default: the design's, else the trace's)",
    )


@command(
    "diagnose",
    "name what went wrong with a run's schedule: exit 0 matches, 1 differs (causes, evidence, fix), 2 bad input",
    _diagnose_args,
)
def cmd_diagnose(args: argparse.Namespace) -> int:
    from .diagnose import diagnose
    from .observed import read_observed_path

    observed = read_observed_path(args.log)
    found = diagnose(observed, args.design, stack=args.stack)
    if args.json:
        print(json.dumps(found.to_dict(), indent=1))
    else:
        for line in found.lines():
            print(line)
    return EXIT_OK if found.matches else EXIT_ERROR
