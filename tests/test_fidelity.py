"""Issue 10: every artifact the studio hands out reproduces the design (snippets, exports, resume).

One test per defect, with the exact repro from the issue; the property tests over random designs
live in ``tests/test_fidelity_properties.py``.
"""

from __future__ import annotations

import numpy as np
from formulas import hf_scheduler_lrs

from schedules import compute_curve, load_config, make_plan
from schedules.snippets import build_scheduler_snippet, plain_torch_snippet
from tests.test_snippets import run_snippet

# -- defect 1: plain-torch snippet, per-epoch decay after a warmup --------------------------------

DEFECT1 = {
    "optimizer": {"name": "SGD", "lr": 1.0},
    "training": {"dataset_size": 4, "micro_batch_size": 1, "epochs": 3},
    "warmup": {"steps": 2},
    "decay": {"scheduler": "ConstantLR", "kwargs": {}, "interval": "epoch"},
}


def test_defect1_plain_snippet_constructs_epoch_decay_when_warmup_ends() -> None:
    cfg = load_config(DEFECT1)
    want = compute_curve(cfg).lrs
    # Hand-computed: warmup 0, 0.5; ConstantLR(factor 1/3) made at row 2 on lr 1.0 -> 1/3 from there on
    # for total_iters = 2 epoch ends after warmup (ends at steps 3, 7, 11 -> 3 of them: n=3), so 1/3 to
    # the end of the 12 steps.
    assert want[:, 0].tolist()[:3] == [0.0, 0.5, 1.0 / 3.0]
    assert np.all(want[2:, 0] == 1.0 / 3.0)
    got = run_snippet(plain_torch_snippet(cfg), cfg, "plain")
    np.testing.assert_array_equal(got, want)


# -- defect 2: world_size > 1 with drop_last: the snippet's loader yields the design's epochs ------

DEFECT2 = {
    "optimizer": {"name": "SGD", "lr": 1.0},
    "training": {
        "dataset_size": 97,
        "micro_batch_size": 1,
        "accumulation_steps": 4,
        "world_size": 3,
        "epochs": 3,
        "drop_last": True,
    },
    "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 1, "gamma": 0.5}, "interval": "epoch"},
    "plateau": {"eval_every": "epoch", "patience": 0, "factor": 0.5, "metric": {"values": [3.0, 3.0, 3.0]}},
}


def _exec(code: str, cfg, kind: str) -> dict:
    namespace: dict = {}
    lrs = run_snippet(code, cfg, kind, namespace)
    namespace["lrs"] = lrs
    return namespace


def test_defect2_distributed_drop_last_loader_yields_the_designs_epochs(tmp_path) -> None:
    cfg = load_config(DEFECT2)
    plan = make_plan(cfg)
    # floor(97 / (1 * 3)) = 32 micro-batches per rank per epoch (HF Trainer / accelerate), 8 steps.
    assert (plan.micro_batches_per_epoch, plan.steps_per_epoch, plan.total_steps) == (32, 8, 24)
    want = compute_curve(cfg).lrs
    path = tmp_path / "design.json"
    path.write_text(cfg.to_json())
    for kind, code in (
        ("plain", plain_torch_snippet(cfg)),
        ("build", build_scheduler_snippet(cfg, str(path))),
    ):
        ns = _exec(code, cfg, kind)
        assert len(ns["loader"]) == 32, kind
        assert ns["epoch_end_log"] == [7, 15, 23], kind
        np.testing.assert_array_equal(ns["lrs"], want, err_msg=kind)
    # The per-epoch StepLR halves at every epoch end; the plateau (no improvement after the first value,
    # patience 0) halves again from the second evaluation on.
    assert want[:, 0].tolist() == [1.0] * 8 + [0.5] * 8 + [0.125] * 8


# -- defect 4: resume in either restore order continues the curve bit for bit --------------------

