"""A design is validated, checked buildable and planned once per Designer rerun (``app/configs.py``).

The page, the link in the URL, the curve cache and the stack all ask for the current design's config
by its JSON text; before ``app.configs`` each of them validated the text again (four buildability
checks and four plans per change).  Counted with a profiler hook on every thread while the real app
runs in AppTest.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from pathlib import Path

from designer_app import open_sections
from streamlit.testing.v1 import AppTest

from app import configs, state
from schedules import load_config

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
COUNTED = ("make_plan", "check_buildable", "model_validate")
DESIGN = {
    "optimizer": {"name": "AdamW", "lr": 3e-4},
    "training": {"max_steps": 1000},
    "warmup": {"steps": 10},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def calls_during(fn) -> Counter:
    seen: Counter = Counter()

    def hook(frame, event, arg):
        if event == "call" and frame.f_code.co_name in COUNTED:
            seen[frame.f_code.co_name] += 1

    sys.setprofile(hook)
    threading.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return seen


def test_one_designer_change_validates_and_plans_the_design_once() -> None:
    at = AppTest.from_file(MAIN, default_timeout=120)
    open_sections(at, "warmup")
    at.session_state[state.DESIGN_JSON] = load_config(DESIGN).to_json()
    at.run()
    assert not at.exception
    w = at.number_input(key="w.warmup.steps")
    seen = calls_during(lambda: w.set_value(11).run())
    assert not at.exception
    assert load_config(at.session_state[state.DESIGN_JSON]).warmup.steps == 11
    # The widgets' config is the one validation; the page, the URL, the curve and the summary reuse it.
    assert seen["check_buildable"] == 1, seen
    assert seen["make_plan"] == 1, seen


def test_config_of_keeps_a_bounded_number_of_designs_and_not_refusals() -> None:
    texts = [
        load_config({**DESIGN, "warmup": {"steps": i + 1}}).to_json()
        for i in range(configs.CONFIG_ENTRIES + 5)
    ]
    first = configs.config_of(texts[0])
    assert configs.config_of(texts[0]) is first  # the same object: validated once
    for text in texts:
        configs.config_of(text)
    assert len(configs._CONFIGS) == configs.CONFIG_ENTRIES
    assert texts[0] not in configs._CONFIGS  # the oldest went first
    cfg = load_config(DESIGN)
    assert configs.config_of(configs.key_of(cfg)) is cfg
    try:
        configs.config_of('{"optimizer": {"name": "AdamW", "lr": -1}}')
    except Exception as exc:  # ConfigError names the field
        assert "optimizer.lr" in str(exc)
    else:
        raise AssertionError("a bad design was accepted")
    assert '{"optimizer": {"name": "AdamW", "lr": -1}}' not in configs._CONFIGS
