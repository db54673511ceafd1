"""Diagnose in a real browser: upload a real trace and its sidecar on Run logs, read the cause, its
evidence and its fix, Apply, land on the Designer with the trace's design.

Saves the docs/ screenshot (tests/artifacts/diagnose.png, copied to docs/diagnose.png).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_app_diagnose import DESIGN, traced
from test_browser_designer import no_exception

from schedules import load_config
from schedules.share import encode_design

pytestmark = pytest.mark.browser


def test_diagnose_a_trace_and_apply(open_app, wait_for_app, artifacts_dir: Path, tmp_path: Path) -> None:
    csv, meta = traced(tmp_path, per_micro_batch=True)
    trace_csv, sidecar = tmp_path / "trace.csv", tmp_path / "trace.meta.json"
    trace_csv.write_bytes(csv)
    sidecar.write_bytes(meta)
    page = open_app(f"/logs?design={encode_design(load_config(DESIGN))}")  # the trace's design is current
    page.set_viewport_size({"width": 1400, "height": 1250})
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(trace_csv))
    wait_for_app(page)
    no_exception(page)
    page.get_by_text("Diagnose", exact=True).wait_for()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(1).set_input_files(str(sidecar))
    wait_for_app(page)
    no_exception(page)
    page.get_by_text("Differs from the trace's own design").wait_for()
    page.get_by_text("scheduler.step() ran 4x per optimizer step", exact=False).first.wait_for()
    assert page.locator("code", has_text="scheduler_per_micro_batch").count() >= 1
    page.wait_for_timeout(800)  # let the charts finish their first paint
    page.get_by_text("Diagnose", exact=True).evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts_dir / "diagnose.png")  # the Diagnose section: verdict, chart, cause, fix

    page.get_by_role("button", name="Apply: make the intended design the current design").click()
    wait_for_app(page)
    page.get_by_text("The diagnosed run's intended design is now the current design.").wait_for(
        timeout=60_000
    )
    no_exception(page)
    assert "/logs" not in page.url  # the Designer, showing the applied design
