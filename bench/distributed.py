"""Distributed live run: time per optimizer step with 1 process and with 2 (gloo, CPU), startup, Stop.

    .venv/bin/python bench/distributed.py            # 400 steps per setting
    .venv/bin/python bench/distributed.py --steps 100

Same design, same samples per optimizer step: ``W=1 x 2b x A`` (one process, :func:`schedules.train.loop.train`)
against ``W=2 x b x A`` (two processes, :func:`schedules.train.distributed.train_processes`), for a small and a
larger micro-batch.  Per-step time is the steady state: rank 0's wall time from its first to its last
step, over the steps between (startup excluded, reported separately).  Stop latency: from
``LiveRun.stop()`` to the end of the run's thread, which returns only once both rank processes are gone.

Both ranks get one torch thread each, so W=2 uses both cores of a 2-core machine where W=1 uses one;
on a machine shared with other work the ratio says little about a dedicated one.  Results are printed
and written to ``bench/results/distributed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schedules import load_config  # noqa: E402
from schedules.train.base import MAX_LIVE_STEPS, record_columns  # noqa: E402
from schedules.train.distributed import train_processes  # noqa: E402
from schedules.train.loop import train  # noqa: E402
from schedules.train.runs import LiveRun  # noqa: E402
from schedules.train.settings import with_world_size  # noqa: E402


def design(micro_batch_size: int) -> dict:
    return {
        "name": "bench 2 ranks",
        "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9}},
        "training": {
            "dataset_size": 200_000,
            "micro_batch_size": micro_batch_size,
            "accumulation_steps": 2,
            "world_size": 2,
            "epochs": 10,
        },
        "warmup": {"steps": 50},
        "decay": {"scheduler": "CosineAnnealingLR"},
    }


def per_step(records) -> float:
    """Seconds per optimizer step between rank 0's first and last step."""
    return (records[-1].wall_time - records[0].wall_time) / (len(records) - 1)


def measure(micro_batch_size: int, steps: int) -> dict:
    cfg = load_config(design(micro_batch_size))
    one_cfg = with_world_size(cfg, 1, 2 * micro_batch_size)
    t0 = time.perf_counter()
    two = train_processes(cfg, device="cpu", max_steps=steps)
    first = None
    records = []
    for r in two:
        if first is None:
            first = time.perf_counter() - t0
        records.append(r)
    startup = max(two.ready_at.values()) - two.started_at
    one = train(one_cfg, device="cpu", max_steps=steps)
    single = list(one)
    w1, w2 = per_step(single), per_step(records)
    return {
        "split": f"W=2 x {micro_batch_size} x 2 vs W=1 x {2 * micro_batch_size} x 2",
        "steps": steps,
        "w1_ms_per_step": 1e3 * w1,
        "w2_ms_per_step": 1e3 * w2,
        "w2_over_w1": w2 / w1,
        "w2_startup_s": startup,
        "w2_first_record_s": first,
    }


def stop_latency() -> dict:
    run = LiveRun(slots=threading.BoundedSemaphore(1))
    training = train_processes(design(16), device="cpu", max_steps=MAX_LIVE_STEPS, stop=run.stop_event)
    run.add("2 ranks", training, training.steps, record_columns(training.group_names))
    run.start()
    while run.snapshot().done < 50 and run.running:
        time.sleep(0.01)
    run.stop()
    run.join(120)
    snap = run.snapshot()
    gone = [not Path(f"/proc/{pid}").exists() for pid in training.pids]
    return {"stop_latency_s": snap.stop_latency, "ranks_gone": all(gone), "steps_before_stop": snap.done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "cuda": torch.cuda.is_available(),
    }
    print(json.dumps(info))
    results = []
    for b in (16, 256):
        row = measure(b, args.steps)
        results.append(row)
        print(
            f"{row['split']}: W=1 {row['w1_ms_per_step']:.2f} ms/step, W=2 {row['w2_ms_per_step']:.2f} ms/step, "
            f"ratio W2/W1 {row['w2_over_w1']:.2f}; 2-rank startup {row['w2_startup_s']:.1f} s",
            flush=True,
        )
    stop = stop_latency()
    print(
        f"Stop: both ranks gone {stop['stop_latency_s']:.3f} s after stop() (ranks gone: {stop['ranks_gone']})"
    )
    out = ROOT / "bench" / "results" / "distributed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "step_time": results, "stop": stop}, indent=2))


if __name__ == "__main__":
    main()
