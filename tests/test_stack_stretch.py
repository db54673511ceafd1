"""A scheduler built for N x the steps (``--scheduler-scale N``) is the design stretched, as the real
libraries stretch it (issue 28, item 1).

A user who sizes HF's scheduler from a dataloader N times too long calls
``get_scheduler(name, opt, num_warmup_steps, num_training_steps=N*T)``: a warmup given as a ratio
becomes ``ceil(ratio * N*T)`` (``TrainingArguments.get_warmup_steps``), one given in steps stays, and
the run steps it T times.  Over random designs HF can name (constant, linear, cosine, cosine to a
floor, polynomial; both warmup forms; N in 2..8), the stack's curve equals transformers' own
scheduler built for N*T and stepped T times, to 1e-12 relative; every stack that steps once per
optimizer step gives the same rows (DeepSpeed: a prefix of them, its windows spanning epochs).  The acceptance case runs through the CLI.
"""

from __future__ import annotations

import math
import types
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules import load_config
from schedules.cli import main
from schedules.interop.common import compare
from schedules.presets import apply_preset
from schedules.stacks import StackConfig, lr_matrix, stack_curve
from schedules.stacks import _candidates as stacks_candidates

transformers = pytest.importorskip("transformers")

from transformers import TrainingArguments, get_scheduler  # noqa: E402

