"""Run logs: the readers (CSV, HF trainer_state.json, JSON Lines, TensorBoard), their messages, and
the validation loss as the plateau metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from schedules import compute_curve, load_config, lr_curve
from schedules.design import ConfigError
from schedules.logs import (
    MAX_LOG_BYTES,
    lr_agreement,
    match_columns,
    overlay_frame,
    plateau_from_log,
    read_log,
)
from schedules.presets import apply_preset

DESIGN = {"training": {"dataset_size": 2000, "micro_batch_size": 32, "accumulation_steps": 2, "epochs": 3}}


@pytest.fixture(scope="module")
def cfg():
    return apply_preset("cosine", DESIGN)  # 32 steps per epoch, 96 in all


@pytest.fixture(scope="module")
def curve(cfg):
    return lr_curve(cfg)


def hf_state(curve) -> bytes:
    """HF Trainer's trainer_state.json: step = optimizer steps completed, lr = next step's lr."""
    history = []
    for s in range(1, len(curve)):
        if s % 4 == 0:
            history.append(
                {
                    "epoch": s / 32,
                    "grad_norm": 1.0,
                    "learning_rate": float(curve.lr.iloc[s]),
                    "loss": 3.0 / s**0.5,
                    "step": s,
                }
            )
        if s % 32 == 0:
            history.append({"epoch": s / 32, "eval_loss": 2.0 - s / 100, "eval_runtime": 1.0, "step": s})
    history.append({"epoch": 3.0, "eval_loss": 1.0, "step": 96})
    return json.dumps({"global_step": 96, "log_history": history}).encode()


def lightning_csv(curve) -> bytes:
    """Lightning CSVLogger metrics.csv: sparse rows, LearningRateMonitor's 'lr-AdamW' column."""
    rows = ["epoch,step,lr-AdamW,train_loss,val_loss"]
    for k in range(len(curve)):
        rows.append(f"{k // 32},{k},{float(curve.lr.iloc[k])!r},{1 / (k + 1)!r},")
        if (k + 1) % 32 == 0:
            rows.append(f"{k // 32},{k + 1},,,{2 - k / 100!r}")
    return ("\n".join(rows) + "\n").encode()


