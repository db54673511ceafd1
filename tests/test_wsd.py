"""Warmup-stable-decay and cosine-to-a-floor designs against transformers itself (issue 14).

Every expected value comes from the ``LambdaLR`` transformers 5.x builds (``get_wsd_schedule``,
``get_cosine_with_min_lr_schedule_with_warmup``, ``..._lr_rate``), stepped on a real optimizer; the
design's rows come from ``schedules.lr_curve`` (the schedulers ``build_scheduler`` makes).
Tolerance: 1e-12 relative, no absolute slack.
"""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

transformers_optimization = pytest.importorskip("transformers.optimization")

import schedules  # noqa: E402
from schedules.build import build_scheduler, dummy_optimizer, quiet_scheduler_warnings  # noqa: E402
from schedules.curve import compute_curve  # noqa: E402
from schedules.design import ConfigError  # noqa: E402
from schedules.design.wsd import SHAPES, WSDFactor  # noqa: E402
from schedules.presets import PRESETS, apply_preset, hf_design  # noqa: E402

LR = 0.3
LENGTHS = 24  # random (T, w, d, min_lr_ratio) draws per case (acceptance: >= 20)


def hf_rows(make, total: int, lrs=(LR,), **kwargs) -> np.ndarray:
    """Rows of ``make(optimizer, **kwargs)`` (a transformers schedule): the lr before each step."""
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    opt = torch.optim.AdamW(params, lr=lrs[0])
    sched = make(opt, **kwargs)
    out = np.empty((total, len(lrs)))
    for k in range(total):
        out[k] = [g["lr"] for g in opt.param_groups]
        opt.step()
        sched.step()
    return out


def base(total: int, groups: int = 1) -> dict:
    optimizer = {"name": "AdamW", "lr": LR}
    if groups > 1:
        optimizer["param_groups"] = [{"name": "body", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}]
    return {"optimizer": optimizer, "training": {"dataset_size": total, "micro_batch_size": 1, "epochs": 1}}


def design_rows(cfg) -> np.ndarray:
    lr = schedules.lr_curve(cfg)
    cols = [c for c in lr.columns if c.startswith("lr/")] or ["lr"]
    return lr[cols].to_numpy()


