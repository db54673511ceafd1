"""AMP as a modifier of the stacks, against a real ``torch.amp.GradScaler`` (CPU), bit for bit.

The first ``amp_skipped_steps`` optimizer steps get an inf gradient (what a too-high fp16 loss
scale gives), so the real scaler skips ``optimizer.step()``.  A hand loop still steps the scheduler
(the design's lr at every step); HF's Trainer and accelerate do not (the schedule lags).  HF and
accelerate run their real loops with their Accelerator's scaler set to ``GradScaler("cpu")``
(accelerate refuses ``mixed_precision="fp16"`` on a CPU device; everything else is the library's).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from stack_designs import design, shape

from schedules.stacks import STACKS, StackConfig, lr_matrix, stack_curve
from schedules.stacks.real import amp_scaler, overflow

#: Real processes or a real library end to end: left out of `make test-fast`.
pytestmark = pytest.mark.real

DESIGNS = range(6)


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def test_the_cpu_grad_scaler_skips_an_overflowing_step_and_halves_its_scale():
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = amp_scaler()
    changed = []
    for k in range(3):
        scaler.scale(model(torch.ones(1, 2)).sum()).backward()
        if k == 0:
            overflow(model)
        before = model.weight.detach().clone()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
        changed.append(not torch.equal(before, model.weight.detach()))
    assert changed == [False, True, True]
    assert scaler.get_scale() == 2.0**15  # 2**16 halved once


def _settings(stack: str, i: int) -> StackConfig:
    return StackConfig(name=stack, amp_skipped_steps=1 + i % 3, num_processes=1)


def _check(stack: str, i: int, tmp_path) -> bool:
    run = stack_curve(design(i), _settings(stack, i))
    module = STACKS[stack]
    if stack == "hf":
        real = module.run_real(run.config, run.settings, str(tmp_path))
    else:
        real = module.run_real(run.config, run.settings)
    sim = lr_matrix(run.frame)
    assert real.shape == sim.shape, f"{shape(design(i))}: real {real.shape}, studio {sim.shape}"
    assert np.array_equal(real, sim), (
        f"{shape(design(i))}: first difference at step {int(np.argmax((real != sim).any(axis=1)))}"
    )
    return run.matches


@pytest.mark.slow
@pytest.mark.parametrize("i", DESIGNS, ids=lambda i: f"{i}-{shape(design(i))}")
def test_hand_loop_with_a_real_grad_scaler_keeps_the_design(i, tmp_path):
    assert _check("plain", i, tmp_path)  # the scheduler steps on skipped steps too: the design's lrs


@pytest.mark.slow
@pytest.mark.skipif(_missing("transformers"), reason="transformers is not installed")
@pytest.mark.parametrize("i", DESIGNS, ids=lambda i: f"{i}-{shape(design(i))}")
def test_hf_trainer_with_a_real_grad_scaler(i, tmp_path):
    _check("hf", i, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(_missing("accelerate"), reason="accelerate is not installed")
@pytest.mark.parametrize("i", DESIGNS, ids=lambda i: f"{i}-{shape(design(i))}")
def test_accelerate_with_a_real_grad_scaler(i, tmp_path):
    _check("accelerate", i, tmp_path)


def test_the_lag_is_exercised():
    """Most of these designs really lag under HF / accelerate (the tests above are not vacuous)."""
    for stack in ("hf", "accelerate"):
        lagging = [not stack_curve(design(i), _settings(stack, i)).matches for i in DESIGNS]
        assert sum(lagging) >= 4, (stack, lagging)
