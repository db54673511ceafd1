"""Workspace size: 100 live runs of 10,000 steps, stored as the live page stores them.

    .venv/bin/python bench/workspace_size.py [--runs 100] [--steps 10000]

One real live run (MLP, CPU, ``schedules.train.loop.train``) of ``--steps`` optimizer steps is recorded,
then written ``--runs`` times into a fresh workspace in blocks of ``FLUSH_ROWS`` rows, exactly as the
live run's sink writes them (each block is compressed on its own, so the copies do not shrink each
other).  Prints the file size, bytes per step, and the ratio to the raw float64 size of the columns;
also the same design saved 100 times, and reading one run back.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schedules import load_config  # noqa: E402
from schedules.train.loop import train  # noqa: E402
from schedules.workspace import Workspace  # noqa: E402
from schedules.workspace.sink import FLUSH_ROWS  # noqa: E402

DESIGN = {
    "name": "size bench: AdamW, warmup + cosine",
    "optimizer": {"name": "AdamW", "lr": 1e-3},
    "training": {"dataset_size": 20_000, "micro_batch_size": 32, "accumulation_steps": 1, "epochs": 20},
    "warmup": {"steps": 200},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-6}},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=10_000)
    args = ap.parse_args()
    config = load_config(DESIGN)
    t0 = time.perf_counter()
    training = train(config, device="cpu", seed=0, max_steps=args.steps)
    rows = [r.to_row() for r in training]
    t_train = time.perf_counter() - t0
    columns = list(rows[0])
    print(f"recorded one live run: {len(rows)} steps, columns {columns} ({t_train:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "workspace.sqlite3")
        t0 = time.perf_counter()
        for i in range(args.runs):
            run_id = ws.start_run(f"run {i}", config=config, device="cpu", stack="plain", meta={"seed": 0})
            for start in range(0, len(rows), FLUSH_ROWS):
                block = rows[start : start + FLUSH_ROWS]
                ws.append_rows(run_id, {c: [r.get(c, math.nan) for r in block] for c in columns})
            ws.finish_run(run_id, "done")
        t_write = time.perf_counter() - t0
        ws.close()
        size = Path(tmp, "workspace.sqlite3").stat().st_size  # closed: the WAL is checkpointed
        raw = args.runs * len(rows) * len(columns) * 8
        ws = Workspace(Path(tmp) / "workspace.sqlite3")
        t0 = time.perf_counter()
        frame = ws.run_frame(run_id)
        t_read = time.perf_counter() - t0
        assert len(frame) == len(rows)
        for i in range(100):
            ws.save_design(f"design {i}", config)
        ws.close()
        with_designs = Path(tmp, "workspace.sqlite3").stat().st_size
    steps = args.runs * len(rows)
    print(f"{args.runs} runs x {len(rows)} steps = {steps} rows, {len(columns)} columns")
    print(
        f"workspace file: {size / 1e6:.1f} MB ({size / steps:.1f} bytes/step, {size / args.runs / 1e6:.2f} MB/run)"
    )
    print(f"raw float64 columns: {raw / 1e6:.1f} MB; stored / raw = {size / raw:.2f}")
    print(f"+ 100 saved designs: {(with_designs - size) / 1e3:.0f} kB")
    print(
        f"write: {t_write / args.runs * 1e3:.0f} ms per run ({steps / t_write:.0f} rows/s, blocks of {FLUSH_ROWS})"
    )
    print(f"read one run back: {t_read * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
