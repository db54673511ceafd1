"""LR Schedule Studio benchmarks: ratios against baselines measured in the same process, in one run.

    .venv/bin/python bench/run.py            # everything (several minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # smaller sizes, for a smoke check

Sections:
1. curve: ``schedules.compute_curve`` vs the naive user loop (``zero_grad(); step(); scheduler.step()``
   on a one-parameter SGD, reading the lr each step) for 1e3..1e6 steps and several schedulers;
   values must be identical.
2. payload: bytes of the Plotly figure JSON the designer sends for the same sizes.
3. apptest: time from a widget change to the new figure in AppTest (cold = new design, warm = cache hit).
4. live: live-loop throughput vs a bare PyTorch loop of the same model and accumulation (CPU).
5. corners (``--only corners [--corner-steps N]``): issue 16's slow corners (LambdaLR /
   MultiplicativeLR expressions, the synthetic plateau metric, the loop-mistake and resume curves,
   the exports with their checks) at 1,000,000 steps, each as a ratio to the warmup+cosine curve of
   the same length measured in the same run (target: <= 5x).

Results are printed and written to ``bench/results/latest.json``.  These machines are noisy: compare the
ratios within one run, not absolute seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schedules import compute_curve, load_config  # noqa: E402
from schedules.build import build_scheduler, quiet_scheduler_warnings  # noqa: E402

SCHEDULES = {
    "warmup+cosine": {"warmup": {"ratio": 0.01}, "decay": {"scheduler": "CosineAnnealingLR"}},
    "linear (HF)": {"warmup": {"ratio": 0.05}, "decay": {"scheduler": "LinearLR"}},
    "one-cycle": {"decay": {"scheduler": "OneCycleLR"}},
    "warm restarts": {
        "decay": {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 1000, "T_mult": 2}}
    },
    "inverse sqrt (LambdaLR expr)": {
        "warmup": {"ratio": 0.01},
        "decay": {
            "scheduler": "LambdaLR",
            "kwargs": {"lr_lambda": "1 / sqrt((step + warmup_steps) / warmup_steps)"},
        },
    },
    "step decay per epoch": {
        "training": {"dataset_size": 50_000, "micro_batch_size": 50},
        "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 30}, "interval": "epoch"},
    },
    "exp + plateau every 100": {
        "decay": {"scheduler": "ExponentialLR", "kwargs": {"gamma": 0.99999}},
        "plateau": {"eval_every": 100, "patience": 5, "metric": {"synthetic": {"noise": 0.01}}},
    },
}


def config_for(name: str, steps: int):
    spec = json.loads(json.dumps(SCHEDULES[name]))
    training = spec.pop("training", {})
    if "interval" in spec.get("decay", {}) and spec["decay"]["interval"] == "epoch":
        epochs = max(1, steps // 1000)
        training = {**training, "epochs": epochs}
    else:
        training = {**training, "max_steps": steps}
    return load_config({"optimizer": {"name": "SGD", "lr": 0.1}, "training": training, **spec})


def naive_loop(config) -> tuple[list[float], float]:
    """What a user writes to see their schedule: a real SGD step on one parameter each time."""
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=config.optimizer.lr)
    start = time.perf_counter()
    schedule = build_scheduler(opt, config)
    group = opt.param_groups[0]
    out = []
    with quiet_scheduler_warnings():
        for _ in range(schedule.plan.total_steps):
            out.append(group["lr"])
            opt.zero_grad()
            opt.step()
            schedule.step()
    return out, time.perf_counter() - start


def bench_curve(sizes, naive_limit, results):
    print("\n== 1. curve computation vs the naive user loop (same process) ==")
    print(f"{'schedule':32} {'steps':>9} {'naive s':>9} {'curve s':>9} {'ratio':>7}  identical")
    rows = []
    for name in SCHEDULES:
        for steps in sizes:
            cfg = config_for(name, steps)
            start = time.perf_counter()
            curve = compute_curve(cfg)
            t_curve = time.perf_counter() - start
            total = curve.plan.total_steps
            if total <= naive_limit or name == "warmup+cosine":
                values, t_naive = naive_loop(cfg)
                same = values == curve.frame["lr"].tolist()
                ratio = t_curve / t_naive
                print(f"{name:32} {total:>9} {t_naive:>9.3f} {t_curve:>9.3f} {ratio:>7.3f}  {same}")
            else:
                t_naive, ratio, same = None, None, None
                print(f"{name:32} {total:>9} {'-':>9} {t_curve:>9.3f} {'-':>7}  (naive skipped)")
            rows.append(
                {
                    "schedule": name,
                    "steps": total,
                    "naive_s": t_naive,
                    "curve_s": t_curve,
                    "ratio": ratio,
                    "identical": same,
                }
            )
    results["curve"] = rows


def _cosine(steps: int, warmup: int | None = None):
    return load_config(
        {
            "optimizer": {"name": "AdamW", "lr": 3e-4},
            "training": {"max_steps": steps},
            "warmup": {"steps": warmup if warmup is not None else max(1, steps // 100)},
            "decay": {"scheduler": "CosineAnnealingLR"},
            "plateau": None,
        }
    )


def bench_payload(sizes, results):
    """Bytes of the figure JSON the designer sends, vs drawing every point."""
    import plotly.graph_objects as go

    from app.charts import lr_figure

    print("\n== 2. Plotly figure payload (bytes of figure JSON sent to the browser) ==")
    print(
        f"{'design':32} {'steps':>9} {'all points':>12} {'drawn':>10} {'ratio':>7}  peak kept  restarts kept"
    )
    rows = []
    designs = {
        "warmup+cosine": _cosine,
        "warm restarts (T_0=steps/8)": lambda n: load_config(
            {
                "training": {"max_steps": n},
                "decay": {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": max(1, n // 8)}},
            }
        ),
        "plateau drops every ~5%": lambda n: load_config(
            {
                "training": {"max_steps": n},
                "plateau": {
                    "eval_every": max(1, n // 100),
                    "patience": 3,
                    "factor": 0.5,
                    "metric": {"synthetic": {"plateau_from": 5}},
                },
            }
        ),
    }
    for name, make in designs.items():
        for steps in sizes:
            curve = compute_curve(make(steps))
            fig = lr_figure(curve)
            drawn = len(fig.to_json().encode())
            full = go.Figure(go.Scatter(x=curve.frame["step"].to_numpy(), y=curve.frame["lr"].to_numpy()))
            naive = len(full.to_json().encode())
            lr_trace = next(t for t in fig.data if t.name in ("lr", "lr/default"))
            y = np.asarray(lr_trace.y, dtype=float)
            peak_kept = bool(np.isclose(y.max(), curve.lrs[:, 0].max(), rtol=0, atol=0))
            # Every restart (or plateau drop) row must be drawn: its lr jumps, so it must appear.
            jump_rows = [e.step for e in curve.events if e.kind in ("restart", "plateau_reduction")]
            xs = set(np.asarray(lr_trace.x, dtype=float).tolist())
            kept = all(float(r) in xs for r in jump_rows) if jump_rows else None
            print(
                f"{name:32} {steps:>9} {naive:>12,} {drawn:>10,} {drawn / naive:>7.3f}  {peak_kept!s:9}  {kept}"
            )
            rows.append(
                {
                    "design": name,
                    "steps": steps,
                    "all_points_bytes": naive,
                    "drawn_bytes": drawn,
                    "peak_kept": peak_kept,
                    "jumps_kept": kept,
                }
            )
    results["payload"] = rows


def bench_apptest(sizes, results):
    """Time from a widget change to the new figure, in AppTest (server-side script run)."""
    from streamlit.testing.v1 import AppTest

    from app import state

    print("\n== 3. widget change -> new figure (AppTest, seconds) ==")
    print(
        f"{'steps':>9} {'first load':>11} {'change (new)':>13} {'change back (cached)':>21} {'log toggle':>11}"
    )
    rows = []
    main_py = str(ROOT / "app" / "main.py")
    for steps in sizes:
        at = AppTest.from_file(main_py, default_timeout=600)
        at.session_state[state.DESIGN_JSON] = _cosine(steps).to_json()
        at.session_state[state.section_key("warmup")] = True  # a closed section draws no widgets
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        assert not at.exception, [e.value for e in at.exception]
        w = at.number_input(key="w.warmup.steps")
        old = w.value
        t0 = time.perf_counter()
        w.set_value(old + 1).run()
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.number_input(key="w.warmup.steps").set_value(old).run()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.toggle(key="designer_log_y").set_value(True).run()
        toggle = time.perf_counter() - t0
        assert not at.exception, [e.value for e in at.exception]
        print(f"{steps:>9} {first:>11.3f} {cold:>13.3f} {warm:>21.3f} {toggle:>11.3f}")
        rows.append(
            {"steps": steps, "first_s": first, "change_s": cold, "cached_s": warm, "toggle_s": toggle}
        )
    results["apptest"] = rows


def _bench_training(cfg, model: str):
    """What the bare and the alternating loops share: plan, data, model, SGD, scheduler, permutation."""
    from schedules.train.data import training_set
    from schedules.train.models import MODELS, make_model, param_groups

    plan, spec = cfg.plan, MODELS[model]
    data = training_set(spec.dataset, cfg.training.dataset_size)
    x, y = torch.from_numpy(data.x).float(), torch.from_numpy(data.y)
    net = make_model(model, 0)
    groups = [{"params": ps, "lr": cfg.optimizer.lr} for ps in param_groups(net, 1)]
    opt = torch.optim.SGD(groups, lr=cfg.optimizer.lr, momentum=0.9)
    schedule = build_scheduler(opt, cfg)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return plan, spec, x, y, net, opt, schedule, perm, plan.round_size


def _train_window(k, plan, spec, x, y, net, opt, schedule, perm, rb, meter=None) -> None:
    """Optimizer step ``k`` as the live loop takes it: the window's micro-batches (the noise-scale
    ``meter``, when given, fed per micro-batch and with the window's norm at the end), then step."""
    first = (k % plan.steps_per_epoch) * plan.accumulation_steps
    count = min(plan.accumulation_steps, plan.micro_batches_per_epoch - first)
    lo, hi = first * rb, min((first + count) * rb, len(x))
    for m in range(lo, hi, rb):
        idx = perm[m : min(m + rb, hi)]
        (spec.loss_sum(net(x[idx]), y[idx]) / (hi - lo)).backward()
        if meter is not None and count > 1:
            meter.micro_batch(len(idx), hi - lo, m + rb >= hi)
    if meter is not None:  # the window's gradient norm too (the live loop computes it anyway)
        meter.end_window(None, hi - lo)
    opt.step()
    schedule.step()
    opt.zero_grad(set_to_none=True)


