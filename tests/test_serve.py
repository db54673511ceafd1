"""``python -m app.serve`` (what ``make run`` starts): the first chart's work is done before the first
visit. The browser tests' server fixture starts the app this way, so the hand-over to ``streamlit run``
is exercised by every browser test."""

import subprocess
import sys
from pathlib import Path

from app import serve, state, ui

ROOT = Path(__file__).resolve().parents[1]


def test_warm_fills_the_curve_and_figure_caches(monkeypatch) -> None:
    ui.cached_curve.clear()
    ui._FIGURES.clear()
    serve.warm()
    computed = []
    real = ui.compute_curve
    monkeypatch.setattr(ui, "compute_curve", lambda cfg, **kw: computed.append(1) or real(cfg, **kw))
    curve = ui.cached_curve(state.default_config().cache_key())
    assert computed == []  # the default design's curve was computed by warm()
    assert len(ui._FIGURES) == 1
    fig = ui.cached_figure(curve, x_axis="step", log_y=False, show_groups=True, show_epochs=True)
    assert fig is next(iter(ui._FIGURES.values()))


def test_the_first_chart_imports_no_optional_library() -> None:
    # A fresh interpreter: transformers, tensorboard and matplotlib load only on the pages that use them.
    code = (
        "import sys; from app import serve; serve.warm(); "
        "print(sorted({'transformers', 'tensorboard', 'matplotlib', 'accelerate'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
