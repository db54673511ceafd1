"""The stacks' rules on hand-computed designs, the diagnosis and its verified fix, the config section
and the CLI.  (The comparisons with the real libraries are in test_stacks_real.py.)"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from schedules import load_config, lr_curve
from schedules.cli import main
from schedules.design import ConfigError
from schedules.stacks import StackConfig, stack_curve

# lr 1, SGD, LinearLR from 1 to 0 over the whole run: design row k is 1 - k/T (T = 10 here).
LINEAR = {
    "optimizer": {"name": "SGD", "lr": 1.0},
    "training": {"dataset_size": 40, "micro_batch_size": 2, "world_size": 2, "epochs": 1},
    "decay": {"scheduler": "LinearLR"},
}


def test_accelerate_with_two_processes_steps_twice_per_optimizer_step():
    run = stack_curve(LINEAR, StackConfig(name="accelerate"))  # num_processes defaults to world_size 2
    # per rank L = ceil(40 / (2 * 2)) = 10 optimizer steps; the scheduler takes 2 steps per optimizer step
    assert len(run.frame) == 10
    assert run.frame["lr"].tolist() == pytest.approx(
        [1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0], abs=1e-12
    )
    assert run.frame["scheduler_calls"].tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert not run.matches
    assert run.diagnosis.startswith(
        "accelerate with 2 processes steps the scheduler 2x per optimizer step: "
        "the schedule reaches its end at step 5 of 10"
    )
    assert run.fix is not None
    assert run.fix.description == (
        "hand the design to accelerate as DesignScheduler(optimizer, config, scale=2): one design step "
        "every 2 scheduler calls"
    )
    assert run.fix.settings.step_every == 2 and run.fix.settings.scheduler_scale == 1
    fixed = stack_curve(LINEAR, run.fix.settings)  # the fix is verified by recomputing with it
    assert fixed.matches
    assert fixed.frame["lr"].tolist() == lr_curve(LINEAR)["lr"].tolist()  # bit for bit: the design's rows
    # accelerate's own advice, a scheduler built for num_training_steps x 2: the design stretched (LinearLR
    # over 20 steps) read every 2nd step, 1 - 2k/20: the design within 1e-12 (no warmup to stretch)
    stretched = stack_curve(LINEAR, StackConfig(name="accelerate", scheduler_scale=2))
    assert stretched.matches
    assert stretched.frame["lr"].tolist() == pytest.approx(
        [1 - k / 10 for k in range(10)], rel=1e-12, abs=1e-15
    )


def test_accelerate_split_batches_and_one_process_step_once():
    assert stack_curve(LINEAR, StackConfig(name="accelerate", split_batches=True)).matches
    assert stack_curve(LINEAR, StackConfig(name="accelerate", num_processes=1)).matches


def test_accelerate_without_step_with_optimizer_steps_every_micro_batch():
    # 24 samples, micro 2, accumulation 3: L = 12, windows of 3, 4 optimizer steps; the scheduler steps
    # at every micro-batch, so step k reads the lr after 3k + 2 scheduler steps (of T = 4).
    cfg = {
        **LINEAR,
        "training": {"dataset_size": 24, "micro_batch_size": 2, "accumulation_steps": 3, "epochs": 1},
    }
    run = stack_curve(cfg, StackConfig(name="accelerate", step_scheduler_with_optimizer=False))
    assert run.frame["scheduler_calls"].tolist() == [2, 5, 8, 11]
    assert run.frame["lr"].tolist() == pytest.approx([0.5, 0.0, 0.0, 0.0], abs=1e-12)
    assert run.fix is not None and run.fix.settings.step_scheduler_with_optimizer


def test_lightning_default_interval_steps_once_per_epoch():
    # 3 epochs of 4 optimizer steps (T = 12): interval="epoch" steps after each epoch's last batch.
    cfg = {**LINEAR, "training": {"dataset_size": 8, "micro_batch_size": 2, "epochs": 3}}
    run = stack_curve(cfg, StackConfig(name="lightning"))
    assert run.frame["scheduler_calls"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert run.frame["lr"].tolist() == pytest.approx(
        [1.0] * 4 + [1 - 1 / 12] * 4 + [1 - 2 / 12] * 4, abs=1e-12
    )
    assert (
        "Lightning with interval='epoch' steps the scheduler once per epoch (3 times in 12 optimizer steps)"
        in (run.diagnosis)
    )
    assert run.fix is not None and run.fix.settings.lightning_interval == "step"
    assert stack_curve(cfg, run.fix.settings).matches


def test_lightning_frequency_counts_micro_batches():
    # accumulation 2, frequency 4: stepped after windows whose last batch_idx + 1 is a multiple of 4,
    # i.e. every second optimizer step (batch_idx 3, 7, ...).
    cfg = {
        **LINEAR,
        "training": {"dataset_size": 16, "micro_batch_size": 2, "accumulation_steps": 2, "epochs": 1},
    }
    run = stack_curve(cfg, StackConfig(name="lightning", lightning_interval="step", lightning_frequency=4))
    assert run.frame["scheduler_calls"].tolist() == [0, 0, 1, 1]


def test_deepspeed_windows_span_epochs():
    # N=50, micro 4: L = 13 per epoch; accumulation 3; 2 epochs. The design: ceil(13/3) = 5 steps per
    # epoch (a short last window), T = 10. DeepSpeed: floor(26 / 3) = 8 optimizer steps.
    cfg = {
        **LINEAR,
        "training": {"dataset_size": 50, "micro_batch_size": 4, "accumulation_steps": 3, "epochs": 2},
    }
    run = stack_curve(cfg, StackConfig(name="deepspeed"))
    assert len(run.frame) == 8 and len(run.design) == 10
    # step 4 ends at global micro-batch 14 = epoch 1, batch 1: 50 + 2 * 4 samples
    assert run.frame["samples"].tolist() == [12, 24, 36, 48, 58, 70, 82, 94]
    assert run.frame["epoch"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert run.frame["lr"].tolist() == lr_curve(cfg)["lr"].tolist()[:8]
    assert (
        "DeepSpeed's accumulation windows span epochs (no short last window): 8 optimizer steps instead of 10"
        in (run.diagnosis)
    )
    assert run.fix is None


def test_amp_skips_delay_the_hf_schedule_but_not_a_hand_loop():
    cfg = {**LINEAR, "training": {"dataset_size": 40, "micro_batch_size": 2, "epochs": 1}}  # T = 20
    design = lr_curve(cfg)["lr"].to_numpy()
    hf = stack_curve(cfg, StackConfig(name="hf", amp_skipped_steps=3))
    assert hf.frame["skipped"].tolist()[:4] == [True, True, True, False]
    assert hf.frame["scheduler_calls"].tolist()[:6] == [0, 0, 0, 0, 1, 2]
    assert np.array_equal(hf.frame["lr"].to_numpy()[3:], design[:-3])
    assert "HF Trainer does not step the scheduler on the 3 optimizer steps AMP skipped" in hf.diagnosis
    assert "at the last step it is at design step 16 of 20" in hf.diagnosis
    plain = stack_curve(cfg, StackConfig(name="plain", amp_skipped_steps=3))
    assert plain.matches and "harmless" in plain.diagnosis
    assert np.array_equal(plain.frame["lr"].to_numpy(), design)


def test_every_stack_reproduces_a_plain_design_when_set_up_right():
    cfg = {**LINEAR, "training": {"dataset_size": 48, "micro_batch_size": 2, "accumulation_steps": 4}}
    for settings in (
        StackConfig(name="plain"),
        StackConfig(name="hf"),
        StackConfig(name="accelerate"),
        StackConfig(name="lightning", lightning_interval="step"),
        StackConfig(name="deepspeed"),
    ):
        run = stack_curve(cfg, settings)
        assert run.matches, (settings.name, run.diagnosis)


def test_scheduler_built_from_the_unprepared_loader_is_diagnosed():
    cfg = {**LINEAR, "training": {"dataset_size": 40, "micro_batch_size": 2, "epochs": 1}}  # T = 20
    run = stack_curve(cfg, StackConfig(name="hf", scheduler_scale=4))
    assert "the scheduler was built for 4x the optimizer steps (80 instead of 20); no warmup" in run.diagnosis
    assert run.fix is not None and run.fix.settings.scheduler_scale == 1
    # the design stretched, not a staircase: LinearLR over 80 steps, stepped once per optimizer step
    assert run.frame["lr"].tolist() == pytest.approx([1 - k / 80 for k in range(20)], rel=1e-12)
    assert "at the last step it is at step 19 of the 80 it was built for" in run.diagnosis
    # (1 - 19/80) - (1 - 19/20) = 0.7125 of the peak (LinearLR's recursive form: within a rounding)
    assert re.search(r"largest gap 71\.[123]% of the peak lr, at step 19", run.diagnosis), run.diagnosis


# A warmup given as a ratio stretches with the scheduler, one given in steps does not (HF:
# get_warmup_steps = ceil(ratio * num_training_steps)). lr 1, SGD, T = 20 optimizer steps, cosine to 0.
WARM = {
    "optimizer": {"name": "SGD", "lr": 1.0},
    "training": {"dataset_size": 40, "micro_batch_size": 2, "epochs": 1},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def _cosine_with_warmup(k: int, w: int, total: int) -> float:
    """transformers.get_cosine_schedule_with_warmup's factor at step k (hand formula)."""
    if k < w:
        return k / w
    return 0.5 * (1 + math.cos(math.pi * (k - w) / (total - w)))