def _bare_loop(cfg, model: str, noise: bool = False) -> float:
    """The same training as the live run, written plainly: no records, no stop checks, no grad norm.

    ``noise=True`` adds only the gradient-noise-scale estimate (schedules/train/gns.py) as the live loop
    calls it: per micro-batch, and the window's gradient norm at the end."""
    from schedules.train.gns import WindowNoise

    run = _bench_training(cfg, model)
    plan, net = run[0], run[4]
    meter = WindowNoise(list(net.parameters())) if noise else None
    start = time.process_time()
    for k in range(plan.total_steps):
        _train_window(k, *run, meter=meter)
    return time.process_time() - start


def _live_loop(cfg, model: str) -> float:
    from schedules.train.loop import train

    run = train(cfg, model=model, device="cpu", seed=0, threads=1)
    start = time.process_time()
    for _ in run:
        pass
    return time.process_time() - start


def bench_live(results, quick: bool):
    """The live loop (records, grad norm, stop checks, epoch-end validation) vs a bare PyTorch loop
    doing the same training: same data, model, accumulation, optimizer and schedule."""
    print("\n== 4. live loop vs a bare PyTorch loop of the same model and accumulation (CPU, 1 thread) ==")
    print(
        f"{'model':6} {'split':>6} {'steps':>6} {'bare steps/s':>13} {'live steps/s':>13} {'live/bare time':>15}"
    )
    torch.set_num_threads(1)
    rows = []
    for model, b, a in [("mlp", 64, 1), ("mlp", 16, 4), ("cnn", 16, 4)]:
        cfg = load_config(
            {
                "optimizer": {"name": "SGD", "lr": 0.05, "kwargs": {"momentum": 0.9}},
                "training": {
                    "dataset_size": 8_000 if quick else 32_000,
                    "micro_batch_size": b,
                    "accumulation_steps": a,
                    "epochs": 1,
                },
                "warmup": {"ratio": 0.05},
                "decay": {"scheduler": "CosineAnnealingLR"},
            }
        )
        _bare_loop(cfg, model), _live_loop(cfg, model)  # warm up (allocator, first-call costs)
        # CPU time of this (single-threaded) process, interleaved repeats, best of 5 each: the machine
        # is noisy and the minimum is the least disturbed run.
        t_bare, t_live = [], []
        for _ in range(5):
            t_bare.append(_bare_loop(cfg, model))
            t_live.append(_live_loop(cfg, model))
        t_bare, t_live = min(t_bare), min(t_live)
        steps = cfg.plan.total_steps
        print(
            f"{model:6} {f'{b}x{a}':>6} {steps:>6} {steps / t_bare:>13.0f} {steps / t_live:>13.0f} "
            f"{t_live / t_bare:>15.3f}"
        )
        rows.append(
            {
                "model": model,
                "split": f"{b}x{a}",
                "steps": steps,
                "bare_s": t_bare,
                "live_s": t_live,
                "ratio": t_live / t_bare,
            }
        )
    results["live"] = rows


