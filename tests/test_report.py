"""``python -m schedules plot``: a valid PNG of a sensible size, a self-contained HTML page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from schedules import compute_curve
from schedules.cli import main
from schedules.presets import apply_preset
from schedules.report import plotly_figure, x_values

DESIGN = {"training": {"dataset_size": 4000, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 3}}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "design.json"
    path.write_text(apply_preset("cosine", DESIGN).to_json())
    return path


def test_png(config_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "figs" / "curve.png"
    assert main(["plot", str(config_file), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1600, 900)
        pixels = np.asarray(image.convert("L"))
    # not blank: a drawn curve and text leave many dark pixels on the white background
    assert (pixels < 128).mean() > 0.005 and (pixels > 250).mean() > 0.5


def test_png_options(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.png"
    args = [
        "plot",
        str(config_file),
        "-o",
        str(out),
        "--x",
        "samples",
        "--log",
        "--dpi",
        "100",
        "--mistake",
        "per_micro_batch",
    ]
    assert main(args) == 0
    with Image.open(out) as image:
        assert image.size == (800, 450)


def test_html_is_self_contained(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "curve.html"
    assert main(["plot", str(config_file), "-o", str(out), "--x", "epoch"]) == 0
    text = out.read_text()
    assert text.lstrip().lower().startswith("<html") or "<!doctype html" in text[:200].lower()
    assert "<script src=" not in text  # plotly.js is embedded, nothing is fetched
    assert "Plotly.newPlot" in text and len(text) > 3_000_000
    assert "Cosine with warmup" in text


def test_figure_content() -> None:
    cfg = apply_preset("warmup_stable_decay", DESIGN)
    curve = compute_curve(cfg)
    fig = plotly_figure(curve, "epoch", log_y=True, mistake="before_optimizer_step")
    spec = json.loads(fig.to_json())
    assert [t["name"] for t in spec["data"]] == ["lr", "scheduler stepped before optimizer.step()"]
    np.testing.assert_allclose(
        spec["data"][0]["y"] if isinstance(spec["data"][0]["y"], list) else fig.data[0].y, curve.lrs[:, 0]
    )
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert {a["text"] for a in spec["layout"]["annotations"]} >= {"warmup end", "decay start"}
    assert x_values(curve, "epoch")[-1] == pytest.approx(
        (curve.plan.total_steps - 1) / curve.plan.steps_per_epoch
    )


def test_groups_are_separate_lines(tmp_path: Path) -> None:
    cfg = apply_preset("cosine", DESIGN).to_dict()
    cfg["optimizer"]["param_groups"] = [{"name": "body", "lr_scale": 0.1}, {"name": "head", "lr_scale": 1.0}]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(cfg))
    fig = plotly_figure(compute_curve(cfg))
    assert [t.name for t in fig.data] == ["lr/body", "lr/head"]
    assert main(["plot", str(path), "-o", str(tmp_path / "g.png")]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "x.svg"], "-o/--output: must end in .html or .png"),
        (["-o", "x.png", "--mistake", "nope"], "--mistake: must be one of"),
        (["-o", "x.png", "--dpi", "5"], "--dpi: must be an integer in [50, 600]"),
    ],
)
def test_bad_arguments_exit_2(config_file: Path, tmp_path: Path, capsys, extra, message) -> None:
    extra = [str(tmp_path / e) if e.startswith("x.") else e for e in extra]
    assert main(["plot", str(config_file), *extra]) == 2
    assert message in capsys.readouterr().err


def test_invalid_config_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"training": {"accumulation_steps": 0}}')
    assert main(["plot", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "training.accumulation_steps" in capsys.readouterr().err


# -- the Python API page's examples (docs/python-api.md) ------------------------------------------------

PYTHON_API = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def docs_block(marker: str) -> str:
    """The ```python block after ``marker`` in docs/python-api.md."""
    text = PYTHON_API.read_text()
    start = text.index(marker)
    code = text.index("```python\n", start) + len("```python\n")
    return text[code : text.index("```", code)]


@pytest.mark.parametrize("preset", ["cosine", "warmup_stable_decay", "one_cycle"])
def test_python_api_training_loop_trains_on_the_designed_curve(
    preset: str, tmp_path: Path, monkeypatch
) -> None:
    design = apply_preset(
        preset,
        {"training": {"dataset_size": 1000, "micro_batch_size": 32, "accumulation_steps": 3, "epochs": 2}},
    )
    (tmp_path / "design.json").write_text(design.to_json())
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(
        compile(docs_block("<!-- example: training-loop -->"), "docs/python-api.md", "exec"), namespace
    )  # asserts inside
    assert len(namespace["lrs"]) == compute_curve(design).plan.total_steps == 22
