"""The Compare page's batch-size assistant driven through the real app with AppTest (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from designer_app import open_sections
from figure_json import spec_of, y_at
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

#: SGD lr 0.1, 64 samples in micro-batches of 4, 1 epoch (16 steps); warmup 8 steps from 0.
SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 64, "micro_batch_size": 4, "epochs": 1},
    "warmup": {"steps": 8},
}


def compare_page(design: dict = SMALL) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_assistant_proposes_linear_rule_for_sgd_on_a_samples_axis() -> None:
    at = compare_page()
    at.toggle(key="compare_rescale_on").set_value(True).run()
    assert at.number_input(key="compare_rescale_a").value == 1  # starts from the design's own batch
    at.number_input(key="compare_rescale_a").set_value(4).run()
    assert not at.exception, [e.value for e in at.exception]
    m = metrics(at)
    assert m["Effective batch"] == "16" and m["Peak lr"] == "4.000e-01"  # linear: 0.1 x 4
    assert m["Warmup steps"] == "2" and m["Warmup ends after"] == "32 samples"
    captions = " ".join(c.value for c in at.caption)
    assert "Goyal et al. 2017" in captions and "Limits:" in captions
    spec = spec_of(at.get("plotly_chart")[0])
    name = "Current design · batch 16 (linear rule)"
    # On the samples axis both warmups end at 32 samples: old row 8 (36 samples) and new row 2 (48).
    assert y_at(spec, "Current design", 32) == pytest.approx(0.1 * 7 / 8)
    assert y_at(spec, name, 48) == pytest.approx(0.4)
    assert y_at(spec, name, 32) == pytest.approx(0.2)  # new row 1: half-way, as the old row 7 is 7/8

    at.selectbox(key="compare_rescale_rule").set_value("sqrt").run()
    assert metrics(at)["Peak lr"] == "2.000e-01"  # sqrt(4) x 0.1
    assert "Malladi et al. 2022" in " ".join(c.value for c in at.caption)


def test_assistant_bad_value_is_a_message() -> None:
    at = compare_page({**SMALL, "optimizer": {"name": "SGD", "lr": 5.0}})
    at.toggle(key="compare_rescale_on").set_value(True).run()
    at.number_input(key="compare_rescale_b").set_value(64).run()  # x16 -> lr 80 > 10
    assert not at.exception
    assert any("optimizer.lr" in w.value for w in at.warning), [w.value for w in at.warning]


def test_assistant_world_size() -> None:
    """World size 4 x accumulation 2 on the design's batch 4: kappa 8, the linear rule for SGD gives
    0.8, and the 8-step warmup (32 samples) becomes 1 step of 32 samples."""
    at = compare_page()
    at.toggle(key="compare_rescale_on").set_value(True).run()
    assert at.number_input(key="compare_rescale_w").value == 1
    at.number_input(key="compare_rescale_w").set_value(4).run()
    at.number_input(key="compare_rescale_a").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    m = metrics(at)
    assert m["Effective batch"] == "32" and m["Peak lr"] == "8.000e-01"
    assert m["Warmup steps"] == "1" and m["Warmup ends after"] == "32 samples"  # 8 x 4 samples kept


def test_assistant_design_choice_starts_from_that_designs_batch() -> None:
    """The Design box: an accumulation variant of the design (A=4, micro-batch 1, same batch 4) puts
    its own split in the inputs; micro-batch 2 then doubles the batch (8): lr 0.2 by the linear rule."""
    at = compare_page()
    at.multiselect(key="compare_accumulations").set_value([4]).run()
    at.toggle(key="compare_rescale_on").set_value(True).run()
    variant = "Current design · A=4 (b=1)"
    assert variant in at.selectbox(key="compare_rescale_design").options
    at.selectbox(key="compare_rescale_design").set_value(variant).run()
    assert not at.exception, [e.value for e in at.exception]
    assert (
        at.number_input(key="compare_rescale_b").value,
        at.number_input(key="compare_rescale_a").value,
    ) == (1, 4)
    at.number_input(key="compare_rescale_b").set_value(2).run()
    m = metrics(at)
    assert m["Effective batch"] == "8" and m["Peak lr"] == "2.000e-01"
    assert m["Warmup steps"] == "4" and m["Warmup ends after"] == "32 samples"


#: AdamW 1e-3, wd 0.1, betas (0.9, 0.95): 6,400 samples in micro-batches of 16 x 2 = 32, warmup 20 steps.
ADAMW = {
    "name": "adamw run",
    "optimizer": {"name": "AdamW", "lr": 1e-3, "kwargs": {"betas": [0.9, 0.95], "weight_decay": 0.1}},
    "training": {"dataset_size": 6400, "micro_batch_size": 16, "accumulation_steps": 2, "epochs": 1},
    "warmup": {"steps": 20},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def test_calculator_puts_every_rule_side_by_side_and_opens_each() -> None:
    """Batch 32 -> 128 (accumulation 8): kappa 4.  By hand: linear lr 4e-3; square root 2e-3 with betas
    (1 - 4 x 0.1, 1 - 4 x 0.05) = (0.6, 0.8) and eps 1e-8 / 2; EMA 0.999 ** 4 = 0.996005996; timescale
    wd 0.1 x 4 x 1e-3 / 2e-3 = 0.2.  Warmup 20 steps (640 samples) -> 5 steps under every rule."""
    at = compare_page(ADAMW)
    at.toggle(key="compare_rescale_on").set_value(True).run()
    at.number_input(key="compare_rescale_a").set_value(8).run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "quantity" in d.value.columns).set_index("quantity")
    assert table.loc["peak lr", "Linear scaling rule (SGD)"] == "0.001 -> 0.004"
    sqrt = "Square-root scaling rule, SDE form (Adam family)"
    assert table.loc["peak lr", sqrt] == "0.001 -> 0.002"
    assert (
        table.loc["optimizer kwargs changed", sqrt] == "betas [0.9, 0.95] -> [0.6, 0.8]; eps 1e-08 -> 5e-09"
    )
    assert table.loc["model EMA momentum", "EMA scaling rule (model EMA momentum)"] == "0.999 -> 0.996006"
    assert (
        "weight_decay 0.1 -> 0.2" in table.loc["optimizer kwargs changed", "AdamW timescale kept in epochs"]
    )
    assert set(table.loc["warmup steps"]) == {"20 -> 5"}
    # AdamW's timescale at the peak, in epochs: 1 / (1e-3 x 0.1) = 10,000 steps x 32 / 6,400 = 50 before;
    # linear 1 / (4e-3 x 0.1) x 128 / 6,400 = 50 (kept), square root (and EMA, which uses it)
    # 1 / (2e-3 x 0.1) x 128 / 6,400 = 100 (doubled), timescale 1 / (2e-3 x 0.2) x 128 / 6,400 = 50
    tau = table.loc["AdamW timescale at the peak (epochs)"]
    assert tau["Linear scaling rule (SGD)"] == "50 -> 50"
    assert tau[sqrt] == tau["EMA scaling rule (model EMA momentum)"] == "50 -> 100"
    assert tau["AdamW timescale kept in epochs"] == "50 -> 50"
    assert any(c.value.startswith("AdamW's timescale tau") for c in at.caption)
    tau = spec_of(next(c for c in at.get("plotly_chart") if "timescale" in str(spec_of(c)["layout"])))
    assert len(tau["data"]) == 2
    # every rule's design: Save, then Open (the Designer shows it, and says where it came from)
    at.button(key="compare_rescale_timescale_save").click().run()
    assert not at.exception
    name = "adamw run (batch 128, timescale rule)"
    assert name in at.session_state[state.SAVED_DESIGNS]
    at.button(key="compare_rescale_timescale_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    opened = load_config(at.session_state[state.DESIGN_JSON])
    assert opened.name == name and opened.optimizer.kwargs["weight_decay"] == pytest.approx(0.2)
    assert opened.training.accumulation_steps == 8 and opened.warmup.steps == 5
    assert at.title[0].value == name
    assert any("scale-up calculator" in s.value for s in at.success)


def test_calculator_says_which_rules_do_not_apply() -> None:
    """SGD: the timescale rule is AdamW's; its tab says so instead of a design."""
    at = compare_page()
    at.toggle(key="compare_rescale_on").set_value(True).run()
    at.number_input(key="compare_rescale_a").set_value(4).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "quantity" in d.value.columns).set_index("quantity")
    assert table.loc["peak lr", "AdamW timescale kept in epochs"].startswith(
        "does not apply: optimizer.name: must be AdamW for the timescale rule"
    )
    assert any("The timescale rule does not apply" in i.value for i in at.info)
    keys = {b.key for b in at.button}
    assert "compare_rescale_linear_open" in keys and "compare_rescale_timescale_open" not in keys