WARMUP_COSINE = {
    "optimizer": {"name": "AdamW", "lr": 0.1},
    "training": {"dataset_size": 400, "micro_batch_size": 2, "epochs": 1},  # 200 steps
    "warmup": {"steps": 20},
    "decay": {"scheduler": "CosineAnnealingLR"},
}
PLATEAU = {
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 40, "micro_batch_size": 1, "epochs": 5},  # 200 steps
    "plateau": {"eval_every": 20, "patience": 0, "factor": 0.5, "metric": {"values": [3.0, 3.0, 3.0]}},
}


def _resume_by_hand(raw: dict, at: int, optimizer_first: bool) -> list[float]:
    """Run to ``at``, torch.save both states, restore in a fresh 'process', continue to the end."""
    import io

    import torch

    import schedules

    cfg = load_config(raw)
    total = make_plan(cfg).total_steps

    def fresh_optimizer() -> torch.optim.Optimizer:
        model = torch.nn.Linear(2, 1)
        return getattr(torch.optim, cfg.optimizer.name)(model.parameters(), lr=cfg.optimizer.lr)

    optimizer = fresh_optimizer()
    schedule = schedules.build_scheduler(optimizer, cfg)
    lrs = []
    for _ in range(at):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer)  # the default weights_only
    optimizer = fresh_optimizer()
    if optimizer_first:
        optimizer.load_state_dict(checkpoint["optimizer"])
        schedule = schedules.build_scheduler(optimizer, cfg)
    else:
        schedule = schedules.build_scheduler(optimizer, cfg)
        optimizer.load_state_dict(checkpoint["optimizer"])
    schedule.load_state_dict(checkpoint["schedule"])
    for _ in range(at, total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def test_defect4_resume_in_either_order_continues_the_curve() -> None:
    import math

    want = compute_curve(load_config(WARMUP_COSINE)).lrs[:, 0].tolist()
    # Row 100: 0.1 * (1 + cos(pi * 80 / 180)) / 2 (cosine over the 180 steps after the 20-step warmup).
    assert math.isclose(want[100], 0.1 * (1 + math.cos(math.pi * 80 / 180)) / 2, rel_tol=1e-12)
    for optimizer_first in (False, True):
        assert _resume_by_hand(WARMUP_COSINE, 100, optimizer_first) == want
    plateau = compute_curve(load_config(PLATEAU)).lrs[:, 0].tolist()
    # Evaluations after steps 19, 39, 59: best 3.0, then two bad ones -> x0.5 at rows 40 and 60.
    assert plateau[100] == 0.025 and plateau[:40] == [0.1] * 40
    for optimizer_first in (False, True):
        assert _resume_by_hand(PLATEAU, 100, optimizer_first) == plateau


# -- defect 3: the HF export considers every named schedule and picks the closest ------------------


def relative_gap(design: np.ndarray, target: np.ndarray) -> float:
    return float(np.max(np.abs(design - target)) / np.max(np.abs(design)))


def test_defect3_hf_export_of_cosine_with_restarts_is_hfs_cosine_with_restarts() -> None:
    from schedules.interop import to_hf
    from schedules.presets import apply_preset

    cfg = apply_preset(
        "cosine_with_restarts", {"training": {"dataset_size": 50_000, "micro_batch_size": 32, "epochs": 3}}
    )
    plan = make_plan(cfg)
    assert (plan.total_steps, plan.warmup_steps) == (4689, 235)
    payload, notes = to_hf(cfg)
    assert payload["lr_scheduler_type"] == "cosine_with_restarts"
    # T_0 = ceil(4454 / 3) = 1485 steps per cycle: HF's cycle length is 4454 / num_cycles.
    assert payload["lr_scheduler_kwargs"] == {"num_cycles": 4454 / 1485}
    theirs = hf_scheduler_lrs(payload, plan.total_steps, payload["warmup_steps"])
    assert relative_gap(compute_curve(cfg).lrs[:, 0], theirs) <= 1e-9
    # exact: the only warning is the optimizer's (issue 28: AdamW's default weight_decay 0.01 reaches
    # HF, but Trainer exempts biases and norms from it)
    assert [n for n in notes if "trains with a different optimizer" not in n] == []
    assert not any("gives a different curve" in n for n in notes)
