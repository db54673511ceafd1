"""UI latency: the studio's pages against a bare Streamlit page, in headless Chromium, in one run.

    .venv/bin/python bench/ui_latency.py                 # full run (a few minutes on 2 cores)
    .venv/bin/python bench/ui_latency.py --quick         # fewer repetitions
    .venv/bin/python bench/ui_latency.py --json out.json

The floor is a *bare page*: one number input and one Plotly line with as many points as the Designer's
default curve (Streamlit's own cost for "a widget changed, draw a line").  Against it, on a real
``streamlit run`` of each (127.0.0.1, Debian's /usr/bin/chromium):

- **redraw**: from pressing Enter in a number input (bare: "Epochs"; Designer: "Epochs") to the chart
  in the page showing the new curve (plotly.js's decoded data changed).  Steady state, interleaved:
  one page per server stays open, three untimed changes each, then the pages take turns, one change
  each, N rounds; the median per page, and the median of the per-round ratios to the bare page.
  (Until 2026-12-01 this ran batches of 8 changes on freshly loaded pages, one page after another:
  that mixes in the browser's JIT warm-up and the machine's drift between batches.  For the landed
  Designer of 2026-11-30, b24bcf2, the interleaved measure gave 1.34x, the batched one 1.29-1.62x in
  five runs; it is still printed as **redraw, fresh page**: the first changes after a page load);
- **redraw, bare page of the Designer's former size**: the same change on a bare page with as many
  visible inputs as the Designer had when four sections were always open (41 number inputs in four
  open sections, six metrics, a title, the same line): Streamlit's own cost for re-rendering that many
  elements on every rerun, which the Designer now avoids by drawing only the sections you open;
- **warm visit**: a new browser context (a new Streamlit session) on an already-running server, from
  ``goto`` until the page's first chart is drawn and the script run has finished; median of N visits;
  for pages without a chart at first (Live run, Import / export, Run logs) until the run finished;
- **first visit**: a freshly started server, from ``goto`` to the same point, once the server answers
  its health check: the bare page as ``streamlit run`` starts it (its imports happen on that visit),
  the studio as ``make run`` starts it (``python -m app.serve`` warms the first chart before it
  answers).

It also prints where a Designer rerun spends its time (script run on the server from the websocket's
"running" to "notRunning", the figure's JSON bytes, the number of elements) so that the breakdown is
measured, not guessed.  Prints ratios from one run; these machines are noisy, so compare ratios only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# The same browser, flags and "chart redrawn" signature as the load test.
from load_test import ARGS, CHROMIUM, IDLE, SIGNATURE_JS  # noqa: E402

# The floor: Streamlit's cost for one number input and one Plotly line of the same length.
BARE_PAGE = """
import math
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(layout="wide")
STEPS_PER_EPOCH = {steps_per_epoch}
epochs = st.number_input("Epochs", min_value=1, max_value=100, value=3, step=1)
n = int(epochs) * STEPS_PER_EPOCH
y = [3e-4 * 0.5 * (1 + math.cos(math.pi * k / n)) for k in range(n)]
st.plotly_chart(go.Figure(go.Scatter(y=y, mode="lines")), use_container_width=True)
"""

# A second floor: Streamlit's cost for a page of the Designer's former size (41 number inputs in four
# open sections of two columns, six metrics, a title and the same line), when its sections were all
# drawn at once.  It shows what re-rendering that many elements on every rerun costs, and so what the
# Designer's sections-on-demand (only the open sections are drawn) saves.
BARE_SIZED_PAGE = """
import math
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(layout="wide")
STEPS_PER_EPOCH = {steps_per_epoch}
left, right = st.columns([1, 2.3], gap="large")
with left:
    epochs = st.number_input("Epochs", min_value=1, max_value=100, value=3, step=1)
    for section in range(4):
        with st.expander(f"Section {{section}}", expanded=True):
            for row in range(5):
                a, b = st.columns(2)
                a.number_input(f"x{{section}}{{row}}a", value=1.0)
                b.number_input(f"x{{section}}{{row}}b", value=2.0)
