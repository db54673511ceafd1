"""Stack-aware exports without the real libraries (those runs: tests/test_stack_exports_real.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from stack_designs import design

from schedules import load_config
from schedules.design import make_plan
from schedules.interop import TARGETS, to_deepspeed
from schedules.stacks import STACKS, StackConfig, lr_matrix, stack_curve
from schedules.stacks.base import record
from schedules.stacks.exports import export_settings, lightning_trainer_kwargs

# 1000 samples, micro-batch 8, accumulation 4: L = 125 micro-batches, S = 32 steps (a short last
# window of 1), 3 epochs = 96 optimizer steps; warmup 10, cosine.
DESIGN = {
    "optimizer": {"name": "AdamW", "lr": 1e-3},
    "training": {"dataset_size": 1000, "micro_batch_size": 8, "accumulation_steps": 4, "epochs": 3},
    "warmup": {"steps": 10},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def test_accelerate_with_four_processes_exports_the_verified_fix():
    cfg = load_config({**DESIGN, "stack": {"name": "accelerate", "num_processes": 4}})
    code, warnings = TARGETS["accelerate"].export(cfg)
    # 4 processes: L = ceil(1000 / 32) = 32 micro-batches, S = 8, T = 24; accelerate steps 4x.
    assert "scale=4)" in code and "split_batches=False" in code and "total = 24 " in code
    assert len(warnings) == 1 and warnings[0].startswith("note:")
    assert "steps the scheduler 4x per optimizer step" in warnings[0]
    assert "DesignScheduler(optimizer, config, scale=4)" in warnings[0]


def test_accelerate_with_split_batches_keeps_them_and_needs_no_fix():
    cfg = load_config({**DESIGN, "stack": {"name": "accelerate", "num_processes": 4, "split_batches": True}})
    code, warnings = TARGETS["accelerate"].export(cfg)
    assert warnings == []
    assert "split_batches=True" in code and "batch_size=training.micro_batch_size * 4" in code


def test_lightning_default_interval_is_fixed_and_said():
    cfg = load_config({**DESIGN, "stack": {"name": "lightning"}})  # Lightning's default interval='epoch'
    code, warnings = TARGETS["lightning"].export(cfg)
    assert """"interval": 'step', "frequency": 1""" in code
    assert any(
        w.startswith("note:") and "interval='epoch'" in w and "'interval': 'step'" in w for w in warnings
    )
    assert lightning_trainer_kwargs(cfg) == {"max_steps": 96, "accumulate_grad_batches": 4}
    # without a lightning stack section the export is unchanged
    assert TARGETS["lightning"].export(load_config(DESIGN))[1] == [
        w for w in warnings if not w.startswith("note:")
    ]


def test_deepspeed_states_windows_spanning_epochs():
    cfg = load_config({**DESIGN, "stack": {"name": "deepspeed"}})
    _, warnings = TARGETS["deepspeed"].export(cfg)
    # DeepSpeed: floor(3 * 125 / 4) = 93 optimizer steps instead of 96
    gap = [w for w in warnings if "with these stack settings" in w]
    assert len(gap) == 1 and "93 optimizer steps instead of 96" in gap[0]
    settings, _ = export_settings(cfg, "deepspeed")
    assert settings == cfg.stack  # no DeepSpeed setting fixes it: the settings stay, the gap is stated


def test_deepspeed_block_never_has_a_zero_warmup():
    """DeepSpeed 0.19.8 rejects warmup_num_steps <= 0 (lr_schedules.py)."""
    payload, _ = to_deepspeed({**DESIGN, "warmup": None, "decay": {"scheduler": "LinearLR"}})
    assert payload["scheduler"]["params"].get("warmup_num_steps", 1) >= 1


def test_cli_export_to_accelerate(tmp_path):
    path = tmp_path / "design.json"
    path.write_text(json.dumps({**DESIGN, "stack": {"name": "accelerate", "num_processes": 2}}))
    out = subprocess.run(
        [sys.executable, "-m", "schedules", "export", str(path), "--to", "accelerate"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "DesignScheduler(optimizer, config, scale=2)" in out.stdout
    assert (
        "this export applies the fix (verified): hand the design to accelerate as DesignScheduler"
        in out.stderr
    )


def test_a_run_that_steps_once_per_row_reuses_the_design_rows_exactly():
    """stack_curve takes the design's rows when the stack steps the design once per optimizer step
    (no second stepping): they equal the schedulers stepped by record(), bit for bit."""
    for i in range(20):
        cfg = load_config(design(i))
        for settings in (StackConfig(), StackConfig(name="accelerate", num_processes=1)):
            ticks = STACKS[settings.name].ticks(make_plan(cfg), settings)
            recorded, _ = record(cfg, ticks.calls)
            assert np.array_equal(lr_matrix(stack_curve(cfg, settings).frame), recorded), i
