"""``python -m schedules train CONFIG.json -o RUN.csv``: the live run, headless (CONTRACT.md section 4).

One row per optimizer step (step, epoch, samples, lr, loss, val_loss, ...); ``--world-size W`` runs
``W`` real processes; the trainings come from :func:`schedules.train.runs.start_training`, as on the
app's Live page.
"""

from __future__ import annotations

import argparse
import sys

from ..build import load_config
from ..command import EXIT_ERROR, EXIT_OK, command, write_frame
from .base import CORRECT, DEVICES, DIST_VARIANTS, DTYPES, MAX_LIVE_STEPS, LiveRunError, StepRecord
from .models import MODELS
from .runs import start_training


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument("-o", "--output", default=None, help="CSV file to write (default: stdout)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: cuda when available, else cpu")
    p.add_argument("--seed", type=int, default=0, help="model initialisation and sample order (default 0)")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help=f"run only the first N optimizer steps of the designed schedule (at most {MAX_LIVE_STEPS})",
    )
    p.add_argument("--model", choices=tuple(MODELS), default="mlp", help="model and its synthetic dataset")
    p.add_argument(
        "--variant", choices=tuple(DIST_VARIANTS), default=CORRECT, help="the loop, or a scheduler mistake"
    )
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    p.add_argument(
        "--schedule-free",
        choices=("AdamW", "SGD"),
        default=None,
        help="train with schedulefree.AdamWScheduleFree / SGDScheduleFree (no lr scheduler; the design's lr "
        "and warmup); adds columns sf_weight, sf_averaging",
    )
    p.add_argument(
        "--world-size",
        type=int,
        default=None,
        help="ranks as real processes on torch.distributed (default: the design's training.world_size)",
    )


@command(
    "train",
    "the live run, headless: one row per optimizer step (step, epoch, samples, lr, loss, val_loss, ...)",
    _train_args,
)
def cmd_train(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    training = start_training(
        config,
        device=args.device,
        variant=args.variant,
        schedule_free=args.schedule_free,
        world_size=args.world_size,
        say=lambda line: print(line, file=sys.stderr),
        seed=args.seed,
        max_steps=args.max_steps,
        model=args.model,
        dtype=args.dtype,
    )
    records: list[StepRecord] = []
    try:
        for record in training:
            records.append(record)
    except LiveRunError as exc:
        write_frame(training.frame(records), args.output)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        write_frame(training.frame(records), args.output)
        raise
    write_frame(training.frame(records), args.output)
    seconds = records[-1].wall_time if records else 0.0
    rate = f" ({len(records) / seconds:.0f} steps/s)" if seconds > 0 else ""
    print(
        f"trained {len(records)} steps on {training.device} in {seconds:.2f} s{rate}; "
        f"final loss {records[-1].loss:.4g}"
        if records
        else "trained 0 steps",
        file=sys.stderr,
    )
    return EXIT_OK
