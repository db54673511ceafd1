"""The Designer's lazy sections: only open sections draw their widgets; a closed section's values live on
in the design, follow outside changes (preset, upload), and the open state survives a page switch."""

from __future__ import annotations

from pathlib import Path

from designer_app import open_sections, summary
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
K = state.key

#: 100 samples, micro-batch 10, 3 epochs: 30 optimizer steps; warmup 10 steps, then cosine.
SMALL = {
    "name": "small",
    "optimizer": {"name": "SGD", "lr": 1e-3},
    "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 3},
    "warmup": {"steps": 10},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def start(design: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    if design is not None:
        at.session_state[state.DESIGN_JSON] = load_config(design).to_json()
    at.run()
    no_exception(at)
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def design(at: AppTest):
    return load_config(at.session_state[state.DESIGN_JSON])


def keys(at: AppTest) -> set[str]:
    """The designer widget keys drawn in the last run."""
    widgets = [*at.number_input, *at.text_input, *at.selectbox, *at.toggle, *at.radio, *at.checkbox]
    return {w.key for w in widgets if w.key and w.key.startswith(state.W)}


def test_a_first_visit_draws_only_data_and_batching() -> None:
    at = start(SMALL)
    assert {e.label for e in at.expander} == {title for title, _, _ in state.DESIGNER_SECTIONS.values()}
    drawn = keys(at)
    assert drawn and all(k.startswith(K("training.")) for k in drawn), drawn
    assert K("training.epochs") in drawn and K("warmup.steps") not in drawn and K("optimizer.lr") not in drawn
    # the session state holds the drawn widgets only, not the ~200 values of the closed sections
    assert not any(k.startswith((K("decay."), K("optimizer."), K("plateau."))) for k in at.session_state)
    # yet the chart is the whole design's: warmup 10 steps, then the cosine
    assert design(at).warmup.steps == 10 and design(at).decay.scheduler == "CosineAnnealingLR"
    assert summary(at)["Total steps"] == "30"


def test_a_closed_section_keeps_its_values_and_shows_them_again() -> None:
    at = start(SMALL)
    open_sections(at, "warmup").run()
    at.number_input(key=K("warmup.steps")).set_value(6).run()
    assert design(at).warmup.steps == 6
    at.session_state[state.section_key("warmup")] = False
    at.run()
    assert K("warmup.steps") not in keys(at)
    at.number_input(key=K("training.epochs")).set_value(4).run()  # another section's change
    no_exception(at)
    assert design(at).warmup.steps == 6 and design(at).training.epochs == 4
    open_sections(at, "warmup").run()
    assert at.number_input(key=K("warmup.steps")).value == 6


def test_a_closed_section_follows_an_upload() -> None:
    at = start(SMALL)
    open_sections(at, "warmup").run()
    at.session_state[state.section_key("warmup")] = False
    at.run()
    new = {**SMALL, "warmup": {"steps": 3}, "name": "uploaded"}
    open_sections(at, "share").run()
    upload = (f"{new['name']}.json", load_config(new).to_json().encode(), "application/json")
    at.file_uploader(key=state.UPLOAD_KEY).set_value(upload).run()
    no_exception(at)
    assert design(at).warmup.steps == 3
    open_sections(at, "warmup").run()
    assert at.number_input(key=K("warmup.steps")).value == 3  # not the value it had when closed


def test_the_decay_section_restores_only_its_scheduler_arguments() -> None:
    at = start(SMALL)
    open_sections(at, "decay").run()
    assert at.selectbox(key=K("decay.scheduler")).value == "CosineAnnealingLR"
    restored = {k for k in at.session_state if k.startswith(K("decay.kwargs."))}
    assert restored and all(k.startswith(K("decay.kwargs.CosineAnnealingLR.")) for k in restored), restored
    at.selectbox(key=K("decay.scheduler")).set_value("LinearLR").run()
    no_exception(at)
    assert design(at).decay.scheduler == "LinearLR"
    assert {w.key for w in at.number_input if w.key.startswith(K("decay.kwargs."))} >= {
        state.decay_key("LinearLR", "start_factor")
    }


def test_a_preset_rename_works_with_the_name_field_closed() -> None:
    at = start()  # the default design is the cosine preset, named after it
    assert at.title[0].value == "cosine with warmup"
    assert K("name") not in keys(at)
    open_sections(at, "decay").run()
    at.selectbox(key=K("decay.scheduler")).set_value(state.DECAY_NONE).run()
    no_exception(at)
    assert at.title[0].value == "cosine with warmup (modified)"
    assert design(at).name == "cosine with warmup (modified)"
    open_sections(at, "optimizer").run()
    assert at.text_input(key=K("name")).value == "cosine with warmup (modified)"


def test_open_sections_survive_a_page_switch() -> None:
    at = start(SMALL)
    open_sections(at, "plateau").run()
    at.session_state[state.section_key("data")] = False
    at.run()
    at.switch_page("views/compare.py").run()
    no_exception(at)
    at.switch_page("views/designer/page.py").run()
    no_exception(at)
    drawn = keys(at)
    assert K("plateau.on") in drawn and K("training.epochs") not in drawn


def proto_defaults(at: AppTest) -> dict[str, object]:
    """What each drawn designer widget tells a browser that has no value of its own for it: its
    default (a number, a bool, an option index, a text)."""
    out: dict[str, object] = {}
    for w in [*at.number_input, *at.text_input]:
        if w.key and w.key.startswith(state.W):
            out[w.key] = w.proto.default if w.proto.HasField("default") else None
    for w in [*at.toggle, *at.checkbox]:
        if w.key and w.key.startswith(state.W):
            out[w.key] = w.proto.default
    for w in [*at.selectbox, *at.radio]:
        if w.key and w.key.startswith(state.W):
            index = w.proto.default if w.proto.HasField("default") else None
            out[w.key] = None if index is None else w.options[index]
    return out


def test_a_redrawn_widget_tells_the_browser_the_designs_value_not_its_minimum() -> None:
    """A browser forgets the value of a widget that a finished run did not draw; the server then
    sends no value for it, only its default. That default must be the design's value: with the
    widget's minimum, the browser showed Dataset size 1 and sent it back on the next click (the
    defect that failed test_browser_modern in CI)."""
    at = start(SMALL)
    at.run()  # the values are now the server's own (no session-state write this run)
    open_sections(at, "optimizer", "warmup", "decay", "plateau")
    at.run()
    defaults = proto_defaults(at)
    assert defaults[K("training.dataset_size")] == 100
    assert defaults[K("training.micro_batch_size")] == 10
    assert defaults[K("training.epochs")] == 3
    assert defaults[K("warmup.steps")] == 10
    assert defaults[K("optimizer.lr")] == 1e-3
    assert defaults[K("optimizer.name")] == "SGD"
    assert defaults[K("decay.scheduler")] == "CosineAnnealingLR"
    assert defaults[K("warmup.on")] is True
    # every drawn widget's default is the value it holds (the browser then agrees with the server)
    for k, default in defaults.items():
        held = at.session_state[k]
        assert default == held or (held in (None, "") and default in (None, "")), (k, default, held)
    # a changed value becomes the new default on the next run
    at.number_input(key=K("training.dataset_size")).set_value(250).run()
    assert proto_defaults(at)[K("training.dataset_size")] == 250
    assert design(at).training.dataset_size == 250