def test_scheduler_scale_stretches_a_warmup_ratio_but_not_warmup_steps():
    by_ratio = stack_curve({**WARM, "warmup": {"ratio": 0.1}}, StackConfig(name="hf", scheduler_scale=3))
    # built for 60 steps: warmup ceil(0.1 * 60) = 6 (the design's is ceil(0.1 * 20) = 2)
    assert "its warmup, given as a ratio, stretches with it: ceil(0.1 x 60) = 6 steps instead of 2" in (
        by_ratio.diagnosis
    )
    want = [_cosine_with_warmup(k, 6, 60) for k in range(20)]
    assert by_ratio.frame["lr"].tolist() == pytest.approx(want, rel=1e-12)
    by_steps = stack_curve({**WARM, "warmup": {"steps": 2}}, StackConfig(name="hf", scheduler_scale=3))
    assert "its warmup of 2 steps does not stretch (given in steps), the rest of the schedule does" in (
        by_steps.diagnosis
    )
    want = [_cosine_with_warmup(k, 2, 60) for k in range(20)]
    assert by_steps.frame["lr"].tolist() == pytest.approx(want, rel=1e-12)


def test_design_scheduler_stretch_and_scale_are_what_the_model_steps():
    """DesignScheduler(stretch=3) stepped by hand gives the stack model's rows; scale=2 holds each design
    step for 2 calls."""
    import torch

    from schedules import load_config
    from schedules.stacks import DesignScheduler

    cfg = load_config({**WARM, "warmup": {"ratio": 0.1}})
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = DesignScheduler(opt, cfg, stretch=3)
    rows = []
    for _ in range(20):
        rows.append(opt.param_groups[0]["lr"])
        sched.step()
    assert rows == stack_curve(cfg, StackConfig(name="plain", scheduler_scale=3)).frame["lr"].tolist()
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = DesignScheduler(opt, cfg, scale=2)
    rows = []
    for _ in range(8):
        rows.append(opt.param_groups[0]["lr"])
        sched.step()
    design = lr_curve(cfg)["lr"].tolist()
    assert rows == [design[k // 2] for k in range(8)]


def test_lightning_plateau_inside_the_one_scheduler_or_as_a_monitor_config():
    """A plateau evaluated every 2 optimizer steps, 7 steps per epoch: inside the one scheduler (how
    DesignScheduler / build_scheduler_variant hand it over) Lightning with interval='step' steps it
    at the design's evaluations; as a monitor config its frequency counts batch_idx within each epoch."""
    cfg = {
        "optimizer": {"name": "SGD", "lr": 0.1},
        # L = 20 micro-batches, A = 3: S = 7 optimizer steps per epoch (a short last window), T = 14
        "training": {"dataset_size": 40, "micro_batch_size": 2, "accumulation_steps": 3, "epochs": 2},
        "plateau": {
            "factor": 0.5,
            "patience": 0,
            "eval_every": 2,
            "metric": {"synthetic": {"start": 1.0, "floor": 0.9, "half_life": 1.0, "plateau_from": 1}},
        },
    }
    inside = stack_curve(cfg, StackConfig(name="lightning", lightning_interval="step"))
    assert inside.matches, inside.diagnosis
    monitor = stack_curve(
        cfg, StackConfig(name="lightning", lightning_interval="step", lightning_plateau="monitor")
    )
    assert not monitor.matches
    assert (
        "Lightning steps the ReduceLROnPlateau 6 times (every 6 batches counted within each epoch) where the design evaluates 7 times"
        in (monitor.diagnosis)
    )
    assert monitor.fix is not None and monitor.fix.settings.lightning_plateau == "inside"


# -- config section ---------------------------------------------------------------------------------


def test_stack_section_round_trips_and_old_files_are_unchanged():
    old = load_config(LINEAR)
    assert "stack" not in old.to_dict()
    with_stack = load_config({**LINEAR, "stack": {"name": "accelerate", "num_processes": 4}})
    again = load_config(json.loads(with_stack.to_json()))
    assert again == with_stack and again.stack.num_processes == 4
    assert lr_curve(with_stack).equals(lr_curve(old))  # the design's curve never depends on the stack
    assert stack_curve(with_stack).settings.name == "accelerate"  # the section is the default stack


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ({"name": "accelerate", "num_processes": 0}, "stack.num_processes: must be an integer >= 1"),
        ({"name": "keras"}, "stack.name"),
        ({"name": "lightning", "lightning_interval": "batch"}, "stack.lightning_interval"),
        ({"name": "hf", "amp_skiped_steps": 2}, "stack.amp_skiped_steps"),
    ],
)
def test_bad_stack_values_name_the_field(stack, expected):
    with pytest.raises(ConfigError) as info:
        load_config({**LINEAR, "stack": stack})
    assert expected in str(info.value)


