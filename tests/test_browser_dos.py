"""Issue 17 acceptance with a real server: hostile links are refused by field, the server stays small
and answers ``/_stcore/health`` throughout, and one browser cannot hog the live-run slots.

The test starts its own server (``python -m app.serve``, as ``make run`` and the image do), so the
memory measured is this server's alone, and polls ``/_stcore/health`` every 0.25 s from a thread for
the whole attack, each request with a 5 s hang guard.  It asserts behaviour: every poll answered
``ok``, the server's RSS stayed under 1.5 GB, both links were refused naming the field, the page never
showed an exception, and after start / reload / start another browser could still start a run.  No
duration is asserted: the health latencies it saw are written to ``tests/artifacts/dos_server.json``,
and ``bench/dos_health.py`` measures them (p95, max against the 1 s bound) on a quiet server.
"""

from __future__ import annotations

import base64
import json
import statistics
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import APP_IDLE_SELECTOR, app_server, client_headers

from tests.test_browser_live import wait_until

pytestmark = pytest.mark.browser

RSS_LIMIT_BYTES = int(1.5 * 1024**3)
#: A hang guard per request, not a latency bound: the latencies are reported (and measured on a quiet
#: machine by bench/dos_health.py); a server frozen the way the red team saw (30 s) still fails here.
HEALTH_HANG_GUARD_S = 20.0
POLL_EVERY_S = 0.25

#: The red team's memory bomb: 2,000,000 optimizer steps x 32 param groups (64M lrs, 4 GB of frames
#: before the work cap), in a 379-character link.
MEMORY_BOMB = {
    "format": "lr-schedule/v1",
    "optimizer": {
        "name": "SGD",
        "lr": 0.1,
        "param_groups": [{"name": f"g{i}", "lr_scale": 1.0} for i in range(32)],
    },
    "training": {"dataset_size": 2_000_000, "micro_batch_size": 1, "epochs": 1},
}
#: The CPU bomb: one evaluation of ``999999**999999`` is a 6-million-digit integer (seconds holding
#: the GIL) in an interpreter without bounds.
CPU_BOMB = {
    "format": "lr-schedule/v1",
    "optimizer": {"name": "SGD", "lr": 0.1},
    "training": {"dataset_size": 3, "micro_batch_size": 1, "epochs": 1},
    "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "999999**999999 % 7 + 1"}},
}


def link_token(doc: dict) -> str:
    """A ``?design=`` token as an attacker writes it (``schedules.share.encode_design`` would refuse
    to encode an invalid design): base64url of zlib of the JSON."""
    raw = zlib.compress(json.dumps(doc).encode(), 9)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class HealthWatch(threading.Thread):
    """Polls ``/_stcore/health`` and the server's RSS until ``done`` is set."""

    def __init__(self, base_url: str, pid: int):
        super().__init__(daemon=True)
        self.base_url, self.pid = base_url, pid
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.phase = "start"
        self.by_phase: dict[str, list[float]] = {}
        self.max_rss = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            t0 = time.perf_counter()
            try:
                url = self.base_url + "/_stcore/health"
                with urllib.request.urlopen(url, timeout=HEALTH_HANG_GUARD_S) as response:
                    body = response.read().strip()
                elapsed = time.perf_counter() - t0
                self.latencies.append(elapsed)
                self.by_phase.setdefault(self.phase, []).append(elapsed)
                if response.status != 200 or body != b"ok":
                    self.failures.append(f"{response.status} {body[:40]!r}")
            except OSError as exc:
                self.failures.append(f"{self.phase}: {type(exc).__name__}: {exc}")
            self.max_rss = max(self.max_rss, rss_bytes(self.pid))
            self.done.wait(POLL_EVERY_S)

    def report(self) -> dict:
        lat = sorted(self.latencies)
        if not lat:
            return {"health_polls": 0, "health_failures": len(self.failures)}
        return {
            "health_polls": len(lat),
            "health_failures": len(self.failures),
            "health_p50_ms": round(1000 * statistics.median(lat), 1),
            "health_p95_ms": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
            "health_max_ms": round(1000 * lat[-1], 1),
            "max_rss_mb": round(self.max_rss / 2**20),
            "health_max_ms_by_phase": {k: round(1000 * max(v), 1) for k, v in self.by_phase.items()},
        }


@pytest.fixture(scope="module")
def own_server(artifacts_dir: Path) -> Iterator[tuple[str, int]]:
    """A server of this test's own: (base URL, pid)."""
    with app_server(artifacts_dir / "dos-server.log") as (base_url, proc):
        yield base_url, proc.pid