EXAMPLES = 200
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def hf_lrs(name: str, kwargs: dict, lr: float, warmup: int, total: int, steps: int) -> np.ndarray:
    """transformers' own scheduler ``name`` built for ``total`` steps with ``warmup``, on a real torch
    optimizer, stepped ``steps`` times as Trainer steps it (the lr read before each optimizer step)."""
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = get_scheduler(
        name, opt, num_warmup_steps=warmup, num_training_steps=total, scheduler_specific_kwargs=kwargs
    )
    out = np.empty(steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping without gradients
        for k in range(steps):
            out[k] = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
    return out


def hf_warmup(form: str, value: float, total: int) -> int:
    """HF's own rule (TrainingArguments.get_warmup_steps): steps as they are, a fraction < 1 of the total."""
    return TrainingArguments.get_warmup_steps(types.SimpleNamespace(warmup_steps=value), total)


@st.composite
def hf_designs(draw) -> tuple[dict, str, dict, str, float]:
    """A random design that is exactly one of HF's named schedules: the design, HF's name and kwargs,
    and its warmup form and value."""
    lr = draw(st.sampled_from([1e-4, 3e-4, 1e-3, 0.1, 1.0]))
    training = {
        "dataset_size": draw(st.integers(8, 400)),
        "micro_batch_size": draw(st.integers(1, 8)),
        "accumulation_steps": draw(st.integers(1, 4)),
        "epochs": draw(st.integers(1, 3)),
        "drop_last": draw(st.booleans()),
    }
    if draw(st.integers(0, 4)) == 0:
        training["max_steps"] = draw(st.integers(10, 300))
    form = draw(st.sampled_from(["steps", "ratio"]))
    value: float = (
        draw(st.integers(1, 20)) if form == "steps" else draw(st.sampled_from([0.01, 0.05, 0.1, 0.25]))
    )
    cfg: dict = {
        "optimizer": {"name": "AdamW", "lr": lr},
        "training": training,
        "warmup": {form: value, "start_factor": 0.0},
    }
    kind = draw(st.sampled_from(["constant", "linear", "cosine", "cosine_floor", "polynomial"]))
    name, kwargs = kind, {}
    if kind == "constant":
        name = "constant_with_warmup"
    elif kind == "linear":
        cfg["decay"] = {"scheduler": "LinearLR"}
    elif kind == "cosine":
        cfg["decay"] = {"scheduler": "CosineAnnealingLR"}
    elif kind == "cosine_floor":
        floor = lr * draw(st.sampled_from([0.01, 0.1, 0.3]))
        cfg["decay"] = {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": floor}}
        name, kwargs = "cosine_with_min_lr", {"min_lr": floor}
    else:
        power = draw(st.sampled_from([1.0, 2.0, 3.0]))
        cfg["decay"] = {"scheduler": "PolynomialLR", "kwargs": {"power": power}}
        kwargs = {"lr_end": 0.0, "power": power}
    return cfg, name, kwargs, form, value


@PROPERTY
@given(case=hf_designs(), scale=st.integers(2, 8))
def test_stretched_stack_curve_is_hfs_schedule_built_for_n_times_the_steps(case, scale) -> None:
    raw, name, kwargs, form, value = case
    cfg = load_config(raw)
    plan = cfg.plan
    t = plan.total_steps
    big = scale * t
    run = stack_curve(cfg, StackConfig(name="hf", scheduler_scale=scale))
    assert len(run.frame) == t
    want = hf_lrs(name, kwargs, cfg.optimizer.lr, hf_warmup(form, value, big), big, t)
    got = run.frame["lr"].to_numpy()
    assert compare(want[:, None], got[:, None]) is None, (name, form, value, scale, t)
    # the diagnosis says which warmup case applies
    if form == "ratio":
        assert "its warmup, given as a ratio, stretches with it" in run.diagnosis or run.matches
    else:
        assert f"its warmup of {int(value):,} steps does not stretch" in run.diagnosis or run.matches
    # every stack that steps the scheduler once per optimizer step stretches the same way
    for other in (
        StackConfig(name="plain", scheduler_scale=scale),
        StackConfig(name="lightning", lightning_interval="step", scheduler_scale=scale),
        StackConfig(name="accelerate", num_processes=1, scheduler_scale=scale),
    ):
        assert np.array_equal(lr_matrix(stack_curve(cfg, other).frame), lr_matrix(run.frame)), other.name
    # DeepSpeed too: it steps once per optimizer step, but its accumulation windows span epochs (no
    # short last window), so it may take fewer optimizer steps (none when an epoch is shorter than a
    # window and the run one epoch long): its rows are a prefix of the same curve
    ds = lr_matrix(stack_curve(cfg, StackConfig(name="deepspeed", scheduler_scale=scale)).frame)
    assert len(ds) <= t and np.array_equal(ds, lr_matrix(run.frame)[: len(ds)])


def test_accelerate_with_n_processes_and_a_scheduler_built_for_n_times_the_steps() -> None:
    """accelerate's own advice (num_training_steps x N) with N processes: the stretched design read every
    N steps.  With a warmup ratio that stretches exactly (ratio * T whole) it is the design within
    1e-12; with warmup steps the warmup runs N times too fast (the user must scale it too)."""
    base = {
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        # 4 processes: L = ceil(640 / (8 * 4)) = 20 micro-batches, 20 steps per epoch, T = 40
        "training": {"dataset_size": 640, "micro_batch_size": 8, "world_size": 4, "epochs": 2},
        "decay": {"scheduler": "CosineAnnealingLR"},
    }
    ratio = stack_curve(
        {**base, "warmup": {"ratio": 0.1}}, StackConfig(name="accelerate", scheduler_scale=4)
    )  # warmup ceil(0.1 x 160) = 16 = 4 x ceil(0.1 x 40)
    assert ratio.matches, ratio.diagnosis
    steps = stack_curve({**base, "warmup": {"steps": 4}}, StackConfig(name="accelerate", scheduler_scale=4))
    assert not steps.matches
    assert "its warmup of 4 steps does not stretch (given in steps)" in steps.diagnosis
    # the design reaches the peak at step 4; the stretched one, read every 4th step, already at step 1
    assert steps.frame["lr"].iloc[1] == pytest.approx(1e-3, rel=1e-12)
    assert steps.design["lr"].iloc[1] == pytest.approx(1e-3 / 4, rel=1e-12)
    assert steps.fix is not None and steps.fix.settings.step_every == 4


def test_cli_curve_of_the_cosine_preset_at_accumulation_4_is_hfs_cosine_built_for_4t(
    tmp_path, capsys
) -> None:
    """The acceptance case: ``curve --stack hf --scheduler-scale 4`` on the cosine preset at accumulation
    4 equals ``get_cosine_schedule_with_warmup(opt, ceil(0.05 * 4T), 4T)`` stepped T times."""
    cfg = apply_preset("cosine", {"training": {"accumulation_steps": 4}})
    t = cfg.plan.total_steps
    assert (t, cfg.plan.warmup_steps) == (1173, 59)  # 50,000 samples, micro-batch 32: L = 1563, S = 391
    path = tmp_path / "cosine.json"
    path.write_text(cfg.to_json())
    out = tmp_path / "hf.csv"
    assert main(["curve", str(path), "--stack", "hf", "--scheduler-scale", "4", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "ceil(0.05 x 4,692) = 235 steps instead of 59" in err
    rows = np.loadtxt(out, delimiter=",", skiprows=1, usecols=3)
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=cfg.optimizer.lr)
    sched = transformers.get_cosine_schedule_with_warmup(opt, math.ceil(0.05 * 4 * t), 4 * t)
    want = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(t):
            want.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    assert len(rows) == t
    np.testing.assert_allclose(rows, want, rtol=1e-12, atol=0)
    assert rows[1] == pytest.approx(3e-4 / 235, rel=1e-12)  # 1.28e-6, where a staircase would give 0


def test_each_fix_states_every_setting_it_changes() -> None:
    """A fix found with a stretched scheduler names the change of scheduler size too (its settings are
    what applying it sets; a description without it would leave the user's scheduler stretched)."""
    design = {
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        # 4 processes: 20 steps per epoch, T = 40; warmup 4 steps (given in steps: does not stretch)
        "training": {"dataset_size": 640, "micro_batch_size": 8, "world_size": 4, "epochs": 2},
        "warmup": {"steps": 4},
        "decay": {"scheduler": "CosineAnnealingLR"},
    }
    # one design step every 4 calls already, scheduler built for 2 x the steps: only the size is wrong
    run = stack_curve(design, StackConfig(name="accelerate", step_every=4, scheduler_scale=2))
    assert not run.matches and run.fix is not None
    assert (
        run.fix.description == "build the scheduler with num_training_steps (the optimizer steps of the run)"
    )
    assert (run.fix.settings.step_every, run.fix.settings.scheduler_scale) == (4, 1)
    assert stack_curve(design, run.fix.settings).matches
    # built for 2 x the steps, one design step per call: both change, and the description says both
    run = stack_curve(design, StackConfig(name="accelerate", scheduler_scale=2))
    assert run.fix is not None
    assert run.fix.description == (
        "hand the design to accelerate as DesignScheduler(optimizer, config, scale=4): one design step every "
        "4 scheduler calls and build the scheduler with num_training_steps (the optimizer steps of the run)"
    )
    assert (run.fix.settings.step_every, run.fix.settings.scheduler_scale) == (4, 1)
    # split_batches from a stretched scheduler read every 4 calls: the fix undoes both
    settings = StackConfig(name="accelerate", step_every=4, scheduler_scale=2)
    candidates = dict((d, c) for d, c in stacks_candidates(load_config(design), settings))
    split = next(d for d in candidates if d.startswith("Accelerator(dataloader_config="))
    assert split.endswith(
        "and hand the design over as DesignScheduler(optimizer, config) (scale=1: one design step per "
        "scheduler call) and build the scheduler with num_training_steps (the optimizer steps of the run)"
    )
    assert candidates[split] == {"split_batches": True, "step_every": 1, "scheduler_scale": 1}
    assert stack_curve(design, settings.model_copy(update=candidates[split])).matches
