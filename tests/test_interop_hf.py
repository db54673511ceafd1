"""HF TrainingArguments export and import, checked against transformers itself.

For every design HF can express, the exported kwargs go through the real ``TrainingArguments``,
``Trainer.set_initial_training_values`` (HF's step accounting, on a real DataLoader) and
``transformers.get_scheduler`` on a real torch optimizer, stepped as ``Trainer`` steps it; the lrs
must equal ``schedules.lr_curve(config)`` (rtol 1e-12, plus 1e-15 x peak for rows at ~0).
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from interop_designs import design_builders

from schedules import compute_curve, lr_curve
from schedules.design import ConfigError
from schedules.interop import from_hf, to_hf
from schedules.interop.common import DIFFERENT_OPTIMIZER
from schedules.interop.hf import HF_TYPES, hf_curve, hf_factor
from schedules.presets import apply_preset

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from torch.utils.data import DataLoader  # noqa: E402
from transformers import Trainer, TrainingArguments, get_scheduler  # noqa: E402

RTOL = 1e-12


def assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=1e-15 * float(np.max(np.abs(ours))))


class _TrainerStub:
    """Just enough of a Trainer for HF's own ``set_initial_training_values`` (one process)."""

    def get_total_train_batch_size(self, args):
        return args.per_device_train_batch_size * args.gradient_accumulation_steps

    def get_sp_size(self):
        return 1

    def num_examples(self, dataloader):
        return len(dataloader.dataset)


def hf_training_args(payload: dict, tmp_path) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path), report_to=[], **payload)


def hf_run(
    payload: dict, dataset_size: int, tmp_path, metrics: list[float] | None = None
) -> tuple[np.ndarray, int]:
    """The lrs HF uses at every optimizer step: TrainingArguments -> HF's step accounting on a real
    DataLoader -> get_scheduler on a real optimizer, stepped as Trainer steps it."""
    args = hf_training_args(payload, tmp_path)
    loader = DataLoader(
        list(range(dataset_size)),
        batch_size=args.per_device_train_batch_size,
        drop_last=args.dataloader_drop_last,
    )
    _, per_epoch, *_, total = Trainer.set_initial_training_values(_TrainerStub(), args, loader)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=args.get_warmup_steps(total),
        num_training_steps=total,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    every = per_epoch if str(args.eval_strategy).lower().endswith("epoch") else args.eval_steps
    out = np.empty(total)
    evals = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(total):
            out[k] = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if not plateau:
                scheduler.step()
            elif (k + 1) % every == 0 and metrics is not None and evals < len(metrics):
                scheduler.step(metrics[evals])  # Trainer: after each evaluation
                evals += 1
    return out, total


_training, _cfg = design_builders(n=1000, b=32, a=4, epochs=3)


WARM = {"steps": 5, "ratio": None, "start_factor": 0.0}

