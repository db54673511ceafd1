"""The tracer and the diagnosis, in this process: real torch, real schedulers, hand-computed lrs.

The design of most tests is ``tests/trace_scripts/plain_design.json``: 384 samples, micro-batches of
8, accumulation 4, 2 epochs -> 48 micro-batches and 12 optimizer steps per epoch, T = 24; warmup 4
steps from 0, then cosine to 0 over the 20 steps left: row k < 4 is ``0.1 * k / 4``, row k >= 4 is
``0.05 * (1 + cos(pi * (k - 4) / 20))``.

Real processes (the ``trace`` command, the user's scripts) are in ``tests/test_trace_real.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import schedules
from schedules.cli import main
from schedules.trace import hooks
from schedules.trace.diagnose import diagnose
from schedules.trace.infer import infer_family
from schedules.trace.merge import merge_directory
from schedules.trace.observed import from_trace_frame, read_observed
from schedules.trace.writer import PartWriter

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "trace_scripts"
DESIGN = SCRIPTS / "plain_design.json"


def design_lr(k: int) -> float:
    """The documented formula of plain_design.json (module docstring)."""
    if k < 4:
        return 0.1 * k / 4
    return 0.05 * (1 + math.cos(math.pi * (k - 4) / 20))


def canonical_loop(config, mistake: str = "none", skip_first: int = 0) -> None:
    """24 optimizer steps of 4 micro-batches each, the design's own scheduler; ``mistake`` plants one."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = schedules.build_scheduler(optimizer, config)
    scaler = torch.amp.GradScaler("cpu", init_scale=16.0, enabled=skip_first > 0)
    for step in range(24):
        for _ in range(4):
            scaler.scale(model(torch.randn(8, 2)).pow(2).mean()).backward()
            if mistake == "per_micro_batch":
                schedule.step()
        if step < skip_first:
            for p in model.parameters():
                p.grad.fill_(float("inf"))
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        if mistake == "none" or (mistake == "amp_lag" and scaler.get_scale() >= scale):
            schedule.step()
        optimizer.zero_grad()


# --------------------------------------------------------------------------------------------------
# the Python API: schedules.trace(...) in this process


def test_a_traced_loop_has_one_row_per_optimizer_step_with_the_designed_lrs(tmp_path):
    config = schedules.load_config(DESIGN)
    patched = (torch.optim.Optimizer.zero_grad, torch.autograd.backward, torch.amp.GradScaler.step)
    with schedules.trace(tmp_path / "t.csv", design=DESIGN) as t:
        canonical_loop(config)
    frame = pd.read_csv(tmp_path / "t.csv")
    assert list(frame.columns) == [
        "rank", "step", "lr", "scheduler_steps", "micro_batches", "skipped", "plateau_steps",
    ]  # fmt: skip
    assert frame["step"].tolist() == list(range(24))
    assert frame["rank"].eq(0).all()
    np.testing.assert_allclose(frame["lr"], [design_lr(k) for k in range(24)], rtol=0, atol=1e-15)
    assert frame["lr"].iloc[:5].tolist() == [0.1 * (k / 4) for k in range(4)] + [0.1]  # bit for bit
    assert frame["scheduler_steps"].tolist() == [0] + [1] * 23  # the constructor's step is not counted
    assert frame["micro_batches"].tolist() == [4] * 24
    assert frame["skipped"].sum() == 0
    meta = json.loads((tmp_path / "t.meta.json").read_text())
    assert meta["format"] == "lr-trace/v1" and meta["stack"] == "plain"
    assert meta["design"]["name"] == config.name
    made = meta["ranks"][0]["processes"][0]["schedulers"]
    assert [s["class"] for s in made][:2] == ["LambdaLR", "CosineAnnealingLR"]
    assert made[1]["kwargs"]["T_max"] == 20  # the design's decay length, recorded as built
    found = t.diagnose()
    assert found.verdict == "matches" and found.causes == []
    # every hook is gone after the block
    assert (torch.optim.Optimizer.zero_grad, torch.autograd.backward, torch.amp.GradScaler.step) == patched
    assert "__init_subclass__" not in torch.optim.lr_scheduler.LRScheduler.__dict__
    assert hooks.ACTIVE is None
    from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

    assert not _global_optimizer_pre_hooks and not _global_optimizer_post_hooks


