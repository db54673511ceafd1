"""Load test: N concurrent browser sessions change Designer parameters against a real server.

    .venv/bin/python bench/load_test.py                       # starts its own server on 127.0.0.1
    .venv/bin/python bench/load_test.py --url http://127.0.0.1:8501 --sessions 6 --seconds 60

Each session (its own browser context, i.e. its own Streamlit session) opens the Designer, then until
the time is up sets the number of epochs to a new value and measures the time from pressing Enter to the
chart in *its* page showing the new curve.  Prints p50/p95/max of that time and every error (a
Streamlit exception box, a timeout, a page error).  Traffic goes only to the given local server; the
loop is bounded in time and in changes per session.  Headless Debian chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
# A signature of the lr trace as drawn (plotly.js's decoded data): changes when the curve changes.
SIGNATURE_JS = """() => {
    const el = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!el || !el._fullData || !el._fullData.length) return null;
    const y = el._fullData[0].y || [], x = el._fullData[0].x || [];
    let s = 0; for (let i = 0; i < Math.min(y.length, 400); i++) s += y[i] * (i + 1);
    // The last x too: a downsampled trace keeps its length and first points when only the end moves.
    return y.length + ':' + s + ':' + (x.length ? x[x.length - 1] : '') + ':' + (y.length ? y[y.length - 1] : '');
}"""
MAX_CHANGES_PER_SESSION = 500


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def one_session(
    browser, url: str, index: int, seconds: float, ready: asyncio.Barrier, out: dict
) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda exc: out["errors"].append(f"session {index}: page error: {exc}"))
    try:
        await page.goto(url + "/")
        await page.wait_for_selector(IDLE, timeout=60_000)
        await page.wait_for_function(SIGNATURE_JS, timeout=60_000)
        box = page.get_by_label("Epochs", exact=True)
        await box.wait_for(timeout=60_000)
        await asyncio.wait_for(ready.wait(), 120)  # the clock starts when every session has loaded
        deadline = time.monotonic() + seconds
        changes = 0
        while time.monotonic() < deadline and changes < MAX_CHANGES_PER_SESSION:
            before = await page.evaluate(SIGNATURE_JS)
            current = int(await box.input_value())
            value = 1 + (current + index) % 8  # 1..8 epochs, never the current value
            if value == current:
                value = current % 8 + 1
            await box.fill(str(value))
            start = time.perf_counter()
            await page.keyboard.press("Enter")  # the box has focus: no locator work in the timed window
            try:
                await page.wait_for_function(
                    f"() => ({SIGNATURE_JS})() !== {json.dumps(before)}", timeout=30_000
                )
            except Exception as exc:  # noqa: BLE001 - a timeout is a reported error, not a crash
                out["errors"].append(f"session {index}: no redraw within 30 s after setting {value}: {exc}")
                break
            out["latencies"].append(time.perf_counter() - start)
            await page.wait_for_selector(IDLE, timeout=30_000)
            if await page.locator('[data-testid="stException"]').count():
                out["errors"].append(f"session {index}: exception box after setting {value}")
                break
            changes += 1
        out["changes"][index] = changes
    except Exception as exc:  # noqa: BLE001
        ready.abort()  # never leave the other sessions waiting for this one
        out["errors"].append(f"session {index}: {type(exc).__name__}: {exc}")
    finally:
        await context.close()


async def run_load(url: str, sessions: int, seconds: float) -> dict:
    from playwright.async_api import async_playwright

    out: dict = {"latencies": [], "errors": [], "changes": {}}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            ready = asyncio.Barrier(sessions)
            await asyncio.gather(
                *(one_session(browser, url, i, seconds, ready, out) for i in range(sessions))
            )
        finally:
            await browser.close()
    lat = out["latencies"]
    return {
        "sessions": sessions,
        "seconds": seconds,
        "redraws": len(lat),
        "errors": out["errors"],
        "p50_s": statistics.median(lat) if lat else None,
        "p95_s": percentile(lat, 0.95) if lat else None,
        "max_s": max(lat) if lat else None,
        "changes_per_session": out["changes"],
    }


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/main.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the streamlit server did not start within 60 s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server on this machine (default: start one)")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    if not (1 <= args.sessions <= 32 and 1 <= args.seconds <= 600):
        parser.error("sessions must be in [1, 32] and seconds in [1, 600]")
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        parser.error("--url must be a server on this machine (loopback)")
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server()
    try:
        result = asyncio.run(run_load(url.rstrip("/"), args.sessions, args.seconds))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    print(
        f"{result['sessions']} sessions x {result['seconds']:.0f} s: {result['redraws']} redraws, "
        f"{len(result['errors'])} errors"
    )
    if result["redraws"]:
        print(
            f"time from change to redrawn chart: p50 {result['p50_s']:.3f} s, p95 {result['p95_s']:.3f} s, "
            f"max {result['max_s']:.3f} s"
        )
    for line in result["errors"]:
        print("error:", line)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if not result["errors"] and result["redraws"] else 1


if __name__ == "__main__":
    sys.exit(main())
