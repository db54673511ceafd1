"""``python -m schedules forecast --fit RUN [RUN ...] | --load-fit FIT.json --predict TARGET [TARGET ...]``.

Fits the law on the runs (any run-log format the studio reads), or reads a fit saved with
``--save-fit`` (no refitting), and predicts each target's loss (a CSV ``step,lr`` or a design JSON):
``step,lr,loss_pred,loss_low,loss_high`` for every row of the target.  One target: ``-o FILE`` (default
stdout).  Several: ``-o DIR/`` and one ``DIR/<name>.csv`` per target (``<name>``: the target file's
name without its extension; two targets of the same name are refused).  The fit's parameters, its
error and every caveat of a target outside the fitted runs (``warning: <target>: ...``) go to stderr.
Exit codes: 0 ok, 2 invalid input (a message naming the file and what is wrong), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..command import EXIT_OK, command, write_frame
from ..design import ConfigError, Problem
from .fit import BOOTSTRAP, LAWS, check_fit, fit_runs, predict
from .runs import design_batch, run_from_file, target_lr
from .validity import caveats, scope_notes

#: Most bytes of a saved fit read back (a fit with 200 bootstrap replicates is about 60 KB).
MAX_FIT_BYTES = 5_000_000


def _args(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--fit",
        nargs="+",
        metavar="RUN",
        help="run logs to fit on: CSV step,lr,loss (loss may be empty), trainer_state.json, JSON Lines, "
        "TensorBoard event file",
    )
    source.add_argument(
        "--load-fit",
        default=None,
        metavar="FIT.json",
        help="predict from a fit saved with --save-fit (or downloaded from the Forecast page), without refitting",
    )
    p.add_argument(
        "--predict",
        nargs="+",
        required=True,
        metavar="TARGET",
        help="CSV step,lr or a design JSON; several targets need -o DIR/ (one DIR/<name>.csv each)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="CSV to write for one target (default: stdout), or DIR/ (ending in / or an existing folder) for "
        "DIR/<name>.csv; a folder for several (created if missing)",
    )
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


def read_fit(path: str) -> dict[str, Any]:
    """A saved fit, checked (:func:`schedules.forecast.fit.check_fit`)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FIT_BYTES:
            raise ConfigError(Problem(str(path), f"must be at most {MAX_FIT_BYTES:,} bytes", size))
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            Problem(str(path), f"must be a readable file ({exc.strerror})", None, has_value=False)
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(str(path), f"must be JSON ({exc})", None, has_value=False)) from None
    return check_fit(data, p.name)


def outputs(targets: list[str], output: str | None) -> list[str | None]:
    """Where each target's CSV goes: ``-o FILE`` (or stdout) for one target, ``DIR/<name>.csv`` for
    several (names from the target files; duplicates refused)."""
    folder_given = output is not None and (output.endswith(("/", "\\")) or Path(output).is_dir())
    if len(targets) == 1 and not folder_given:
        return [output]
    if output is None:
        raise ConfigError(
            Problem("-o", f"must name a folder (DIR/) for {len(targets)} targets", None, has_value=False)
        )
    folder = Path(output)
    names = [Path(t).stem for t in targets]
    seen: dict[str, str] = {}
    for name, target in zip(names, targets, strict=True):
        if name in seen:
            raise ConfigError(
                Problem(
                    "--predict",
                    f"targets must have distinct names (DIR/<name>.csv): {seen[name]} and",
                    target,
                )
            )
        seen[name] = target
    if folder.exists() and not folder.is_dir():
        raise ConfigError(Problem("-o", "must be a folder for several targets", output))
    folder.mkdir(parents=True, exist_ok=True)
    return [str(folder / f"{name}.csv") for name in names]


