"""What a new user ran into on the Designer and Compare pages, driven through the real app (AppTest):
the greyed Max steps follows the total, the plateau of the tutorial scenario cuts the lr and says why,
a changed preset is named as modified, uploads and share links say what went wrong, Compare's texts."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

from designer_app import open_sections, summary
from streamlit.testing.v1 import AppTest

from app import state
from schedules import compute_curve, load_config
from schedules.curve import plateau_note
from schedules.presets import PRESETS, apply_preset, name_for

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
K = state.key


def start(query: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=90)
    open_sections(at)
    if query is not None:
        at.query_params[state.QUERY_PARAM] = query
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def design(at: AppTest):
    return load_config(at.session_state[state.DESIGN_JSON])


def test_the_greyed_max_steps_follows_the_total_and_starts_from_it() -> None:
    at = start()  # 50,000 samples / 32 = 1,563 steps per epoch, 3 epochs
    assert at.number_input(key=K("training.max_steps")).value == 4689
    at.number_input(key=K("training.epochs")).set_value(10).run()
    assert summary(at)["Total steps"] == "15,630"
    assert at.number_input(key=K("training.max_steps")).value == 15630  # not the stale 4,689
    at.toggle(key=K("training.use_max_steps")).set_value(True).run()
    assert not at.exception
    assert design(at).training.max_steps == 15630 and summary(at)["Total steps"] == "15,630"


def tutorial(at: AppTest) -> AppTest:
    """The tutorial scenario: warmup 500, plateau factor 0.5, patience 3, threshold 1e-4, min_lr 1e-6,
    eps 1e-8, evaluated per epoch over 10 epochs, the default synthetic metric."""
    at.number_input(key=K("training.epochs")).set_value(10).run()
    at.radio(key=K("warmup.mode")).set_value("steps").run()
    at.number_input(key=K("warmup.steps")).set_value(500).run()
    at.toggle(key=K("plateau.on")).set_value(True).run()
    at.number_input(key=K("plateau.factor")).set_value(0.5)
    at.number_input(key=K("plateau.patience")).set_value(3)
    at.number_input(key=K("plateau.threshold")).set_value(1e-4)
    at.text_input(key=K("plateau.min_lr")).set_value("1e-6")
    at.number_input(key=K("plateau.eps")).set_value(1e-8)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_tutorial_plateau_cuts_the_lr_and_says_why() -> None:
    at = tutorial(start())
    cfg = design(at)
    assert cfg.plateau.patience == 3 and cfg.plateau.eval_every == "epoch"
    # synthetic loss 2.0, 1.761, 1.561, 1.392, then flat: best at evaluation 4 (index 3); four bad
    # evaluations (indices 4..7) exceed patience 3 at the end of epoch 8, step 8 * 1563 - 1 = 12503.
    curve = compute_curve(cfg)
    assert [e.index for e in curve.evaluations if e.reduced] == [7]
    assert [e.step for e in curve.events if e.kind == "plateau_reduction"] == [12504]
    note = (
        "1 reduction in 10 evaluations (from step 12504): each after 4 evaluations in a row not better than "
        "the best so far (1.392 before the first cut; threshold 0.0001 rel, mode min), more than patience 3."
    )
    assert plateau_note(curve) == note
    assert note in [c.value for c in at.caption]


def test_a_plateau_that_does_not_cut_says_why() -> None:
    cfg = load_config(
        {
            "training": {"dataset_size": 1000, "micro_batch_size": 100, "epochs": 10},
            "plateau": {"patience": 3, "metric": {"values": [5, 4, 3, 3, 3, 3, 2, 2, 2, 2]}},
        }
    )
    assert plateau_note(compute_curve(cfg)) == (
        "No reduction in 10 evaluations: the best so far is 2 (evaluation 7), and the longest run of "
        "evaluations not better than the best was 3; a cut needs 4 in a row (more than patience 3; "
        "threshold 0.0001 rel, mode min)."
    )


def test_a_changed_preset_is_named_modified() -> None:
    at = start()
    assert at.title[0].value == "cosine with warmup"
    at.selectbox(key=K("decay.scheduler")).set_value(state.DECAY_NONE).run()
    assert not at.exception
    assert at.title[0].value == "cosine with warmup (modified)"
    assert design(at).name == "cosine with warmup (modified)"
    assert at.text_input(key=K("name")).value == "cosine with warmup (modified)"
    at.selectbox(key=K("decay.scheduler")).set_value("CosineAnnealingLR").run()
    assert design(at).name == "cosine with warmup"  # the preset again
    for name in PRESETS:  # every preset, as applied, is itself
        cfg = apply_preset(name, {"training": {"dataset_size": 3000, "micro_batch_size": 32, "epochs": 4}})
        assert name_for(cfg) == cfg.name


def test_a_png_upload_says_what_files_are_accepted_and_the_cap_is_the_configs() -> None:
    at = start()
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.label == "Import a JSON config (up to 1 MB)"
    assert uploader.proto.max_upload_size_mb == 1  # not the server's 16 MB log limit
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    at.file_uploader(key=state.UPLOAD_KEY).set_value(("curve.png", png, "image/png")).run()
    assert not at.exception
    text = "\n".join(e.value for e in at.error)
    assert "curve.png was not loaded; the current design is unchanged." in text
    assert (
        "only lr-schedule/v1 JSON configs are imported here (.json files of at most 1,000,000 bytes" in text
    )
    assert design(at).name == "cosine with warmup"


def test_a_broken_share_link_names_the_link() -> None:
    token = base64.urlsafe_b64encode(zlib.compress(b'{"training": ')).decode().rstrip("=")
    at = start(query=token)
    warning = at.warning[0].value
    assert "could not be loaded" in warning
    assert "`design`: must be valid JSON" in warning and "(file)" not in warning


def test_compare_help_points_to_the_real_save_button_and_the_caption_follows_the_axis() -> None:
    at = start()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    help_text = at.multiselect(key="compare_designs").help
    assert "Designer (Import, share & save → Save)" in help_text and "Save for Compare" not in help_text
    assert "**samples seen**" in at.caption[0].value
    at.get("button_group")[0].set_value("step").run()
    assert not at.exception
    assert "one x axis, **optimizer steps**" in at.caption[0].value
    assert "one x axis, **samples seen**" not in at.caption[0].value


def test_plateau_default_metric_is_the_apps_not_the_models() -> None:
    # Config files keep the model's default (plateau_from 6) so old files load to the same curve.
    cfg = load_config({"plateau": {"metric": {"synthetic": {}}}})
    assert cfg.plateau.metric.synthetic.plateau_from == 6
    assert json.loads(state.DEFAULT_SYNTHETIC.model_dump_json())["plateau_from"] == 3


def test_every_uploader_states_the_limit_it_enforces() -> None:
    """Each page's uploader says "(up to N MB)" with the N its drop zone enforces; the run-log uploaders of
    Run logs and Forecast (the same files) the same N."""
    at = start()
    found: dict[str, tuple[str, int]] = {}
    for page in [
        "views/designer/page.py",
        "views/interop.py",
        "views/logs.py",
        "views/forecast.py",
        "views/library.py",
    ]:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        for uploader in at.get("file_uploader"):
            found[f"{page}:{uploader.proto.id}"] = (uploader.proto.label, uploader.proto.max_upload_size_mb)
    assert len(found) == 5, found
    for label, mb in found.values():
        assert mb >= 1 and label.endswith(f" (up to {mb} MB)"), (label, mb)
    limits = {page.split(":")[0]: mb for page, (_, mb) in found.items()}
    assert limits["views/logs.py"] == limits["views/forecast.py"] == 16  # schedules.logs.MAX_LOG_BYTES
    assert limits["views/designer/page.py"] == limits["views/interop.py"] == 1  # 1,000,000-byte JSON caps