#: Designs HF expresses exactly, and the lr_scheduler_type each must become.
EXACT = {
    "linear": (lambda: apply_preset("linear", _training(n=5000)), "linear"),
    "cosine": (lambda: apply_preset("cosine", _training(n=5000)), "cosine"),
    "cosine_min_lr": (lambda: apply_preset("cosine_with_min_lr", _training(n=5000)), "cosine_with_min_lr"),
    "cosine_long_t_max": (
        lambda: _cfg(warmup=WARM, decay={"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 38}}),
        "cosine",
    ),
    "restarts": (
        lambda: _cfg(
            warmup={"steps": 4, "ratio": None, "start_factor": 0.0},
            decay={"scheduler": "CosineAnnealingWarmRestarts", "kwargs": {"T_0": 5, "T_mult": 1}},
        ),
        "cosine_with_restarts",
    ),
    "polynomial_power_2": (
        lambda: _cfg(warmup=WARM, decay={"scheduler": "PolynomialLR", "kwargs": {"power": 2.0}}),
        "polynomial",
    ),
    "constant": (lambda: _cfg(), "constant"),
    "constant_with_warmup": (
        lambda: apply_preset("constant_with_warmup", _training(n=5000)),
        "constant_with_warmup",
    ),
    "inverse_sqrt": (lambda: apply_preset("inverse_sqrt", _training(n=5000)), "inverse_sqrt"),
    "wsd_cosine": (lambda: apply_preset("warmup_stable_decay", _training(n=5000)), "warmup_stable_decay"),
    "wsd_linear_floor": (
        lambda: _cfg(
            warmup={"steps": 6, "ratio": None, "start_factor": 0.1},
            decay={
                "scheduler": "LinearLR",
                "kwargs": {"start_factor": 1.0, "end_factor": 0.1},
                "hold_steps": 8,
            },
        ),
        "warmup_stable_decay",
    ),
    "warmup_ratio": (
        lambda: _cfg(
            training={"n": 3000, "a": 1},
            warmup={"steps": None, "ratio": 0.1, "start_factor": 0.0},
            decay={"scheduler": "LinearLR", "kwargs": {}},
        ),
        "linear",
    ),
    "max_steps": (
        lambda: _cfg(
            training={"max_steps": 50}, warmup=WARM, decay={"scheduler": "CosineAnnealingLR", "kwargs": {}}
        ),
        "cosine",
    ),
    "drop_last": (
        lambda: _cfg(
            training={"n": 1000, "b": 30, "a": 3, "drop_last": True},
            warmup=WARM,
            decay={"scheduler": "LinearLR", "kwargs": {}},
        ),
        "linear",
    ),
}


def _structural(warnings_: list[str]) -> list[str]:
    """Warnings about the lr curve (not notes, not the optimizer's settings: tests/test_export_optimizers.py)."""
    return [w for w in warnings_ if not w.startswith("note:") and DIFFERENT_OPTIMIZER not in w]


@pytest.mark.parametrize("case", sorted(EXACT))
def test_exact_export_reproduces_the_curve_in_transformers(case: str, tmp_path) -> None:
    make, expected = EXACT[case]
    cfg = make()
    payload, notes = to_hf(cfg)
    assert _structural(notes) == [], notes
    assert payload["lr_scheduler_type"] == expected
    theirs, total = hf_run(payload, cfg.training.dataset_size, tmp_path)
    ours = lr_curve(cfg)["lr"].to_numpy()
    assert total == len(ours)
    assert_same(ours, theirs)


def test_plateau_export_matches_transformers_given_the_same_metric(tmp_path) -> None:
    values = [2.0, 1.5, 1.4, 1.4, 1.41, 1.42, 1.43, 1.0, 1.0, 1.0, 1.0, 1.0]
    cfg = _cfg(
        training={"n": 2000, "a": 2, "epochs": 4},
        plateau={"patience": 1, "factor": 0.5, "eval_every": 8, "metric": {"values": values}},
    )
    payload, notes = to_hf(cfg)
    assert payload["lr_scheduler_type"] == "reduce_lr_on_plateau"
    assert payload["eval_strategy"] == "steps" and payload["eval_steps"] == 8
    assert payload["metric_for_best_model"] == "eval_loss" and payload["greater_is_better"] is False
    assert any("metric source" in n for n in notes)  # HF feeds its own eval loss
    assert not any("different curve" in n for n in notes)
    theirs, _ = hf_run(payload, 2000, tmp_path, metrics=values)
    curve = compute_curve(cfg)
    assert curve.summary()["plateau_reductions"] >= 1
    assert_same(curve.lrs[:, 0], theirs)


def test_plateau_per_epoch(tmp_path) -> None:
    values = [1.0, 1.0, 1.0, 1.0]
    cfg = _cfg(
        training={"epochs": 4}, plateau={"patience": 0, "eval_every": "epoch", "metric": {"values": values}}
    )
    payload, _ = to_hf(cfg)
    assert payload["eval_strategy"] == "epoch"
    theirs, _ = hf_run(payload, 1000, tmp_path, metrics=values)
    assert_same(lr_curve(cfg)["lr"].to_numpy(), theirs)


# -- our re-implementation of HF's formulas equals transformers ------------------------------------


HF_CASES = [
    ("linear", {}),
    ("cosine", {}),
    ("cosine", {"num_cycles": 0.3}),
    ("cosine_with_restarts", {"num_cycles": 3}),
    ("polynomial", {"lr_end": 1e-5, "power": 1.5}),
    ("constant", {}),
    ("constant_with_warmup", {}),
    ("inverse_sqrt", {}),
    ("inverse_sqrt", {"timescale": 7}),
    ("cosine_with_min_lr", {"min_lr_rate": 0.05}),
    ("cosine_with_min_lr", {"min_lr": 2e-5}),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1}),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1, "warmup_lr_rate": 0.2}),
    ("warmup_stable_decay", {"num_decay_steps": 20}),
    (
        "warmup_stable_decay",
        {"num_decay_steps": 20, "decay_type": "1-sqrt", "warmup_type": "cosine", "min_lr_ratio": 0.1},
    ),
    (
        "warmup_stable_decay",
        {"num_decay_steps": 15, "num_stable_steps": 30, "decay_type": "linear", "warmup_type": "1-sqrt"},
    ),
]


