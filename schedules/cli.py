"""The headless CLI (CONTRACT.md section 4): ``python -m schedules <command> ...``.

Exit codes: 0 success, 2 invalid input (one line per problem on stderr, naming the field), 1 anything
else (one line on stderr).  Never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from .errors import ConfigError

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: exit 2, one line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_INVALID)


def _open_out(path: str | None) -> tuple[TextIO, bool]:
    if path in (None, "-"):
        return sys.stdout, False
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8", newline=""), True


def write_frame(frame, path: str | None) -> None:
    """Write a DataFrame as CSV with full float precision (every value round-trips exactly)."""
    out, close = _open_out(path)
    try:
        frame.to_csv(out, index=False, lineterminator="\n")
    finally:
        if close:
            out.close()


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

    from .interop.detect import NAMES, looks_like

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
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
    from .config import load_config
    from .plan import make_plan

    try:
        config = load_config(args.config)
    except ConfigError:
        hint = _other_format(args.config)
        if hint is None:
            raise
        print(hint, file=sys.stderr)
        return EXIT_INVALID
    plan = make_plan(config)
    if not args.quiet:
        print(
            f"ok: {config.name!r}: {plan.total_steps} optimizer steps "
            f"({plan.steps_per_epoch} per epoch, warmup {plan.warmup_steps}, effective batch {plan.effective_batch})"
        )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .config import schema_text

    out, close = _open_out(args.output)
    try:
        out.write(schema_text())
    finally:
        if close:
            out.close()
    return EXIT_OK


#: name -> (help, add_arguments, handler); other modules add their commands here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, add_arguments, fn)
        return fn

    return register


def _config_and_output(p: argparse.ArgumentParser, output_help: str) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument("-o", "--output", default=None, help=output_help)


def _curve_args(p: argparse.ArgumentParser) -> None:
    from .budget import CLI_CURVE_SECONDS
    from .stacks.options import add_stack_arguments

    _config_and_output(p, "CSV file to write (default: stdout)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=CLI_CURVE_SECONDS,
        metavar="SECONDS",
        help=f"stop with exit 2 when computing takes longer (default {CLI_CURVE_SECONDS:g}; 0: no limit)",
    )
    add_stack_arguments(p)


command("curve", "one row per optimizer step: step, epoch, samples, lr, lr/<group>", _curve_args)(cmd_curve)


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")


command("validate", "exit 0 when the config is valid, else 2 with one line per problem", _validate_args)(
    cmd_validate
)
command(
    "schema",
    "print the JSON Schema of the config format",
    lambda p: p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)"),
)(cmd_schema)


def _load_plugins() -> None:
    """Import modules that register further commands (train, plot, presets...)."""
    import importlib

    for module in (
        "schedules.presets",
        "schedules.live",
        "schedules.report",
        "schedules.interop",
        "schedules.resume",
        "schedules.rescale",
        "schedules.forecast.cli",
        "schedules.stacks.cli",
        "schedules.workspace.cli",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = _Parser(prog="python -m schedules", description="LR Schedule Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_arguments, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.handler(args)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the CLI never shows a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
