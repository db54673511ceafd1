"""Plateau designs under the stacks that step a ReduceLROnPlateau themselves, against the real library.

HF's Trainer steps a ``reduce_lr_on_plateau`` scheduler in ``_evaluate`` with ``eval_loss`` (not
with the optimizer steps, so AMP skips do not hold it back); Lightning steps a scheduler config with
``monitor`` after validation, at its own interval and frequency (``batch_idx`` within the epoch), or
(``lightning_plateau="inside"``, the default) the whole design as one scheduler whose plateau
evaluates at the design's steps.  Each validation reports the design's metric for that evaluation.
Bit for bit.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from stack_designs import plateau_design, shape

from schedules.stacks import STACKS, StackConfig, lr_matrix, stack_curve
from schedules.stacks.hf import plateau_only

pytestmark = [pytest.mark.slow, pytest.mark.real]

DESIGNS = range(8)


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def _check(run, real: np.ndarray, i: int) -> None:
    sim = lr_matrix(run.frame)
    where = f"design {i} ({shape(plateau_design(i)) if i >= 0 else run.config.name})"
    assert real.shape == sim.shape, f"{where}: real {real.shape}, studio {sim.shape}"
    diff = (real != sim).any(axis=1)
    assert not diff.any(), f"{where}: first difference at step {int(np.argmax(diff))}"


@pytest.mark.skipif(_missing("transformers"), reason="transformers is not installed")
@pytest.mark.parametrize("i", DESIGNS, ids=lambda i: f"{i}-{shape(plateau_design(i))}")
def test_hf_trainer_steps_the_plateau_at_evaluations(i, tmp_path):
    settings = StackConfig(name="hf", amp_skipped_steps=i % 3)
    run = stack_curve(plateau_design(i), settings)
    _check(run, STACKS["hf"].run_real(run.config, run.settings, str(tmp_path)), i)
    if plateau_only(run.config):
        assert run.matches  # evaluations go by global_step: AMP skips do not delay the plateau


@pytest.mark.skipif(_missing("lightning"), reason="lightning is not installed")
@pytest.mark.parametrize("i", DESIGNS, ids=lambda i: f"{i}-{shape(plateau_design(i))}")
def test_lightning_steps_the_plateau_with_monitor(i, tmp_path):
    settings = StackConfig(
        name="lightning",
        lightning_interval="step" if i % 3 else "epoch",
        lightning_frequency=1 + (i % 2),
        lightning_plateau="monitor",
    )
    run = stack_curve(plateau_design(i), settings)
    _check(run, STACKS["lightning"].run_real(run.config, run.settings, str(tmp_path)), i)


def test_the_plateau_rules_are_exercised():
    """Reductions happen in these designs, and the plateau-only ones under HF with AMP skips match
    the design while the same skips make the design-as-one-scheduler route lag."""
    reductions = 0
    for i in DESIGNS:
        run = stack_curve(plateau_design(i), StackConfig(name="hf", amp_skipped_steps=1))
        lr = run.design["lr"].to_numpy()
        reductions += int((np.diff(lr) < 0).any())
        if plateau_only(run.config):
            assert run.matches
    assert reductions >= 5


RESTART = {
    "name": "plateau every 3 steps over epochs of 10",
    "optimizer": {"name": "SGD", "lr": 0.1},
    # L = S = 10 optimizer steps per epoch, 3 epochs: the design evaluates after steps 2, 5, 8, 11, ...
    "training": {"dataset_size": 10, "micro_batch_size": 1, "accumulation_steps": 1, "epochs": 3},
    "plateau": {
        "factor": 0.5,
        "patience": 0,
        "eval_every": 3,
        "metric": {"values": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]},
    },
}


@pytest.mark.skipif(_missing("lightning"), reason="lightning is not installed")
def test_lightning_plateau_frequency_restarts_every_epoch(tmp_path):
    """Lightning's frequency counts batch_idx within the epoch: plateau steps after steps 2, 5, 8,
    12, 15, 18, 22, 25, 28 (9 times) instead of 2, 5, ..., 29 (10 times); the metric never improves
    (patience 0), so every evaluation after the first halves the lr."""
    monitor = StackConfig(name="lightning", lightning_interval="step", lightning_plateau="monitor")
    run = stack_curve(RESTART, monitor)
    lr = run.frame["lr"].to_numpy()
    want = run.design["lr"].to_numpy()
    assert want[9] == 0.1 * 0.5**2 and want[12] == 0.1 * 0.5**3  # design: reductions after steps 5, 8, 11
    assert lr[12] == 0.1 * 0.5**2 and lr[13] == 0.1 * 0.5**3  # Lightning: after 5, 8, then 12
    assert not run.matches and "steps the ReduceLROnPlateau 9 times" in run.diagnosis
    assert "evaluates 10 times" in run.diagnosis
    # the fix: the plateau inside the one scheduler (as DesignScheduler and build_scheduler_variant hand it)
    assert run.fix is not None and run.fix.settings.lightning_plateau == "inside"
    _check(run, STACKS["lightning"].run_real(run.config, run.settings, str(tmp_path)), -1)


@pytest.mark.skipif(_missing("lightning"), reason="lightning is not installed")
@pytest.mark.parametrize("i", DESIGNS, ids=lambda i: f"{i}-{shape(plateau_design(i))}")
def test_lightning_steps_the_plateau_inside_the_one_scheduler(i, tmp_path):
    settings = StackConfig(
        name="lightning", lightning_interval="step" if i % 3 else "epoch", lightning_frequency=1 + (i % 2)
    )
    run = stack_curve(plateau_design(i), settings)
    _check(run, STACKS["lightning"].run_real(run.config, run.settings, str(tmp_path)), i)


@pytest.mark.skipif(_missing("lightning"), reason="lightning is not installed")
def test_stack_check_passes_a_plateau_design_that_lightnings_export_reproduces(tmp_path, capsys):
    """Issue 28's case: ``stack-check --stack lightning --interval step`` exits 0 on a plateau design
    (evaluated every 3 steps, epochs of 10) whose Lightning export, the whole design as one scheduler
    (``build_scheduler_variant``: schedules.build_scheduler returned with interval 'step' and
    ``lr_scheduler_step``), reproduces it in a real ``lightning.Trainer``, bit for bit; so does
    :class:`DesignScheduler` with interval 'step'."""
    import json

    from schedules import load_config
    from schedules.cli import main
    from schedules.interop import build_scheduler_variant
    from schedules.stacks.lightning import fit
    from schedules.stacks.real import TinyModel

    path = tmp_path / "design.json"
    path.write_text(json.dumps(RESTART))
    assert main(["stack-check", str(path), "--stack", "lightning", "--interval", "step"]) == 0
    assert capsys.readouterr().out.startswith("ok: Lightning reproduces the design")
    cfg = load_config(RESTART)
    want = stack_curve(cfg, StackConfig(name="plain")).design
    namespace: dict = {}
    exec(compile(build_scheduler_variant(cfg, str(path)), "<variant>", "exec"), namespace)  # noqa: S102
    configure = namespace["configure_optimizers"]
    configure.lr_scheduler_step = namespace["lr_scheduler_step"]
    real = fit(
        cfg,
        TinyModel(1),
        configure,
        str(tmp_path / "variant"),
        validate=False,
        max_epochs=3,
        accumulate_grad_batches=1,
    )
    assert np.array_equal(real, lr_matrix(want))
    inside = STACKS["lightning"].run_real(
        cfg, StackConfig(name="lightning", lightning_interval="step"), str(tmp_path / "design_scheduler")
    )
    assert np.array_equal(inside, lr_matrix(want))