# -- CLI --------------------------------------------------------------------------------------------


def _write(tmp_path, cfg):
    path = tmp_path / "design.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_cli_curve_with_stack(tmp_path, capsys):
    out = tmp_path / "stack.csv"
    assert main(["curve", _write(tmp_path, LINEAR), "--stack", "accelerate", "-o", str(out)]) == 0
    text = out.read_text().splitlines()
    assert text[0] == "step,epoch,samples,lr,skipped,scheduler_calls"
    assert text[2] == "1,0,8,0.7999999999999999,False,2"  # LinearLR's recursive form
    assert "mismatch: accelerate with 2 processes" in capsys.readouterr().err


def test_cli_stack_check_exit_codes(tmp_path, capsys):
    path = _write(tmp_path, LINEAR)
    assert main(["stack-check", path, "--stack", "accelerate", "--num-processes", "2"]) == 1
    out = capsys.readouterr().out
    assert "mismatch: accelerate with 2 processes steps the scheduler 2x per optimizer step" in out
    assert (
        "fix: hand the design to accelerate as DesignScheduler(optimizer, config, scale=2): one design step "
        "every 2 scheduler calls (verified" in out
    )
    assert main(["stack-check", path, "--stack", "hf"]) == 0
    assert capsys.readouterr().out.startswith("ok: HF Trainer reproduces the design")
    assert main(["stack-check", path, "--stack", "accelerate", "--num-processes", "0"]) == 2
    assert "stack.num_processes: must be an integer >= 1" in capsys.readouterr().err
    assert main(["stack-check", path]) == 2
    assert "stack: give --stack NAME" in capsys.readouterr().err
    cfg_path = _write(tmp_path, {**LINEAR, "stack": {"name": "lightning"}})
    assert main(["stack-check", cfg_path]) == 1
    assert main(["stack-check", cfg_path, "--interval", "step"]) == 0
