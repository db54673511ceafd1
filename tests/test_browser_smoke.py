"""Smoke test: the real app starts and renders in a real browser without an exception."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def test_app_renders_without_exception(open_app, artifacts_dir: Path) -> None:
    page = open_app()

    rendered = page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]')
    assert rendered.count() > 0, "the app's main area rendered no elements"
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"the app shows an exception:\n{exceptions.first.inner_text()}"

    page.screenshot(path=artifacts_dir / "smoke.png", full_page=True)
