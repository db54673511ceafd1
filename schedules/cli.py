"""The headless CLI (CONTRACT.md section 4): ``python -m schedules <command> ...``.

The top of the house: it holds the design's own commands (``curve``, ``validate``, ``schema``) and
collects every capability's commands, each registered in :data:`schedules.command.COMMANDS` by the
capability's own module (listed in :data:`CAPABILITIES`).

Exit codes: 0 success, 2 invalid input (one line per problem on stderr, naming the field), 1 anything
else (one line on stderr).  Never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import presets, report, rescale, resume
from .command import (
    COMMANDS,
    EXIT_ERROR,
    EXIT_INVALID,
    EXIT_OK,
    OutputError,
    check_outputs,
    command,
    open_out,
    seconds,
    write_frame,
)
from .design import ConfigError
from .design.sanity import sanity_warnings
from .forecast import cli as forecast_cli
from .interop import cli as interop_cli
from .stacks import cli as stacks_cli
from .trace import cli as trace_cli
from .train import cli as train_cli
from .workspace import cli as workspace_cli

#: The modules whose commands this CLI offers (each registers them on import), in help order.
CAPABILITIES = (
    presets,
    train_cli,
    report,
    interop_cli,
    resume,
    rescale,
    forecast_cli,
    stacks_cli,
    trace_cli,
    workspace_cli,
)


#: Arguments that name a design file (read as a file whatever its name ends in, at most 1 MB).
CONFIG_FILES = ("config", "base", "design")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: exit 2, one line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_INVALID)


# -- commands -------------------------------------------------------------------------------------


def cmd_curve(args: argparse.Namespace) -> int:
    from .curve import compute_curve
    from .stacks.options import config_with_stack, given

    if given(args):  # --stack ...: the lr each optimizer step gets through that stack
        from .stacks import stack_curve

        cfg, settings = config_with_stack(args.config, args)
        run = stack_curve(cfg, settings)
        print(f"{'ok' if run.matches else 'mismatch'}: {run.diagnosis}", file=sys.stderr)
        write_frame(run.frame, args.output)
        return EXIT_OK
    curve = compute_curve(args.config, time_limit=args.time_limit)
    for line in curve.warnings:
        print(f"warning: {line}", file=sys.stderr)
    write_frame(curve.frame, args.output)
    return EXIT_OK


def _other_format(path: str) -> str | None:
    """A one-line hint when ``path`` holds HF TrainingArguments or a DeepSpeed config, not a design."""
    import json

    from .design import MAX_CONFIG_BYTES, read_bounded, text_of
    from .interop.detect import NAMES, looks_like

    try:
        doc = json.loads(text_of(read_bounded(path, MAX_CONFIG_BYTES), str(path)))
    except (ConfigError, ValueError, RecursionError):
        return None
    kind = looks_like(doc)
    if kind == "hf":
        how = f"python -m schedules import {path} --from hf --dataset-size N -o design.json"
    elif kind == "deepspeed":
        how = f"python -m schedules import {path} --from deepspeed -o design.json"
    else:
        return None
    return f"{path}: is {NAMES[kind]}, not an lr-schedule/v1 design; convert it with: {how}"


def cmd_validate(args: argparse.Namespace) -> int:
    from .build import load_config

    try:
        config = load_config(args.config)
    except ConfigError:
        hint = _other_format(args.config)
        if hint is None:
            raise
        print(hint, file=sys.stderr)
        return EXIT_INVALID
    plan = config.plan
    if not args.quiet:
        print(
            f"ok: {config.name!r}: {plan.total_steps} optimizer steps "
            f"({plan.steps_per_epoch} per epoch, warmup {plan.warmup_steps}, effective batch {plan.effective_batch})"
        )
    for warning in sanity_warnings(config):  # valid but almost surely not meant: exit stays 0
        print(f"warning: {warning.line()}", file=sys.stderr)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .design import schema_text

    out, close = open_out(args.output)
    try:
        out.write(schema_text())
    finally:
        if close:
            out.close()
    return EXIT_OK


def _config_and_output(p: argparse.ArgumentParser, output_help: str) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument("-o", "--output", default=None, help=output_help)


def _curve_args(p: argparse.ArgumentParser) -> None:
    from .budget import CLI_CURVE_SECONDS
    from .stacks.options import add_stack_arguments

    _config_and_output(p, "CSV file to write (default: stdout)")
    p.add_argument(
        "--time-limit",
        type=seconds,
        default=CLI_CURVE_SECONDS,
        metavar="SECONDS",
        help=f"stop with exit 2 when computing takes longer (default {CLI_CURVE_SECONDS:g}; 0: no limit)",
    )
    add_stack_arguments(p)


command("curve", "one row per optimizer step: step, epoch, samples, lr, lr/<group>", _curve_args)(cmd_curve)


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no ok line when valid (warnings still go to stderr)"
    )


command("validate", "exit 0 when the config is valid, else 2 with one line per problem", _validate_args)(
    cmd_validate
)
command(
    "schema",
    "print the JSON Schema of the config format",
    lambda p: p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)"),
)(cmd_schema)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m schedules", description="LR Schedule Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    order = [__name__, *(m.__name__ for m in CAPABILITIES)]
    place = {
        name: order.index(h.__module__) if h.__module__ in order else len(order)
        for name, (_, _, h) in COMMANDS.items()
    }
    for name, (help_text, add_arguments, handler) in sorted(
        COMMANDS.items(), key=lambda item: place[item[0]]
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code.  Every failure a user can cause ends in a line naming
    the field or the file (exit 2); the last handler below is for the studio's own bugs."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        for name in CONFIG_FILES:  # a design named on the command line is always a file, read as one
            value = getattr(args, name, None)
            if isinstance(value, str) and value not in ("", "-"):
                setattr(args, name, Path(value))
        check_outputs(args)
        return args.handler(args)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_INVALID
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except MemoryError:
        print("error: out of memory (the input is too large for this machine)", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a file named on the command line: missing, a folder, not writable ...
        where = exc.filename if exc.filename is not None else "a file"
        print(f"error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID if exc.filename is not None else EXIT_ERROR
    except Exception as exc:  # the studio's own bug: one line, never a traceback
        print(f"error: internal error, please report it ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_ERROR
