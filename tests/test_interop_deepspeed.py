"""DeepSpeed scheduler blocks: the documented formulas, export -> import round trips, warnings.

The reference below restates DeepSpeed 0.19.8's scheduler definitions (deepspeed/runtime/
lr_schedules.py) as small stateful objects stepped the way ``DeepSpeedEngine`` steps them: the
constructor sets the first lr, ``step()`` runs after every optimizer step.  (The real classes,
per group, are compared in tests/test_deepspeed_real.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from schedules import compute_curve, load_config
from schedules.design import ConfigError
from schedules.interop import deepspeed_curve, from_deepspeed, to_deepspeed
from schedules.interop.deepspeed import ds_expression
from schedules.presets import PRESETS, apply_preset


class RefWarmup:
    """WarmupLR / WarmupDecayLR / WarmupCosineLR as documented, one param group."""

    def __init__(self, kind: str, p: dict, org_lr: float):
        defaults = {
            "warmup_min_lr": 0.0,
            "warmup_max_lr": 0.001,
            "warmup_min_ratio": 0.0,
            "cos_min_ratio": 0.0001,
        }
        p = {**defaults, **p}
        self.kind, self.p, self.org = kind, p, org_lr
        self.w = max(2, p.get("warmup_num_steps", 1000))
        self.it = -1
        if kind == "WarmupCosineLR":
            self.lr = 0.0  # get_lr() returns [0.0] before the first step
        else:
            self.lr = p.get("warmup_min_lr", 0.0)

    def _gamma(self) -> float:
        if self.p.get("warmup_type", "log") == "log":
            return math.log(self.it + 1) / math.log(self.w)
        return self.it / self.w

    def step(self) -> None:
        self.it += 1
        p = self.p
        if self.kind == "WarmupCosineLR":
            if self.it < self.w:
                r = p["warmup_min_ratio"] + self._gamma() * (1 - p["warmup_min_ratio"])
            else:
                t, c = p["total_num_steps"], p["cos_min_ratio"]
                progress = min(1.0, (self.it - self.w + 1) / max(1, t - self.w))  # clamped in 0.19.8
                r = max(0.0, c + (1 - c) * (1 + math.cos(math.pi * progress)) / 2)
            self.lr = self.org * r
            return
        lo, hi = p["warmup_min_lr"], p["warmup_max_lr"]
        if self.it < self.w:
            g = self._gamma()
        elif self.kind == "WarmupDecayLR":
            t = p["total_num_steps"]
            g = max(0.0, (t - self.it) / max(1.0, t - self.w))
        else:
            g = 1.0
        self.lr = lo + (hi - lo) * g


class RefOneCycle:
    def __init__(self, p: dict):
        self.p = p
        self.it = -1
        self.lr = p["cycle_min_lr"]

    def step(self) -> None:
        self.it += 1
        p = self.p
        first = float(p["cycle_first_step_size"])
        size = first + float(p.get("cycle_second_step_size") or first)
        if self.it < size:
            bi = self.it + 1
            cycle = math.floor(1 + bi / size)
            x = 1.0 + bi / size - cycle
            ratio = first / size
            scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
            self.lr = p["cycle_min_lr"] + (p["cycle_max_lr"] - p["cycle_min_lr"]) * scale
        elif p.get("decay_lr_rate", 0) and p.get("decay_step_size", 0):
            self.lr = p["cycle_min_lr"] / (
                1 + p["decay_lr_rate"] * (self.it - size + 1) / p["decay_step_size"]
            )
        else:
            self.lr = p["cycle_min_lr"]


class RefRange:
    def __init__(self, p: dict):
        p = {"lr_range_test_step_rate": 1.0, **p}
        self.p, self.it, self.lr = p, -1, p["lr_range_test_min_lr"]

    def step(self) -> None:
        self.it += 1
        q = (self.it + 1) / self.p["lr_range_test_step_size"]  # (last_batch_iteration + 1) / step_size
        if self.p.get("lr_range_test_staircase"):
            q = math.floor(q)
        self.lr = self.p["lr_range_test_min_lr"] * (1 + self.p["lr_range_test_step_rate"] * q)


def engine_run(block: dict, org_lr: float, total: int) -> np.ndarray:
    kind, p = block["type"], block["params"]
    if kind == "OneCycle":
        ref = RefOneCycle(p)
    elif kind == "LRRangeTest":
        ref = RefRange(p)
    else:
        ref = RefWarmup(kind, p, org_lr)
    out = []
    for _ in range(total):
        out.append(ref.lr)  # the lr this optimizer step uses
        ref.step()  # DeepSpeedEngine: after optimizer.step()
    return np.asarray(out)


BLOCKS = [
    {
        "type": "WarmupLR",
        "params": {
            "warmup_min_lr": 0.0,
            "warmup_max_lr": 1e-3,
            "warmup_num_steps": 10,
            "warmup_type": "linear",
        },
    },
    {
        "type": "WarmupLR",
        "params": {
            "warmup_min_lr": 1e-5,
            "warmup_max_lr": 1e-3,
            "warmup_num_steps": 10,
            "warmup_type": "log",
        },
    },
    {
        "type": "WarmupLR",
        "params": {
            "warmup_min_lr": 1e-4,
            "warmup_max_lr": 1e-3,
            "warmup_num_steps": 0,
            "warmup_type": "linear",
        },
    },
    {
        "type": "WarmupDecayLR",
        "params": {
            "total_num_steps": 60,
            "warmup_min_lr": 0.0,
            "warmup_max_lr": 1e-3,
            "warmup_num_steps": 8,
            "warmup_type": "linear",
        },
    },
    {
        "type": "WarmupDecayLR",
        "params": {
            "total_num_steps": 50,
            "warmup_min_lr": 1e-4,
            "warmup_max_lr": 1e-3,
            "warmup_num_steps": 8,
        },
    },
    {
        "type": "WarmupCosineLR",
        "params": {
            "total_num_steps": 60,
            "warmup_min_ratio": 0.0,
            "warmup_num_steps": 8,
            "cos_min_ratio": 0.1,
            "warmup_type": "linear",
        },
    },
    {"type": "WarmupCosineLR", "params": {"total_num_steps": 60, "warmup_num_steps": 5}},
    {
        "type": "OneCycle",
        "params": {
            "cycle_min_lr": 1e-4,
            "cycle_max_lr": 1e-3,
            "cycle_first_step_size": 20,
            "cycle_second_step_size": 25,
        },
    },
    {
        "type": "OneCycle",
        "params": {
            "cycle_min_lr": 1e-4,
            "cycle_max_lr": 1e-3,
            "cycle_first_step_size": 10,
            "decay_lr_rate": 0.5,
            "decay_step_size": 4,
        },
    },
    {
        "type": "LRRangeTest",
        "params": {
            "lr_range_test_min_lr": 1e-5,
            "lr_range_test_step_size": 5,
            "lr_range_test_step_rate": 2.0,
        },
    },
    {
        "type": "LRRangeTest",
        "params": {
            "lr_range_test_min_lr": 1e-5,
            "lr_range_test_step_size": 5,
            "lr_range_test_staircase": True,
        },
    },
]
IDS = [f"{i}-{b['type']}" for i, b in enumerate(BLOCKS)]


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_deepspeed_curve_follows_the_documented_definitions(block: dict) -> None:
    ours = deepspeed_curve(block, [1e-3], 70)[:, 0]
    np.testing.assert_allclose(ours, engine_run(block, 1e-3, 70), rtol=1e-12, atol=1e-18)


def test_documented_spot_values() -> None:
    # WarmupLR, log warmup over 1000 steps: after 10 engine steps (last_batch_iteration 9) gamma is
    # log(10) / log(1000) = 1/3.
    block = {
        "type": "WarmupLR",
        "params": {"warmup_min_lr": 0.0, "warmup_max_lr": 0.003, "warmup_num_steps": 1000},
    }
    lr = deepspeed_curve(block, [0.003], 12)[:, 0]
    assert lr[0] == lr[1] == 0.0  # constructor and F(0) = log(1) = 0: the first two steps share one lr
    assert lr[10] == pytest.approx(0.001, rel=1e-12)
    # WarmupDecayLR decays linearly from warmup_max_lr at iteration W to warmup_min_lr at T'
    block = {
        "type": "WarmupDecayLR",
        "params": {
            "total_num_steps": 20,
            "warmup_max_lr": 1.0,
            "warmup_num_steps": 10,
            "warmup_type": "linear",
        },
    }
    lr = deepspeed_curve(block, [1.0], 22)[:, 0]
    assert lr[11] == 1.0 and lr[16] == pytest.approx(0.5) and lr[21] == 0.0  # row k is F(k - 1)
    # WarmupCosineLR never returns the peak: the cosine starts at i - W + 1 = 1
    block = {
        "type": "WarmupCosineLR",
        "params": {
            "total_num_steps": 20,
            "warmup_num_steps": 10,
            "warmup_type": "linear",
            "cos_min_ratio": 0.0,
        },
    }
    lr = deepspeed_curve(block, [1.0], 20)[:, 0]
    assert lr.max() < 1.0 and lr[11] == pytest.approx((1 + math.cos(math.pi / 10)) / 2)
    # warmup_num_steps below 2 is 2
    block = {
        "type": "WarmupLR",
        "params": {"warmup_max_lr": 1.0, "warmup_num_steps": 0, "warmup_type": "linear"},
    }
    assert deepspeed_curve(block, [1.0], 4)[:, 0].tolist() == [0.0, 0.0, 0.5, 1.0]


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_import_exact_reproduces_deepspeed(block: dict) -> None:
    base = load_config(
        {"training": {"dataset_size": 1000, "micro_batch_size": 10, "epochs": 1}, "optimizer": {"lr": 1e-3}}
    )
    cfg, notes = from_deepspeed({"scheduler": block}, base=base, total_steps=70)
    assert not any("different curve" in n for n in notes), notes
    curve = compute_curve(cfg)
    target = deepspeed_curve(block, cfg.optimizer.base_lrs(), 70)
    np.testing.assert_allclose(curve.lrs, target, rtol=1e-12, atol=1e-18)
    if block["params"].get("warmup_type", "log") == "log" and block["type"].startswith("Warmup"):
        assert any("'log' warmup" in n for n in notes)


def test_import_editable_gives_torch_classes_and_says_how_far() -> None:
    block = {
        "type": "WarmupCosineLR",
        "params": {
            "total_num_steps": 80,
            "warmup_min_ratio": 0.0,
            "warmup_num_steps": 8,
            "cos_min_ratio": 0.1,
            "warmup_type": "linear",
        },
    }
    cfg, notes = from_deepspeed(
        {"optimizer": {"type": "AdamW", "params": {"lr": 2e-3}}, "scheduler": block}, exact=False
    )
    assert cfg.decay.scheduler == "CosineAnnealingLR" and cfg.warmup.steps == 8
    assert cfg.optimizer.lr == 2e-3 and cfg.training.max_steps == 80
    assert any("the imported design (torch classes) gives a different curve" in n for n in notes)


DESIGNS = {
    name: (
        lambda name=name: apply_preset(
            name,
            {
                "training": {
                    "dataset_size": 3000,
                    "micro_batch_size": 32,
                    "accumulation_steps": 2,
                    "epochs": 2,
                }
            },
        )
    )
    for name in PRESETS
}
DESIGNS["constant"] = lambda: load_config(
    {"training": {"dataset_size": 3000, "micro_batch_size": 32, "epochs": 2}}
)
DESIGNS["constant_two_groups"] = lambda: load_config(
    {
        "optimizer": {
            "lr": 1e-3,
            "param_groups": [{"name": "body", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
        },
        "training": {"dataset_size": 3000, "micro_batch_size": 32, "epochs": 2},
    }
)
DESIGNS["one_triangle"] = lambda: load_config(
    {
        "optimizer": {"name": "SGD", "lr": 1e-3, "kwargs": {"momentum": 0.9}},
        "training": {"dataset_size": 3000, "micro_batch_size": 32, "epochs": 1},
        "decay": {
            "scheduler": "CyclicLR",
            "kwargs": {
                "base_lr": 1e-4,
                "max_lr": 1e-3,
                "step_size_up": 40,
                "step_size_down": 54,
                "cycle_momentum": False,
            },
        },
    }
)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_export_import_round_trip(name: str) -> None:
    """export -> import gives DeepSpeed's curve exactly; that is the design's when the export
    has no warning."""
    cfg = DESIGNS[name]()
    payload, notes = to_deepspeed(cfg)
    back, _ = from_deepspeed(payload, base=cfg)
    curve = compute_curve(cfg)
    back_curve = compute_curve(back)
    ds = deepspeed_curve(payload["scheduler"], cfg.optimizer.base_lrs(), curve.plan.total_steps)
    np.testing.assert_allclose(back_curve.lrs, ds, rtol=1e-12, atol=1e-18)
    exact = not any("different curve" in n for n in notes)
    if exact:
        np.testing.assert_allclose(back_curve.lrs, curve.lrs, rtol=1e-12, atol=1e-18)
    else:
        assert notes[-1].startswith("DeepSpeed gives a different curve")


@pytest.mark.parametrize("name", ["constant", "constant_two_groups", "one_triangle"])
def test_designs_deepspeed_expresses_exactly(name: str) -> None:
    payload, notes = to_deepspeed(DESIGNS[name]())
    assert not any("different curve" in n for n in notes), notes


def test_per_group_lrs_are_lists() -> None:
    payload, _ = to_deepspeed(DESIGNS["constant_two_groups"]())
    p = payload["scheduler"]["params"]
    assert p["warmup_max_lr"] == [pytest.approx(1e-4), 1e-3]


def test_warnings_name_what_deepspeed_cannot_express() -> None:
    text = "\n".join(to_deepspeed(DESIGNS["reduce_lr_on_plateau"]())[1])
    assert "DeepSpeed cannot express: ReduceLROnPlateau" in text
    text = "\n".join(to_deepspeed(DESIGNS["goyal_imagenet"]())[1])
    assert "decay.interval='epoch'" in text and "decay.scheduler='MultiStepLR'" in text
    text = "\n".join(to_deepspeed(DESIGNS["cosine"]())[1])
    assert "the peak lr at the end of warmup" in text
    text = "\n".join(to_deepspeed(DESIGNS["linear"]())[1])
    assert "first two steps" in text
    text = "\n".join(to_deepspeed(DESIGNS["warmup_stable_decay"]())[1])
    assert "decay.hold_ratio=0.75 (71 steps) (no stable phase" in text  # the field the design sets


def test_linear_export_differs_only_in_the_warmup() -> None:
    cfg = DESIGNS["linear"]()
    payload, notes = to_deepspeed(cfg)
    curve = compute_curve(cfg)
    ds = deepspeed_curve(payload["scheduler"], cfg.optimizer.base_lrs(), curve.plan.total_steps)
    w = curve.plan.warmup_steps
    np.testing.assert_allclose(ds[w + 1 :], curve.lrs[w + 1 :], rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"scheduler": {"type": "Nope", "params": {}}}, "scheduler.type: must be one of WarmupLR"),
        (
            {"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": "auto"}}},
            "'auto' is filled in by HF Trainer",
        ),
        (
            {"scheduler": {"type": "WarmupLR", "params": {"bogus": 1}}},
            "scheduler.params.bogus: is not a parameter of WarmupLR",
        ),
        ({"scheduler": {"type": "WarmupDecayLR", "params": {}}}, "total_num_steps: is required"),
        ({"optimizer": {}}, "scheduler: must be an object with 'type'"),
        ("not json", "must be a DeepSpeed config as JSON"),
    ],
)
def test_import_errors_name_the_field(doc, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_deepspeed(doc, total_steps=10)


def test_expression_is_valid_for_the_engine() -> None:
    for block in BLOCKS:
        expr = ds_expression(block, 1e-3)
        cfg = load_config(
            {"training": {"max_steps": 30}, "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": expr}}}
        )
        assert len(compute_curve(cfg).frame) == 30


def test_optimizer_block_maps_deepspeed_adam() -> None:
    cfg, _ = from_deepspeed(
        {
            "optimizer": {"type": "Adam", "params": {"lr": 5e-4, "betas": [0.9, 0.95], "weight_decay": 0.1}},
            "scheduler": {
                "type": "WarmupLR",
                "params": {"warmup_min_lr": 0, "warmup_max_lr": 5e-4, "warmup_num_steps": 10},
            },
            "train_micro_batch_size_per_gpu": 8,
            "gradient_accumulation_steps": 4,
        },
        total_steps=100,
    )
    assert cfg.optimizer.name == "AdamW"  # DeepSpeed's "Adam" is AdamW unless adam_w_mode is false
    assert cfg.optimizer.kwargs["betas"] == [0.9, 0.95]
    assert cfg.training.micro_batch_size == 8 and cfg.training.accumulation_steps == 4
