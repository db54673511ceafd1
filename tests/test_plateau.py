"""ReduceLROnPlateau driven by the configured metric, against hand-computed sequences.

The rules (torch docs): a metric is better when ``a < best * (1 - threshold)`` (min, rel),
``a < best - threshold`` (min, abs), ``a > best * (1 + threshold)`` (max, rel); after more than
``patience`` bad evaluations the lr becomes ``max(lr * factor, min_lr)`` (skipped if the change is below
``eps``), then ``cooldown`` evaluations are ignored.  Evaluation ``i`` is passed right after the optimizer
step that ends period ``i``; the reduction shows from the next row on.
"""

import pytest
import torch

from schedules import compute_curve, load_config, lr_curve
from schedules.build import dummy_optimizer

ONE_STEP_PER_EPOCH = {"dataset_size": 1, "micro_batch_size": 1, "accumulation_steps": 1}


def plateau_config(values, steps, warmup=None, decay=None, **plateau):
    return {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "training": {**ONE_STEP_PER_EPOCH, "epochs": steps},
        "warmup": warmup,
        "decay": decay,
        "plateau": {"metric": {"values": values}, "eval_every": 1, **plateau},
    }


def test_abs_threshold_patience_cooldown_and_min_lr():
    cfg = plateau_config(
        [1.0, 0.95, 0.95, 0.95, 0.95, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        14,
        factor=0.5,
        patience=1,
        threshold=0.1,
        threshold_mode="abs",
        cooldown=1,
        min_lr=0.2,
    )
    # eval 0 sets best=1.0; 0.95 is not < 0.9, so evals 1, 2 are bad -> reduce after step 2 (row 3);
    # eval 3 is in cooldown; eval 5 improves (0.5 < 0.9); evals 6, 7 bad -> reduce (row 8); cooldown at 8;
    # evals 9, 10 bad -> 0.25 * 0.5 = 0.125 is clamped to min_lr 0.2 (row 11).
    expected = [1.0] * 3 + [0.5] * 5 + [0.25] * 3 + [0.2] * 3
    curve = compute_curve(cfg)
    assert curve.frame["lr"].tolist() == expected
    reductions = [e for e in curve.events if e.kind == "plateau_reduction"]
    assert [(e.step, e.data["evaluation"], e.data["metric"]) for e in reductions] == [
        (3, 2, 0.95),
        (8, 7, 0.5),
        (11, 10, 0.5),
    ]
    assert [e.best for e in curve.evaluations][:6] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5]


def test_max_mode_rel_threshold_zero_patience():
    cfg = plateau_config(
        [0.5, 0.6, 0.6, 0.6, 0.61, 0.61],
        6,
        mode="max",
        factor=0.1,
        patience=0,
        threshold=0.1,
        threshold_mode="rel",
    )
    # 0.6 > 0.5 * 1.1 improves; then 0.6 and 0.61 are not > 0.66: every later evaluation reduces.
    assert lr_curve(cfg)["lr"].tolist() == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.01, 0.001], rel=1e-15)


def test_eps_ignores_tiny_reductions():
    cfg = plateau_config([1.0] * 6, 6, factor=0.5, patience=0, min_lr=0.9, eps=0.2)
    # 1.0 -> max(0.5, 0.9) = 0.9 (change 0.1 < eps 0.2): ignored every time.
    assert lr_curve(cfg)["lr"].tolist() == [1.0] * 6


def test_eval_every_epoch_and_fewer_values_than_evaluations():
    cfg = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "training": {"dataset_size": 4, "micro_batch_size": 1, "accumulation_steps": 2, "epochs": 5},
        "plateau": {
            "metric": {"values": [3.0, 3.0, 3.0]},
            "eval_every": "epoch",
            "patience": 0,
            "factor": 0.5,
        },
    }
    # 2 steps per epoch; evaluations after steps 1, 3 (values exhausted after the third, at step 5).
    curve = compute_curve(cfg)
    assert curve.frame["lr"].tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
    assert [e.step for e in curve.evaluations] == [1, 3, 5]
    assert curve.warnings and "later evaluations are skipped" in curve.warnings[0]


def test_synthetic_metric_formula_and_seed():
    cfg = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "training": {**ONE_STEP_PER_EPOCH, "epochs": 8},
        "plateau": {
            "metric": {
                "synthetic": {
                    "start": 3.0,
                    "floor": 1.0,
                    "half_life": 2.0,
                    "plateau_from": 4,
                    "drift": 0.1,
                    "noise": 0.0,
                    "seed": 0,
                }
            },
            "patience": 100,
        },
    }
    metrics = [e.metric for e in compute_curve(cfg).evaluations]
    # floor + (start - floor) * 0.5 ** (min(i, 4) / 2) + 0.1 * max(0, i - 4)
    expected = [3.0, 1 + 2 * 0.5**0.5, 2.0, 1 + 2 * 0.5**1.5, 1.5, 1.6, 1.7, 1.8]
    assert metrics == pytest.approx(expected, rel=1e-15)
    noisy = {**cfg, "plateau": {**cfg["plateau"]}}
    noisy["plateau"]["metric"] = {
        "synthetic": {**cfg["plateau"]["metric"]["synthetic"], "noise": 0.05, "seed": 7}
    }
    a = [e.metric for e in compute_curve(noisy).evaluations]
    b = [e.metric for e in compute_curve(noisy).evaluations]
    assert a == b and a != pytest.approx(expected)


