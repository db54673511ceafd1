"""How fast hostile inputs are refused and a closed session's run is stopped (issue 30), in one run.

    .venv/bin/python bench/hostile_refusals.py            # a few minutes; best on an otherwise idle machine
    .venv/bin/python bench/hostile_refusals.py --quick    # three of the hostile workspace files

The tests (tests/test_hostile_workspaces.py, tests/test_hostile_logs.py, tests/test_live_caps.py)
assert what happens: the refusal, its one line, nothing imported, the memory bound, the run stopped
by its session's watchdog.  The times are measured here, against the documented bounds
(docs/limits-and-security.md):

- each hostile workspace file through ``python -m schedules workspace import``: the whole process and
  the command after its imports, and the peak RSS (bounds: 15 s, 1.5 GB);
- a run log of 15,000,000 empty lines refused before parsing; a 1 GiB zip bomb in a run's block
  refused by the decoder;
- another user's saves while a 1,500-design file is checked and imported: the slowest save against
  the import's time (the write lock is held only for the inserts);
- a live run on 2 real rank processes whose session closes while its ranks start: seconds from the
  session's end to the last rank gone (bound: ``SESSION_GONE_S`` + 3 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hostile_workspaces import KINDS, SMALL, bomb_block, build, export, run_measured  # noqa: E402

TIME_LIMIT_S = 15.0
RSS_LIMIT_BYTES = 1.5e9


def workspace_files(kinds: tuple[str, ...], tmp: Path) -> list[dict]:
    from schedules.workspace import Workspace

    rows = []
    print(f"\n== hostile workspace files through the CLI (bounds {TIME_LIMIT_S:g} s, 1.5 GB) ==")
    print(f"{'file':28} {'exit':>4} {'process s':>10} {'command s':>10} {'peak MB':>8}")
    for kind in kinds:
        folder = tmp / kind
        path = build(kind, folder / "file")
        target = Workspace(folder / "target" / "workspace.sqlite3")
        target.close()
        result, whole, took, rss = run_measured(
            ["workspace", "import", str(path), "--workspace", str(folder / "target")], folder / "measured"
        )
        print(f"{kind:28} {result.returncode:>4} {whole:>10.2f} {took:>10.3f} {rss / 1e6:>8.0f}")
        rows.append(
            {"kind": kind, "exit": result.returncode, "process_s": whole, "command_s": took, "rss": rss}
        )
    return rows


def inputs_in_process() -> dict:
    from schedules.design import ConfigError
    from schedules.logs import read_log
    from schedules.workspace.codec import CodecError, decode_columns

    out = {}
    data = b"step,lr,loss\n" + b"\n" * 15_000_000
    t0 = time.perf_counter()
    try:
        read_log(data, "empty.csv")
    except ConfigError:
        out["empty_lines_refused_s"] = time.perf_counter() - t0
    blob = bomb_block(1 << 30)
    t0 = time.perf_counter()
    try:
        decode_columns(blob)
    except CodecError:
        out["zip_bomb_refused_s"] = time.perf_counter() - t0
    print("\n== refused in process ==")
    for k, v in out.items():
        print(f"{k:28} {v:.3f} s")
    return out


def write_lock(tmp: Path) -> dict:
    from schedules.workspace import Workspace

    path = export(tmp / "lock" / "file", rows=100, designs=1500)
    ws = Workspace(tmp / "lock" / "target" / "workspace.sqlite3")
    other = Workspace(ws.path)
    latencies: list[float] = []
    done = threading.Event()

    def writer() -> None:
        i = 0
        while not done.is_set():
            t0 = time.perf_counter()
            other.save_design(f"other {i}", SMALL)
            latencies.append(time.perf_counter() - t0)
            i += 1
            time.sleep(0.02)

    thread = threading.Thread(target=writer)
    thread.start()
    t0 = time.perf_counter()
    try:
        ws.import_file(path)
    finally:
        took = time.perf_counter() - t0
        done.set()
        thread.join()
        other.close()
        ws.close()
    out = {"import_s": took, "saves": len(latencies), "slowest_save_s": max(latencies)}
    print("\n== another user's saves while 1,500 designs are checked and imported ==")
    print(f"import {took:.2f} s; {len(latencies)} saves meanwhile, slowest {max(latencies):.3f} s")
    return out


def closed_session() -> dict:
    from test_live_caps import STOP_BOUND_S, _running, config, own_slots

    from schedules.train.distributed import DistributedTraining
    from schedules.train.runs import live_run_for
    from schedules.train.settings import distributed_settings

    settings, _ = distributed_settings(config(epochs=400), pair=True, per_process_bug=True)
    run = live_run_for(settings, max_steps=10_000, slots=own_slots(), owner="bench", client="ip:bench")
    session = {"alive": True}
    run.watch(lambda: session["alive"])
    run.start()
    time.sleep(0.5)
    session["alive"] = False
    closed = time.monotonic()
    run.join(STOP_BOUND_S + 60)
    pids = [p for j in run.jobs if isinstance(j.records, DistributedTraining) for p in j.records.pids]
    while any(_running(p) for p in pids) and time.monotonic() - closed < 60:
        time.sleep(0.05)
    gone = time.monotonic() - closed
    print(
        f"\n== a closed session's run ==\nlast rank gone {gone:.2f} s after the session ended (bound {STOP_BOUND_S:g} s)"
    )
    return {"ranks_gone_s": gone, "bound_s": STOP_BOUND_S, "stop_reason": run.stop_reason}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three of the hostile workspace files")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    kinds = KINDS[:3] if args.quick else KINDS
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "workspace_files": workspace_files(kinds, Path(tmp)),
            "in_process": inputs_in_process(),
            "write_lock": write_lock(Path(tmp)),
            "closed_session": closed_session(),
        }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