def settle(page, timeout_ms: int = 120_000) -> None:
    """Connected and idle (generous: a guard against hangs on a loaded 2-core machine)."""
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def run_status(page) -> str | None:
    """The live run's status word (``running``, ``done`` ...), None before a run shows."""
    import re

    match = re.search(r"(ready|running|stopped|done|busy|failed) · [\d,]+ / [\d,]+", main_text(page))
    return match.group(1) if match else None


def set_steps(page, steps: int) -> None:
    box = page.get_by_role("spinbutton", name="Steps (cap)")
    box.fill(str(steps))
    box.press("Enter")
    settle(page)


def test_hostile_links_and_slot_hogging_against_a_real_server(own_server, browser, artifacts_dir):
    base_url, pid = own_server
    contexts = []

    def new_page(client: str | None = None):
        """A browser of its own (own cookies); ``client``: the machine it runs on (default: its own)."""
        ctx = browser.new_context(
            viewport={"width": 1400, "height": 900}, extra_http_headers=client_headers(client)
        )
        contexts.append(ctx)
        return ctx.new_page()

    # One ordinary visit first, so the session machinery is up before the watch starts.
    first = new_page()
    first.goto(base_url + "/")
    settle(first, 180_000)
    watch = HealthWatch(base_url, pid)
    watch.start()
    try:
        # 1. the memory bomb, opened three times (a shared link is opened again and again): refused
        #    by the field that makes it big, before anything is computed
        watch.phase = "memory bomb"
        bomb = new_page()
        for _ in range(3):
            bomb.goto(f"{base_url}/?design={link_token(MEMORY_BOMB)}")
            settle(bomb)
            text = main_text(bomb)
            assert "could not be loaded" in text and "optimizer.param_groups" in text, text[:800]
            assert "64,000,000" in text or "4,000,000" in text, text[:800]  # the cost and the cap
            no_exception(bomb)
        # 2. the CPU bomb: refused by the lr_lambda field, and the server kept answering meanwhile
        watch.phase = "cpu bomb"
        cpu = new_page()
        cpu.goto(f"{base_url}/?design={link_token(CPU_BOMB)}")
        settle(cpu)
        text = main_text(cpu)
        assert "could not be loaded" in text and "decay.kwargs.lr_lambda" in text, text[:800]
        no_exception(cpu)

        # 3. slot hogging: start a run, reload, try to start again
        watch.phase = "live runs"
        hog = new_page("hog's machine")
        hog.goto(f"{base_url}/live")
        settle(hog)
        set_steps(hog, 20_000)
        hog.get_by_role("button", name="Start", exact=True).click()
        assert wait_until(lambda: run_status(hog) == "running", 180), main_text(hog)[:800]
        hog.reload()
        settle(hog)
        # the reloaded page shows the orphaned run, Start is off (one slot per browser), Stop works
        assert wait_until(lambda: "started before the page was reloaded" in main_text(hog), 120), main_text(
            hog
        )[:800]
        assert hog.get_by_role("button", name="Start", exact=True).is_disabled()
        # a second cookie jar on the hog's machine (another browser, a private window) is the same
        # client: refused (issue 30: one person held both slots with two cookie jars) ...
        jar = new_page("hog's machine")
        jar.goto(f"{base_url}/live")
        settle(jar)
        set_steps(jar, 300)
        jar.get_by_role("button", name="Start", exact=True).click()
        settle(jar)
        assert wait_until(lambda: "Your address already has 1 live run(s) going" in main_text(jar), 60), (
            main_text(jar)[:800]
        )
        assert run_status(jar) in (None, "busy")
        # ... and another browser (another machine) can still start a run
        other = new_page()
        other.goto(f"{base_url}/live")
        settle(other)
        set_steps(other, 300)
        other.get_by_role("button", name="Start", exact=True).click()
        assert wait_until(lambda: run_status(other) in ("running", "done"), 180), main_text(other)[:800]
        assert "The server is busy" not in main_text(other)
        hog.bring_to_front()  # a page in the background gets no animation frames: a click would wait for one
        # The hog's page redraws its live chart all the time: on a loaded machine Playwright's hit-target
        # check of a real click did not finish in 30 s (twice); the click event itself is what Stop's
        # handler reads, so it is dispatched on the button.
        hog.get_by_role("button", name="Stop", exact=True).first.dispatch_event("click")
        assert wait_until(lambda: run_status(hog) == "stopped", 120), main_text(hog)[:800]
        no_exception(hog)
        no_exception(other)
    finally:
        watch.done.set()
        watch.join(HEALTH_HANG_GUARD_S + 5)
        for ctx in contexts:
            ctx.close()
        report = watch.report()
        (artifacts_dir / "dos_server.json").write_text(json.dumps(report, indent=2))
        print(f"\nreal-server hostile-link check: {report}")
    assert not watch.failures, watch.failures[:5]
    assert len(watch.latencies) >= 20, report  # it answered throughout, many times
    assert watch.max_rss < RSS_LIMIT_BYTES, report