def test_the_package_is_callable_however_it_was_reached():
    import schedules.trace as package

    assert schedules.trace is package
    assert callable(schedules.trace) and callable(package)
    assert "trace" in schedules.__all__


def test_a_scheduler_stepped_per_micro_batch_is_counted_and_named(tmp_path):
    config = schedules.load_config(DESIGN)
    with schedules.trace() as t:
        canonical_loop(config, mistake="per_micro_batch")
    assert t.frame["scheduler_steps"].tolist() == [4] * 24
    # row k has seen 4 (k + 1) scheduler steps: the design's row 4k + 4 while that exists
    assert t.frame["lr"].iloc[0] == pytest.approx(design_lr(4), abs=1e-15)
    assert t.frame["lr"].iloc[4] == pytest.approx(design_lr(20), abs=1e-15)
    found = t.diagnose(DESIGN)
    assert found.verdict == "differs"
    first = found.causes[0]
    assert first.code == "scheduler_per_micro_batch" and first.evidence["factor"] == 4
    assert first.confidence >= 0.99
    assert first.evidence["first_step"] == 0
    assert first.evidence["expected"] == 0.0 and first.evidence["got"] == pytest.approx(0.1)
    assert "% 4 == 0" in first.fix


def test_grad_scaler_skips_are_rows_and_a_lagging_scheduler_is_named():
    config = schedules.load_config(DESIGN)
    with schedules.trace() as t:
        canonical_loop(config, mistake="amp_lag", skip_first=3)
    f = t.frame
    assert len(f) == 24 and f["skipped"].tolist() == [1, 1, 1] + [0] * 21
    assert f["scheduler_steps"].tolist()[:5] == [0, 0, 0, 0, 1]  # nothing stepped after a skipped step
    np.testing.assert_allclose(f["lr"][3:], [design_lr(k - 3) for k in range(3, 24)], atol=1e-15)
    found = t.diagnose(DESIGN)
    assert found.causes[0].code == "amp_skipped_steps" and found.causes[0].evidence["factor"] == 3


def test_a_loop_that_steps_through_skipped_steps_matches():
    config = schedules.load_config(DESIGN)
    with schedules.trace() as t:
        canonical_loop(config, skip_first=3)
    assert t.frame["skipped"].sum() == 3
    assert t.diagnose(DESIGN).verdict == "matches"


# --------------------------------------------------------------------------------------------------
# parts and merging


def _part(directory: Path, rank: int | None, rows: list[tuple], start: float, end: float | None) -> None:
    w = PartWriter(str(directory))
    w._open()
    w.event({"event": "start", "pid": 1, "time": start, "env": {}})
    if rank is not None:
        w.event({"event": "rank", "rank": rank})
    w.event({"event": "optimizer", "optimizer": 0, "class": "SGD", "groups": ["0"]})
    for r in rows:
        w.row(0, *r)
    if end is not None:
        w.event({"event": "end", "time": end, "pending": {"0": [1, 0]}})
    w.close()


def test_processes_without_a_rank_are_one_rank_when_they_follow_each_other(tmp_path):
    # a run (2 steps), then its resume (1 step): one rank; the resume's first row gets the step the
    # first process took after its last optimizer step
    _part(tmp_path, None, [(0, 0, 0, 4, [0.0]), (0, 1, 0, 4, [0.5])], start=1.0, end=2.0)
    _part(tmp_path, None, [(0, 0, 0, 4, [1.0])], start=3.0, end=4.0)
    frame, meta = merge_directory(tmp_path)
    assert frame["rank"].tolist() == [0, 0, 0]
    assert frame["step"].tolist() == [0, 1, 2]
    assert frame["scheduler_steps"].tolist() == [0, 1, 1]
    assert [p["first_step"] for p in meta["ranks"][0]["processes"]] == [0, 2]


def test_concurrent_processes_without_a_rank_get_their_own_and_reported_ranks_win(tmp_path):
    _part(tmp_path, None, [(0, 0, 0, 1, [0.1])], start=1.0, end=5.0)
    _part(tmp_path, None, [(0, 0, 0, 1, [0.2])], start=2.0, end=5.0)
    _part(tmp_path, 3, [(0, 0, 0, 1, [0.3])], start=0.5, end=5.0)
    frame, _ = merge_directory(tmp_path)
    assert dict(zip(frame["rank"], frame["lr"], strict=True)) == {0: 0.1, 1: 0.2, 3: 0.3}


