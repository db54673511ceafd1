"""Seeded random small designs for the stack tests (real libraries train them in seconds on CPU).

Every design has a short last window or not, per-step or per-epoch decay, a plateau or not,
``max_steps`` or epochs, ``drop_last`` or not, one or two param groups; design ``i`` is the same on
every run (``random.Random(i)``).
"""

from __future__ import annotations

import random
from typing import Any

DECAYS: list[dict[str, Any] | None] = [
    None,
    {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-5}},
    {"scheduler": "LinearLR"},
    {"scheduler": "StepLR", "kwargs": {"step_size": 2, "gamma": 0.5}},
    {"scheduler": "ExponentialLR", "kwargs": {"gamma": 0.9}},
    {"scheduler": "PolynomialLR", "kwargs": {"power": 2.0}},
    {"scheduler": "CosineAnnealingLR", "interval": "epoch"},
    {"scheduler": "StepLR", "kwargs": {"step_size": 1, "gamma": 0.5}, "interval": "epoch"},
]


def design(i: int) -> dict[str, Any]:
    r = random.Random(i)
    micro = r.randint(1, 5)
    acc = r.choice([1, 2, 3, 4])
    n = r.randint(micro * acc, 48)
    training: dict[str, Any] = {
        "dataset_size": n,
        "micro_batch_size": micro,
        "accumulation_steps": acc,
        "epochs": r.randint(1, 3),
        "drop_last": r.random() < 0.3 and n >= micro * acc * 2,
    }
    if r.random() < 0.2:
        training["max_steps"] = r.randint(2, 12)
    cfg: dict[str, Any] = {
        "name": f"random design {i}",
        "optimizer": {"name": r.choice(["SGD", "AdamW"]), "lr": r.choice([0.1, 0.01, 3e-3])},
        "training": training,
    }
    if r.random() < 0.3:
        cfg["optimizer"]["param_groups"] = [
            {"name": "body", "lr_scale": 0.5},
            {"name": "head", "lr_scale": 1.0},
        ]
    if r.random() < 0.6:
        cfg["warmup"] = {"steps": r.randint(1, 3), "start_factor": r.choice([0.0, 0.1])}
    decay = DECAYS[r.randrange(len(DECAYS))]
    if decay is not None:
        cfg["decay"] = decay
    if r.random() < 0.3:
        cfg["plateau"] = {
            "factor": 0.5,
            "patience": r.randint(0, 1),
            "eval_every": r.choice(["epoch", 2]),
            "metric": {
                "synthetic": {"start": 1.0, "floor": 0.9, "half_life": 1.0, "plateau_from": 1, "seed": i}
            },
        }
    return cfg


def shape(cfg: dict[str, Any]) -> str:
    """What a design exercises, for the test ids."""
    from schedules import load_config
    from schedules.design import make_plan

    c = load_config(cfg)
    p = make_plan(c)
    bits = [f"A{p.accumulation_steps}", f"T{p.total_steps}"]
    if p.micro_batches_per_epoch % p.accumulation_steps:
        bits.append("short")
    if c.decay is not None and c.decay.interval == "epoch":
        bits.append("epoch")
    if c.plateau is not None:
        bits.append("plateau")
    return "-".join(bits)


def plateau_design(i: int) -> dict[str, Any]:
    """A seeded random design with a plateau (evaluated every epoch or every 1-3 optimizer steps);
    every other one is the plateau alone (no warmup, no decay: HF's ``reduce_lr_on_plateau``)."""
    r = random.Random(10_000 + i)
    cfg = design(10_000 + i)
    cfg["plateau"] = {
        "factor": r.choice([0.5, 0.1]),
        "patience": r.randint(0, 1),
        "eval_every": r.choice(["epoch", 1, 2, 3]),
        "metric": {"synthetic": {"start": 1.0, "floor": 0.9, "half_life": 1.0, "plateau_from": 1, "seed": i}},
    }
    if i % 2 == 0:
        cfg.pop("warmup", None)
        cfg.pop("decay", None)
    return cfg