n = int(epochs) * STEPS_PER_EPOCH
y = [3e-4 * 0.5 * (1 + math.cos(math.pi * k / n)) for k in range(n)]
with right:
    st.title("A page of the Designer's size", anchor=False)
    for i, col in enumerate(st.columns(6)):
        col.metric(f"metric {{i}}", i)
    st.plotly_chart(go.Figure(go.Scatter(y=y, mode="lines")), use_container_width=True)
"""

STUDIO_PAGES = {
    "Designer": ("/", True),
    "Compare": ("/compare", True),
    "Live run": ("/live", False),
    "Import / export": ("/interop", False),
    "Run logs": ("/logs", False),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``streamlit run SCRIPT`` (or the studio's ``python -m app.serve``) on 127.0.0.1, a fresh process."""

    def __init__(self, script: Path | None, cwd: Path, env: dict[str, str] | None = None) -> None:
        """``script`` None: the studio as ``make run`` starts it (``python -m app.serve``, which warms
        the first chart's imports and curve, then hands over to ``streamlit run app/main.py``)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        run = ["-m", "app.serve"] if script is None else ["-m", "streamlit", "run", str(script)]
        self.proc = subprocess.Popen(
            [sys.executable, *run,
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false"],
            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"streamlit run {script} did not answer within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def visit(browser, url: str, has_chart: bool) -> float:
    """Seconds from goto to the page drawn (first chart, or the script run finished)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url)
        if has_chart:
            page.wait_for_function(SIGNATURE_JS, timeout=120_000)
        page.wait_for_selector(IDLE, timeout=120_000)
        return time.perf_counter() - start
    finally:
        context.close()


# Timestamps in the page of a rerun's phases: the app's script state turning "running" (the server
# started the script) and "notRunning" (it finished), and the chart's drawn data changing.
TIMELINE_JS = """() => {
    window.__phases = [];
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => window.__phases.push([performance.now(), app.getAttribute('data-test-script-state')]))
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    const sig = SIGNATURE;
    let last = sig();
    const tick = () => {
        const s = sig();
        if (s !== last) { window.__phases.push([performance.now(), 'chart']); last = s; }
        requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
}""".replace("SIGNATURE", SIGNATURE_JS)


def redraws(browser, url: str, label: str, n: int, phases: dict | None = None) -> list[float]:
    """Seconds from Enter in the number input ``label`` to the chart showing the new curve, for the
    first ``n`` changes on a freshly loaded page (a new browser context: a new Streamlit session).

    With ``phases``, also appends each change's phase times (seconds after Enter) to its lists:
    ``running`` (the script started), ``chart`` (the new curve drawn), ``done`` (the run finished).
    """
    context, page, box = _open(browser, url, label)
    try:
        return [_redraw(page, box, i, phases) for i in range(n)]
    finally:
        context.close()


