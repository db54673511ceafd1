"""timm create_scheduler_v2 export.

timm is not installed here: it requires torchvision, which has no CPU build for this project's
pinned torch.  The exported argument sets are therefore checked against a restatement of timm's
documented scheduler formulas (timm/scheduler/*.py, timm 1.0.31) stepped the way timm's train.py
steps them (``step_update(num_updates)`` after each update, ``step(epoch + 1)`` after each epoch,
the constructor setting the first lr).  Where timm *is* importable, the same exports are also run
through the real ``create_scheduler_v2``.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest
import torch
from interop_designs import design_builders

from schedules import compute_curve
from schedules.interop import to_timm
from schedules.presets import apply_preset


class RefTimm:
    """One of timm's schedulers as created by create_scheduler_v2 (one param group, no noise)."""

    def __init__(self, a: dict, base: float):
        upe = 1 if a.get("step_on_epochs", True) else a["updates_per_epoch"]
        self.per_update = not a.get("step_on_epochs", True)
        self.sched = a["sched"]
        self.base = base
        self.t_initial = a.get("num_epochs", 300) * upe
        self.warmup_t = a.get("warmup_epochs", 0) * upe
        self.warmup_lr = a.get("warmup_lr", 1e-5)
        self.prefix = a.get("warmup_prefix", False) or self.sched == "wsd"
        self.lr_min = a.get("min_lr", 0.0)
        self.cycle_limit = a.get("cycle_limit", 1)
        self.cycle_decay = a.get("cycle_decay", 0.1)
        self.decay_rate = a.get("decay_rate", 0.1)
        self.decay_t = (a.get("decay_epochs") or (90 if self.sched == "step" else 0.2)) * upe
        self.milestones = [m * upe for m in a.get("decay_milestones", [90, 180, 270])]
        self.decay_fn = a.get("decay_fn") or "1-sqrt"
        if self.sched == "wsd":
            self.t_sched = self.t_initial if a.get("warmup_prefix") else self.t_initial - self.warmup_t
            d = a.get("decay_epochs", 0.2)
            self.decay_t = int(round(d * self.t_sched if 0 < d < 1 else d * upe))
        # the constructor: warmup start, or the base value
        self.lr = self.warmup_lr if self.warmup_t else base

    def _get_lr(self, t: float) -> float:
        if t < self.warmup_t:
            return self.warmup_lr + t * (self.base - self.warmup_lr) / self.warmup_t
        if self.prefix:
            t = t - self.warmup_t
        if self.sched in ("cosine", "poly"):
            i = t // self.t_initial
            t_curr = t - self.t_initial * i
            lr_max = self.base * self.cycle_decay**i
            if i >= self.cycle_limit:
                return self.lr_min
            if self.sched == "cosine":
                return self.lr_min + 0.5 * (lr_max - self.lr_min) * (
                    1 + math.cos(math.pi * t_curr / self.t_initial)
                )
            return self.lr_min + (lr_max - self.lr_min) * (1 - t_curr / self.t_initial) ** self.decay_rate
        if self.sched == "constant":
            return self.base
        if self.sched == "step":
            return self.base * self.decay_rate ** (t // self.decay_t)
        if self.sched == "multistep":
            return self.base * self.decay_rate ** bisect.bisect_right(self.milestones, t + 1)
        # wsd, constant stable function
        t_decay = t - (self.t_sched - self.decay_t)
        if t_decay <= 0:
            return max(self.base, self.lr_min)
        frac = min(t_decay / self.decay_t, 1.0)
        dec = {
            "linear": 1 - frac,
            "cosine": 0.5 * (1 + math.cos(math.pi * frac)),
            "1-sqrt": 1 - math.sqrt(frac),
        }[self.decay_fn]
        return self.lr_min + (max(self.base, self.lr_min) - self.lr_min) * dec

    def step_update(self, num_updates: int) -> None:
        if self.per_update:
            self.lr = self._get_lr(num_updates)

    def step(self, epoch: int) -> None:
        if not self.per_update:
            self.lr = self._get_lr(epoch)


def train_py_run(
    args: dict, base: float, scales: list[float], steps_per_epoch: int, total: int
) -> np.ndarray:
    """timm train.py's loop: record the lr of each update, step_update after it, step at epoch ends."""
    ref = RefTimm(args, base)
    out = np.empty((total, len(scales)))
    num_updates = 0
    for k in range(total):
        out[k] = [ref.lr * s for s in scales]  # update_groups multiplies by the group's lr_scale
        num_updates += 1
        ref.step_update(num_updates)
        if (k + 1) % steps_per_epoch == 0:
            ref.step((k + 1) // steps_per_epoch)
    return out


_training, _cfg = design_builders(n=5000, b=32, a=4, epochs=3)


WARM = {"steps": 6, "ratio": None, "start_factor": 0.0}
EXACT = {
    "cosine": lambda: apply_preset("cosine", _training()),
    "cosine_min_lr": lambda: apply_preset("cosine_with_min_lr", _training()),
    "cosine_whole_epochs": lambda: _cfg(
        training={"n": 1280, "b": 32, "a": 1, "epochs": 5},
        warmup={"steps": 40, "ratio": None, "start_factor": 0.01},
        decay={"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-6}},
    ),
    "restarts": lambda: _cfg(
        warmup=WARM, decay={"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 30, "T_mult": 1}}
    ),
    "linear": lambda: apply_preset("linear", _training()),
    "linear_to_floor": lambda: _cfg(
        warmup=WARM, decay={"scheduler": "LinearLR", "kwargs": {"end_factor": 0.05}}
    ),
    "polynomial_2": lambda: _cfg(warmup=WARM, decay={"scheduler": "PolynomialLR", "kwargs": {"power": 2.0}}),
    "step": lambda: _cfg(
        warmup=WARM, decay={"scheduler": "StepLR", "kwargs": {"step_size": 25, "gamma": 0.5}}
    ),
    "multistep": lambda: _cfg(
        warmup=WARM, decay={"scheduler": "MultiStepLR", "kwargs": {"milestones": [20, 70], "gamma": 0.3}}
    ),
    "constant_with_warmup": lambda: apply_preset("constant_with_warmup", _training()),
    "wsd_cosine": lambda: apply_preset("warmup_stable_decay", _training()),
    "wsd_linear": lambda: _cfg(
        warmup=WARM, decay={"scheduler": "LinearLR", "kwargs": {"end_factor": 0.0}, "hold_steps": 40}
    ),
    "per_epoch_step": lambda: apply_preset("resnet_step", _training(n=640, b=64, a=1)),
    "per_epoch_cosine": lambda: _cfg(
        training={"epochs": 10, "n": 640, "b": 64, "a": 1},
        decay={"scheduler": "CosineAnnealingLR", "kwargs": {}, "interval": "epoch"},
    ),
    "per_group_scale": lambda: _cfg(
        optimizer={
            "lr": 1e-3,
            "param_groups": [{"name": "body", "lr_scale": 0.25}, {"name": "head", "lr_scale": 1.0}],
        },
        warmup=WARM,
        decay={"scheduler": "CosineAnnealingLR", "kwargs": {}},
    ),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_export_reproduces_the_curve_with_timms_formulas(name: str) -> None:
    cfg = EXACT[name]()
    payload, notes = to_timm(cfg)
    assert not any("cannot express" in n or "different curve" in n for n in notes), notes
    curve = compute_curve(cfg)
    scales = [g["lr_scale"] for g in payload["param_groups"]]
    theirs = train_py_run(
        payload["create_scheduler_v2"],
        cfg.optimizer.lr,
        scales,
        curve.plan.steps_per_epoch,
        curve.plan.total_steps,
    )
    np.testing.assert_allclose(theirs, curve.lrs, rtol=1e-12, atol=1e-15 * curve.lrs.max())


def test_whole_epochs_are_exported_in_epochs() -> None:
    payload, notes = to_timm(EXACT["cosine_whole_epochs"]())
    a = payload["create_scheduler_v2"]
    assert a["updates_per_epoch"] == 40 and a["warmup_epochs"] == 1 and a["num_epochs"] == 4
    assert not any("updates_per_epoch=1" in n for n in notes)
    payload, notes = to_timm(EXACT["cosine"]())  # 59 warmup steps of 391 per epoch
    assert payload["create_scheduler_v2"]["updates_per_epoch"] == 1
    assert any("updates_per_epoch=1" in n for n in notes)


def test_multistep_milestones_follow_timms_convention() -> None:
    payload, _ = to_timm(EXACT["multistep"]())
    assert payload["create_scheduler_v2"]["decay_milestones"] == [
        21,
        71,
    ]  # timm applies milestone m at t = m - 1


@pytest.mark.parametrize(
    ("design", "match"),
    [
        (lambda: apply_preset("reduce_lr_on_plateau", _training()), "timm cannot express: ReduceLROnPlateau"),
        (
            lambda: apply_preset("goyal_imagenet", _training(n=640, b=64, a=1)),
            "a per-step warmup before a per-epoch decay",
        ),
        (lambda: apply_preset("one_cycle", _training()), "decay.scheduler='OneCycleLR'"),
        (lambda: apply_preset("sgdr", _training()), "decay.scheduler='CosineAnnealingWarmRestarts'"),
        (
            lambda: _cfg(
                optimizer={
                    "lr": 1e-3,
                    "param_groups": [{"name": "a", "lr_scale": 0.5}, {"name": "b", "lr_scale": 1.0}],
                },
                decay={"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-5}},
            ),
            "an absolute eta_min with per-group lr_scale",
        ),
    ],
)
def test_warnings_name_what_timm_cannot_express(design, match: str) -> None:
    payload, notes = to_timm(design())
    assert any(match in n for n in notes), notes
    assert notes[-1].startswith("timm gives a different curve")
    assert payload["create_scheduler_v2"]["sched"] in (
        "cosine",
        "constant",
        "multistep",
        "step",
        "poly",
        "wsd",
    )


@pytest.mark.parametrize("name", sorted(EXACT))
def test_real_timm_when_installed(name: str) -> None:
    timm_scheduler = pytest.importorskip(
        "timm.scheduler", reason="timm needs torchvision (no CPU build here)"
    )
    cfg = EXACT[name]()
    payload, _ = to_timm(cfg)
    curve = compute_curve(cfg)
    groups = [
        {"params": [torch.zeros(1, requires_grad=True)], "lr": g["lr"], "lr_scale": g["lr_scale"]}
        for g in payload["param_groups"]
    ]
    opt = torch.optim.SGD(groups, lr=cfg.optimizer.lr)
    sched, _ = timm_scheduler.create_scheduler_v2(opt, **payload["create_scheduler_v2"])
    out = []
    num_updates = 0
    for k in range(curve.plan.total_steps):
        out.append([g["lr"] for g in opt.param_groups])
        num_updates += 1
        sched.step_update(num_updates)
        if (k + 1) % curve.plan.steps_per_epoch == 0:
            sched.step((k + 1) // curve.plan.steps_per_epoch)
    np.testing.assert_allclose(np.asarray(out), curve.lrs, rtol=1e-12, atol=1e-15 * curve.lrs.max())


def test_each_export_states_the_timm_release_it_needs() -> None:
    """timm 1.0.31 added 'constant' and 'wsd' to create_scheduler_v2 (read in the released wheels;
    before, it returns no scheduler for them); create_scheduler_v2 itself is 0.9.0's."""
    from schedules.interop.timm import TIMM_MIN_VERSION, timm_version_problem

    for name, sched in (("cosine", "cosine"), ("constant_with_warmup", "constant"), ("wsd_cosine", "wsd")):
        payload, notes = to_timm(EXACT[name]())
        args = payload["create_scheduler_v2"]
        assert args["sched"] == sched
        need = TIMM_MIN_VERSION[sched]
        assert payload["timm_version"] == f">={need}"
        assert any(n.startswith(f"note: needs timm >= {need}") for n in notes)
        assert timm_version_problem(args, need) is None and timm_version_problem(args, "1.0.31") is None
        assert "no create_scheduler_v2" in timm_version_problem(args, "0.6.13")
    assert TIMM_MIN_VERSION["constant"] == TIMM_MIN_VERSION["wsd"] == "1.0.31"
    problem = timm_version_problem({"sched": "wsd"}, "1.0.30")
    assert "has no sched='wsd' (first in 1.0.31)" in problem and "returns no scheduler" in problem


@pytest.mark.parametrize(
    ("optimizer", "opt", "settings"),
    [
        ({"name": "AdamW"}, "adamw", {"weight_decay": 0.01, "betas": [0.9, 0.999], "eps": 1e-8}),
        (
            {"name": "SGD", "kwargs": {"momentum": 0.9, "nesterov": True}},
            "sgd",
            {"momentum": 0.9, "nesterov": True},
        ),
        ({"name": "SGD"}, "momentum", {"momentum": 0, "nesterov": False, "weight_decay": 0}),
        ({"name": "RMSprop"}, "rmsprop", {"alpha": 0.99, "momentum": 0, "eps": 1e-8}),
        ({"name": "Adagrad"}, "adagrad", {"eps": 1e-10}),
    ],
)
def test_timm_optimizer_arguments_carry_the_effective_settings(optimizer, opt, settings) -> None:
    """timm's own defaults differ from torch's (weight_decay 0, momentum 0.9, rmsprop alpha 0.9,
    adagrad eps 1e-8): every setting is written out, and weight decay reaches every parameter."""
    payload, _ = to_timm({"optimizer": {"lr": 0.1, **optimizer}, "training": {"dataset_size": 64}})
    args = payload["create_optimizer_v2"]
    assert args["opt"] == opt and args["lr"] == 0.1 and args["filter_bias_and_bn"] is False
    for key, value in settings.items():
        assert args[key] == value, key


def test_timm_has_no_opt_for_some_torch_classes() -> None:
    payload, notes = to_timm({"optimizer": {"name": "Rprop", "lr": 0.1}, "training": {"dataset_size": 64}})
    assert "create_optimizer_v2" not in payload
    assert any(
        "trains with a different optimizer: create_optimizer_v2 has no opt for torch.optim.Rprop" in n
        for n in notes
    )


@pytest.mark.parametrize("name", ["AdamW", "SGD", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adam"])
def test_real_timm_optimizer_when_installed(name: str) -> None:
    """timm's own create_optimizer_v2 (when installed) builds the design's optimizer, every group's
    settings equal to torch's for the design (a Linear with a bias: filter_bias_and_bn=False decays it)."""
    timm_optim = pytest.importorskip("timm.optim", reason="timm needs torchvision (no CPU build here)")
    from schedules import load_config
    from schedules.build import IMPLEMENTATION_KEYS, optimizer_settings

    cfg = load_config({"optimizer": {"name": name, "lr": 0.1, "kwargs": {"weight_decay": 0.05}}})
    payload, _ = to_timm(cfg)
    opt = timm_optim.create_optimizer_v2(torch.nn.Linear(3, 2), **payload["create_optimizer_v2"])
    assert type(opt).__name__ == name
    want = optimizer_settings(cfg)
    for group in opt.param_groups:
        got = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in group.items()
            if k not in IMPLEMENTATION_KEYS
        }
        for key, value in want.items():
            assert got[key] == pytest.approx(value) if isinstance(value, float) else got[key] == value, key