@pytest.mark.parametrize(("name", "kwargs"), HF_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HF_CASES)])
def test_hf_factor_equals_transformers(name: str, kwargs: dict) -> None:
    lr, warmup, total = 3e-4, 9, 97
    opt = torch.optim.AdamW(torch.nn.Linear(2, 1).parameters(), lr=lr)
    theirs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # get_wsd_schedule warns when given both total and stable steps
        sched = get_scheduler(
            name,
            opt,
            num_warmup_steps=warmup,
            num_training_steps=total,
            scheduler_specific_kwargs=dict(kwargs),
        )
        warnings.simplefilter("ignore")
        for _ in range(total):
            theirs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    ours = lr * hf_factor(name, np.arange(total), warmup, total, kwargs, lr)
    assert_same(ours, theirs)


# -- import ------------------------------------------------------------------------------------------


IMPORTS = [
    {"lr_scheduler_type": "linear", "warmup_steps": 10},
    {"lr_scheduler_type": "cosine", "warmup_steps": 0.1},  # a ratio (transformers 5)
    {"lr_scheduler_type": "cosine", "warmup_ratio": 0.05, "learning_rate": 1e-3},  # transformers 4 spelling
    {"lr_scheduler_type": "cosine", "lr_scheduler_kwargs": {"num_cycles": 0.3}, "warmup_steps": 4},
    {
        "lr_scheduler_type": "cosine_with_restarts",
        "lr_scheduler_kwargs": {"num_cycles": 3},
        "warmup_steps": 3,
    },
    {
        "lr_scheduler_type": "cosine_with_restarts",
        "lr_scheduler_kwargs": {"num_cycles": 2},
        "warmup_steps": 4,
    },
    {
        "lr_scheduler_type": "polynomial",
        "lr_scheduler_kwargs": {"lr_end": 1e-6, "power": 2.0},
        "warmup_steps": 5,
    },
    {"lr_scheduler_type": "polynomial", "lr_scheduler_kwargs": {"lr_end": 0.0, "power": 1.0}},
    {"lr_scheduler_type": "constant"},
    {"lr_scheduler_type": "constant_with_warmup", "warmup_steps": 7},
    {"lr_scheduler_type": "inverse_sqrt", "warmup_steps": 6},
    {"lr_scheduler_type": "inverse_sqrt", "lr_scheduler_kwargs": {"timescale": 11}, "warmup_steps": 6},
    {
        "lr_scheduler_type": "cosine_with_min_lr",
        "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
        "warmup_steps": 5,
    },
    {
        "lr_scheduler_type": "cosine_warmup_with_min_lr",
        "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
        "warmup_steps": 5,
    },
    {
        "lr_scheduler_type": "warmup_stable_decay",
        "lr_scheduler_kwargs": {"num_decay_steps": 20},
        "warmup_steps": 5,
    },
    {
        "lr_scheduler_type": "warmup_stable_decay",
        "lr_scheduler_kwargs": {"num_decay_steps": 20, "decay_type": "1-sqrt", "min_lr_ratio": 0.05},
        "warmup_steps": 5,
    },
    {"lr_scheduler_type": "linear", "num_train_epochs": 2.5, "warmup_steps": 3},
    {"lr_scheduler_type": "cosine", "max_steps": 70, "warmup_steps": 7, "gradient_accumulation_steps": 3},
]


@pytest.mark.parametrize(
    "kwargs", IMPORTS, ids=[f"{i}-{k['lr_scheduler_type']}" for i, k in enumerate(IMPORTS)]
)
def test_import_reproduces_transformers(kwargs: dict, tmp_path) -> None:
    args = {
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 2,
        "num_train_epochs": 3,
        **kwargs,
    }
    if "warmup_ratio" in args:  # a transformers 4 document: 5.x spells it warmup_steps < 1
        json_text = json.dumps(args)
        args["warmup_steps"] = args.pop("warmup_ratio")
    else:
        json_text = hf_training_args(args, tmp_path).to_json_string()  # what users have on disk
    cfg, notes = from_hf(json_text, dataset_size=700)
    assert not any("different curve" in n for n in notes), notes
    theirs, total = hf_run(args, 700, tmp_path)
    ours = lr_curve(cfg)["lr"].to_numpy()
    assert len(ours) == total
    assert_same(ours, theirs)


