"""``python -m schedules workspace list|show|export|import|train|path``.

Every subcommand takes ``--workspace DIR`` (default: ``$STUDIO_WORKSPACE``, else
``~/.lr-schedule-studio``).  Exit codes as for every command: 0 ok, 2 invalid input (a name or id
that is not there, a file that is not a workspace or is from a newer version), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

from ..command import (
    EXIT_ERROR,
    EXIT_INVALID,
    EXIT_OK,
    OutputError,
    command,
    mark_outputs,
    seconds,
    write_frame,
    write_text,
)
from .connection import FILE_NAME, workspace_path
from .errors import WorkspaceError
from .store import Workspace

WHATS = ("designs", "runs", "fits")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _open(args: argparse.Namespace) -> Workspace:
    path = Path(args.workspace).expanduser() / FILE_NAME if args.workspace else workspace_path()
    return Workspace(path)


def _cmd_path(args: argparse.Namespace) -> int:
    ws = _open(args)
    print(ws.path)
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    ws = _open(args)
    whats = WHATS if args.what == "all" else (args.what,)
    out: dict[str, list[dict]] = {}
    if "designs" in whats:
        out["designs"] = [
            {
                "id": d.id,
                "name": d.name,
                "updated": _when(d.updated),
                "hash": d.hash[:12],
                "tags": d.tags,
                "notes": d.notes,
            }
            for d in ws.designs(args.search, deleted=args.deleted)
        ]
    if "runs" in whats:
        out["runs"] = [
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind,
                "status": r.state,
                "rows": r.n_rows,
                "device": r.device,
                "stack": r.stack,
                "design_id": r.design_id,
                "created": _when(r.created),
            }
            for r in ws.runs(args.search, deleted=args.deleted)
        ]
    if "fits" in whats:
        out["fits"] = [
            {"id": f.id, "name": f.name, "law": f.law, "runs": f.runs, "created": _when(f.created)}
            for f in ws.fits(args.search, deleted=args.deleted)
        ]
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(f"workspace: {ws.path}")
    for what, rows in out.items():
        print(f"\n{what} ({len(rows)})")
        for row in rows:
            if what == "designs":
                tags = f"  [{', '.join(row['tags'])}]" if row["tags"] else ""
                print(f"  {row['id']:>5}  {row['name']}  (updated {row['updated']}, {row['hash']}){tags}")
            elif what == "runs":
                where = ", ".join(x for x in (row["device"], row["stack"]) if x)
                print(
                    f"  {row['id']:>5}  {row['name']}  ({row['kind']}, {row['status']}, {row['rows']} rows"
                    f"{', ' + where if where else ''}, {row['created']})"
                )
            else:
                print(
                    f"  {row['id']:>5}  {row['name']}  ({row['law']}, runs {row['runs']}, {row['created']})"
                )
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    ws = _open(args)
    if args.output and Path(args.output).expanduser().resolve() in (
        ws.path.resolve(),
        Path(f"{ws.path}-wal").resolve(),
    ):
        raise OutputError(f"--output {args.output}: is the workspace itself; choose another output file")
    if args.what == "design":
        d = ws.design(args.ref)
        write_text(d.config + "\n", args.output)
        print(
            f"design {d.id} {d.name!r}: created {_when(d.created)}, updated {_when(d.updated)}, "
            f"sha256 {d.hash}"
            + (f", tags {', '.join(d.tags)}" if d.tags else "")
            + (" (deleted)" if d.deleted else ""),
            file=sys.stderr,
        )
        if d.notes:
            print(f"notes: {d.notes}", file=sys.stderr)
        return EXIT_OK
    if args.what == "run":
        r = ws.run(args.ref)
        frame = ws.run_frame(r.id)
        info = {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "status": r.state,
            "message": r.message,
            "rows": r.n_rows,
            "columns": r.columns,
            "device": r.device,
            "stack": r.stack,
            "design_id": r.design_id,
            "config_sha256": r.hash,
            "created": _when(r.created),
            "updated": _when(r.updated),
            "meta": r.meta,
        }
        if args.output:
            write_frame(frame, args.output)
            print(json.dumps(info, indent=2), file=sys.stderr)
        else:
            print(json.dumps(info, indent=2))
        return EXIT_OK
    if not str(args.ref).isdecimal():
        raise WorkspaceError(f"fit: must be a fit id (a number), got {args.ref!r}", invalid=True)
    f = ws.fit(int(args.ref))
    print(
        json.dumps(
            {"id": f.id, "name": f.name, "law": f.law, "params": f.params, "runs": f.runs, "meta": f.meta},
            indent=2,
        )
    )
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    ws = _open(args)
    target = ws.export(args.file, overwrite=args.force)
    counts = ws.counts()
    print(
        f"exported {counts['designs']} designs, {counts['runs']} runs ({counts['rows']} rows), "
        f"{counts['fits']} fits to {target}",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    ws = _open(args)
    counts = ws.import_file(args.file)
    print(
        f"imported {counts['designs']} designs, {counts['runs']} runs, {counts['fits']} fits from {args.file}"
        f" ({counts['skipped']} already here)",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    """The live run, headless, saved to the workspace as it records (the app's code path)."""
    import threading

    from ..build import load_config
    from ..train.base import CORRECT
    from ..train.runs import live_run_for
    from ..train.settings import Setting
    from .sink import WorkspaceSink

    ws = _open(args)
    config = load_config(args.config)
    run = live_run_for(
        [Setting("design", config, CORRECT)],
        model=args.model,
        device=args.device,
        seed=args.seed,
        max_steps=args.max_steps,
        dtype=args.dtype,
        slots=threading.BoundedSemaphore(1),
        idle_timeout=float("inf"),
    )

    def flushed(label: str, rows: int) -> None:
        if args.progress:
            print(f"flushed {rows}", flush=True)

    name = args.name or config.name or Path(args.config).stem
    sink = WorkspaceSink(
        ws,
        name,
        single=True,
        meta={"model": args.model, "seed": args.seed, "dtype": args.dtype},
        flush_rows=args.flush_rows,
        flush_seconds=args.flush_seconds,
        on_flush=flushed,
    )
    run.sink = sink
    run.start()
    try:
        while not run.join(0.2):
            pass
    except KeyboardInterrupt:
        run.stop("interrupted")
        run.join()
        raise
    job = run.jobs[0]
    for line in sink.errors:
        print(f"error: {line}", file=sys.stderr)
    run_id = sink.run_ids.get(job.label)
    rows = ws.run(run_id).n_rows if run_id is not None else 0
    print(f"run {run_id} {name!r}: {job.outcome}, {rows} rows saved to {ws.path}", file=sys.stderr)
    if job.message:
        print(f"error: {job.message}", file=sys.stderr)
    return EXIT_OK if job.outcome == "done" and not sink.errors else EXIT_ERROR


def _add(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="workspace_command", required=True)

    def new(name: str, help: str, handler) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help, description=help)
        q.add_argument(
            "--workspace",
            metavar="DIR",
            default=None,
            help="workspace folder (default: $STUDIO_WORKSPACE, else ~/.lr-schedule-studio)",
        )
        q.set_defaults(workspace_handler=handler)
        return q

    q = new("list", "list saved designs, runs and forecast fits", _cmd_list)
    q.add_argument("what", nargs="?", choices=("all", *WHATS), default="all")
    q.add_argument("-s", "--search", default="", help="only those whose name, notes or tags contain this")
    q.add_argument("--deleted", action="store_true", help="list deleted records (restorable) instead")
    q.add_argument("--json", action="store_true", help="machine-readable output")

    q = new("show", "print a design's config JSON, a run's summary (and rows with -o), or a fit", _cmd_show)
    q.add_argument("what", choices=("design", "run", "fit"))
    q.add_argument("ref", help="id or name")
    q.add_argument("-o", "--output", default=None, help="design: JSON file to write; run: CSV of its rows")

    q = new("export", "write the whole workspace to one file (a consistent SQLite snapshot)", _cmd_export)
    q.add_argument("file")
    mark_outputs(q, "file")
    q.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")

    q = new("import", "merge an exported workspace file in (records already here are skipped)", _cmd_import)
    q.add_argument("file")

    q = new("train", "the live run, saved to the workspace as it records", _cmd_train)
    from ..train.base import DEVICES, DTYPES
    from ..train.models import MODELS

    q.add_argument("config", help="config JSON file (lr-schedule/v1)")
    q.add_argument("--name", default=None, help="run name (default: the design's name)")
    q.add_argument("--device", choices=DEVICES, default="auto")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--max-steps", type=int, default=None)
    q.add_argument("--model", choices=tuple(MODELS), default="mlp")
    q.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    q.add_argument("--flush-rows", type=int, default=256, help="write a block every N rows (default 256)")
    q.add_argument("--flush-seconds", type=seconds, default=0.5, help="... or every S seconds (default 0.5)")
    q.add_argument("--progress", action="store_true", help="print 'flushed N' on stdout after every block")

    new("path", "print the workspace file's path", _cmd_path)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return args.workspace_handler(args)
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID if exc.invalid else EXIT_ERROR
    except sqlite3.Error as exc:  # e.g. locked past the busy timeout, disk full: not the input's fault
        where = args.workspace or "the workspace"
        print(f"error: {where}: SQLite could not complete this ({exc})", file=sys.stderr)
        return EXIT_ERROR


command("workspace", "the saved designs, runs and forecast fits: list, show, export, import, train", _add)(
    _dispatch
)