def test_a_killed_process_keeps_every_complete_row(tmp_path):
    _part(tmp_path, 0, [(0, 0, 0, 2, [0.1]), (1, 1, 0, 2, [0.2])], start=1.0, end=None)
    part = next(tmp_path.glob("*.lrtrace"))
    with open(part, "a") as fh:
        fh.write("R,0,0,1,0,2,0.3")  # cut mid-line (no newline): killed while writing
        fh.write("\nR,0,0,1")  # and a line cut short
    frame, meta = merge_directory(tmp_path)
    assert frame["lr"].tolist() == [0.1, 0.2, 0.3]
    assert frame["skipped"].tolist() == [0, 1, 0]
    assert meta["ranks"][0]["processes"][0]["finished"] is False


# --------------------------------------------------------------------------------------------------
# importing the tracer costs nothing


def test_the_tracer_and_its_sitecustomize_import_no_torch(tmp_path):
    code = (
        "import sys, schedules, schedules.trace, schedules.trace.writer; "
        "print(sorted(m for m in ('torch', 'numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
    from schedules.trace.session import traced_environment

    env = traced_environment(str(tmp_path))
    probe = "import sys; print('torch' in sys.modules, 'schedules' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False", out.stderr  # injected, yet nothing imported
    assert list(tmp_path.iterdir()) == []  # and no part file for a process that never stepped


# --------------------------------------------------------------------------------------------------
# the family inference


@pytest.mark.parametrize(
    ("design", "family", "params"),
    [
        ({"warmup": {"steps": 20}, "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 1e-5}}},
         "cosine", {"warmup": 20, "end": 1e-5, "length": 180}),
        ({"warmup": {"steps": 10, "start_factor": 0.1}, "decay": {"scheduler": "LinearLR"}},
         "linear", {"warmup": 10, "start_factor": 0.1, "end": 0.0, "length": 190}),
        ({"warmup": {"steps": 10}}, "constant", {"warmup": 10}),
        ({"decay": {"scheduler": "StepLR", "kwargs": {"step_size": 30, "gamma": 0.5}}},
         "step", {"step_size": 30, "gamma": 0.5}),
        ({"warmup": {"steps": 5}, "decay": {"scheduler": "ExponentialLR", "kwargs": {"gamma": 0.98}}},
         "exponential", {"warmup": 5, "gamma": 0.98}),
        ({"wsd": {"warmup_steps": 10, "decay_steps": 50, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}},
         "wsd", {"warmup": 10, "hold": 140, "length": 50, "end": 1e-4}),
    ],
)  # fmt: skip
def test_the_family_of_each_kind_of_design_is_read_back(design, family, params):
    config = {
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        "training": {"dataset_size": 1000, "micro_batch_size": 10, "epochs": 2},
        **design,
    }
    lr = schedules.lr_curve(config)["lr"].to_numpy()
    fam = infer_family(np.arange(len(lr)), lr, end_at=len(lr))
    assert fam.name == family and fam.exact
    got = {"warmup": fam.warmup, "start_factor": fam.start_factor, **fam.params}
    for key, want in params.items():
        assert got[key] == pytest.approx(want, rel=1e-6, abs=1e-12), key


# --------------------------------------------------------------------------------------------------
# the diagnose command: exit codes and bad input


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_diagnose_json_has_the_documented_shape(tmp_path, capsys):
    config = schedules.load_config(DESIGN)
    with schedules.trace(tmp_path / "t.csv") as _:
        canonical_loop(config, mistake="per_micro_batch")
    code, out, err = _run(["diagnose", str(tmp_path / "t.csv"), "--design", str(DESIGN), "--json"], capsys)
    assert code == 1, err
    doc = json.loads(out)
    assert doc["verdict"] == "differs"
    first = doc["causes"][0]
    assert {"code", "confidence", "evidence", "fix"} <= set(first)
    assert first["code"] == "scheduler_per_micro_batch" and first["evidence"]["factor"] == 4
    code, out, _ = _run(["diagnose", str(tmp_path / "t.csv"), "--design", str(DESIGN)], capsys)
    assert code == 1 and out.startswith("differs: ") and "1. scheduler_per_micro_batch" in out


def test_a_correct_run_log_matches_with_exit_0(tmp_path, capsys):
    frame = schedules.lr_curve(DESIGN)[["step", "lr"]]
    frame.to_csv(tmp_path / "run.csv", index=False)
    code, out, err = _run(["diagnose", str(tmp_path / "run.csv"), "--design", str(DESIGN)], capsys)
    assert code == 0 and out.startswith("matches: "), err
    code, out, err = _run(["diagnose", str(tmp_path / "run.csv"), "--json"], capsys)
    assert code == 0 and json.loads(out) | {"causes": []} == json.loads(out), err
    assert json.loads(out)["family"]["name"] == "cosine"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv: is empty"),
        ("blank.csv", b"\n\n", "blank.csv: is empty"),
        ("no_lr.csv", b"step,loss\n0,1.0\n1,0.9\n", "no_lr.csv: has no lr column"),
        ("header_only.csv", b"step,lr\n", "header_only.csv: has a header but no rows"),
        ("junk.json", b"{not json", "junk.json: must be JSON or JSON Lines"),
        ("trace.csv", b"rank,step,lr,scheduler_steps,micro_batches\n", "trace.csv: has no optimizer steps"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_exit_2(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = _run(["diagnose", str(path)], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_a_missing_log_or_design_is_exit_2(tmp_path, capsys):
    code, _, err = _run(["diagnose", str(tmp_path / "nowhere.csv")], capsys)
    assert code == 2 and "nowhere.csv: cannot be read: no such file" in err
    schedules.lr_curve(DESIGN)[["step", "lr"]].to_csv(tmp_path / "run.csv", index=False)
    code, _, err = _run(
        ["diagnose", str(tmp_path / "run.csv"), "--design", str(tmp_path / "no.json")], capsys
    )
    assert code == 2 and "no.json" in err and len(err.strip().splitlines()) == 1


def test_a_trace_with_a_non_numeric_count_names_row_and_column(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("rank,step,lr,scheduler_steps,micro_batches\n0,0,0.1,1,4\n0,1,0.1,x,4\n")
    code, _, err = _run(["diagnose", str(tmp_path / "t.csv")], capsys)
    assert code == 2 and "t.csv: row 3, column scheduler_steps: must be a number" in err


def test_trace_without_a_command_or_with_a_bad_design_is_exit_2(tmp_path, capsys):
    code, _, err = _run(["trace", "-o", str(tmp_path / "t.csv"), "--"], capsys)
    assert code == 2 and "no command given" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"training": {"accumulation_steps": 0}}')
    marker = tmp_path / "ran"
    code, _, err = _run(["trace", "--design", str(bad), "--", "touch", str(marker)], capsys)
    assert code == 2 and "training.accumulation_steps" in err
    assert not marker.exists()  # the command never started


def test_the_run_logs_reader_takes_rank_0_of_a_trace():
    from schedules.logs import read_log

    text = "rank,step,lr,scheduler_steps,micro_batches,skipped,plateau_steps\n"
    text += "".join(f"{r},{k},{0.1 * (k + 1) + r},1,1,0,0\n" for r in (0, 1) for k in range(3))
    log = read_log(text.encode(), "trace.csv")
    assert log.convention == "rows"
    assert log.series["lr"]["value"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert "a trace of 2 ranks" in log.notes[0]


def test_an_hf_style_log_one_step_late_is_read_one_row_earlier(tmp_path):
    lr = schedules.lr_curve(DESIGN)["lr"].tolist()
    # transformers logs at global_step s the lr that step s - 1 used
    history = [{"step": s, "learning_rate": lr[s - 1], "loss": 1.0} for s in range(1, 25)]
    data = json.dumps({"log_history": history, "max_steps": 24}).encode()
    found = diagnose(read_observed(data, "trainer_state.json"), DESIGN)
    assert found.verdict == "matches"
    assert any("one row earlier" in n for n in found.notes)


def test_observed_from_a_frame_rejects_an_empty_trace():
    from schedules.design import ConfigError

    with pytest.raises(ConfigError, match="has no optimizer steps"):
        from_trace_frame(pd.DataFrame(columns=["rank", "step", "lr"]), "t.csv")