def draws(seed: int):
    rng = random.Random(seed)
    for _ in range(LENGTHS):
        t = rng.randint(2, 1200)
        w = rng.randint(0, t // 3)
        d = rng.randint(1, t - w)
        r = rng.choice([0.0, rng.random() * 0.5])
        yield t, w, d, r


@pytest.mark.parametrize("warmup_type", SHAPES)
@pytest.mark.parametrize("decay_type", SHAPES)
def test_wsd_equals_transformers_every_type(warmup_type: str, decay_type: str) -> None:
    for i, (t, w, d, r) in enumerate(draws(10 * SHAPES.index(warmup_type) + SHAPES.index(decay_type))):
        groups = 1 + i % 2
        cfg = hf_design(
            "wsd",
            base(t, groups),
            num_warmup_steps=w,
            num_decay_steps=d,
            num_training_steps=t,
            warmup_type=warmup_type,
            decay_type=decay_type,
            min_lr_ratio=r,
        )
        assert cfg.wsd.stable_steps is None  # num_stable_steps inferred, as transformers does
        want = hf_rows(
            transformers_optimization.get_wsd_schedule,
            t,
            cfg.optimizer.base_lrs(),
            num_warmup_steps=w,
            num_decay_steps=d,
            num_training_steps=t,
            warmup_type=warmup_type,
            decay_type=decay_type,
            min_lr_ratio=r,
        )
        np.testing.assert_allclose(
            design_rows(cfg), want, rtol=1e-12, atol=0, err_msg=f"T={t} w={w} d={d} r={r}"
        )


def test_wsd_with_explicit_stable_steps_ends_at_the_floor() -> None:
    """num_stable_steps given and w + s + d < T: transformers holds min_lr_ratio after the decay."""
    t, w, s, d, r = 200, 10, 50, 40, 0.05
    cfg = hf_design("wsd", base(t), num_warmup_steps=w, num_decay_steps=d, num_stable_steps=s, min_lr_ratio=r)
    want = hf_rows(
        transformers_optimization.get_wsd_schedule,
        t,
        num_warmup_steps=w,
        num_decay_steps=d,
        num_stable_steps=s,
        min_lr_ratio=r,
    )
    got = design_rows(cfg)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert got[-1, 0] == pytest.approx(LR * r) and got[w + s + d, 0] == pytest.approx(LR * r)


def test_cosine_with_min_lr_equals_transformers() -> None:
    for i, (t, w, _, r) in enumerate(draws(7)):
        cfg = hf_design(
            "cosine_with_min_lr", base(t, 1 + i % 2), num_warmup_steps=w, num_training_steps=t, min_lr_rate=r
        )
        want = hf_rows(
            transformers_optimization.get_cosine_with_min_lr_schedule_with_warmup,
            t,
            cfg.optimizer.base_lrs(),
            num_warmup_steps=w,
            num_training_steps=t,
            min_lr_rate=r,
        )
        np.testing.assert_allclose(design_rows(cfg), want, rtol=1e-12, atol=0, err_msg=f"T={t} w={w} r={r}")


def test_cosine_warmup_with_min_lr_equals_transformers() -> None:
    for i, (t, w, _, r) in enumerate(draws(8)):
        w = max(1, w)
        cfg = hf_design(
            "cosine_warmup_with_min_lr",
            base(t, 1 + i % 2),
            num_warmup_steps=w,
            num_training_steps=t,
            min_lr_rate=r,
        )
        want = hf_rows(
            transformers_optimization.get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
            t,
            cfg.optimizer.base_lrs(),
            num_warmup_steps=w,
            num_training_steps=t,
            min_lr_rate=r,
        )
        np.testing.assert_allclose(design_rows(cfg), want, rtol=1e-12, atol=0, err_msg=f"T={t} w={w} r={r}")


@pytest.mark.parametrize("name", ["wsd_linear", "wsd_cosine", "wsd_1-sqrt", "cosine_warmup_with_min_lr"])
def test_presets_equal_transformers(name: str) -> None:
    t = 437
    cfg = apply_preset(name, base(t))
    if name == "cosine_warmup_with_min_lr":

        def make(opt):
            return transformers_optimization.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
                opt, num_warmup_steps=22, num_training_steps=t, min_lr_rate=0.1
            )  # w = ceil(0.05 * 437) = 22

    else:

        def make(opt):
            return transformers_optimization.get_wsd_schedule(
                opt, num_warmup_steps=22, num_decay_steps=88, num_training_steps=t, decay_type=name[4:]
            )

    np.testing.assert_allclose(design_rows(cfg), hf_rows(make, t), rtol=1e-12, atol=0)
    assert name in PRESETS


def test_factor_worked_example_and_pickles() -> None:
    f = WSDFactor(2, 2, 2, "linear", "linear", 0.1, warmup_start=0.0)
    assert [f(k) for k in range(7)] == pytest.approx([0.0, 0.5, 1.0, 1.0, 1.0, 0.55, 0.1], abs=1e-15)
    g = pickle.loads(pickle.dumps(f))
    assert [g(k) for k in range(7)] == [f(k) for k in range(7)]


def test_state_dict_resume_continues_the_curve() -> None:
    cfg = hf_design(
        "wsd", base(120), num_warmup_steps=10, num_decay_steps=30, num_training_steps=120, decay_type="1-sqrt"
    )
    want = design_rows(cfg)[:, 0]
    opt = dummy_optimizer(cfg)
    sched = build_scheduler(opt, cfg)
    with quiet_scheduler_warnings():
        for _ in range(50):
            sched.step()
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    opt2 = dummy_optimizer(cfg)
    sched2 = build_scheduler(opt2, cfg)
    sched2.load_state_dict(state)
    for g in opt2.param_groups:
        g["lr"] = opt.param_groups[0]["lr"]
    got = []
    with quiet_scheduler_warnings():
        for _ in range(50, 120):
            got.append(opt2.param_groups[0]["lr"])
            sched2.step()
    np.testing.assert_allclose(got, want[50:], rtol=1e-12, atol=0)


def test_events_mark_warmup_end_and_decay_start() -> None:
    cfg = schedules.load_config({**base(100), "wsd": {"warmup_ratio": 0.1, "decay_ratio": 0.25}})
    curve = compute_curve(cfg)
    assert [(e.kind, e.step) for e in curve.events if e.kind != "epoch"] == [
        ("warmup_end", 10),
        ("hold_end", 75),
    ]


