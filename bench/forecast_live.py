"""Loss-forecast benchmark: live-run validation and the 24,000-step speed check.

    PYTHONPATH=. .venv/bin/python bench/forecast_live.py            # both sections
    PYTHONPATH=. .venv/bin/python bench/forecast_live.py --section live
    PYTHONPATH=. .venv/bin/python bench/forecast_live.py --section speed

1. **live**: the project's own small model (``python -m schedules train``'s MLP on its synthetic,
   seeded data; AdamW, one epoch of 160,000 samples in batches of 64) trained three times with the same model, data and batch: constant lr (after
   warmup), warmup + cosine, and WSD (hold, then a linear cooldown over the last 20%).  Both laws are
   fitted on the constant and cosine runs and predict the WSD run; the mean relative error over
   every step after the warmup is reported against the logged loss and against its 50-step moving
   average (the per-step loss of a 64-sample batch is noisy; the law predicts the mean).  The three
   runs are written to ``docs/forecast/`` (the Forecast page's example runs).
2. **speed**: three 24,000-step runs generated from known multi-power parameters with 0.3% noise
   (constant, cosine, step decay), fitted with the default band (16 bootstrap replicates), then six
   24,000-step predictions; wall and CPU seconds, and the mean relative error of the predictions.

Results are printed and written to ``bench/results/forecast.json``.  The machine is shared: CPU
seconds are the steadier number.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schedules import load_config  # noqa: E402
from schedules.forecast import fit_runs, predict, run_from_file  # noqa: E402
from schedules.forecast.fit import _curve  # noqa: E402
from schedules.forecast.laws import prepare  # noqa: E402
from schedules.forecast.runs import Run  # noqa: E402
from schedules.train.loop import train  # noqa: E402

DOCS = ROOT / "docs" / "forecast"
RESULTS = ROOT / "bench" / "results"

BASE = {
    "optimizer": {"name": "AdamW", "lr": 0.003, "kwargs": {"weight_decay": 0.0}},
    # one pass over the data, as in language-model pre-training (the regime the laws were made for)
    "training": {"dataset_size": 160000, "micro_batch_size": 64, "accumulation_steps": 1, "epochs": 1},
    "warmup": {"steps": 100, "start_factor": 0.0},
}
LIVE = {
    "constant": {**BASE, "name": "live: constant", "decay": None},
    "cosine": {**BASE, "name": "live: warmup + cosine", "decay": {"scheduler": "CosineAnnealingLR"}},
    "wsd": {
        **BASE,
        "name": "live: WSD, linear cooldown over the last 20%",
        "decay": {
            "scheduler": "LinearLR",
            "kwargs": {"start_factor": 1.0, "end_factor": 0.0},
            "hold_ratio": 0.8,
        },
    },
}


def live_runs(refresh: bool) -> dict[str, Path]:
    DOCS.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, design in LIVE.items():
        path = DOCS / f"{name}.csv"
        (DOCS / f"{name}_design.json").write_text(load_config(design).to_json() + "\n")
        if refresh or not path.exists():
            t = time.perf_counter()
            training = train(load_config(design), device="cpu", seed=0)
            frame = training.frame(list(training))[["step", "lr", "loss"]]
            frame.to_csv(path, index=False)
            print(f"  trained {name}: {len(frame)} steps in {time.perf_counter() - t:.1f} s")
        paths[name] = path
    return paths


def section_live(refresh: bool) -> dict:
    print("live: fit on constant + cosine, predict WSD (the project's MLP, AdamW 3e-3)")
    paths = live_runs(refresh)
    fit_on = [run_from_file(paths["constant"]), run_from_file(paths["cosine"])]
    target = run_from_file(paths["wsd"])
    warm = BASE["warmup"]["steps"]
    logged = pd.Series(target.loss, index=target.loss_rows)
    smooth = logged.rolling(50, center=True, min_periods=10).mean()
    out = {}
    for law in ("multi-power", "annealing"):
        t = time.perf_counter()
        fit = fit_runs(fit_on, law)
        pred = predict(fit, target.lr)
        at = target.loss_rows[target.loss_rows > warm]
        p = pred.loss_pred.to_numpy()[at]
        rel_raw = np.abs(p - logged[at].to_numpy()) / logged[at].to_numpy()
        rel_smooth = np.abs(p - smooth[at].to_numpy()) / smooth[at].to_numpy()
        last = slice(int(0.8 * len(at)), None)  # the cooldown
        inside = (logged[at].to_numpy() >= pred.loss_low.to_numpy()[at]) & (
            logged[at].to_numpy() <= pred.loss_high.to_numpy()[at]
        )
        out[law] = {
            "fit_mean_rel": fit["error"]["mean_rel"],
            "mean_rel_vs_logged": float(rel_raw.mean()),
            "mean_rel_vs_smoothed": float(np.nanmean(rel_smooth)),
            "mean_rel_vs_smoothed_cooldown": float(np.nanmean(rel_smooth[last])),
            "final_pred": float(pred.loss_pred.iloc[-1]),
            "final_smoothed": float(smooth.iloc[-1]),
            "band_covers_logged": float(inside.mean()),
            "seconds": time.perf_counter() - t,
            "params": fit["params"],
        }
        o = out[law]
        print(
            f"  {law:12s} fit error {o['fit_mean_rel']:.3%}; WSD prediction: mean relative error "
            f"{o['mean_rel_vs_logged']:.3%} vs logged, {o['mean_rel_vs_smoothed']:.3%} vs 50-step average "
            f"({o['mean_rel_vs_smoothed_cooldown']:.3%} over the cooldown); final {o['final_pred']:.4f} vs "
            f"{o['final_smoothed']:.4f}; {o['seconds']:.1f} s"
        )
    return out


TRUE = {"L0": 2.5, "A": 0.6, "alpha": 0.5, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.55}
PEAK = 3e-4


def schedule(kind: str, T: int, warm: int = 500, final: float = 0.0, frac: float = 0.2) -> np.ndarray:
    k = np.arange(T)
    lr = np.full(T, PEAK)
    lr[:warm] = PEAK * (k[:warm] + 1) / warm
    if kind == "cos":
        t = (k[warm:] - warm) / (T - warm)
        lr[warm:] = PEAK * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * t)))
    elif kind == "wsd":
        s = int(T * (1 - frac))
        lr[s:] = PEAK * (1 - (1 - final) * (k[s:] - s) / (T - s))
    elif kind == "wsd-sqrt":
        s = int(T * (1 - frac))
        lr[s:] = PEAK * (1 - (1 - final) * np.sqrt((k[s:] - s) / (T - s)))
    elif kind == "step":
        lr[T // 2 :] *= 0.3
        lr[int(T * 0.8) :] *= 0.3
    elif kind == "step2":
        lr[int(T * 0.6) :] *= 0.3
        lr[int(T * 0.9) :] *= 0.3
    return lr


def truth(lr: np.ndarray) -> np.ndarray:
    return _curve("multi-power", TRUE, prepare(lr), 4096, 4096)  # 4x finer than a prediction


def section_speed(T: int = 24_000) -> dict:
    print(
        f"speed: {T:,}-step synthetic runs, 3-run fit + 6 predictions (multi-power, 16 bootstrap replicates)"
    )
    rng = np.random.default_rng(0)
    runs = []
    for kind in ("const", "cos", "step"):
        lr = schedule(kind, T)
        rows = np.arange(1, T)
        runs.append(Run(kind, lr, rows, truth(lr)[rows] * (1 + 3e-3 * rng.standard_normal(len(rows)))))
    targets = {
        "cosine to 10%": schedule("cos", T, final=0.1),
        "WSD linear 10%": schedule("wsd", T, frac=0.1),
        "WSD linear 30% to 5%": schedule("wsd", T, frac=0.3, final=0.05),
        "WSD 1-sqrt 20%": schedule("wsd-sqrt", T, frac=0.2),
        "step at 60%, 90%": schedule("step2", T),
        "cosine, 2x longer": schedule("cos", 2 * T),
    }
    expected = {name: truth(lr) for name, lr in targets.items()}  # not timed
    wall, cpu = time.perf_counter(), time.process_time()
    fit = fit_runs(runs, "multi-power")
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    preds = {name: predict(fit, lr) for name, lr in targets.items()}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors = {}
    for name, frame in preds.items():
        at = np.arange(501, len(frame))
        errors[name] = float(
            np.mean(np.abs(frame.loss_pred.to_numpy()[at] - expected[name][at]) / expected[name][at])
        )
    print(
        f"  fit {fit_wall:.1f} s wall / {fit_cpu:.1f} s CPU; fit + 6 predictions {wall:.1f} s wall / {cpu:.1f} s CPU"
    )
    for name, e in errors.items():
        print(f"  {name:22s} mean relative error {e:.4%}")
    return {
        "steps": T,
        "fit_wall_s": fit_wall,
        "fit_cpu_s": fit_cpu,
        "total_wall_s": wall,
        "total_cpu_s": cpu,
        "mean_rel": errors,
        "params": fit["params"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("live", "speed", "all"), default="all")
    parser.add_argument(
        "--refresh", action="store_true", help="retrain the live runs even if docs/forecast has them"
    )
    args = parser.parse_args()
    results = {}
    if args.section in ("live", "all"):
        results["live"] = section_live(args.refresh)
    if args.section in ("speed", "all"):
        results["speed"] = section_speed()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "forecast.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(results)
    path.write_text(json.dumps(old, indent=1) + "\n")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
