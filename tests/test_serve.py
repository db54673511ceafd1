"""``python -m app.serve`` (what ``make run`` starts): the first chart's work is done before the first
visit. The browser tests' server fixture starts the app this way, so the hand-over to ``streamlit run``
is exercised by every browser test."""

import subprocess
import sys
from pathlib import Path

import pytest

from app import serve, state, ui

#: Real processes or a real library end to end: left out of `make test-fast`.
pytestmark = pytest.mark.real

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
        "import gc, sys; from app import serve; serve.warm(); "
        "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count(); "  # frozen before serving
        "print(sorted({'transformers', 'tensorboard', 'matplotlib', 'accelerate'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


GC_CHECK = """
import gc, sys, weakref
from streamlit.testing.v1 import AppTest

# The app's own entry point, as Streamlit runs it: the page run ends with the freeze.
at = AppTest.from_file("app/main.py", default_timeout=300)
at.run()
assert not at.exception, at.exception
frozen = gc.get_freeze_count()
walked = len(gc.get_objects())  # what Streamlit's gc.collect(2) after every run walks
print("frozen", frozen, "walked", walked)
assert frozen > 100_000 and walked < frozen // 10, (frozen, walked)

# Forecast imports its own modules and ends with st.stop() before a fit: frozen all the same.
modules = len(sys.modules)
at.switch_page("views/forecast.py").run()
assert not at.exception, at.exception
assert len(sys.modules) > modules, "the Forecast page imported nothing new: pick another page"
assert len(gc.get_objects()) < gc.get_freeze_count() // 10, (gc.get_freeze_count(), len(gc.get_objects()))

from app import gc_policy
assert gc_policy.freeze_long_lived() is False  # nothing imported since: no second full collection

class Node:
    pass

gc.disable()  # no automatic collection in between: only freeze_long_lived can free it
node = Node()
node.cycle = node
ref = weakref.ref(node)
del node  # cyclic garbage made since the last freeze: collected, never frozen
import types
sys.modules["_lazy_page"] = types.ModuleType("_lazy_page")  # a page's lazy import: freeze again
before = gc.get_freeze_count()
assert gc_policy.freeze_long_lived() is True
assert ref() is None and gc.get_freeze_count() > before
gc.enable()
print("ok")
"""


def test_long_lived_objects_are_frozen_so_the_collection_after_each_run_is_small() -> None:
    # Streamlit runs gc.collect(2) after every script run; with torch, pandas and plotly loaded it
    # walked ~400,000 objects (0.3-0.4 s holding the GIL) on every rerun.  A fresh interpreter, since
    # gc.freeze is process-wide.
    out = subprocess.run(
        [sys.executable, "-c", GC_CHECK], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr[-3000:]
