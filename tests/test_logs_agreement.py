"""Run logs: the lr agreement (absolute and peak-relative error, a one-step shift named) and a
multi-run CSV from the Live run (one run per setting), in the library and on the page (AppTest)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config, lr_curve
from schedules.design import ConfigError
from schedules.logs import agreement_figure, log_settings, lr_agreement, read_log
from schedules.presets import apply_preset
from schedules.train.runs import live_run_for
from schedules.train.settings import comparison_settings

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
DESIGN = {"training": {"dataset_size": 2000, "micro_batch_size": 32, "accumulation_steps": 2, "epochs": 3}}
AHEAD = "your log is one step ahead: scheduler.step() before optimizer.step(), or a logger that records the next lr"


@pytest.fixture(scope="module")
def cfg():
    return apply_preset("cosine", DESIGN)  # warmup from 0: row 0 has lr 0


@pytest.fixture(scope="module")
def curve(cfg):
    return lr_curve(cfg)


def shifted_csv(curve, shift: int) -> bytes:
    """A log whose lr at step k is the design's row k + shift (HF convention: step = row)."""
    lr = curve["lr"].to_numpy()
    rows = ["step,lr,loss"]
    for k in range(max(0, -shift), len(lr) - max(0, shift)):
        rows.append(f"{k},{float(lr[k + shift])!r},{1 / (k + 1)!r}")
    return ("\n".join(rows) + "\n").encode()


def test_a_log_one_step_ahead_is_named_and_its_error_is_finite(curve) -> None:
    lr = curve["lr"].to_numpy()
    assert lr[0] == 0.0  # a relative error per row would divide by 0 here
    agreement = lr_agreement(read_log(shifted_csv(curve, 1), "run.csv"), curve)
    expected_abs = float(np.max(np.abs(lr[1:] - lr[:-1])))
    assert agreement["max_abs"] == expected_abs
    assert agreement["peak"] == float(lr.max())
    assert agreement["max_peak_rel"] == expected_abs / float(lr.max())
    assert not agreement["matches"] and agreement["shift"] == 1 and agreement["message"] == AHEAD
    behind = lr_agreement(read_log(shifted_csv(curve, -1), "run.csv"), curve)
    assert behind["shift"] == -1 and behind["message"].startswith("your log is one step behind")
    exact = lr_agreement(read_log(shifted_csv(curve, 0), "run.csv"), curve)
    assert exact["matches"] and exact["max_abs"] == 0.0 and exact["shift"] == 0 and exact["message"] == ""


def logs_page(design) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=90)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    at.switch_page("views/logs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_names_the_one_step_shift_instead_of_a_huge_percentage(cfg, curve) -> None:
    at = logs_page(cfg)
    at.file_uploader(key="logs_upload").set_value(("run.csv", shifted_csv(curve, 1), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric[0].value == "one step ahead"
    assert any(w.value == AHEAD[0].upper() + AHEAD[1:] + "." for w in at.warning)
    lr = curve["lr"].to_numpy()
    peak_rel = float(np.max(np.abs(lr[1:] - lr[:-1]))) / float(lr.max())
    assert f"{peak_rel:.2%} of the design's peak lr" in at.metric[0].help


def test_matches_shows_its_error_figure(cfg, curve) -> None:
    """'matches' says how close: the largest difference and its share of the peak lr, under the verdict."""
    at = logs_page(cfg)
    at.file_uploader(key="logs_upload").set_value(("run.csv", shifted_csv(curve, 0), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    [metric] = at.metric
    assert metric.value == "matches"
    assert (
        metric.delta == f"largest difference 0 (0 of the peak lr; match: <= 1e-06) over {len(curve):,} steps"
    )
    at.file_uploader(key="logs_upload").set_value(("run.csv", shifted_csv(curve, 1), "text/csv")).run()
    lr = curve["lr"].to_numpy()
    worst = float(np.max(np.abs(lr[1:] - lr[:-1])))
    assert at.metric[0].delta == (
        f"largest difference {worst:.2g} ({worst / lr.max():.2%} of the peak lr; match: <= 1e-06) over "
        f"{len(curve) - 1:,} steps"
    )


def test_agreement_figure_text() -> None:
    tiny = {"max_abs": 2.2e-11, "max_peak_rel": 7.3e-8, "rows": 1173}
    assert agreement_figure(tiny) == (
        "largest difference 2.2e-11 (7.3e-08 of the peak lr; match: <= 1e-06) over 1,173 steps"
    )
    big = {"max_abs": 3.7e-6, "max_peak_rel": 0.0123, "rows": 20}
    assert (
        agreement_figure(big)
        == "largest difference 3.7e-06 (1.23% of the peak lr; match: <= 1e-06) over 20 steps"
    )


@pytest.fixture(scope="module")
def live_csv() -> tuple[bytes, dict[str, int]]:
    """A real Live run CSV: three settings, 30 steps each, one file."""
    design = load_config(
        {
            "optimizer": {"name": "SGD", "lr": 0.1},
            "training": {"dataset_size": 3200, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 1},
            "warmup": {"steps": 10},
            "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {}},
        }
    )
    settings, _ = comparison_settings(design, same_batch_other_split=True, per_micro_batch_bug=True)
    run = live_run_for(settings, device="cpu", max_steps=30, slots=threading.BoundedSemaphore(1))
    assert run.start() and run.join(120)
    frame = run.frame()
    counts = frame.groupby("setting", sort=False).size().to_dict()
    return frame.to_csv(index=False).encode(), counts


def test_a_multi_setting_csv_is_refused_without_a_setting_and_read_per_setting(live_csv) -> None:
    data, counts = live_csv
    labels = ["16x4 design", "64x1 same batch", "16x4 bug: sched per micro-batch"]
    assert counts == dict.fromkeys(labels, 30)
    assert log_settings(data, "live-run.csv") == labels
    with pytest.raises(ConfigError) as err:
        read_log(data, "live-run.csv")
    assert str(err.value) == (
        "live-run.csv: holds 3 runs, one per value of its 'setting' column (a Live run CSV): choose one of "
        "16x4 design, 64x1 same batch, 16x4 bug: sched per micro-batch"
    )
    for label in labels:
        log = read_log(data, "live-run.csv", setting=label)
        assert log.series["lr"]["step"].tolist() == list(range(30))
        assert log.convention == "rows"
    with pytest.raises(ConfigError, match=r"live-run.csv: setting: must be one of 16x4 design"):
        read_log(data, "live-run.csv", setting="nope")
    assert log_settings(b"step,lr\n0,0.1\n", "run.csv") == []


def test_page_offers_one_run_per_setting(live_csv) -> None:
    from figure_json import spec_of, xy

    data, _ = live_csv
    at = logs_page(DESIGN)
    at.file_uploader(key="logs_upload").set_value(("live-run.csv", data, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.selectbox(key="logs_setting")
    assert box.options == ["16x4 design", "64x1 same batch", "16x4 bug: sched per micro-batch"]
    x, _ = xy(spec_of(at.get("plotly_chart")[0]), "logged lr")
    assert len(x) == 30  # one setting's 30 rows, not 90 collapsed onto 30 steps
    box.set_value("16x4 bug: sched per micro-batch").run()
    assert not at.exception
    assert any("setting '16x4 bug: sched per micro-batch' (3 of 3" in c.value for c in at.caption)