def tensorboard_file(curve, tmp_path: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for k in range(len(curve)):
        writer.add_scalar("train/learning_rate", float(curve.lr.iloc[k]), k)
        writer.add_scalar("train/loss", 1 / (k + 1), k)
        if (k + 1) % 32 == 0:
            writer.add_scalar("eval/loss", 2 - k / 100, k + 1)
    writer.close()
    return next(tmp_path.glob("events.out.tfevents*"))


def test_hf_trainer_state(curve, cfg) -> None:
    log = read_log(hf_state(curve), "trainer_state.json")
    assert log.source == "json" and log.convention == "completed"
    assert log.columns == {"lr": "learning_rate", "loss": "loss", "val_loss": "eval_loss"}
    assert len(log.series["val_loss"]) == 3 and log.series["val_loss"].step.tolist() == [32, 64, 96]
    agreement = lr_agreement(log, curve)
    assert agreement["rows"] == 23 and agreement["max_peak_rel"] == 0.0
    new, notes = plateau_from_log(log, cfg)
    assert new.plateau.eval_every == "epoch"  # every 32 steps = the design's epoch
    assert new.plateau.metric.values == pytest.approx([1.68, 1.36, 1.0])
    assert any("added ReduceLROnPlateau" in n for n in notes)
    compute_curve(new)  # a valid design


def test_lightning_metrics_csv(curve) -> None:
    log = read_log(lightning_csv(curve), "metrics.csv")
    assert log.columns == {"lr": "lr-AdamW", "loss": "train_loss", "val_loss": "val_loss"}
    assert len(log.series["lr"]) == 96 and len(log.series["val_loss"]) == 3
    assert lr_agreement(log, curve)["max_peak_rel"] == 0.0


def test_tensorboard_event_file(curve, cfg, tmp_path) -> None:
    path = tensorboard_file(curve, tmp_path)
    log = read_log(path.read_bytes(), path.name)
    assert log.source == "tensorboard"
    assert log.columns == {"lr": "train/learning_rate", "loss": "train/loss", "val_loss": "eval/loss"}
    assert lr_agreement(log, curve)["max_peak_rel"] < 1e-7  # TensorBoard stores float32
    new, _ = plateau_from_log(log, cfg)
    assert new.plateau.eval_every == "epoch" and len(new.plateau.metric.values) == 3


def test_our_own_training_csv_counts_rows(curve) -> None:
    rows = ["step,epoch,samples,lr,loss,val_loss,grad_norm,window_samples,micro_batches,wall_time"]
    for k in range(len(curve)):
        val = 1.0 - k / 200 if (k + 1) % 10 == 0 else ""
        rows.append(f"{k},{k // 32},{(k + 1) * 64},{float(curve.lr.iloc[k])!r},0.5,{val},1.0,64,2,0.1")
    log = read_log("\n".join(rows).encode(), "run.csv")
    assert log.convention == "rows"
    assert log.rows("val_loss").row.iloc[0] == 9  # computed after row 9
    new, _ = plateau_from_log(log, apply_preset("cosine", DESIGN))
    assert new.plateau.eval_every == 10


def test_json_lines_and_wandb_names(curve) -> None:
    lines = [
        json.dumps({"_step": k, "train/learning_rate": float(curve.lr.iloc[k]), "train/loss": 0.1})
        for k in range(10)
    ]
    log = read_log("\n".join(lines).encode(), "wandb.jsonl")
    assert log.columns["lr"] == "train/learning_rate" and log.columns["loss"] == "train/loss"


def test_forgiving_column_names() -> None:
    found = match_columns(["Global Step", "Learning Rate", "Train Loss", "eval/loss"])
    assert found == {
        "step": "Global Step",
        "lr": "Learning Rate",
        "loss": "Train Loss",
        "val_loss": "eval/loss",
    }
    assert match_columns(["step", "lr-SGD/pg1"])["lr"] == "lr-SGD/pg1"
    assert match_columns(["step", "validation/top1_loss"]).get("val_loss") == "validation/top1_loss"


def test_irregular_evaluations_are_reported(cfg) -> None:
    csv = "step,val_loss\n10,1.0\n20,0.9\n35,0.8\n"
    log = read_log(csv.encode(), "val.csv")
    new, notes = plateau_from_log(log, cfg)
    assert new.plateau.eval_every in (10, 12, 15) or isinstance(new.plateau.eval_every, int)
    assert any("not every" in n for n in notes)


def test_plateau_keeps_the_designs_plateau_settings() -> None:
    cfg = apply_preset("reduce_lr_on_plateau", DESIGN)
    log = read_log(b"step,eval_loss\n5,2.0\n10,1.0\n15,1.0\n", "x.csv")
    new, notes = plateau_from_log(log, cfg)
    assert new.plateau.patience == cfg.plateau.patience and new.plateau.eval_every == 5
    assert new.plateau.metric.values == [2.0, 1.0, 1.0] and new.plateau.metric.synthetic is None
    assert any("later evaluations get none" in n for n in notes)


def test_overlay_frame_aligns_rows(curve) -> None:
    log = read_log(b"step,lr,loss\n0,0.0,2\n5,1e-4,1\n500,1e-4,1\n", "x.csv")
    frame = overlay_frame(log, curve)
    lr = frame[frame.kind == "lr"]
    assert lr.design_lr.iloc[0] == curve.lr.iloc[0] and np.isnan(
        lr.design_lr.iloc[2]
    )  # past the design's end


@pytest.mark.parametrize(
    ("data", "name", "match"),
    [
        (b"", "x.csv", "x.csv: is empty"),
        (b"a,b\n1,2\n", "x.csv", "needs a step column and at least one of lr, loss, val_loss"),
        (b"step,lr\n", "x.csv", "has a header but no rows"),
        (b"step,lr\n1,abc\n", "x.csv", "no numeric lr, loss or validation-loss values"),
        (b'{"foo": 1}', "x.json", "must be HF's trainer_state.json"),
        (b"[1, 2]", "x.json", "must hold a list of records"),
        (b"\x00\x01garbage" * 10, "events.out.tfevents.1", "events.out.tfevents.1"),
    ],
)
def test_messages_name_the_file_and_problem(data: bytes, name: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        read_log(data, name)


def test_size_limit() -> None:
    with pytest.raises(ConfigError, match="must be at most 16 MB"):
        read_log(b"0" * (MAX_LOG_BYTES + 1), "big.csv")


def test_no_validation_loss_for_the_plateau(cfg) -> None:
    log = read_log(b"step,lr\n0,1e-4\n", "x.csv")
    with pytest.raises(ConfigError, match="has no validation-loss values"):
        plateau_from_log(log, cfg)


def test_design_from_log_is_loadable(cfg, curve) -> None:
    log = read_log(hf_state(curve), "trainer_state.json")
    new, _ = plateau_from_log(log, cfg)
    assert load_config(json.loads(new.to_json())) == new


# -- the Run logs page, driven through the real app ---------------------------------------------------

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def logs_page(design):
    from streamlit.testing.v1 import AppTest

    from app import state

    at = AppTest.from_file(MAIN, default_timeout=90)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    at.switch_page("views/logs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_overlays_a_log_and_uses_its_validation_loss(cfg, curve) -> None:
    from figure_json import spec_of, xy

    from app import state

    at = logs_page(cfg)
    assert "No log yet" in at.info[0].value
    at.file_uploader(key="logs_upload").set_value(
        ("trainer_state.json", hf_state(curve), "application/json")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    spec = spec_of(at.get("plotly_chart")[0])
    assert [t["name"] for t in spec["data"]] == ["design lr", "logged lr", "training loss", "validation loss"]
    x, y = xy(spec, "validation loss")
    assert x.tolist() == [31, 63, 95]  # logged after 32, 64, 96 completed steps: rows 31, 63, 95
    assert at.metric[0].value == "matches"
    at.button(key="logs_use_val_loss").click().run()
    assert not at.exception
    design = load_config(at.session_state[state.DESIGN_JSON])
    assert design.plateau.eval_every == "epoch"
    assert design.plateau.metric.values == pytest.approx([1.68, 1.36, 1.0])
    assert any("now uses this run's validation loss" in w.value for w in at.warning)


def test_page_reads_a_tensorboard_file(cfg, curve, tmp_path) -> None:
    path = tensorboard_file(curve, tmp_path)
    at = logs_page(cfg)
    at.file_uploader(key="logs_upload").set_value(
        (path.name, path.read_bytes(), "application/octet-stream")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "tensorboard" in at.markdown[0].value or any("tensorboard" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2  # the log over the design, then Diagnose


def test_page_explains_an_unreadable_file(cfg) -> None:
    at = logs_page(cfg)
    at.file_uploader(key="logs_upload").set_value(("notes.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert not at.exception
    assert "notes.csv could not be read" in at.error[0].value
    assert "needs a step column" in at.error[0].value
