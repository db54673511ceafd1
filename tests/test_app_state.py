"""Config <-> widget mapping, widget bounds and help from the model, and the shareable link token."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import state
from schedules import ConfigError, load_config
from schedules.design import DECAY_KWARGS, OptimizerConfig, PlateauConfig, TrainingConfig, WarmupConfig
from schedules.presets import PRESETS, apply_preset
from schedules.share import MAX_TOKEN_CHARS, decode_design, encode_design

RICH = {
    "name": "rich",
    "optimizer": {
        "name": "SGD",
        "lr": 0.05,
        "kwargs": {"momentum": 0.9, "nesterov": True},
        "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
    },
    "training": {
        "dataset_size": 1000,
        "micro_batch_size": 8,
        "accumulation_steps": 3,
        "world_size": 2,
        "epochs": 5,
        "drop_last": True,
    },
    "warmup": {"steps": 7, "start_factor": 0.2},
    "decay": {
        "scheduler": "CyclicLR",
        "kwargs": {"base_lr": [0.001, 0.002], "max_lr": 0.05, "mode": "triangular2", "cycle_momentum": False},
    },
    "plateau": {
        "mode": "max",
        "factor": 0.5,
        "patience": 2,
        "threshold": 0.01,
        "threshold_mode": "abs",
        "cooldown": 1,
        "min_lr": [0.0, 0.001],
        "eps": 1e-9,
        "eval_every": 5,
        "metric": {"values": [0.5, 0.6, 0.61, 0.61, 0.6]},
    },
}


def roundtrip(cfg):
    return state.widgets_to_config(state.config_to_widgets(cfg))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_roundtrips_through_the_widgets(preset: str) -> None:
    cfg = apply_preset(preset)
    assert roundtrip(cfg).cache_key() == cfg.cache_key()


def test_rich_config_roundtrips() -> None:
    cfg = load_config(RICH)
    assert roundtrip(cfg).cache_key() == cfg.cache_key()
    with_ratio = load_config(
        {**RICH, "warmup": {"ratio": 0.1}, "decay": {"scheduler": "StepLR", "hold_ratio": 0.1}}
    )
    assert roundtrip(with_ratio).cache_key() == with_ratio.cache_key()
    synthetic = load_config(
        {**RICH, "plateau": {"metric": {"synthetic": {"plateau_from": None, "noise": 0.1}}}}
    )
    assert roundtrip(synthetic).cache_key() == synthetic.cache_key()


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(1e-7, 1.0),
    warmup=st.one_of(st.none(), st.integers(0, 50)),
    start=st.floats(0, 1),
    sched=st.sampled_from([None, *DECAY_KWARGS]),
    acc=st.integers(1, 8),
    epochs=st.integers(1, 4),
)
def test_roundtrip_property(lr, warmup, start, sched, acc, epochs) -> None:
    data = {
        "optimizer": {"lr": lr},
        "training": {"dataset_size": 500, "micro_batch_size": 4, "accumulation_steps": acc, "epochs": epochs},
        "warmup": None if warmup is None else {"steps": warmup, "start_factor": start},
        "decay": None
        if sched is None
        else {
            "scheduler": sched,
            "kwargs": {"lr_lambda": "0.99"} if "Lambda" in sched or "Multiplicative" in sched else {},
        },
    }
    try:
        cfg = load_config(data)
    except ConfigError:
        return
    assert roundtrip(cfg).cache_key() == cfg.cache_key()


def test_hidden_sections_keep_previous_values() -> None:
    cfg = load_config(RICH)
    values = state.config_to_widgets(cfg)
    off = load_config({**RICH, "plateau": None, "decay": None, "warmup": None})
    again = state.config_to_widgets(off, previous=values)
    assert again[state.key("plateau.on")] is False
    assert again[state.key("plateau.patience")] == 2
    assert again[state.decay_key("CyclicLR", "mode")] == "triangular2"
    assert again[state.key("warmup.steps")] == 7


def test_bad_text_fields_name_the_field() -> None:
    values = state.config_to_widgets(load_config(RICH))
    values[state.decay_key("CyclicLR", "base_lr")] = "0.001, lots"
    values[state.key("optimizer.kwargs")] = "{momentum: 0.9"
    with pytest.raises(ConfigError) as info:
        state.widgets_to_config(values)
    text = "\n".join(info.value.lines())
    assert "decay.kwargs.base_lr: must be numbers separated by commas (item 2), got 'lots'" in text
    assert "optimizer.kwargs: must be a JSON object" in text


def test_bounds_come_from_the_model() -> None:
    assert state.bounds(TrainingConfig, "accumulation_steps") == (1, 100_000)
    assert state.bounds(WarmupConfig, "start_factor") == (0.0, 1.0)
    lo, hi = state.bounds(OptimizerConfig, "lr")
    assert 0 < lo < 1e-9 and hi == 10.0
    lo, hi = state.bounds(PlateauConfig, "factor")
    assert 0 < lo and hi < 1
    assert state.field_kind(DECAY_KWARGS["OneCycleLR"], "max_lr") == "floats?"
    assert state.field_kind(DECAY_KWARGS["MultiStepLR"], "milestones") == "ints?"
    assert state.field_kind(DECAY_KWARGS["CyclicLR"], "mode") == "choice?"
    assert state.choices(DECAY_KWARGS["OneCycleLR"], "anneal_strategy") == ["cos", "linear"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("plateau.patience", "third bad evaluation"),
        ("plateau.threshold", "count as an improvement"),
        ("plateau.cooldown", "ignored"),
        ("plateau.eps", "smaller than eps"),
        ("warmup.start_factor", "straight line"),
        ("training.accumulation_steps", "Micro-batches accumulated"),
        ("decay.kwargs.CosineAnnealingLR.T_max", "Half-period"),
        ("decay.kwargs.CosineAnnealingLR.eta_min_ratio", "eta_min = eta_min_ratio x optimizer.lr"),
    ],
)
def test_help_text_has_description_and_plain_words(path: str, words: str) -> None:
    assert words in state.help_text(path)


@pytest.mark.parametrize("path", sorted(state.PLAIN))
def test_help_text_says_things_once(path: str) -> None:
    """The plain words replace the model's terse description (the two said the same thing twice), and
    no sentence of a help text repeats."""
    text = state.help_text(path)
    assert text == state.PLAIN[path]
    sentences = [s.strip().lower() for s in text.split(". ") if s.strip()]
    assert len(sentences) == len(set(sentences))


def test_link_token_roundtrip_and_rejections() -> None:
    cfg = load_config(RICH)
    token = encode_design(cfg)
    assert len(token) < 1000 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert decode_design(token).cache_key() == cfg.cache_key()
    with pytest.raises(ConfigError, match="design: is not a design link token"):
        decode_design("not*a*token")
    with pytest.raises(ConfigError, match="at most"):
        decode_design("A" * (MAX_TOKEN_CHARS + 1))
    wrong = base64.urlsafe_b64encode(zlib.compress(json.dumps({"training": {"epochs": 0}}).encode())).decode()
    with pytest.raises(ConfigError, match="training.epochs"):
        decode_design(wrong.rstrip("="))
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * 5_000_000, 9)).decode()
    with pytest.raises(ConfigError, match="inflate"):
        decode_design(bomb)
