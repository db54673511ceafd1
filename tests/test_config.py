"""The config model: round trip, defaults, and field-named messages for every kind of bad input."""

import json

import pytest

from schedules import FORMAT, ConfigError, ScheduleConfig, load_config, parse_config_json
from schedules.design import schema_text
from schedules.design.parse import SCHEMA_PATH

CONTRACT_EXAMPLE = {
    "format": "lr-schedule/v1",
    "name": "cosine with warmup",
    "optimizer": {
        "name": "AdamW",
        "lr": 3e-4,
        "kwargs": {"weight_decay": 0.01},
        "param_groups": [{"name": "backbone", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}],
    },
    "training": {
        "dataset_size": 50000,
        "micro_batch_size": 32,
        "accumulation_steps": 4,
        "world_size": 1,
        "epochs": 3,
        "max_steps": None,
        "drop_last": False,
    },
    "warmup": {"steps": 500, "ratio": None, "start_factor": 0.0},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-6}, "interval": "step"},
    "plateau": None,
}


def test_contract_example_loads_and_round_trips():
    cfg = load_config(CONTRACT_EXAMPLE)
    assert cfg.format == FORMAT
    again = load_config(json.loads(cfg.to_json()))
    assert again == cfg
    assert again.to_json() == cfg.to_json()
    assert parse_config_json(cfg.to_json()) == cfg


def test_defaults_one_group_named_default():
    cfg = load_config({})
    assert [g.name for g in cfg.optimizer.groups()] == ["default"]
    assert cfg.optimizer.base_lrs() == [3e-4]


def test_file_path_and_json_string(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONTRACT_EXAMPLE))
    assert load_config(path) == load_config(str(path)) == load_config(json.dumps(CONTRACT_EXAMPLE))


