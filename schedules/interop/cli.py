"""``python -m schedules export`` and ``python -m schedules import``."""

from __future__ import annotations

import argparse
import json
import sys

from ..command import EXIT_OK, command, write_text
from ..design import ConfigError, Problem, read_bounded


def _write(text: str, output: str | None) -> None:
    write_text(text, output)


def _export_args(p: argparse.ArgumentParser) -> None:
    from . import TARGETS

    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument("--to", required=True, choices=list(TARGETS), help="target framework")
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")


@command(
    "export",
    "write the design for HF TrainingArguments, Lightning, timm, DeepSpeed or an accelerate loop",
    _export_args,
)
def cmd_export(args: argparse.Namespace) -> int:
    from . import TARGETS

    target = TARGETS[args.to]
    payload, warnings = target.export(args.config)
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2) + "\n"
    _write(text, args.output)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    return EXIT_OK


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="TrainingArguments JSON (--from hf) or a DeepSpeed config (--from deepspeed)")
    p.add_argument(
        "--from", dest="source", required=True, choices=("hf", "deepspeed"), help="what the file is"
    )
    p.add_argument(
        "--dataset-size", type=int, default=None, help="training samples (HF: required unless --base)"
    )
    p.add_argument(
        "--world-size", type=int, default=None, help="data-parallel processes (default: --base's or 1)"
    )
    p.add_argument(
        "--total-steps",
        type=int,
        default=None,
        help="DeepSpeed: optimizer steps when the block has no total_num_steps",
    )
    p.add_argument(
        "--base", default=None, help="a design whose training and optimizer sections fill the gaps"
    )
    p.add_argument(
        "--editable",
        action="store_true",
        help="DeepSpeed: nearest torch classes instead of an exact expression",
    )
    p.add_argument("-o", "--output", default=None, help="config JSON to write (default: stdout)")


@command("import", "turn HF TrainingArguments JSON or a DeepSpeed config into a design", _import_args)
def cmd_import(args: argparse.Namespace) -> int:
    from .common import MAX_IMPORT_BYTES
    from .deepspeed_import import from_deepspeed
    from .hf_import import from_hf

    data = read_bounded(args.file, MAX_IMPORT_BYTES)
    try:
        if args.source == "hf":
            cfg, warnings = from_hf(
                data, dataset_size=args.dataset_size, world_size=args.world_size, base=args.base
            )
        else:
            cfg, warnings = from_deepspeed(
                data, base=args.base, default_total_steps=args.total_steps, exact=not args.editable
            )
    except ConfigError as exc:  # the file's own problems name the file, not "(file)"
        raise ConfigError(
            [
                Problem(args.file, p.allowed, p.got, p.has_value) if p.path == "(file)" else p
                for p in exc.problems
            ]
        ) from None
    _write(cfg.to_json() + "\n", args.output)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    return EXIT_OK