def test_chainable_warmup_keeps_reductions_multiplicatively():
    # LinearLR warmup from 0.5 over 4 steps: factors 0.5, 0.625, 0.75, 0.875, then 1.
    cfg = plateau_config([1.0] * 8, 8, warmup={"steps": 4, "start_factor": 0.5}, factor=0.5, patience=0)
    # Every evaluation from the second on reduces: row k = factor(k) * 0.5 ** (k - 1) for k >= 2 while in warmup;
    # at the milestone (row 4) SequentialLR restarts ConstantLR from its closed form (base lr 1.0), then the
    # reduction after step 3 halves it; afterwards reductions accumulate again.
    expected = [0.5, 0.625, 0.75 * 0.5, 0.875 * 0.25, 1.0 * 0.5, 0.25, 0.125, 0.0625]
    assert lr_curve(cfg)["lr"].tolist() == pytest.approx(expected, rel=1e-14)


def test_lambda_warmup_overwrites_reductions_until_it_ends():
    # Warmup from 0 is a LambdaLR: each step recomputes base * k / 4, so a reduction lasts one row.
    cfg = plateau_config([1.0] * 8, 8, warmup={"steps": 4, "start_factor": 0.0}, factor=0.5, patience=0)
    expected = [0.0, 0.25, 0.5 * 0.5, 0.75 * 0.5, 1.0 * 0.5, 0.25, 0.125, 0.0625]
    assert lr_curve(cfg)["lr"].tolist() == pytest.approx(expected, rel=1e-14)


def test_chainable_decay_continues_from_reduced_lr():
    # ExponentialLR(0.5) is chainable: a plateau reduction multiplies into every later row.
    cfg = plateau_config(
        [1.0, 0.5, 0.5, 0.1, 0.1, 0.1],
        6,
        decay={"scheduler": "ExponentialLR", "kwargs": {"gamma": 0.5}},
        factor=0.1,
        patience=0,
    )
    # Reductions after steps 2 and 4 (evaluations 2 and 4 do not improve on the best).
    expected = [1.0, 0.5, 0.25, 0.125 * 0.1, 0.0625 * 0.1, 0.03125 * 0.01]
    assert lr_curve(cfg)["lr"].tolist() == pytest.approx(expected, rel=1e-14)


def _manual_torch_curve(steps, values):
    """The same design written by hand with torch objects, stepped as a user's loop would."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=3)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - 3, eta_min=0.01)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[3])
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    out = []
    for k in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
        if (k + 1) % 2 == 0:
            plateau.step(values[(k + 1) // 2 - 1])
    return out


def test_cosine_plus_plateau_matches_hand_written_torch_loop_bit_for_bit():
    values = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]
    cfg = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "training": {**ONE_STEP_PER_EPOCH, "epochs": 20},
        "warmup": {"steps": 3, "start_factor": 0.25},
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.01}},
        "plateau": {"metric": {"values": values}, "eval_every": 2, "factor": 0.5, "patience": 1},
    }
    assert lr_curve(cfg)["lr"].tolist() == _manual_torch_curve(20, values)


def test_dummy_optimizer_matches_config_groups():
    cfg = load_config(
        {
            "optimizer": {
                "name": "AdamW",
                "lr": 0.1,
                "param_groups": [{"name": "a", "lr_scale": 0.5}, {"name": "b", "lr_scale": 2.0}],
            }
        }
    )
    opt = dummy_optimizer(cfg)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.2]


def _run(schedule, steps):
    out = []
    for _ in range(steps):
        out.append(schedule.get_last_lr()[0])
        schedule.optimizer.step()
        schedule.step()
    return out


def test_state_dict_resumes_mid_run_identically():
    from schedules import build_scheduler

    for decay in (
        {"scheduler": "StepLR", "kwargs": {"step_size": 2, "gamma": 0.5}, "interval": "epoch"},
        {"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 5}},
    ):
        cfg = load_config(
            {
                "optimizer": {"name": "SGD", "lr": 1.0},
                "training": {"dataset_size": 12, "micro_batch_size": 2, "accumulation_steps": 2, "epochs": 8},
                "warmup": {"steps": 5, "start_factor": 0.0},
                "decay": decay,
                "plateau": {"metric": {"synthetic": {"noise": 0.1}}, "eval_every": 4, "patience": 1},
            }
        )
        full = lr_curve(cfg)["lr"].tolist()
        for cut in (3, 5, 11):  # inside warmup, at its end, later
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            first = build_scheduler(opt, cfg)
            head = _run(first, cut)
            state, opt_state = first.state_dict(), opt.state_dict()
            opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            second = build_scheduler(opt2, cfg)
            opt2.load_state_dict(opt_state)
            second.load_state_dict(state)
            assert head + _run(second, len(full) - cut) == full, (decay["scheduler"], cut)
