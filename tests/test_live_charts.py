"""The Live page's figures, drawn from plain DataFrames without a Streamlit server (app/live_charts.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from app import live_charts
from schedules.train.range_test import Suggestion


def frame(n: int, scale: float = 1.0) -> pd.DataFrame:
    step = np.arange(n)
    return pd.DataFrame(
        {
            "step": step,
            "loss": scale * np.exp(-step / 500) + 0.01 * np.sin(step),
            "lr": 0.1 * np.minimum(1, (step + 1) / 50),
            "val_loss": np.where(step % 500 == 499, 0.5, np.nan),
            "wall_time": (step + 1) / 100.0,
        }
    )


def test_no_streamlit_import() -> None:
    source = Path(live_charts.__file__).read_text()
    assert "import streamlit" not in source and "from streamlit" not in source


def test_run_figures_one_colour_per_setting_and_thinned() -> None:
    frames = {"design": frame(5000), "bug": frame(5000, 2.0), "empty": frame(0)}
    loss, lr, loss_lr = live_charts.run_figures(frames, points=400)
    names = [t.name for t in loss.data]
    assert names == ["design (raw)", "design", "design (val)", "bug (raw)", "bug", "bug (val)"]
    assert all(len(t.x) <= 400 for t in loss.data + lr.data + loss_lr.data)
    assert [t.line.color for t in lr.data] == live_charts.COLORS[:2]
    assert loss_lr.layout.xaxis.type == "log" and loss.layout.title.text.startswith("Training loss")


def test_noise_and_schedule_free_figures_only_when_recorded() -> None:
    assert live_charts.noise_figure({"design": frame(100)}) is None
    assert live_charts.schedule_free_figure({"design": frame(100)}) is None
    f = frame(100).assign(noise_scale=64.0, window_samples=32, sf_averaging=1 / (np.arange(100) + 1))
    fig, sentence = live_charts.noise_figure({"design": f})
    assert [t.name for t in fig.data] == ["design"] and sentence.startswith("design: ")
    sf = live_charts.schedule_free_figure({"design": f})
    assert [t.name for t in sf.data] == ["design: step size", "design: averaging weight c_k"]


def test_range_figure_and_suggestions_table() -> None:
    lr = np.geomspace(1e-5, 10, 100)
    sweep = pd.DataFrame({"lr": lr, "loss": 2 - np.log10(lr) / 10, "smoothed": 2 - np.log10(lr) / 10})
    valley = Suggestion("valley", 1e-2, 50, 2.2, "the middle of the longest descent")
    fig = live_charts.range_figure(sweep, {"valley": valley})
    assert [t.name for t in fig.data] == ["loss", "smoothed", "valley: 0.01"]
    table = live_charts.suggestions_table({"valley": valley})
    assert table.to_dict("records") == [
        {"rule": "valley", "lr": "0.01", "at step": 50, "how": "the middle of the longest descent"}
    ]
