"""The Import / export and Run logs pages in a real browser (Debian chromium) against ``streamlit
run``: exports render with their checks, an import replaces the design, a real run's log uploads
and draws over the design.  Saves the docs/ screenshots (tests/artifacts/interop*.png, logs.png)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedules import load_config
from schedules.interop import to_hf
from schedules.share import encode_design

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: A real run: `python -m schedules train docs/example_run_design.json -o docs/example_run.csv`.
RUN_DESIGN = DOCS / "example_run_design.json"
RUN_LOG = DOCS / "example_run.csv"

SHOWCASE = {
    "name": "cosine with warmup",
    "optimizer": {"name": "AdamW", "lr": 3e-4, "kwargs": {"weight_decay": 0.01}},
    "training": {"dataset_size": 50000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 3},
    "warmup": {"ratio": 0.05, "start_factor": 0.0},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.0}},
}

CHARTS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'))
    .filter(el => el._fullData && el._fullData.length && el.offsetParent !== null)
    .map(el => el._fullData.map(t => t.name))"""


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def visible_traces(page) -> list[list[str]]:
    page.wait_for_function(f"() => ({CHARTS_JS})().length > 0")
    return page.evaluate(CHARTS_JS)


def test_export_tabs_and_import(open_app, wait_for_app, artifacts_dir: Path) -> None:
    page = open_app(f"/interop?design={encode_design(load_config(SHOWCASE))}")
    no_exception(page)
    # The lr is HF's at every step; the optimizer is not quite: Trainer exempts biases and norm weights
    # from AdamW's weight decay, which the export says (issue 28: exports carry the whole optimizer).
    page.get_by_text(
        "HF TrainingArguments trains with a different optimizer: weight_decay 0 instead of"
    ).first.wait_for()
    assert page.get_by_text("Exact: Hugging Face TrainingArguments").count() == 0
    # The code block may still be filling in when the message shows: wait for the HF JSON itself.
    block = page.locator('[data-testid="stCode"]').filter(has_text="lr_scheduler_type").first
    block.wait_for()
    assert json.loads(block.inner_text()) == to_hf(load_config(SHOWCASE))[0]
    # Streamlit scrolls inside its main container: a taller window shows the whole export.
    page.set_viewport_size({"width": 1400, "height": 1100})
    wait_for_app(page)
    page.screenshot(path=artifacts_dir / "interop.png")

    page.get_by_role("tab", name="DeepSpeed scheduler block").click()
    wait_for_app(page)
    page.get_by_text("DeepSpeed cannot express: the peak lr at the end of warmup").first.wait_for()
    assert ["design", "DeepSpeed"] in visible_traces(page)
    page.set_viewport_size({"width": 1400, "height": 2000})
    wait_for_app(page)
    page.get_by_role("tab", name="DeepSpeed scheduler block").scroll_into_view_if_needed()
    page.screenshot(path=artifacts_dir / "interop_deepspeed.png")
    page.set_viewport_size({"width": 1400, "height": 900})

    # Import: paste HF TrainingArguments JSON; the design changes and the designer shows it.
    page.get_by_role("tab", name="Import").click()
    page.get_by_label("…or paste the JSON").fill(
        json.dumps({"lr_scheduler_type": "linear", "warmup_steps": 100})
    )
    page.get_by_role("button", name="Import into the designer").click()
    wait_for_app(page)
    no_exception(page)
    page.get_by_text("Imported “HF linear”").first.wait_for()
    page.get_by_role("link", name="Open it in the designer").click()
    wait_for_app(page)
    no_exception(page)
    assert page.get_by_text("HF linear").count() > 0


def test_run_log_overlay_and_plateau(open_app, wait_for_app, artifacts_dir: Path) -> None:
    page = open_app(f"/logs?design={encode_design(load_config(RUN_DESIGN))}")
    no_exception(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(RUN_LOG))
    wait_for_app(page)
    no_exception(page)
    assert ["design lr", "logged lr", "training loss", "validation loss"] in visible_traces(page)
    page.get_by_text("matches").first.wait_for()  # the logged lr is the design's, step for step
    page.set_viewport_size({"width": 1400, "height": 1500})
    wait_for_app(page)
    page.screenshot(path=artifacts_dir / "logs.png")

    page.get_by_role("button", name="Use its validation loss as the plateau metric").click()
    wait_for_app(page)
    no_exception(page)
    page.get_by_text("The design's plateau now uses this run's validation loss.").wait_for()


def test_run_logs_take_logs_over_1_mb_and_state_the_servers_upload_limit(
    open_app, wait_for_app, tmp_path: Path
) -> None:
    # .streamlit/config.toml sets maxUploadSize = 16 (MB), the run-log reader's own cap; Streamlit
    # refuses anything larger before uploading, with a message instead of a bare network error.
    def log(path: Path, rows: int) -> Path:
        lines = ["step,learning_rate,loss"] + [
            f"{k},{1e-4 * (1 + k % 7)!r},{1.0 / (k + 1)!r}" for k in range(rows)
        ]
        path.write_text("\n".join(lines) + "\n")
        return path

    medium = log(tmp_path / "medium_log.csv", 60_000)
    assert 1024 * 1024 < medium.stat().st_size < 16 * 1024 * 1024
    page = open_app("/logs")
    # the log's uploader is the page's first (a log read adds the Diagnose section's sidecar uploader)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(medium))
    wait_for_app(page)
    no_exception(page)
    assert page.get_by_text("File must be").count() == 0  # a 2 MB log is read

    big = tmp_path / "big_log.csv"
    big.write_bytes(b"step,lr\n" + b"0,0.1\n" * (3 * 1024 * 1024))  # 18 MB
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(big))
    wait_for_app(page)
    no_exception(page)
    page.get_by_text("File must be 16.0MB or smaller.").wait_for()
