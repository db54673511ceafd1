"""Issue 10: every artifact the studio hands out reproduces the design (snippets, exports, resume).

One test per defect, with the exact repro from the issue; the property tests over random designs
live in ``tests/test_fidelity_properties.py``.
"""

from __future__ import annotations

import numpy as np

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