def test_import_prefers_torch_classes_when_exact(tmp_path) -> None:
    cfg, _ = from_hf({"lr_scheduler_type": "cosine", "warmup_steps": 10}, dataset_size=5000)
    assert cfg.decay.scheduler == "CosineAnnealingLR" and cfg.warmup.steps == 10
    cfg, _ = from_hf(
        {"lr_scheduler_type": "cosine_with_restarts", "lr_scheduler_kwargs": {"num_cycles": 2}},
        dataset_size=640,
    )
    assert cfg.decay.scheduler in ("CosineAnnealingWarmRestarts", "LambdaLR")


@pytest.mark.parametrize("name", sorted(EXACT))
def test_export_then_import_gives_the_identical_curve(name: str) -> None:
    cfg = EXACT[name][0]()
    payload, _ = to_hf(cfg)
    back, _ = from_hf(payload, dataset_size=cfg.training.dataset_size)
    assert_same(compute_curve(cfg).lrs[:, 0], compute_curve(back).lrs[:, 0])


def test_import_needs_a_dataset_size() -> None:
    with pytest.raises(ConfigError, match="dataset_size: is required"):
        from_hf({"lr_scheduler_type": "linear"})
    base = _cfg(training={"n": 1234})
    cfg, _ = from_hf({"lr_scheduler_type": "linear"}, base=base)
    assert cfg.training.dataset_size == 1234


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("{not json", "must be TrainingArguments as JSON"),
        ("[1, 2]", "must be TrainingArguments: a JSON object"),
        ({"lr_scheduler_type": "bogus"}, "lr_scheduler_type: must be one of linear"),
        ({"learning_rate": "fast"}, "learning_rate: must be a number"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps: must be a number >= 1"),
    ],
)
def test_import_errors_name_the_field(doc, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_hf(doc, dataset_size=100)


# -- what HF cannot express ------------------------------------------------------------------------


def test_warnings_name_what_hf_cannot_express() -> None:
    cfg = _cfg(
        optimizer={
            "name": "AdamW",
            "lr": 1e-3,
            "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
        },
        training={"world_size": 4},
        warmup={"steps": 5, "ratio": None, "start_factor": 0.1},
        decay={"scheduler": "StepLR", "kwargs": {}, "interval": "epoch"},
    )
    payload, notes = to_hf(cfg)
    text = "\n".join(notes)
    assert "HF TrainingArguments cannot express: decay.interval='epoch'" in text
    assert "per-group lr_scale (backbone x0.1, head x1)" in text and "HF uses one learning_rate" in text
    assert "warmup.start_factor=0.1" in text
    assert "training.world_size=4" in text and "torchrun --nproc_per_node 4" in text
    assert "closest HF schedule" in text
    assert notes[-1].startswith("HF gives a different curve")
    # the closest of every named schedule and its kwargs (tests/test_fidelity_properties.py checks that
    # no other form is closer)
    assert payload["lr_scheduler_type"] in HF_TYPES


def test_restarts_that_do_not_divide_are_a_fractional_num_cycles() -> None:
    cfg = apply_preset("cosine_with_restarts", _training(n=1000))  # 22 decay steps, T_0 = 8
    payload, notes = to_hf(cfg)
    # HF's cycle is (k - w) * num_cycles / 22 steps long: num_cycles = 22 / 8 gives torch's 8-step cycles.
    assert payload["lr_scheduler_type"] == "cosine_with_restarts"
    assert payload["lr_scheduler_kwargs"] == {"num_cycles": 22 / 8}
    assert _structural(notes) == [] and not any(n.startswith("HF gives a different curve") for n in notes)
    # when it divides, the preset is exactly HF's schedule with a whole number of cycles
    payload, notes = to_hf(apply_preset("cosine_with_restarts", _training(n=5000)))  # 114 = 3 x 38
    assert payload["lr_scheduler_type"] == "cosine_with_restarts" and _structural(notes) == []
    assert payload["lr_scheduler_kwargs"] == {"num_cycles": 3}


def test_old_transformers_step_accounting_is_reported_with_numbers() -> None:
    # L = ceil(1000 / 32) = 32 micro-batches, accumulation 5: 4.52+ takes ceil(32/5) = 7 steps per
    # epoch like this design, older releases floor(32/5) = 6.
    cfg = apply_preset("linear", _training(a=5))
    _, notes = to_hf(cfg)
    # exact for the pinned transformers (>= 4.52): a note, not a warning (the Exact badge stays)
    note = next(n for n in notes if n.startswith("note: transformers < 4.52"))
    assert "floor(32/5) = 6" in note and "ceil = 7" in note and "18 steps while the run takes 21" in note
    assert not any(n.startswith("transformers < 4.52") for n in notes)
    # a multiple: no note
    _, notes = to_hf(apply_preset("linear", _training(a=4)))
    assert not any("transformers < 4.52" in n for n in notes)
    # an export that already differs from the design keeps it a warning
    _, notes = to_hf(apply_preset("one_cycle", _training(a=5)))
    assert any("gives a different curve" in n for n in notes)
    assert any(n.startswith("transformers < 4.52") for n in notes)


def test_hf_curve_of_exported_args_is_what_transformers_does(tmp_path) -> None:
    cfg = apply_preset("cosine", _training(n=5000))
    payload, _ = to_hf(cfg)
    theirs, _ = hf_run(payload, 5000, tmp_path)
    assert_same(hf_curve(payload, cfg)[:, 0], theirs)


def test_exported_payload_is_json_and_accepted_by_training_arguments(tmp_path) -> None:
    for name in ("linear", "gpt3_cosine", "reduce_lr_on_plateau", "one_cycle", "goyal_imagenet"):
        payload, _ = to_hf(apply_preset(name, _training(n=5000)))
        json.dumps(payload)
        hf_training_args(payload, tmp_path)  # raises on an unknown or invalid argument


def test_warmup_steps_round_trip_through_ceil() -> None:
    cfg = _cfg(training={"n": 3000, "a": 1}, warmup={"steps": None, "ratio": 0.07, "start_factor": 0.0})
    payload, _ = to_hf(cfg)
    assert payload["warmup_steps"] == math.ceil(0.07 * compute_curve(cfg).plan.total_steps)


def test_a_precomputed_curve_is_reused_only_for_its_own_design() -> None:
    from schedules.interop import TARGETS

    cfg = apply_preset("cosine", _training(n=5000))
    other = apply_preset("linear", _training(n=5000))
    for target in TARGETS.values():
        assert target.export(cfg, curve=compute_curve(cfg)) == target.export(cfg)
        assert target.export(cfg, curve=compute_curve(other)) == target.export(cfg)  # not its curve: ignored


def test_plateau_with_a_cosine_to_a_floor_exports_cosine_with_min_lr(tmp_path) -> None:
    """Issue 28, item 5: a plateau next to a warmup and a cosine to a floor.  HF runs one
    lr_scheduler_type and no plateau, so the export is the schedule without the plateau, searched over
    every named schedule with its kwargs: cosine_with_min_lr with the design's floor (not plain
    cosine to 0, which fits the plateau's reductions better by least squares); the gap to the whole
    design is stated."""
    cfg = _cfg(
        training={"n": 640, "b": 8, "a": 1, "epochs": 3},  # 80 steps per epoch, T = 240
        warmup={"steps": 10, "ratio": None, "start_factor": 0.0},
        decay={"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-4}},
        plateau={"factor": 0.1, "patience": 0, "eval_every": 20},
    )
    payload, notes = to_hf(cfg)
    assert payload["lr_scheduler_type"] == "cosine_with_min_lr"
    assert payload["lr_scheduler_kwargs"] == {"min_lr": 1e-4}
    assert any("ReduceLROnPlateau together with a warmup or decay" in n for n in notes)
    assert any(n.startswith("HF gives a different curve") for n in notes)  # the plateau's reductions
    # HF's real scheduler from these kwargs is the design without its plateau
    without = compute_curve({**cfg.to_dict(), "plateau": None}).lrs[:, 0]
    theirs, total = hf_run(payload, 640, tmp_path)
    assert total == 240
    assert_same(without, theirs)