def _alternating_windows(cfg, model: str) -> tuple[float, float]:
    """One training run whose accumulation windows alternate without and with the noise-scale meter:
    thread CPU seconds of the plain windows and of the metered ones.  Adjacent windows see the same
    machine state, so other processes' load cancels out of the ratio far better than between runs."""
    from schedules.train.gns import WindowNoise

    run = _bench_training(cfg, model)
    plan, net = run[0], run[4]
    meter = WindowNoise(list(net.parameters()))
    spent = [0.0, 0.0]
    for k in range(plan.total_steps):
        on = k % 2
        start = time.thread_time()
        _train_window(k, *run, meter=meter if on else None)
        spent[on] += time.thread_time() - start
    return spent[0], spent[1]


def bench_noise(results, quick: bool, repeats: int = 9):
    """The gradient-noise-scale estimate's cost: a bare loop with it vs the same bare loop without.

    CPU time of this single-threaded process; bare and +GNS runs alternate (the order flips every
    pair), and the figure is the median of the per-pair ratios.  Second figure: the median over runs
    whose windows alternate without and with the meter (:func:`_alternating_windows`), the ratio least
    disturbed by other processes on a loaded machine."""
    print("\n== 5. gradient noise scale: bare loop + estimate vs bare loop (CPU, 1 thread) ==")
    print(
        f"{'model':6} {'split':>6} {'steps':>6} {'bare s':>8} {'+gns s':>8} {'median ratio':>13} {'min..max':>13} "
        f"{'alternating':>12} {'min..max':>11}"
    )
    torch.set_num_threads(1)
    rows = []
    for model, b, a in [("mlp", 16, 4), ("cnn", 16, 4), ("mlp", 8, 8)]:
        cfg = load_config(
            {
                "optimizer": {"name": "SGD", "lr": 0.05, "kwargs": {"momentum": 0.9}},
                "training": {
                    "dataset_size": 8_000 if quick else 32_000,
                    "micro_batch_size": b,
                    "accumulation_steps": a,
                    "epochs": 1,
                },
            }
        )
        _bare_loop(cfg, model), _bare_loop(cfg, model, noise=True)  # warm up
        t_bare, t_gns = [], []
        for i in range(repeats):
            if i % 2:
                t_gns.append(_bare_loop(cfg, model, noise=True))
                t_bare.append(_bare_loop(cfg, model))
            else:
                t_bare.append(_bare_loop(cfg, model))
                t_gns.append(_bare_loop(cfg, model, noise=True))
        ratios = sorted(g / b_ for g, b_ in zip(t_gns, t_bare, strict=True))
        median = ratios[len(ratios) // 2]
        steps = cfg.plan.total_steps
        bare_s, gns_s = sorted(t_bare)[repeats // 2], sorted(t_gns)[repeats // 2]
        alternating = sorted(g / b_ for b_, g in (_alternating_windows(cfg, model) for _ in range(repeats)))
        alt_median = alternating[len(alternating) // 2]
        print(
            f"{model:6} {f'{b}x{a}':>6} {steps:>6} {bare_s:>8.3f} {gns_s:>8.3f} {median:>13.3f} "
            f"{f'{ratios[0]:.2f}..{ratios[-1]:.2f}':>13} {alt_median:>12.3f} "
            f"{f'{alternating[0]:.2f}..{alternating[-1]:.2f}':>11}"
        )
        rows.append(
            {
                "model": model,
                "split": f"{b}x{a}",
                "steps": steps,
                "bare_s": bare_s,
                "gns_s": gns_s,
                "median_ratio": median,
                "ratios": ratios,
                "alternating_median_ratio": alt_median,
                "alternating_ratios": alternating,
            }
        )
    results["noise_scale"] = rows


def _corner_design(steps: int, **sections):
    """A design of ``steps`` optimizer steps (accumulation 4, so the loop mistakes have work to do),
    warmup 1%, with ``sections`` replacing the warmup+cosine defaults."""
    spec = {
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        "training": {"dataset_size": 4 * steps, "micro_batch_size": 1, "accumulation_steps": 4, "epochs": 1},
        "warmup": {"steps": max(1, steps // 100)},
        "decay": {"scheduler": "CosineAnnealingLR"},
        **sections,
    }
    return load_config(spec)


def bench_corners(steps: int, results):
    """Issue 16's slow corners: each as a ratio to the warmup+cosine curve of the same length."""
    from schedules.budget import MAX_EVALUATIONS
    from schedules.interop import TARGETS
    from schedules.mistakes import mistake_curve

    print(f"\n== 5. slow corners at {steps:,} optimizer steps, as a ratio to warmup+cosine (same run) ==")
    base = _corner_design(steps)

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    # The baseline is measured three times (before, half way, after) and the median is used: on a
    # shared machine one measurement can be twice another.
    baselines = [timed(lambda: compute_curve(base))]
    curve = compute_curve(base)
    lam = {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "1 / sqrt((step + warmup_steps) / warmup_steps)"}}
    mul = {"scheduler": "MultiplicativeLR", "kwargs": {"lr_lambda": "1 - 1 / (n + 1)"}}
    metric = {"synthetic": {"noise": 0.01, "plateau_from": 50}}
    corners = {
        "LambdaLR expression": lambda: compute_curve(_corner_design(steps, decay=lam)),
        "MultiplicativeLR expression": lambda: compute_curve(_corner_design(steps, decay=mul)),
        "plateau, synthetic, every 100": lambda: compute_curve(
            _corner_design(steps, plateau={"eval_every": 100, "patience": 5, "metric": metric})
        ),
        "plateau, synthetic, at the cap": lambda: compute_curve(  # MAX_EVALUATIONS evaluations
            _corner_design(
                steps, plateau={"eval_every": -(-steps // MAX_EVALUATIONS), "patience": 50, "metric": metric}
            )
        ),
        **{
            f"mistake: {kind}": (lambda kind=kind: mistake_curve(base, kind))
            for kind in ("per_micro_batch", "before_optimizer_step", "resume_fresh", "resume_wrong_order")
        },
        "export: curve CSV": lambda: curve.frame.to_csv(index=False, lineterminator="\n"),
        **{
            f"export: {key} (checked)": (lambda key=key: TARGETS[key].export(base, curve=curve))
            for key in TARGETS
        },
    }
    times = {}
    for i, (name, fn) in enumerate(corners.items()):
        times[name] = timed(fn)
        print(f"  {name}: {times[name]:.2f} s", flush=True)
        if i == len(corners) // 2:
            baselines.append(timed(lambda: compute_curve(base)))
    baselines.append(timed(lambda: compute_curve(base)))
    t_base = sorted(baselines)[1]
    print(f"{'corner':36} {'s':>8} {'x warmup+cosine':>16}")
    print(
        f"{'warmup+cosine (the baseline)':36} {t_base:>8.2f} {1.0:>16.2f}   "
        f"(median of {', '.join(f'{b:.2f}' for b in baselines)} s)"
    )
    rows = [{"corner": "warmup+cosine", "steps": steps, "s": t_base, "ratio": 1.0, "baselines": baselines}]
    for name, t in times.items():
        print(f"{name:36} {t:>8.2f} {t / t_base:>16.2f}")
        rows.append({"corner": name, "steps": steps, "s": t, "ratio": t / t_base})
    results["corners"] = rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", choices=["curve", "payload", "apptest", "live", "noise", "corners"], action="append"
    )
    parser.add_argument(
        "--corner-steps", type=int, default=None, help="optimizer steps of the corners (default 1,000,000)"
    )
    args = parser.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 200_000, 1_000_000]
    naive_limit = 10_000 if args.quick else 200_000
    results = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    only = set(args.only or ["curve", "payload", "apptest", "live", "noise", "corners"])
    if "curve" in only:
        bench_curve(sizes, naive_limit, results)
    if "payload" in only:
        bench_payload(sizes, results)
    if "apptest" in only:
        bench_apptest([1_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000], results)
    if "live" in only:
        bench_live(results, args.quick)
    if "noise" in only:
        bench_noise(results, args.quick)
    if "corners" in only:
        bench_corners(args.corner_steps or (200_000 if args.quick else 1_000_000), results)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
