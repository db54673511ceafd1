"""A new user's first clicks in a real browser: the /designer deep link, and a wrong file in the
Designer's config uploader (a PNG) gets the app's message, not Streamlit's bare refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schedules import load_config
from schedules.presets import apply_preset
from schedules.share import encode_design

pytestmark = pytest.mark.browser


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def test_the_designer_answers_on_slash_designer(open_app, wait_for_app) -> None:
    page = open_app("/designer")
    wait_for_app(page)
    no_exception(page)
    assert page.get_by_text("Page not found").count() == 0
    page.get_by_role("heading", name="cosine with warmup").wait_for()
    page.get_by_text("Total steps").first.wait_for()

    token = encode_design(load_config(apply_preset("one_cycle")))
    page = open_app(f"/designer?design={token}")
    wait_for_app(page)
    no_exception(page)
    assert page.get_by_text("Page not found").count() == 0
    page.get_by_role("heading", name="One-cycle").wait_for()


def test_a_png_in_the_config_uploader_says_what_is_accepted(open_app, wait_for_app, tmp_path: Path) -> None:
    page = open_app("/")
    page.get_by_text("Import, share & save").click(timeout=90_000)  # generous: a loaded machine
    wait_for_app(page)
    instructions = page.locator('[data-testid="stFileUploaderDropzoneInstructions"]').first.inner_text()
    assert re.search(r"\b1 ?MB per file", instructions), instructions  # the config cap, not 16MB
    png = tmp_path / "curve.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(png))
    wait_for_app(page)
    no_exception(page)
    page.get_by_text("curve.png was not loaded; the current design is unchanged.").wait_for()
    assert page.get_by_text("only lr-schedule/v1 JSON configs are imported here").count() >= 1
    assert page.get_by_text("files are not allowed").count() == 0
