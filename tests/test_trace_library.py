"""Traces and diagnoses in the Library: a run of kind 'trace' (every rank's rows, the sidecar, the
diagnosis), a diagnosed log as an imported run; both read back and diagnosed again the same way.

The design is ``tests/trace_scripts/plain_design.json``: row k < 4 is ``0.1 * k / 4``, row k >= 4 is
``0.05 * (1 + cos(pi * (k - 4) / 20))``, 24 rows.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd

from schedules.trace.diagnose import diagnose
from schedules.trace.library import TRACE_KIND, diagnosed_runs, observed_of_run, save_diagnosed
from schedules.trace.observed import read_observed
from schedules.workspace import Workspace
from schedules.workspace.runlogs import log_of_run

DESIGN = Path(__file__).resolve().parent / "trace_scripts" / "plain_design.json"


def design_lr(k: int) -> float:
    return 0.1 * k / 4 if k < 4 else 0.05 * (1 + math.cos(math.pi * (k - 4) / 20))


def two_rank_trace(per_micro_batch: bool) -> bytes:
    """A hand-made 2-rank trace: per micro-batch, row k shows the design's row 4k + 4 (clipped)."""
    rows = []
    for rank in (0, 1):
        for k in range(24):
            j = min(4 * k + 4, 23) if per_micro_batch else k
            lr = design_lr(j) if not per_micro_batch or 4 * k + 4 <= 23 else 0.0
            rows.append({"rank": rank, "step": k, "lr": lr, "scheduler_steps": 4 if per_micro_batch else int(k > 0),
                         "micro_batches": 4, "skipped": 0, "plateau_steps": 0})  # fmt: skip
    buf = io.StringIO()
    pd.DataFrame(rows).to_csv(buf, index=False)
    return buf.getvalue().encode()


def test_a_correct_two_rank_trace_is_kept_as_a_trace_run_and_read_back(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite3")
    data = two_rank_trace(per_micro_batch=False)
    found = diagnose(read_observed(data, "t.csv"), str(DESIGN))
    assert found.verdict == "matches"
    run_id = save_diagnosed(ws, data, "t.csv", found)
    [info] = diagnosed_runs(ws)
    assert (info.id, info.kind, info.meta["diagnosis"]["verdict"]) == (run_id, TRACE_KIND, "matches")
    frame = ws.run_frame(run_id)
    assert len(frame) == 48 and sorted(frame["rank"].unique()) == [0, 1]  # every rank's rows kept
    observed = observed_of_run(ws, info)
    assert observed.is_trace and sorted(observed.ranks) == [0, 1]
    assert observed.lr.tolist() == [design_lr(k) for k in range(24)]
    assert diagnose(observed, str(DESIGN)).verdict == "matches"
    # the Run logs / Forecast view of the same run: rank 0's 24 steps
    log = log_of_run(ws, info)
    assert log.series["lr"]["step"].tolist() == list(range(24))
    assert json.loads(info.config)["name"] == json.loads(DESIGN.read_text())["name"]


def test_a_diagnosed_log_is_an_imported_run_with_its_diagnosis(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite3")
    # a log (not a trace): lr per row of a schedule stepped 4x per optimizer step, clipped at the end
    lrs = [design_lr(min(4 * k + 4, 23)) if 4 * k + 4 <= 23 else 0.0 for k in range(24)]
    data = ("step,lr\n" + "".join(f"{k},{v!r}\n" for k, v in enumerate(lrs))).encode()
    found = diagnose(read_observed(data, "run.csv"), str(DESIGN))
    assert found.verdict == "differs"
    first = found.causes[0].code
    save_diagnosed(ws, data, "run.csv", found)
    [info] = diagnosed_runs(ws)
    assert info.kind == "import" and info.meta["diagnosis"]["causes"][0]["code"] == first
    again = diagnose(observed_of_run(ws, info), str(DESIGN))
    assert again.verdict == "differs" and again.causes[0].code == first
