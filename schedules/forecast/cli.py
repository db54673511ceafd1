"""``python -m schedules forecast --fit RUN [RUN ...] --predict TARGET -o OUT.csv [--law ...]``.

Fits the law on the runs (any run-log format the studio reads), predicts the target's loss (a CSV
``step,lr`` or a design JSON) and writes ``step,lr,loss_pred,loss_low,loss_high`` for every row of
the target.  The fit's parameters and its error go to stderr; ``--save-fit`` writes the fit as JSON.
Exit codes: 0 ok, 2 invalid input (a message naming the file and what is wrong), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..command import EXIT_OK, command, mark_outputs, write_frame, write_text
from .fit import BOOTSTRAP, LAWS, fit_runs, predict
from .runs import run_from_file, target_lr


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fit",
        nargs="+",
        required=True,
        metavar="RUN",
        help="run logs to fit on: CSV step,lr,loss (loss may be empty), trainer_state.json, JSON Lines, "
        "TensorBoard event file",
    )
    p.add_argument("--predict", required=True, metavar="TARGET", help="CSV step,lr or a design JSON")
    p.add_argument("-o", "--output", default=None, help="CSV to write (default: stdout)")
    p.add_argument("--law", choices=LAWS, default="multi-power", help="the loss law (default multi-power)")
    p.add_argument(
        "--design",
        default=None,
        metavar="DESIGN.json",
        help="the design that produced the runs, for logs without the lr of every optimizer step",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP,
        help=f"bootstrap replicates for the band (default {BOOTSTRAP})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--save-fit", default=None, metavar="FIT.json", help="also write the fit as JSON")
    mark_outputs(p, "output", "save_fit")


@command(
    "forecast",
    "fit a loss law on runs and predict a schedule's loss: step,lr,loss_pred,loss_low,loss_high",
    _args,
)
def cmd_forecast(args: argparse.Namespace) -> int:
    runs = [run_from_file(path, args.design) for path in args.fit]
    steps, lr, _ = target_lr(args.predict)
    fit = fit_runs(runs, args.law, bootstrap=args.bootstrap, seed=args.seed)
    for run in runs:
        for note in run.notes:
            print(f"note: {run.name}: {note}", file=sys.stderr)
    params = ", ".join(f"{k}={v:.6g}" for k, v in fit["params"].items())
    print(f"{args.law} fit on {len(runs)} run(s): {params}", file=sys.stderr)
    print(f"fit error: mean relative {fit['error']['mean_rel']:.3%} at the fit points", file=sys.stderr)
    frame = predict(fit, lr, steps, name=args.predict)
    write_frame(frame, args.output)
    if args.save_fit:
        write_text(json.dumps(fit, indent=1), args.save_fit)
    return EXIT_OK