def _open(browser, url: str, label: str):
    """A new browser context (a new Streamlit session) on ``url``, loaded, its chart drawn and the
    phase timeline installed; returns (context, page, the number input ``label``)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(SIGNATURE_JS, timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.evaluate(TIMELINE_JS)
    return context, page, page.get_by_label(label, exact=True)


def interleaved_redraws(
    browser, urls: dict[str, str], label: str, n: int, warmup: int = 3
) -> tuple[dict, dict]:
    """Steady-state redraws, interleaved: one page per server stays open; after ``warmup`` redraws each
    (not timed: the browser's JIT and the server's caches warm up), the pages take turns, one redraw
    each, ``n`` rounds.  Taking turns per redraw puts the machine's drifting load on every page alike
    (a 2-core VM whose speed moves by 20% within seconds).  Returns ({name: seconds}, {name: phases})."""
    pages = {}
    contexts = []
    try:
        for name, url in urls.items():
            context, page, box = _open(browser, url, label)
            contexts.append(context)
            for i in range(warmup):
                _redraw(page, box, i, None)
            pages[name] = (page, box)
        times: dict = {name: [] for name in urls}
        phases: dict = {name: {} for name in urls}
        for i in range(n):
            for name, (page, box) in pages.items():
                page.bring_to_front()
                times[name].append(_redraw(page, box, i, phases[name]))
        return times, phases
    finally:
        for context in contexts:
            context.close()


def _redraw(page, box, i: int, phases: dict | None) -> float:
    """One change of the number input ``box``: seconds from Enter to the chart showing the new curve."""
    before = page.evaluate(SIGNATURE_JS)
    current = int(box.input_value())
    value = current % 6 + 1 if current != (i % 6 + 1) else (i + 1) % 6 + 1
    if value == current:
        value = current % 6 + 1
    box.fill(str(value))
    page.evaluate("() => { window.__phases = []; window.__t0 = performance.now(); }")
    start = time.perf_counter()
    page.keyboard.press("Enter")  # the box has focus (fill): no locator work in the timed window
    page.wait_for_function(f"() => ({SIGNATURE_JS})() !== {json.dumps(before)}", timeout=60_000)
    took = time.perf_counter() - start
    page.wait_for_selector(IDLE, timeout=60_000)
    page.wait_for_timeout(150)
    if phases is not None:
        seen = page.evaluate("() => window.__phases.map(p => [(p[0] - window.__t0) / 1000, p[1]])")
        first: dict = {}
        for t, what in seen:
            first.setdefault({"notRunning": "done"}.get(what, what), t)
        for what in ("running", "chart", "done"):
            if what in first:
                phases.setdefault(what, []).append(first[what])
    return took


def rerun_breakdown() -> dict:
    """Where a Designer rerun spends its time, measured in-process with AppTest (no browser)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.run()
    box = next(w for w in at.number_input if w.label == "Epochs")
    times = []
    for i in range(6):
        box = next(w for w in at.number_input if w.label == "Epochs")
        start = time.perf_counter()
        box.set_value(2 + i % 4).run()
        times.append(time.perf_counter() - start)
    charts = at.get("plotly_chart")
    figure_bytes = sum(len(c.proto.spec) for c in charts)
    n_elements = _count_elements(at)
    return {
        "script_rerun_s_median": statistics.median(times),
        "figure_json_bytes": figure_bytes,
        "elements_per_run": n_elements,
    }


