"""The design's path through the studio, before and after a change of layout, in one run.

    .venv/bin/python bench/design_path.py --before /path/to/old/checkout            # this checkout is "after"
    .venv/bin/python bench/design_path.py --before OLD --after NEW --rounds 5 --json out.json

Each tree runs in its own worker processes (``PYTHONPATH`` = that tree), taking turns round by round so
that the machine's drift falls on both alike.  A worker measures, with only the public API both trees
share (``schedules.parse_config_json``, ``schedules.compute_curve``, the Designer in AppTest):

- **cold validate**: a fresh interpreter imports the package and validates one design (parse + checks);
  and whether torch had to be imported for it (``torch_loaded``), and for ``import schedules.design``
  where the tree has it;
- **validate**: median seconds of ``parse_config_json`` over distinct designs (warm process);
- **curve**: median seconds from JSON text to the 10,000-step curve;
- **designer change**: AppTest, the Designer's warmup changed by one step until the new figure, median;
  and how many times that one change ran ``make_plan``, ``check_buildable``, ``load_config`` and the
  config model's validator (counted by a profiler hook on every thread, in a separate untimed run).

The figures are printed as medians per tree and as after/before ratios.  These machines are noisy:
compare the ratios of one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTED = ("make_plan", "check_buildable", "load_config", "parse_config_json", "read_design")


def design_text(i: int, steps: int) -> str:
    return json.dumps(
        {
            "optimizer": {"name": "AdamW", "lr": 3e-4 * (1 + i / 1000)},
            "training": {"max_steps": steps},
            "warmup": {"steps": max(1, steps // 100) + i % 7},
            "decay": {"scheduler": "CosineAnnealingLR"},
            "plateau": None,
        }
    )


COLD = """
import sys, time
t = time.perf_counter()
import schedules
schedules.parse_config_json({text!r})
print(time.perf_counter() - t, int("torch" in sys.modules))
"""

COLD_DESIGN = """
import sys, time
t = time.perf_counter()
import os, schedules
if not os.path.isdir(os.path.join(os.path.dirname(schedules.__file__), "design")):
    print("nan -1"); raise SystemExit  # (an editable install elsewhere could answer the import)
import schedules.design
print(time.perf_counter() - t, int("torch" in sys.modules))
"""


def _run_py(tree: str, code: str) -> str:
    env = {**os.environ, "PYTHONPATH": tree}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=True
    ).stdout.split()


def _count_calls(fn) -> dict[str, int]:
    """Calls of the functions named in COUNTED (and pydantic model validators) made while ``fn`` runs."""
    import threading

    counts = dict.fromkeys(COUNTED, 0)
    counts["validator"] = 0

    def hook(frame, event, arg):
        if event != "call":
            return
        name = frame.f_code.co_name
        if name in counts and name != "validator":
            counts[name] += 1
        elif name == "_cross_checks":
            counts["validator"] += 1

    sys.setprofile(hook)
    threading.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return counts


def worker(tree: str, reps: int) -> dict:
    sys.path.insert(0, tree)
    out = {}
    t, torch_loaded = _run_py(tree, COLD.format(text=design_text(0, 1000)))
    out["cold_validate_s"], out["cold_validate_torch"] = float(t), int(torch_loaded)
    t, torch_loaded = _run_py(tree, COLD_DESIGN)
    out["import_design_s"], out["import_design_torch"] = float(t), int(torch_loaded)

    from streamlit.testing.v1 import AppTest

    import schedules
    from app import state

    texts = [design_text(i, 10_000) for i in range(reps * 20)]
    schedules.parse_config_json(texts[0])
    times = []
    for text in texts:
        t0 = time.perf_counter()
        schedules.parse_config_json(text)
        times.append(time.perf_counter() - t0)
    out["validate_s"] = statistics.median(times)
    times = []
    for text in texts[: reps * 4]:
        t0 = time.perf_counter()
        schedules.compute_curve(schedules.parse_config_json(text))
        times.append(time.perf_counter() - t0)
    out["curve_s"] = statistics.median(times)

    at = AppTest.from_file(str(Path(tree) / "app" / "main.py"), default_timeout=600)
    at.session_state[state.DESIGN_JSON] = schedules.parse_config_json(design_text(0, 1000)).to_json()
    at.session_state[state.section_key("warmup")] = True  # as a user who opened the Warmup section
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    times = []
    for i in range(reps + 1):
        w = at.number_input(key="w.warmup.steps")
        t0 = time.perf_counter()
        w.set_value(w.value + 1).run()
        if i:  # the first change also warms Streamlit's caches of the page's other parts
            times.append(time.perf_counter() - t0)
    assert not at.exception, [e.value for e in at.exception]
    out["designer_change_s"] = statistics.median(times)
    w = at.number_input(key="w.warmup.steps")
    out["calls_per_change"] = _count_calls(lambda: w.set_value(w.value + 1).run())
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout of the old layout")
    parser.add_argument("--after", default=str(ROOT), help="checkout of the new layout (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.reps)))
        return 0
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for label in ("before", "after") if r % 2 == 0 else ("after", "before"):
            tree = str(Path(getattr(args, label)).resolve())
            proc = subprocess.run(
                [sys.executable, __file__, "--before", tree, "--worker", tree, "--reps", str(args.reps)],
                env={**os.environ, "PYTHONPATH": tree},
                cwd=tree,
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            runs[label].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {label} done", file=sys.stderr)
    keys = [k for k in runs["before"][0] if k.endswith("_s")]
    print(f"\n{'measure':22} {'before':>10} {'after':>10} {'after/before':>13}")
    summary = {}
    for k in keys:
        b = statistics.median(x[k] for x in runs["before"])
        a = statistics.median(x[k] for x in runs["after"])
        summary[k] = {"before": b, "after": a, "ratio": a / b if b == b and b else None}
        ratio = f"{a / b:>13.2f}" if b == b and b else f"{'-':>13}"
        print(f"{k:22} {b:>10.4f} {a:>10.4f} {ratio}")
    for k in ("cold_validate_torch", "import_design_torch"):
        print(
            f"{k:22} {runs['before'][0][k]:>10} {runs['after'][0][k]:>10}   (1 = torch imported, -1 = no such module)"
        )
    print("\ncalls during one Designer change (warmup +1):")
    for name in runs["before"][0]["calls_per_change"]:
        print(
            f"  {name:20} {runs['before'][0]['calls_per_change'][name]:>5} -> {runs['after'][0]['calls_per_change'][name]:>5}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
