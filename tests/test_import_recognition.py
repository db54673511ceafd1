"""Imports recognise their format, name what they ignore, and keep the file's own run length.

Also the CLI's hints for a file of another format (``validate`` on HF TrainingArguments) and for a
mistake that changes nothing (``plot --mistake per_micro_batch`` at accumulation 1).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from schedules import compute_curve, load_config
from schedules.cli import main
from schedules.design import ConfigError
from schedules.interop import deepspeed_curve, from_deepspeed, from_hf
from schedules.interop.detect import HF_FIELDS, looks_like

DS_CONFIG = {
    "train_micro_batch_size_per_gpu": 32,
    "gradient_accumulation_steps": 1,
    "zero_optimization": {"stage": 2},
    "fp16": {"enabled": True},
    "optimizer": {"type": "AdamW", "params": {"lr": 3e-4}},
    "scheduler": {
        "type": "WarmupCosineLR",
        "params": {
            "total_num_steps": 2000,
            "warmup_min_ratio": 0.0,
            "warmup_num_steps": 100,
            "cos_min_ratio": 0.01,
            "warmup_type": "linear",
        },
    },
}
DESIGN = {
    "optimizer": {"name": "AdamW", "lr": 3e-4},
    # 75,072 samples / 32 = 2,346 optimizer steps: longer than the file's 2,000
    "training": {"dataset_size": 75072, "micro_batch_size": 32, "epochs": 1},
    "warmup": {"steps": 50},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {}},
}
HF_ARGS = {
    "output_dir": "out",
    "learning_rate": 1e-3,
    "lr_scheduler_type": "linear",
    "warmup_steps": 7,
    "per_device_train_batch_size": 16,
    "seed": 42,
}


def test_formats_are_recognised() -> None:
    assert looks_like(HF_ARGS) == "hf"
    assert looks_like(DS_CONFIG) == "deepspeed"
    assert looks_like(DS_CONFIG["scheduler"]) == "deepspeed"  # a bare scheduler block
    assert looks_like(DESIGN) == "design" and looks_like({"format": "lr-schedule/v1"}) == "design"
    assert looks_like({}) is None and looks_like({"foo": 1}) is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "(file): is not HF TrainingArguments: none of its keys is a TrainingArguments field"),
        ({"foo": 1}, "(file): is not HF TrainingArguments: none of its keys is a TrainingArguments field"),
        (DS_CONFIG, "(file): is not HF TrainingArguments: it looks like a DeepSpeed config; import it as"),
        (DESIGN, "(file): is not HF TrainingArguments: it looks like an lr-schedule/v1 design"),
    ],
)
def test_hf_import_refuses_what_is_not_training_arguments(doc, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_hf(doc, dataset_size=1000)
    assert str(err.value).startswith(message)


def test_hf_import_names_every_key_it_ignores() -> None:
    cfg, warnings = from_hf({**HF_ARGS, "learning_rte": 0.1}, dataset_size=1600)
    assert cfg.optimizer.lr == 1e-3 and cfg.warmup.steps == 7
    assert "ignored, not TrainingArguments fields: learning_rte" in warnings
    assert "ignored, they do not set the lr schedule: output_dir, seed" in warnings


def test_every_real_training_arguments_field_is_known(tmp_path) -> None:
    """A real ``to_json_string()`` gets no 'not TrainingArguments fields' warning."""
    transformers = pytest.importorskip("transformers")
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], learning_rate=2e-4)
    doc = json.loads(args.to_json_string())
    assert set(doc) <= HF_FIELDS, sorted(set(doc) - HF_FIELDS)
    cfg, warnings = from_hf(args.to_json_string(), dataset_size=800)
    assert cfg.optimizer.lr == 2e-4
    assert not any("not TrainingArguments fields" in w for w in warnings)
    assert any(w.startswith("ignored, they do not set the lr schedule: output_dir") for w in warnings)


def test_deepspeed_import_refuses_training_arguments_and_names_ignored_keys() -> None:
    with pytest.raises(ConfigError, match=r"is not a DeepSpeed config: it looks like HF TrainingArguments"):
        from_deepspeed(HF_ARGS)
    _, warnings = from_deepspeed(DS_CONFIG)
    assert "ignored, they do not set the lr schedule: zero_optimization, fp16" in warnings


def test_deepspeed_import_runs_for_the_files_own_total_num_steps() -> None:
    base = load_config(DESIGN)
    assert compute_curve(base).plan.total_steps == 2346
    cfg, _ = from_deepspeed(DS_CONFIG, base=base)
    curve = compute_curve(cfg)
    assert curve.plan.total_steps == 2000  # the file's total_num_steps, not the design's 2,346
    target = deepspeed_curve(DS_CONFIG["scheduler"], [3e-4], 2000)[:, 0]
    np.testing.assert_allclose(curve.lrs[:, 0], target, rtol=1e-12, atol=1e-18)
    after_peak = curve.lrs[101:, 0]
    assert np.all(np.diff(after_peak) <= 0)  # decays to the end, never climbs back up
    # an explicit length still wins; without total_num_steps the default length is used
    cfg, _ = from_deepspeed(DS_CONFIG, base=base, total_steps=1500)
    assert cfg.training.max_steps == 1500
    warmup_only = {"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10}}}
    cfg, _ = from_deepspeed(warmup_only, base=base, default_total_steps=300)
    assert cfg.training.max_steps == 300
    cfg, _ = from_deepspeed(DS_CONFIG, base=base, default_total_steps=300)
    assert cfg.training.max_steps == 2000


def test_cli_import_refuses_the_wrong_format(tmp_path, capsys) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert main(["import", str(empty), "--from", "hf", "--dataset-size", "1000"]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: is not HF TrainingArguments: none of its keys" in err  # the file named by its path
    ds = tmp_path / "ds_config.json"
    ds.write_text(json.dumps(DS_CONFIG))
    assert main(["import", str(ds), "--from", "hf", "--dataset-size", "1000"]) == 2
    assert "it looks like a DeepSpeed config; import it as a DeepSpeed config (--from deepspeed)" in (
        capsys.readouterr().err
    )


def test_cli_validate_on_training_arguments_suggests_the_import(tmp_path, capsys) -> None:
    path = tmp_path / "training_args.json"
    path.write_text(json.dumps(HF_ARGS))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"{path}: is HF TrainingArguments, not an lr-schedule/v1 design; convert it with: "
        f"python -m schedules import {path} --from hf --dataset-size N -o design.json"
    ]
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps(DS_CONFIG))
    assert main(["validate", str(ds)]) == 2
    assert "is a DeepSpeed config, not an lr-schedule/v1 design" in capsys.readouterr().err
    bad = tmp_path / "bad.json"  # a real design with a bad value still gets the field's line
    bad.write_text(json.dumps({"training": {"accumulation_steps": 0}}))
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("training.accumulation_steps: must be an integer >= 1")


def test_cli_plot_says_a_mistake_changes_nothing_at_accumulation_1(tmp_path, capsys) -> None:
    design = tmp_path / "design.json"
    design.write_text(json.dumps(DESIGN))  # accumulation 1
    out = tmp_path / "curve.html"
    assert main(["plot", str(design), "-o", str(out), "--mistake", "per_micro_batch"]) == 0
    err = capsys.readouterr().err
    assert "warning: --mistake per_micro_batch changes nothing at accumulation_steps 1" in err
    accumulating = tmp_path / "acc.json"
    accumulating.write_text(
        json.dumps({**DESIGN, "training": {**DESIGN["training"], "accumulation_steps": 4}})
    )
    assert main(["plot", str(accumulating), "-o", str(out), "--mistake", "per_micro_batch"]) == 0
    assert "changes nothing" not in capsys.readouterr().err


# -- the Import / export page (AppTest) ------------------------------------------------------------


def interop_page(design):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from app import state

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "main.py"), default_timeout=90)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    at.switch_page("views/interop.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_refuses_a_file_that_is_not_training_arguments() -> None:
    from app import state

    at = interop_page(DESIGN)
    before = at.session_state[state.DESIGN_JSON]
    at.text_area(key="interop_import_text").input('{"foo": 1}').run()
    at.button(key="interop_import_button").click().run()
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    assert "`(file)`: is not HF TrainingArguments: none of its keys" in errors
    assert at.session_state[state.DESIGN_JSON] == before  # the design is left alone


def test_page_imports_deepspeed_for_its_own_total_num_steps() -> None:
    from app import state

    at = interop_page(DESIGN)  # 2,346 steps
    at.radio(key="interop_import_source").set_value("deepspeed").run()
    at.text_area(key="interop_import_text").input(json.dumps(DS_CONFIG)).run()
    at.button(key="interop_import_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    design = load_config(at.session_state[state.DESIGN_JSON])
    assert design.name == "DeepSpeed WarmupCosineLR" and design.training.max_steps == 2000


def test_page_says_which_files_it_imports() -> None:
    at = interop_page(DESIGN)
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.label == "JSON file (up to 1 MB)" and uploader.proto.max_upload_size_mb == 1
    at.file_uploader(key="interop_import_upload").set_value(("curve.png", b"\x89PNG\r\n", "image/png")).run()
    at.button(key="interop_import_button").click().run()
    assert not at.exception
    assert "curve.png was not imported: only JSON files are read here" in at.error[0].value