def _count_elements(at) -> int:
    count = 0
    stack = [at._tree]
    while stack:
        node = stack.pop()
        children = getattr(node, "children", None)
        if children:
            stack.extend(children.values() if isinstance(children, dict) else children)
        else:
            count += 1
    return count


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 6
    rounds = 8 if args.quick else 24
    visits = 2 if args.quick else 5
    firsts = 1 if args.quick else 3

    from playwright.sync_api import sync_playwright

    from schedules import load_config

    default = load_config({})
    steps_per_epoch = default.plan.steps_per_epoch
    tmp = Path(tempfile.mkdtemp(prefix="ui-latency-"))
    bare_script = tmp / "bare.py"
    bare_script.write_text(BARE_PAGE.format(steps_per_epoch=steps_per_epoch))
    sized_script = tmp / "sized.py"
    sized_script.write_text(BARE_SIZED_PAGE.format(steps_per_epoch=steps_per_epoch))
    studio_script = None  # python -m app.serve, as `make run`
    results: dict = {"steps_per_epoch": steps_per_epoch, "reps": reps, "visits": visits}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            # First visits: a fresh server each time, alternating bare and studio.
            first = {"bare": [], "Designer": []}
            for _ in range(firsts):
                for name, script, cwd in (("bare", bare_script, tmp), ("Designer", studio_script, ROOT)):
                    server = Server(script, cwd)
                    try:
                        first[name].append(visit(browser, server.url + "/", True))
                    finally:
                        server.stop()
            bare = Server(bare_script, tmp)
            studio = Server(studio_script, ROOT)
            sized = Server(sized_script, tmp)
            try:
                visit(browser, bare.url + "/", True)  # warm the servers' imports and caches
                visit(browser, sized.url + "/", True)
                for path, has_chart in STUDIO_PAGES.values():
                    visit(browser, studio.url + path, has_chart)
                warm = {"bare": [], **{name: [] for name in STUDIO_PAGES}}
                for _ in range(visits):  # interleaved, so drift in machine load hits both alike
                    warm["bare"].append(visit(browser, bare.url + "/", True))
                    for name, (path, has_chart) in STUDIO_PAGES.items():
                        warm[name].append(visit(browser, studio.url + path, has_chart))
                urls = {
                    "bare": bare.url + "/",
                    "bare, Designer's size": sized.url + "/",
                    "Designer": studio.url + "/",
                }
                redraw, phases = interleaved_redraws(browser, urls, "Epochs", rounds)
                fresh: dict = {"bare": [], "Designer": []}
                for _ in range(2):  # the first changes after a page load, alternating pages per batch
                    for name in fresh:
                        fresh[name] += redraws(browser, urls[name], "Epochs", reps)
            finally:
                bare.stop()
                studio.stop()
                sized.stop()
        finally:
            browser.close()

    results["first_visit_s"] = {k: median(v) for k, v in first.items()}
    results["warm_visit_s"] = {k: median(v) for k, v in warm.items()}
    results["redraw_s"] = {k: median(v) for k, v in redraw.items()}
    results["redraw_paired_ratio"] = {
        k: median([a / b for a, b in zip(v, redraw["bare"], strict=True)]) for k, v in redraw.items()
    }
    results["redraw_fresh_page_s"] = {k: median(v) for k, v in fresh.items()}
    results["redraw_phases_s"] = {k: {p: median(v) for p, v in ph.items()} for k, ph in phases.items()}
    results["breakdown"] = rerun_breakdown()

    b_first, b_warm, b_redraw = (
        results["first_visit_s"]["bare"],
        results["warm_visit_s"]["bare"],
        results["redraw_s"]["bare"],
    )
    print(f"bare page: {steps_per_epoch * 3:,}-point line; medians of {rounds} interleaved redraws per page "
          f"(after 3 untimed), {reps * 2} on fresh pages, {visits} visits")  # fmt: skip
    print(f"{'':18s} {'seconds':>8s} {'x bare':>7s}")
    print(f"{'redraw, bare':18s} {b_redraw:8.3f}")
    print(f"{'redraw, Designer':18s} {results['redraw_s']['Designer']:8.3f} "
          f"{results['redraw_s']['Designer'] / b_redraw:6.2f}x  (target <= 1.3x; median of the "
          f"{rounds} paired ratios: {results['redraw_paired_ratio']['Designer']:.2f}x)")  # fmt: skip
    fb, fd = results["redraw_fresh_page_s"]["bare"], results["redraw_fresh_page_s"]["Designer"]
    print(f"{'redraw, fresh page':18s} {fd:8.3f} {fd / fb:6.2f}x  (the first {reps} changes after a page load; "
          f"bare {fb:.3f} s)")  # fmt: skip
    sized = results["redraw_s"]["bare, Designer's size"]
    print(f"{'redraw, bare sized':18s} {sized:8.3f} {sized / b_redraw:6.2f}x  "
          f"(Designer / this page: {results['redraw_s']['Designer'] / sized:.2f}x)")  # fmt: skip
    print(f"{'warm visit, bare':18s} {b_warm:8.3f}")
    for name in STUDIO_PAGES:
        target = "  (target <= 1.3x)" if name == "Designer" else ""
        print(f"{'warm, ' + name:18s} {results['warm_visit_s'][name]:8.3f} "
              f"{results['warm_visit_s'][name] / b_warm:6.2f}x{target}")  # fmt: skip
    print(f"{'first visit, bare':18s} {b_first:8.3f}")
    print(f"{'first, Designer':18s} {results['first_visit_s']['Designer']:8.3f} "
          f"{results['first_visit_s']['Designer'] / b_first:6.2f}x  (target <= 1.5x)")  # fmt: skip
    print("redraw phases, median seconds after Enter (script started / new curve drawn / run finished):")
    for name, ph in results["redraw_phases_s"].items():
        print(
            f"  {name:22s} "
            + "  ".join(f"{p} {ph.get(p, float('nan')):.3f}" for p in ("running", "chart", "done"))
        )
    bd = results["breakdown"]
    print(
        f"Designer rerun (AppTest, server side only): {bd['script_rerun_s_median']:.3f} s median; "
        f"figure JSON {bd['figure_json_bytes'] / 1024:.0f} KB; {bd['elements_per_run']} elements"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
