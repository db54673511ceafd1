"""A 2-process setting on the Live page of a real server: it runs, Stop ends it, no rank is left."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_browser_live import status, wait_until

pytestmark = pytest.mark.browser

HANG_S = 240.0  # generous bounds against hangs only: starting ranks is slow on a loaded machine


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) from /proc."""
    out = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        out[int(proc.name)] = (ppid, cmd)
    return out


def rank_processes(port: str) -> list[int]:
    """Live processes forked by the server's fork server (the ranks), found from the server's port."""
    table = processes()
    servers = {pid for pid, (_, cmd) in table.items() if f"--server.port {port}" in cmd}
    found, todo = [], list(servers)
    while todo:
        parent = todo.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent:
                todo.append(pid)
                if "forkserver" in table.get(parent, (0, ""))[1]:
                    found.append(pid)
    return found


def test_two_processes_run_from_the_page_and_stop_leaves_no_rank(
    open_app, wait_for_app, streamlit_server
) -> None:
    port = streamlit_server.rsplit(":", 1)[1]
    page = open_app("/live")
    steps = page.get_by_role("spinbutton", name="Steps (cap)")
    steps.fill("20000")
    steps.press("Enter")
    wait_for_app(page)
    for label in (  # only the 2-process setting: the machine has 2 cores
        "The design as is",
        "Same effective batch as",
        "Bug: scheduler stepped per micro-batch",
        "Same samples per step on 2 processes",
    ):
        page.get_by_text(label).click()
        wait_for_app(page)
    page.get_by_role("button", name="Start", exact=True).click()
    assert wait_until(lambda: status(page)[0] == "running" and status(page)[1] >= 20, HANG_S), status(page)
    assert len(rank_processes(port)) == 2
    page.get_by_role("button", name="Stop", exact=True).first.click(timeout=HANG_S * 1000)
    assert wait_until(lambda: status(page)[0] == "stopped", HANG_S), status(page)
    wait_for_app(page)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    deadline = time.monotonic() + HANG_S
    while rank_processes(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rank_processes(port) == []