@command(
    "forecast",
    "fit a loss law on runs (or load a saved fit) and predict schedules' loss: step,lr,loss_pred,loss_low,loss_high",
    _args,
)
def cmd_forecast(args: argparse.Namespace) -> int:
    if args.load_fit is not None:
        fit = read_fit(args.load_fit)
        targets = [target_lr(t) for t in args.predict]
        where = outputs(args.predict, args.output)
        print(f"{fit['law']} fit read from {args.load_fit}", file=sys.stderr)
    else:
        runs = [run_from_file(path, args.design) for path in args.fit]
        targets = [target_lr(t) for t in args.predict]
        where = outputs(args.predict, args.output)
        fit = fit_runs(runs, args.law, bootstrap=args.bootstrap, seed=args.seed)
        for run in runs:
            for note in run.notes:
                print(f"note: {run.name}: {note}", file=sys.stderr)
        params = ", ".join(f"{k}={v:.6g}" for k, v in fit["params"].items())
        print(f"{args.law} fit on {len(runs)} run(s): {params}", file=sys.stderr)
        print(f"fit error: mean relative {fit['error']['mean_rel']:.3%} at the fit points", file=sys.stderr)
    for line in scope_notes(fit):
        print(f"note: {line}", file=sys.stderr)
    for target, (steps, lr, _), out in zip(args.predict, targets, where, strict=True):
        batch = design_batch(target) if _is_design(target) else None
        for line in caveats(fit, lr, batch):
            print(f"warning: {Path(target).name}: {line}", file=sys.stderr)
        write_frame(predict(fit, lr, steps, name=target), out)
    if args.save_fit:
        with open(args.save_fit, "w", encoding="utf-8") as fh:
            json.dump(fit, fh, indent=1)
    return EXIT_OK


def _is_design(path: str) -> bool:
    p = Path(path)
    if p.suffix.lower() == ".json":
        return True
    try:
        with p.open("rb") as fh:
            return fh.read(64).lstrip()[:1] == b"{"
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------
# python -m schedules cooldown TRUNK.json --fit RUN ... --start S ... --length N ... -o DIR/


def _cooldown_args(p: argparse.ArgumentParser) -> None:
    from .branches import DEFAULT_FINAL, SHAPES

    p.add_argument("trunk", help="design JSON: its optimizer, training and warmup make the constant trunk")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--fit", nargs="+", metavar="RUN", help="run logs to fit the law on (as forecast)")
    source.add_argument("--load-fit", default=None, metavar="FIT.json", help="a fit saved with --save-fit")
    p.add_argument("--start", nargs="+", type=int, required=True, metavar="STEP", help="steps to branch at")
    p.add_argument(
        "--length",
        nargs="+",
        required=True,
        metavar="N",
        help="cooldown lengths: optimizer steps, or P%% of the branch's whole run (e.g. 20%%)",
    )
    p.add_argument(
        "--shape", nargs="+", choices=SHAPES, default=list(SHAPES), help="cooldown shapes (default: all four)"
    )
    p.add_argument(
        "--final",
        type=float,
        default=DEFAULT_FINAL,
        help=f"where linear, cosine and 1-sqrt end, x the peak lr (default {DEFAULT_FINAL}; linear-to-zero ends at 0)",
    )
    p.add_argument("--law", choices=LAWS, default="multi-power", help="the loss law (default multi-power)")
    p.add_argument("--design", default=None, metavar="DESIGN.json", help="as forecast --design")
    p.add_argument(
        "--bootstrap", type=int, default=BOOTSTRAP, help=f"bootstrap replicates (default {BOOTSTRAP})"
    )
    p.add_argument("--save-fit", default=None, metavar="FIT.json", help="also write the fit as JSON")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR/",
        help="folder for branches.csv (the forecasts) and one <branch>.json design per branch",
    )


@command(
    "cooldown",
    "cooldown branches off a constant trunk: each branch's forecast final loss, its design, and which branch when",
    _cooldown_args,
)
def cmd_cooldown(args: argparse.Namespace) -> int:
    from ..build import load_config
    from .branches import branch_grid, forecast_branches, recommend

    trunk = load_config(args.trunk)
    branches = branch_grid(args.start, args.length, args.shape, args.final)
    if args.load_fit is not None:
        fit = read_fit(args.load_fit)
    else:
        runs = [run_from_file(path, args.design) for path in args.fit]
        fit = fit_runs(runs, args.law, bootstrap=args.bootstrap)
    result = forecast_branches(fit, trunk, branches)
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(Problem("-o", "must be a folder", args.output))
    folder.mkdir(parents=True, exist_ok=True)
    for name, cfg in result.designs.items():
        slug = result.table.loc[result.table.branch == name, "file"].iloc[0]
        (folder / f"{slug}.json").write_text(cfg.to_json() + "\n", encoding="utf-8")
    write_frame(result.table, str(folder / "branches.csv"))
    for line in recommend(result.table):
        print(line)
    if args.save_fit:
        with open(args.save_fit, "w", encoding="utf-8") as fh:
            json.dump(fit, fh, indent=1)
    return EXIT_OK