@pytest.mark.parametrize(
    ("wsd", "path", "fragment"),
    [
        ({"warmup_steps": 10}, "wsd.decay_steps", "set decay_steps or decay_ratio"),
        ({"decay_steps": 5, "decay_ratio": 0.1}, "wsd.decay_ratio", "not both"),
        ({"warmup_steps": 60, "decay_steps": 50}, "wsd.decay_steps", "must be <= the total steps (100)"),
        ({"decay_ratio": 0.2, "decay_type": "exp"}, "wsd.decay_type", "linear"),
        ({"decay_ratio": 0.2, "min_lr_ratio": 1.5}, "wsd.min_lr_ratio", "<= 1"),
    ],
)
def test_bad_wsd_sections_name_the_field(wsd: dict, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        schedules.load_config({**base(100), "wsd": wsd})
    text = str(info.value)
    assert path in text and fragment in text, text


def test_wsd_with_warmup_section_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"warmup: must be null when wsd is set"):
        schedules.load_config({**base(100), "warmup": {"steps": 5}, "wsd": {"decay_ratio": 0.2}})


def test_old_configs_do_not_grow_a_wsd_key() -> None:
    cfg = schedules.load_config(base(100))
    assert "wsd" not in cfg.to_dict()
    wsd = schedules.load_config({**base(100), "wsd": {"decay_ratio": 0.2}})
    assert schedules.load_config(wsd.to_json()).cache_key() == wsd.cache_key()


@pytest.mark.parametrize("name", ["wsd_linear", "wsd_cosine", "wsd_1-sqrt"])
def test_hf_export_of_a_wsd_design_is_warmup_stable_decay(name: str) -> None:
    from schedules.interop.hf_export import to_hf

    cfg = apply_preset(name, base(437))
    args, notes = to_hf(cfg)
    # to_hf recomputes HF's curve and compares it with the design (the optimizer: test_export_optimizers.py)
    assert [n for n in notes if "trains with a different optimizer" not in n] == []
    assert args["lr_scheduler_type"] == "warmup_stable_decay"
    assert args["lr_scheduler_kwargs"]["num_decay_steps"] == 88 and args["warmup_steps"] == 22
    assert args["lr_scheduler_kwargs"]["decay_type"] == name[4:]


def test_deepspeed_export_names_the_wsd_fields() -> None:
    """A wsd design's stable phase is wsd.stable_steps (set or inferred), not decay.hold_steps; its
    warmup starts from min_lr_ratio (not 1x); a 1-sqrt cooldown has no DeepSpeed scheduler."""
    from schedules.interop.deepspeed_export import to_deepspeed

    wsd = {"warmup_steps": 10, "decay_ratio": 0.2, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}
    payload, notes = to_deepspeed({**base(100), "wsd": wsd})
    text = "\n".join(notes)
    assert "decay.hold_steps" not in text
    assert "the wsd stable phase of 70 steps (wsd.stable_steps inferred: total - warmup - decay)" in text
    assert "wsd.decay_type='1-sqrt' (no DeepSpeed scheduler has this shape)" in text
    assert "(0.1x, then 0.19x of the lr)" in text  # r0 = min_lr_ratio, then r0 + (1 - r0) / 10
    assert payload["scheduler"]["params"]["warmup_min_lr"] == pytest.approx(LR * 0.19)

    notes = to_deepspeed({**base(100), "wsd": {**wsd, "stable_steps": 30, "warmup_type": "cosine"}})[1]
    text = "\n".join(notes)
    assert "DeepSpeed cannot express: wsd.stable_steps=30 (no stable phase" in text
    assert "wsd.warmup_type='cosine' (DeepSpeed warms up linearly or by log)" in text

    # no stable phase and a linear cooldown to the warmup's start: WarmupDecayLR, exact after step 1
    notes = to_deepspeed(
        {**base(100), "wsd": {"warmup_steps": 10, "decay_steps": 90, "decay_type": "linear"}}
    )[1]
    assert not any("stable" in n or "hold" in n or "decay_type" in n for n in notes), notes