BAD = [
    (
        {"training": {"accumulation_steps": 0}},
        "training.accumulation_steps: must be an integer >= 1 and <= 100000, got 0",
    ),
    (
        {"training": {"micro_batch_size": "32"}},
        "training.micro_batch_size: must be an integer >= 1 and <= 1000000, got '32'",
    ),
    (
        {"training": {"dataset_size": 1.5}},
        "training.dataset_size: must be an integer >= 1 and <= 10000000000, got 1.5",
    ),
    ({"training": {"drop_last": 1}}, "training.drop_last: must be true or false, got 1"),
    (
        {"training": {"world_size": True}},
        "training.world_size: must be an integer >= 1 and <= 100000, got true",
    ),
    ({"optimizer": {"lr": 0}}, "optimizer.lr: must be a number > 0 and <= 10, got 0"),
    ({"optimizer": {"lr": -1e-3}}, "optimizer.lr: must be a number > 0 and <= 10, got -0.001"),
    ({"optimizer": {"name": "Nope"}}, "optimizer.name: must be one of"),
    (
        {"optimizer": {"kwargs": {"momentum": 0.9}}},
        "optimizer.kwargs.momentum: is not an argument of torch.optim.AdamW",
    ),
    (
        {"optimizer": {"kwargs": {"weight_decay": -1}}},
        "optimizer.kwargs: rejected by torch: Invalid weight_decay value: -1",
    ),
    (
        {"optimizer": {"param_groups": [{"name": "a"}, {"name": "a"}]}},
        "optimizer.param_groups[1].name: must be unique, got 'a'",
    ),
    (
        {"optimizer": {"param_groups": [{"name": "a", "lr_scale": 0}]}},
        "optimizer.param_groups[0].lr_scale: must be a number > 0 and <= 1000, got 0",
    ),
    ({"optimizer": {"param_groups": []}}, "optimizer.param_groups: must have at least 1 item(s)"),
    ({"warmup": {"steps": -1}}, "warmup.steps: must be an integer >= 0 and <= 2000000, got -1"),
    ({"warmup": {"ratio": 1.5}}, "warmup.ratio: must be a number >= 0 and <= 1, got 1.5"),
    ({"warmup": {"steps": 1, "ratio": 0.1}}, "warmup.ratio: set either steps or ratio, not both, got 0.1"),
    (
        {"warmup": {"steps": 1, "start_factor": 2}},
        "warmup.start_factor: must be a number >= 0 and <= 1, got 2",
    ),
    ({"warmup": {}}, "warmup.steps: set steps or ratio (one of them)"),
    ({"decay": {"scheduler": "Cosine"}}, "decay.scheduler: must be one of"),
    (
        {"decay": {"scheduler": "StepLR", "kwargs": {"gamma": 2}}},
        "decay.kwargs.gamma: must be a number > 0 and <= 1, got 2",
    ),
    (
        {"decay": {"scheduler": "StepLR", "kwargs": {"T_max": 2}}},
        "decay.kwargs.T_max: is not a known field (allowed: step_size, gamma), got 2",
    ),
    (
        {"decay": {"scheduler": "MultiStepLR", "kwargs": {"milestones": [5, 3]}}},
        "decay.kwargs.milestones[1]: must be strictly increasing (> 5), got 3",
    ),
    (
        {"decay": {"scheduler": "CosineAnnealingLR", "interval": "batch"}},
        "decay.interval: must be one of 'step' or 'epoch', got 'batch'",
    ),
    (
        {"decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "open('x')"}}},
        "decay.kwargs.lr_lambda: calls 'open', which is not allowed",
    ),
    (
        {"decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "1 - "}}},
        "decay.kwargs.lr_lambda: must be one valid expression",
    ),
    (
        {"decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "-1"}}},
        "decay.kwargs.lr_lambda: must give a finite number >= 0",
    ),
    (
        {"decay": {"scheduler": "OneCycleLR", "kwargs": {"total_steps": 10}}},
        "decay.kwargs.total_steps: must be >= 4689, the steps OneCycleLR receives, got 10",
    ),
    (
        {"decay": {"scheduler": "CyclicLR", "kwargs": {"max_lr": [0.1, 0.2]}}},
        "decay.kwargs.max_lr: must have one value per param group (1), got [0.1, 0.2]",
    ),
    (
        {"decay": {"scheduler": "CosineAnnealingLR", "interval": "epoch", "hold_steps": 3}},
        "decay.hold_steps: a hold is only supported with interval 'step', got 3",
    ),
    (
        {"warmup": {"steps": 10}, "decay": {"scheduler": "OneCycleLR"}},
        "warmup: must be null with OneCycleLR, which has its own warmup (pct_start)",
    ),
    (
        {"decay": {"scheduler": "OneCycleLR", "hold_steps": 5}},
        "decay.hold_steps: must be 0 with OneCycleLR (it is a complete schedule), got 5",
    ),
    ({"plateau": {"factor": 1.0}}, "plateau.factor: must be a number > 0 and < 1, got 1.0"),
    ({"plateau": {"patience": -1}}, "plateau.patience: must be an integer >= 0 and <= 1000000, got -1"),
    (
        {"plateau": {"threshold_mode": "relative"}},
        "plateau.threshold_mode: must be one of 'rel' or 'abs', got 'relative'",
    ),
    (
        {"plateau": {"eval_every": 0}},
        "plateau.eval_every: must be 'epoch' or an integer >= 1 and <= 2000000, got 0",
    ),
    ({"plateau": {"min_lr": -1}}, "plateau.min_lr: must be a number in [0, 10], got -1"),
    ({"plateau": {"metric": {}}}, "plateau.metric.values: set exactly one of values or synthetic"),
    ({"plateau": {"metric": {"values": []}}}, "plateau.metric.values: must have at least 1 item(s)"),
    (
        {"plateau": {"metric": {"synthetic": {"half_life": 0}}}},
        "plateau.metric.synthetic.half_life: must be a number > 0 and <= 1000000.0, got 0",
    ),
    ({"format": "lr-schedule/v2"}, "format: must be 'lr-schedule/v1', got 'lr-schedule/v2'"),
    ({"name": "x" * 201}, "name: must have at most 200 characters"),
    (
        {"extra": 1},
        "extra: is not a known field (allowed: format, name, optimizer, training, warmup, decay, plateau, wsd, stack), got 1",
    ),
    (
        {"training": {"epochs": 100000, "dataset_size": 10**9}},
        "training.epochs: total optimizer steps must be <= 2000000",
    ),
    (
        {"training": {"max_steps": 3_000_000}},
        "training.max_steps: must be an integer >= 1 and <= 2000000, got 3000000",
    ),
]


@pytest.mark.parametrize(("mutation", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_names_field_range_and_value(mutation, message):
    with pytest.raises(ConfigError) as exc:
        load_config(mutation)
    lines = exc.value.lines()
    assert lines[0].startswith(message), lines
    assert all("\n" not in line for line in lines)


def test_several_problems_are_all_reported():
    with pytest.raises(ConfigError) as exc:
        load_config({"training": {"epochs": 0, "micro_batch_size": 0}, "warmup": {"steps": -2}})
    paths = sorted(p.path for p in exc.value.problems)
    assert paths == ["training.epochs", "training.micro_batch_size", "warmup.steps"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{",
            "(file): must be valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)",
        ),
        ("[1, 2]", "(config): must be a JSON object, got 'list'"),
        ("[Infinity]", "(config): must be a JSON object, got 'list'"),  # was "[0]: must be a finite number"
        (  # an unknown key is named as such, whatever its value (was '[""]: must be a finite number')
            '{"": Infinity}',
            '[""]: is not a known field (allowed: format, name, optimizer, training, warmup, decay, plateau, wsd, '
            "stack), got Infinity",
        ),
        (
            "Infinity",
            "(file): must be a finite number (JSON has no Infinity: NaN and Infinity are not allowed), got 'Infinity'",
        ),
        (
            '{"optimizer": {"lr": NaN}}',
            "optimizer.lr: must be a finite number (JSON has no NaN: NaN and Infinity are not allowed), got 'NaN'",
        ),
        ('{"optimizer": {"lr": 1e999}}', "optimizer.lr: must be a finite number > 0 and <= 10, got inf"),
        (b"\xff\xfe", "(file): must be UTF-8 text; it is UTF-16 (save it as UTF-8)"),
        (b"\x80abc", "(file): must be UTF-8 text (is it a binary file?), got 'byte 0x80 at offset 0'"),
        (
            b'{"name": "a", "name": "b"}',
            "name: must appear once in its object (JSON with a repeated key is ambiguous: which value is meant?)",
        ),
        ("[" * 100_000 + "]" * 100_000, "(file): is nested too deeply"),
    ],
)
def test_bad_files(text, message):
    with pytest.raises(ConfigError) as exc:
        parse_config_json(text)
    assert exc.value.lines()[0] == message


def test_checked_in_schema_is_current():
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "run: python -m schedules schema -o schedules/lr-schedule-v1.schema.json"
    )


def test_schema_accepts_valid_and_rejects_invalid_configs():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert not list(validator.iter_errors(load_config(CONTRACT_EXAMPLE).to_dict()))
    assert list(
        validator.iter_errors({**CONTRACT_EXAMPLE, "decay": {"scheduler": "StepLR", "kwargs": {"gamma": 2}}})
    )
    assert list(validator.iter_errors({**CONTRACT_EXAMPLE, "surprise": 1}))


def test_cache_key_is_canonical():
    a = load_config(CONTRACT_EXAMPLE)
    b = load_config(json.loads(json.dumps(CONTRACT_EXAMPLE, sort_keys=True)))
    assert a.cache_key() == b.cache_key()
    assert ScheduleConfig().cache_key() != a.cache_key()
