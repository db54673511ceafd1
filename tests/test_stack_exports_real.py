"""Stack-aware exports fed to the real libraries: the lrs they give are the design's, or the export
says so, truthfully, with the gap.

Random designs (tests/stack_designs.py: accumulation with a short last window, per-epoch decay,
plateau, max_steps, drop_last, two param groups) with random stack settings (the export must apply
the verified fix).  The artifact itself goes to the library (tests/stack_export_runs.py): HF
``TrainingArguments`` kwargs to a real ``Trainer`` (which builds its own scheduler), the Lightning
``configure_optimizers`` code to a real ``lightning.Trainer``, the DeepSpeed config to
``deepspeed.initialize`` (which builds its own scheduler), the accelerate loop exec'd under a real
``Accelerator`` (in one process and in 2 real gloo processes).  The lrs are read from
``optimizer.param_groups`` right before every real ``optimizer.step()``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stack_designs import design, shape
from stack_export_runs import run_hf_export, run_lightning_export

from schedules import compute_curve, load_config
from schedules.design import make_plan
from schedules.interop import TARGETS, deepspeed_curve, hf_curve, snippet_curve
from schedules.interop.common import compare
from schedules.stacks import StackConfig, lr_matrix, stack_curve
from schedules.stacks.distributed import run_real_processes
from schedules.stacks.exports import export_settings, lightning_trainer_kwargs

pytestmark = [pytest.mark.slow, pytest.mark.real]

EXAMPLES = 4
SLOW = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
seeds = st.integers(0, 10**6)


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def _with_stack(i: int, stack: dict) -> dict:
    return {**design(i), "stack": stack}


def _gaps(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "different curve" in w]


@pytest.mark.skipif(_missing("transformers"), reason="transformers is not installed")
@SLOW
@given(i=seeds, scale=st.sampled_from([1, 1, 3]), amp=st.sampled_from([0, 0, 2]))
def test_hf_export_through_the_real_trainer(i, scale, amp, tmp_path_factory):
    _hf_export_case(design(i), scale, amp, tmp_path_factory)


@pytest.mark.skipif(_missing("transformers"), reason="transformers is not installed")
def test_hf_export_with_amp_overflows_lags_as_the_warning_says(tmp_path_factory):
    """An exact export (warmup from 0 + cosine = HF's "cosine"), trained with fp16 overflows at the
    first 3 steps: the real Trainer's schedule lags 3 steps, as the stack warning computed."""
    cosine = {
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        # L = 16 micro-batches, accumulation 2: S = 8, 2 epochs: T = 16; warmup 3
        "training": {"dataset_size": 64, "micro_batch_size": 4, "accumulation_steps": 2, "epochs": 2},
        "warmup": {"steps": 3},
        "decay": {"scheduler": "CosineAnnealingLR"},
    }
    warnings = _hf_export_case(cosine, 1, 3, tmp_path_factory)
    assert any("does not step the scheduler on the 3 optimizer steps AMP skipped" in w for w in warnings)


def _hf_export_case(raw: dict, scale: int, amp: int, tmp_path_factory) -> list[str]:
    cfg = load_config({**raw, "stack": {"name": "hf", "scheduler_scale": scale, "amp_skipped_steps": amp}})
    args, warnings = TARGETS["hf"].export(cfg)
    want = compute_curve(cfg).lrs
    if amp:
        # fp16 overflows at the first steps: no setting of HF avoids the lag; the stack warning gives
        # it, and on the real Trainer the export's schedule lags exactly as the studio computed
        run = stack_curve(cfg, cfg.stack)
        real = run_hf_export(cfg, args, str(tmp_path_factory.mktemp("hf")), amp)
        gap = [w for w in warnings if "with these stack settings" in w]
        assert (not run.matches) == bool(gap)
        if compare(want, hf_curve(args, cfg)) is None:  # an exact export: the lag is the only gap
            assert compare(lr_matrix(run.frame)[:, :1], real[:, :1]) is None
            assert bool(gap) == (compare(want[:, :1], real[:, :1]) is not None)
        return warnings
    real = run_hf_export(cfg, args, str(tmp_path_factory.mktemp("hf")))
    assert len(real) == len(want), f"HF took {len(real)} optimizer steps, the design {len(want)}"
    # HF builds one learning_rate for every group (decay / no-decay): the first group's lr.
    real = np.repeat(real[:, :1], want.shape[1], axis=1)
    # What the export computed HF would do is what HF did (same closed forms: within 1e-12).
    assert compare(hf_curve(args, cfg), real) is None
    mismatch = compare(want, real, [g.name for g in cfg.optimizer.groups()])
    if mismatch is None:
        assert not _gaps(warnings)
    else:
        assert mismatch.describe("HF") in warnings  # the gap it states is the real one
    if scale != 1:  # the stack as given was sized for 3x the steps; the export is sized right
        assert any(w.startswith("note:") and "num_training_steps" in w for w in warnings)
    return warnings


@pytest.mark.skipif(_missing("lightning"), reason="lightning is not installed")
@SLOW
@given(i=seeds, interval=st.sampled_from(["step", "epoch"]), frequency=st.integers(1, 3))
def test_lightning_export_through_the_real_trainer(i, interval, frequency, tmp_path_factory):
    stack = {"name": "lightning", "lightning_interval": interval, "lightning_frequency": frequency}
    cfg = load_config(_with_stack(i, stack))
    code, warnings = TARGETS["lightning"].export(cfg)
    want = compute_curve(cfg).lrs
    plan = make_plan(cfg)
    kwargs = lightning_trainer_kwargs(cfg)
    if kwargs.get("val_check_interval", 0) > plan.micro_batches_per_epoch:
        # an evaluation period longer than an epoch: Lightning cannot validate there (stated)
        assert any("plateau.eval_every" in w for w in warnings)
        return
    real = run_lightning_export(cfg, code, kwargs, str(tmp_path_factory.mktemp("lightning")))
    assert np.array_equal(real, snippet_curve(cfg)), (
        "Lightning's real stepping differs from the export's check"
    )
    if not _gaps(warnings):
        assert np.array_equal(real, want)  # bit for bit: the same torch schedulers
    else:
        names = [g.name for g in cfg.optimizer.groups()]
        assert compare(want, real, names).describe("Lightning") in warnings
    if not stack_curve(cfg, cfg.stack).matches:  # e.g. interval 'epoch': the fix is applied, and said
        assert any(w.startswith("note:") and "'interval': 'step'" in w for w in warnings)
    settings_used, notes = export_settings(cfg, "lightning")
    # the settings the export stands for reproduce the design, or the export says they cannot
    assert stack_curve(cfg, settings_used).matches or any("with these stack settings" in n for n in notes)


@pytest.mark.skipif(_missing("accelerate"), reason="accelerate is not installed")
@SLOW
@given(
    i=seeds,
    split=st.booleans(),
    with_optimizer=st.sampled_from([True, True, False]),
    scale=st.sampled_from([1, 2]),
)
def test_accelerate_export_through_the_real_accelerator(i, split, with_optimizer, scale):
    from stack_export_runs import run_accelerate_export

    stack = {
        "name": "accelerate",
        "num_processes": 1,
        "split_batches": split,
        "step_scheduler_with_optimizer": with_optimizer,
        "scheduler_scale": scale,
    }
    cfg = load_config(_with_stack(i, stack))
    code, warnings = TARGETS["accelerate"].export(cfg)
    assert not _gaps(warnings), warnings  # every accelerate setting here has a verified fix
    real = run_accelerate_export(cfg, cfg.stack)
    assert np.array_equal(real, compute_curve(cfg).lrs)
    used, _ = export_settings(cfg, "accelerate")
    assert f"step_scheduler_with_optimizer={used.step_scheduler_with_optimizer}," in code
    assert f"scale={used.step_every}" in code
    if not stack_curve(cfg, cfg.stack).matches:  # the settings as given do not: the fix is applied, and said
        assert used != cfg.stack and any(w.startswith("note:") and "fix" in w for w in warnings)


@pytest.mark.skipif(_missing("accelerate"), reason="accelerate is not installed")
def test_accelerate_export_in_two_real_processes():
    """2 designs trained by the exported loop in 2 gloo processes: DesignScheduler(scale=2) (the fix for
    2 processes without split_batches) or split_batches=True; rank 0 gets the design's lrs."""
    cases = [(i, {"name": "accelerate", "num_processes": 2, "split_batches": i % 2 == 1}) for i in range(2)]
    configs = [load_config(_with_stack(i, s)) for i, s in cases]
    for cfg in configs:
        settings_used, notes = export_settings(cfg, "accelerate")
        if not cfg.stack.split_batches:
            assert settings_used.step_every == 2 or stack_curve(cfg, cfg.stack).matches
    reals = run_real_processes(
        "accelerate",
        [(c, c.stack) for c in configs],
        2,
        timeout=600,
        runner="stack_export_runs:run_accelerate_export",
    )
    for (i, _), cfg, real in zip(cases, configs, reals, strict=True):
        want = lr_matrix(stack_curve(cfg, StackConfig(name="plain", num_processes=2)).design)
        assert np.array_equal(real, want), f"design {i} ({shape(design(i))})"


@pytest.mark.skipif(_missing("deepspeed"), reason="deepspeed is not installed")
def test_deepspeed_export_through_the_real_engine():
    """4 seeded random designs: DeepSpeed builds its scheduler from the exported block; its lrs are
    what the export computed (DeepSpeed's formulas and stepping), on the steps DeepSpeed takes; a
    run whose accumulation windows span epochs is stated with the numbers."""
    seeds_ = [3, 5, 11, 17]
    configs = [load_config(_with_stack(i, {"name": "deepspeed"})) for i in seeds_]
    reals = run_real_processes(
        "deepspeed",
        [(c, c.stack) for c in configs],
        1,
        timeout=600,
        runner="stack_export_runs:run_deepspeed_export",
    )
    spans = 0
    for i, cfg, real in zip(seeds_, configs, reals, strict=True):
        payload, warnings = TARGETS["deepspeed"].export(cfg)
        run = stack_curve(cfg, cfg.stack)
        want = compute_curve(cfg).lrs
        assert len(real) == len(run.frame), (
            f"design {i}: DeepSpeed took {len(real)} steps, the studio says {len(run.frame)}"
        )
        assert payload["gradient_accumulation_steps"] == cfg.training.accumulation_steps
        ds = deepspeed_curve(payload["scheduler"], cfg.optimizer.base_lrs(), len(want))
        assert compare(ds[: len(real)], real) is None, f"design {i}: DeepSpeed's lrs are not the export's"
        stack_gap = [w for w in warnings if "with these stack settings" in w]
        if len(real) != len(want):
            spans += 1
            assert stack_gap and f"{len(real):,} optimizer steps instead of {len(want):,}" in stack_gap[0]
        else:
            assert not stack_gap
            mismatch = compare(want, real)
            assert (mismatch is None) == (not _gaps(warnings)), f"design {i}: {warnings}"
    assert spans >= 1  # the windows-span-epochs rule is exercised
