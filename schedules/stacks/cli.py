"""``python -m schedules stack-check CONFIG [--stack NAME ...]``: the diagnosis, exit 1 on a mismatch."""

from __future__ import annotations

import argparse

from ..command import EXIT_ERROR, EXIT_OK, command
from ..design import ConfigError, Problem
from .options import add_stack_arguments, config_with_stack


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    add_stack_arguments(p)


def cmd_stack_check(args: argparse.Namespace) -> int:
    from . import stack_curve

    cfg, settings = config_with_stack(args.config, args)
    if settings is None:
        raise ConfigError(
            Problem("stack", "give --stack NAME or a 'stack' section in the config", None, has_value=False)
        )
    run = stack_curve(cfg, settings)
    if run.matches:
        print(f"ok: {run.diagnosis}")
        return EXIT_OK
    print(f"mismatch: {run.diagnosis}")
    if run.fix is not None:
        print(f"fix: {run.fix.description} (verified: the recomputed run equals the design within 1e-12)")
    else:
        print("fix: no setting of this stack reproduces the design")
    return EXIT_ERROR


command(
    "stack-check",
    "does the stack (config 'stack' section or --stack) reproduce the design? exit 0 yes, 1 no (with the fix)",
    _args,
)(cmd_stack_check)
