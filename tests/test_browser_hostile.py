"""Issue 30 in a real browser against a real server: hostile strings are shown as text, a hostile
workspace file is refused in one line and nothing is imported, and a second cookie jar on the same
machine is the same client.

1. A shared link whose design is named with a Markdown image and whose param groups are named with an
   HTML link and an image: no image loads, no link exists, the names show as typed (title, legend).
2. A link with a bad value that is a Markdown link ("Fix here"): the error box shows it as text.
3. The Library: a workspace file whose ``designs`` table is a view over a recursive query is refused
   with one line; an export whose run message is a Markdown image imports, and the message is text;
   its *Download CSV* (built when clicked) gives the run's rows.
4. Two browsers (two cookie jars) from one address without a client header: the second Start is refused.
Screenshots: ``tests/artifacts/hostile-link.png``, ``hostile-library.png``.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
from conftest import APP_IDLE_SELECTOR, app_server, client_headers
from hostile_workspaces import build

from schedules.share import encode_design
from schedules.workspace import Workspace
from tests.test_browser_live import wait_until

pytestmark = pytest.mark.browser

IMAGE = "![pwned](http://attacker.example/x.png)"
#: A design name with every kind of Markdown a page could read: image, colour, icon, bare link.
NAME = IMAGE + " :red[alarm] :material/warning: www.attacker.example"
LINK = "[Fix here](http://attacker.example/fix)"
GROUP_LINK = "<a href='http://attacker.example/g'>click</a>"


def settle(page, timeout_ms: int = 180_000) -> None:
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def nothing_from_the_attacker(page) -> None:
    """No element loads or links anything of the attacker's (images, links, in the page or the charts)."""
    for selector in ('img[src*="attacker"]', 'a[href*="attacker"]', 'image[href*="attacker"]'):
        assert page.locator(selector).count() == 0, selector
    assert page.locator('[data-testid="stException"]').count() == 0


def test_hostile_strings_are_text_and_hostile_files_are_refused(
    browser, tmp_path: Path, artifacts_dir: Path
) -> None:
    workspace = tmp_path / "workspace"
    source = Workspace(tmp_path / "source" / "workspace.sqlite3")
    run_id = source.start_run("imported run", columns=["step", "lr"], device="cpu")
    source.append_rows(run_id, {"step": [0, 1, 2], "lr": [0.1, 0.05, 0.01]})
    source.finish_run(run_id, "failed", IMAGE)
    source.close()
    good = source.export(tmp_path / "good.sqlite3")
    view = build("recursive view", tmp_path / "hostile")

    with app_server(artifacts_dir / "hostile-server.log", {"STUDIO_WORKSPACE": str(workspace)}) as (
        base_url,
        _,
    ):
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, extra_http_headers=client_headers()
        )
        page = context.new_page()
        try:
            # 1. the shared link
            groups = [
                {"name": GROUP_LINK, "lr_scale": 1.0},
                {"name": "![g](http://attacker.example/g.png)", "lr_scale": 0.5},
            ]
            cfg = {
                "name": NAME,
                "optimizer": {"name": "SGD", "lr": 0.1, "param_groups": groups},
                "training": {"max_steps": 200},
            }
            page.goto(f"{base_url}/?design={encode_design(cfg)}")
            settle(page)
            page.locator(".js-plotly-plot .legend").first.wait_for(timeout=120_000)
            nothing_from_the_attacker(page)
            title = page.locator("h1").first
            assert (
                title.inner_text().replace("\u200b", "").strip() == NAME
            )  # as typed: no image, colour, icon
            assert title.locator("span[style*='color'], [data-testid='stIconMaterial'], a, img").count() == 0
            legend = page.locator(".js-plotly-plot .legend").first.text_content()
            assert f"lr/{GROUP_LINK}" in legend, legend  # the name as typed, as text
            assert page.locator(".js-plotly-plot .legend a").count() == 0
            page.screenshot(path=artifacts_dir / "hostile-link.png")

            # 2. a bad value that is a Markdown link, echoed in the link's error box
            doc = {
                "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": LINK}},
                "training": {"max_steps": 10},
            }
            token = base64.urlsafe_b64encode(zlib.compress(json.dumps(doc).encode(), 9)).decode().rstrip("=")
            page.goto(f"{base_url}/?design={token}")
            settle(page)
            text = main_text(page).replace("\u200b", "")
            assert "could not be loaded" in text and "optimizer.kwargs.momentum" in text and LINK in text, (
                text[:800]
            )
            nothing_from_the_attacker(page)

            # 3. the Library: a hostile file refused in one line, then an export with a hostile message
            page.goto(f"{base_url}/library")
            settle(page)
            page.get_by_role("tab", name="Import / export").click()
            settle(page)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(view))
            assert wait_until(lambda: "is not a workspace export" in main_text(page), 120), main_text(page)[
                :800
            ]
            errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
            (error,) = [e for e in errors if "is not a workspace export" in e]
            assert error.strip() == (
                "export.sqlite3: is not a workspace export: it has view 'designs' (a version-2 workspace has only "
                "its own tables and indexes); nothing was imported"
            ), error
            assert Workspace(workspace / "workspace.sqlite3").counts()["designs"] == 0
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(good))
            assert wait_until(lambda: "Imported 0 designs, 1 runs" in main_text(page), 120), main_text(page)[
                :800
            ]
            page.get_by_role("tab", name="Runs (1)").click()
            settle(page)
            shown = lambda: main_text(page).replace("\u200b", "")  # noqa: E731 - what the reader sees
            assert wait_until(lambda: f"live run, failed: {IMAGE}" in shown(), 60), shown()[:1500]
            nothing_from_the_attacker(page)
            page.screenshot(path=artifacts_dir / "hostile-library.png")
            # its CSV is built when clicked (finding 2: it was built on every rerun), and is the run's rows
            with page.expect_download(timeout=120_000) as download:
                page.get_by_role("button", name="Download CSV").click()
            assert download.value.suggested_filename == "run-1.csv"
            assert Path(download.value.path()).read_text() == "step,lr\n0,0.1\n1,0.05\n2,0.01\n"
        finally:
            context.close()


def test_two_cookie_jars_on_one_machine_are_one_client(browser, artifacts_dir: Path) -> None:
    """No client header configured: the client is the address, and every browser here is 127.0.0.1."""
    with app_server(artifacts_dir / "client-cap-server.log", {"LR_STUDIO_CLIENT_HEADER": ""}) as (
        base_url,
        _,
    ):
        first_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        second_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            first, second = first_ctx.new_page(), second_ctx.new_page()
            for page in (first, second):
                page.goto(f"{base_url}/live")
                settle(page)
                box = page.get_by_role("spinbutton", name="Steps (cap)")
                box.fill("20000")
                box.press("Enter")
                settle(page)
            first.get_by_role("button", name="Start", exact=True).click()
            assert wait_until(lambda: "running ·" in main_text(first), 120), main_text(first)[:800]
            second.get_by_role("button", name="Start", exact=True).click()
            settle(second)
            assert wait_until(
                lambda: "Your address already has 1 live run(s) going" in main_text(second), 60
            ), main_text(second)[:800]
            assert "running ·" in main_text(first)  # the first browser's run goes on
        finally:
            first_ctx.close()
            second_ctx.close()
