"""For every design: a run made by one of the studio's own mistake models is diagnosed with the cause
that made it.

The runs come from the models the rest of the studio draws (:mod:`schedules.mistakes`,
:mod:`schedules.resume` through it, :mod:`schedules.stacks`), each stepping the design's real torch
schedulers the wrong way.  Two readings of the same run:

- as a **log** (``step,lr`` only): the planted cause is named with a model that reproduces every lr,
  and any cause named before it reproduces them just as well (a log alone cannot tell them apart);
- as a **trace** (the same lrs plus the scheduler steps and micro-batches the model takes before each
  optimizer step): the planted cause is named first.

A correct run (the design's own curve) matches, with no cause, in both readings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import schedules
from schedules.mistakes import micro_batches_per_step, mistake_curve
from schedules.stacks import stack_curve
from schedules.trace.diagnose import diagnose
from schedules.trace.observed import from_trace_frame, read_observed

#: model -> (the code it must be diagnosed with, the design's world size)
MODELS = {
    "correct": (None, 1),
    "per_micro_batch": ("scheduler_per_micro_batch", 1),
    "before_optimizer_step": ("scheduler_before_optimizer", 1),
    "unadjusted_accumulation": ("wrong_total_steps", 1),
    "resume_fresh": ("resume_reset", 1),
    "accelerate_2_processes": ("scheduler_per_process", 2),
    "lightning_epoch": ("epoch_interval", 1),
    "hf_amp_3_skipped": ("amp_skipped_steps", 1),
}


@st.composite
def designs(draw, world_size: int = 1) -> dict:
    accumulation = draw(st.sampled_from([2, 3, 4]))
    epochs = draw(st.integers(2, 3))
    steps_per_epoch = draw(st.integers(6, 40))
    micro = 8
    dataset = steps_per_epoch * accumulation * micro * world_size
    total = steps_per_epoch * epochs
    warmup = draw(st.integers(0, total // 4))
    decay = draw(
        st.sampled_from(
            [
                {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.0}},
                {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-5}},
                {"scheduler": "LinearLR", "kwargs": {"end_factor": 0.0}},
                {"scheduler": "LinearLR", "kwargs": {"end_factor": 0.1}},
            ]
        )
    )
    return {
        "format": "lr-schedule/v1",
        "name": "property",
        "optimizer": {"name": "AdamW", "lr": draw(st.sampled_from([1e-3, 0.1, 3e-4]))},
        "training": {
            "dataset_size": dataset,
            "micro_batch_size": micro,
            "accumulation_steps": accumulation,
            "world_size": world_size,
            "epochs": epochs,
        },
        "warmup": {"steps": warmup, "start_factor": draw(st.sampled_from([0.0, 0.1]))} if warmup else None,
        "decay": decay,
    }


def run_of(config, model: str) -> pd.DataFrame:
    """``step, lr, scheduler_steps, micro_batches, skipped`` of the model's run (one row per step)."""
    plan = config.plan
    windows = micro_batches_per_step(plan)
    k = plan.steps()
    if model in (
        "correct",
        "per_micro_batch",
        "before_optimizer_step",
        "unadjusted_accumulation",
        "resume_fresh",
    ):
        at = plan.total_steps // 2
        lr = mistake_curve(config, model, at=at)["lr"].to_numpy()
        calls = {
            "correct": k,
            "per_micro_batch": np.cumsum(windows) - 1,
            "before_optimizer_step": k + 1,
            "unadjusted_accumulation": k,
            "resume_fresh": k,  # a trace would show the restart in its sidecar, not in its counts
        }[model]
        skipped = np.zeros(len(k), dtype=int)
    else:
        settings_ = {
            "accelerate_2_processes": {"name": "accelerate", "num_processes": 2},
            "lightning_epoch": {"name": "lightning", "lightning_interval": "epoch"},
            "hf_amp_3_skipped": {"name": "hf", "amp_skipped_steps": 3},
        }[model]
        run = stack_curve(config, settings_)
        lr = run.frame["lr"].to_numpy()
        calls = run.frame["scheduler_calls"].to_numpy()
        skipped = run.frame["skipped"].to_numpy().astype(int)
    counts = np.diff(np.concatenate([[0], calls]))
    return pd.DataFrame(
        {
            "rank": 0,
            "step": k,
            "lr": lr,
            "scheduler_steps": counts,
            "micro_batches": windows,
            "skipped": skipped,
            "plateau_steps": 0,
        }
    )


def _check(model: str, design: dict) -> None:
    config = schedules.load_config(design)
    code = MODELS[model][0]
    run = run_of(config, model)
    correct = schedules.lr_curve(config)["lr"].to_numpy()
    if code is not None:
        assume(not np.allclose(run["lr"].to_numpy(), correct, rtol=0, atol=1e-9))
    # as a log: step, lr
    log = read_observed(run[["step", "lr"]].to_csv(index=False).encode(), "run.csv")
    found = diagnose(log, config)
    if code is None:
        assert found.verdict == "matches" and found.causes == []
    else:
        codes = [c.code for c in found.causes]
        assert code in codes, (codes, [c.evidence.get("text") for c in found.causes])
        planted = codes.index(code)
        assert found.causes[planted].confidence >= 0.6
        want = run["lr"].to_numpy()
        for before in found.causes[:planted]:  # named first only when it explains the log as well
            assert before.predicted is not None, before.code
            np.testing.assert_allclose(before.predicted[: len(want)], want, rtol=0, atol=1e-6 * want.max())
    # as a trace: the counts say how the scheduler was stepped
    if model == "resume_fresh":
        return  # a restart is in a trace's sidecar (scheduler built mid-run), not in its counts
    traced = diagnose(from_trace_frame(run, "trace.csv"), config)
    if code is None:
        assert traced.verdict == "matches" and traced.causes == []
    else:
        assert traced.causes[0].code == code, [c.code for c in traced.causes]
        assert traced.causes[0].confidence >= 0.99


SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("TRACE_EXAMPLES", 12)),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)


@SETTINGS
@given(designs(), st.sampled_from(sorted(m for m, (_, w) in MODELS.items() if w == 1)))
def test_a_run_made_by_a_mistake_model_is_diagnosed_with_that_mistake(design, model):
    _check(model, design)


@SETTINGS
@given(designs(world_size=2))
def test_accelerate_stepping_once_per_process_is_named(design):
    _check("accelerate_2_processes", design)
