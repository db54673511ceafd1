"""What tracing costs a training loop: a 2,000-step plain loop, traced vs untraced, in one run.

    .venv/bin/python bench/trace_overhead.py              # 2,000 steps, 7 rounds
    .venv/bin/python bench/trace_overhead.py --steps 500 --rounds 3

The loop is a user's own code (no ``import schedules``): a small MLP (64 -> 256 -> 1, batch 32, CPU,
one torch thread), SGD with momentum, a warmup + cosine ``LambdaLR`` stepped after every optimizer
step, ``zero_grad`` every step.  Machines here are shared and noisy, so every figure is a ratio of
two timings taken side by side, the median over rounds that alternate which goes first, and the loop
is timed in CPU seconds of its own process (``time.process_time``; one torch thread), which other
processes on the machine disturb far less than wall time:

- **loop** (the hooks' cost per optimizer step): the loop run in this process, untraced and inside
  ``with schedules.trace():`` (the same hooks the injected tracer installs), each round both;
- **command** (what ``trace`` adds to a whole run, in wall seconds): ``python loop.py`` against
  ``python -m schedules trace -- python loop.py`` as fresh processes: start-up, the injection, the
  loop, and the merge into ``TRACE.csv``; the loop's own CPU time inside each is reported too.

Results are printed and written to ``bench/results/trace_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOOP = '''
import math, sys, time
import torch


def user_loop(steps):
    """The loop's own CPU seconds (this process, one torch thread) for ``steps`` optimizer steps."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    warmup = steps // 20
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda k: k / warmup if k < warmup else 0.5 * (1 + math.cos(math.pi * (k - warmup) / (steps - warmup))),
    )
    x, y = torch.randn(32, 64), torch.randn(32, 1)
    start = time.process_time()
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return time.process_time() - start


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"LOOP_SECONDS {user_loop(int(sys.argv[1]))!r}")
'''


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(the loop's own seconds, the command's wall seconds)."""
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    loop = next(float(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("LOOP_SECONDS"))
    return loop, wall


def in_process(steps: int, rounds: int) -> list[dict[str, float]]:
    import torch

    import schedules

    torch.set_num_threads(1)
    space: dict = {"__name__": "user_loop"}
    exec(compile(LOOP, "loop.py", "exec"), space)
    user_loop = space["user_loop"]
    user_loop(steps // 4)  # warm up
    rows = []
    for i in range(rounds):
        got = {}
        for name in ("plain", "traced") if i % 2 == 0 else ("traced", "plain"):
            if name == "plain":
                got[name] = user_loop(steps)
            else:
                with schedules.trace() as t:
                    got[name] = user_loop(steps)
                if len(t.frame) != steps:
                    raise SystemExit(f"the trace has {len(t.frame)} rows, expected {steps}")
        rows.append(
            {"plain_s": got["plain"], "traced_s": got["traced"], "ratio": got["traced"] / got["plain"]}
        )
        print(
            f"loop round {i + 1}: {got['plain']:.3f} s -> {got['traced']:.3f} s (x{rows[-1]['ratio']:.3f})",
            flush=True,
        )
    return rows


def as_commands(steps: int, rounds: int) -> list[dict[str, float]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="lr-trace-bench-") as tmp:
        loop = Path(tmp) / "loop.py"
        loop.write_text(LOOP)
        trace_csv = Path(tmp) / "trace.csv"
        plain = [sys.executable, str(loop), str(steps)]
        traced = [sys.executable, "-m", "schedules", "trace", "-o", str(trace_csv), "--", *plain]
        run(plain, env)  # warm the file cache once
        for i in range(rounds):
            order = [("plain", plain), ("traced", traced)]
            if i % 2:
                order.reverse()
            got = {name: run(cmd, env) for name, cmd in order}
            rows_traced = sum(1 for _ in trace_csv.open()) - 1
            if rows_traced != steps:
                raise SystemExit(f"the trace has {rows_traced} rows, expected {steps}")
            row = {
                "plain_loop_s": got["plain"][0],
                "traced_loop_s": got["traced"][0],
                "loop_ratio": got["traced"][0] / got["plain"][0],
                "plain_command_s": got["plain"][1],
                "traced_command_s": got["traced"][1],
                "command_ratio": got["traced"][1] / got["plain"][1],
            }
            rows.append(row)
            print(
                f"command round {i + 1}: {row['plain_command_s']:.2f} s -> {row['traced_command_s']:.2f} s "
                f"(x{row['command_ratio']:.3f}); its loop {row['plain_loop_s']:.3f} s -> "
                f"{row['traced_loop_s']:.3f} s (x{row['loop_ratio']:.3f})",
                flush=True,
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--command-rounds", type=int, default=3)
    args = p.parse_args()
    loops = in_process(args.steps, args.rounds)
    commands = as_commands(args.steps, args.command_rounds)
    med = statistics.median
    summary = {
        "steps": args.steps,
        "loop_ratio_median": med(r["ratio"] for r in loops),
        "loop_plain_per_step_us_median": med(r["plain_s"] / args.steps * 1e6 for r in loops),
        "loop_overhead_per_step_us_median": med(
            (r["traced_s"] - r["plain_s"]) / args.steps * 1e6 for r in loops
        ),
        "command_ratio_median": med(r["command_ratio"] for r in commands),
        "command_loop_ratio_median": med(r["loop_ratio"] for r in commands),
        "command_extra_s_median": med(r["traced_command_s"] - r["plain_command_s"] for r in commands),
        "loop_rounds": loops,
        "command_rounds": commands,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(
        f"loop: x{summary['loop_ratio_median']:.3f} median over {len(loops)} rounds "
        f"({summary['loop_overhead_per_step_us_median']:.1f} us per step on "
        f"{summary['loop_plain_per_step_us_median']:.0f} us); command: x{summary['command_ratio_median']:.3f} "
        f"(+{summary['command_extra_s_median']:.2f} s), its loop x{summary['command_loop_ratio_median']:.3f}"
    )
    out = ROOT / "bench" / "results" / "trace_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
