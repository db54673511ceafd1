"""Real processes: ``python -m schedules trace -- ...`` around the user's own scripts
(``tests/trace_scripts/``, which know nothing of the studio), then ``python -m schedules diagnose``.

Every planted mistake must be named first (with its factor where one applies); every correct script
must ``match`` with no cause.  The designs are ``tests/trace_scripts/*_design.json`` (24 optimizer
steps, warmup 4 + cosine; see each script's docstring for the numbers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "trace_scripts"
PLAIN = SCRIPTS / "plain_design.json"
pytestmark = pytest.mark.real


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["HF_HUB_OFFLINE"] = "1"
    return env


def trace(tmp_path: Path, command: list[str], design: Path | None = None, timeout: int = 600):
    out = tmp_path / "trace.csv"
    args = [sys.executable, "-m", "schedules", "trace", "-o", str(out)]
    if design is not None:
        args += ["--design", str(design)]
    done = subprocess.run(
        [*args, "--", *command], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    return done, out


def diagnose(log: Path, design: Path | None = None) -> tuple[int, dict]:
    args = [sys.executable, "-m", "schedules", "diagnose", str(log), "--json"]
    if design is not None:
        args += ["--design", str(design)]
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def traced_and_diagnosed(tmp_path, command, design=PLAIN):
    done, out = trace(tmp_path, command, design)
    assert done.returncode == 0, done.stderr[-3000:]
    code, report = diagnose(out)  # the design travels in the trace's sidecar
    return code, report, pd.read_csv(out)


# --------------------------------------------------------------------------------------------------
# a plain loop


PLAIN_MISTAKES = [
    # (--mistake, the cause named first, its factor or None)
    ("per_micro_batch", "scheduler_per_micro_batch", 4),
    ("before_optimizer", "scheduler_before_optimizer", None),
    ("wrong_total", "wrong_total_steps", 4),
    ("warmup_micro", "warmup_in_micro_batches", 4),
    ("amp_skipped", "amp_skipped_steps", None),
]


@pytest.mark.parametrize(("mistake", "code", "factor"), PLAIN_MISTAKES)
def test_each_mistake_planted_in_a_plain_loop_is_named_first(tmp_path, mistake, code, factor):
    exit_code, report, frame = traced_and_diagnosed(
        tmp_path, [sys.executable, str(SCRIPTS / "plain_loop.py"), "--mistake", mistake]
    )
    assert len(frame) == 24 and frame["step"].tolist() == list(range(24))
    assert exit_code == 1 and report["verdict"] == "differs"
    first = report["causes"][0]
    assert first["code"] == code, report
    if factor is not None:
        assert first["evidence"]["factor"] == factor
    assert first["fix"]


@pytest.mark.parametrize("flags", [[], ["--amp"]])
def test_a_correct_plain_loop_matches(tmp_path, flags):
    exit_code, report, frame = traced_and_diagnosed(
        tmp_path, [sys.executable, str(SCRIPTS / "plain_loop.py"), *flags]
    )
    assert (exit_code, report["verdict"], report["causes"]) == (0, "matches", [])
    if flags:  # the GradScaler skipped the first 3 steps: rows, flagged, lr unchanged
        assert frame["skipped"].tolist()[:4] == [1, 1, 1, 0]


def test_a_scheduler_rebuilt_fresh_at_a_resume_is_named(tmp_path):
    script, ckpt = SCRIPTS / "plain_loop.py", tmp_path / "ckpt.pt"
    shell = (
        f"{sys.executable} {script} --stop-at 10 --checkpoint {ckpt} && "
        f"{sys.executable} {script} --resume {ckpt} --mistake resume_reset"
    )
    exit_code, report, frame = traced_and_diagnosed(tmp_path, ["sh", "-c", shell])
    assert len(frame) == 24 and frame["rank"].eq(0).all()  # two processes, one after the other: one rank
    assert exit_code == 1
    first = report["causes"][0]
    assert first["code"] == "resume_reset", report
    assert first["evidence"]["resume_step"] == 10


def test_a_correct_resume_matches(tmp_path):
    script, ckpt = SCRIPTS / "plain_loop.py", tmp_path / "ckpt.pt"
    shell = f"{sys.executable} {script} --stop-at 10 --checkpoint {ckpt} && {sys.executable} {script} --resume {ckpt}"
    exit_code, report, _ = traced_and_diagnosed(tmp_path, ["sh", "-c", shell])
    assert (exit_code, report["verdict"]) == (0, "matches"), report


@pytest.mark.parametrize(("flags", "verdict"), [([], "matches"), (["--mistake", "every_step"], "differs")])
def test_reduce_lr_on_plateau_on_the_wrong_cadence_is_named(tmp_path, flags, verdict):
    exit_code, report, _ = traced_and_diagnosed(
        tmp_path, [sys.executable, str(SCRIPTS / "plateau_loop.py"), *flags], SCRIPTS / "plateau_design.json"
    )
    assert report["verdict"] == verdict, report
    if verdict == "differs":
        assert exit_code == 1 and report["causes"][0]["code"] == "plateau_cadence"
    else:
        assert exit_code == 0 and report["causes"] == []


# --------------------------------------------------------------------------------------------------
# the command's own exit code, a command that cannot start


def test_a_failing_command_keeps_its_exit_code_and_its_output(tmp_path):
    done, out = trace(tmp_path, [sys.executable, "-c", "import sys; print('hello'); sys.exit(3)"])
    assert done.returncode == 3
    assert "hello" in done.stdout


def test_a_command_that_cannot_start_is_exit_2_with_one_line(tmp_path):
    done, _ = trace(tmp_path, ["/nonexistent/definitely-not-a-command"])
    assert done.returncode == 2
    assert "definitely-not-a-command" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------------
# real libraries: HF Trainer, Lightning, accelerate on 2 gloo processes


@pytest.mark.parametrize(
    ("flags", "code", "factor"), [([], None, None), (["--mistake", "wrong_total"], "wrong_total_steps", 4)]
)
def test_a_real_hf_trainer(tmp_path, flags, code, factor):
    state = tmp_path / "trainer_state.json"
    exit_code, report, frame = traced_and_diagnosed(
        tmp_path, [sys.executable, str(SCRIPTS / "hf_trainer.py"), "--state", str(state), *flags]
    )
    assert len(frame) == 24
    if code is None:
        assert (exit_code, report["verdict"], report["causes"]) == (0, "matches", [])
    else:
        assert exit_code == 1 and report["causes"][0]["code"] == code, report
        assert report["causes"][0]["evidence"]["factor"] == factor
    # the Trainer's own log, no trace: the same verdict against the design
    log_code, log_report = diagnose(state, PLAIN)
    assert log_report["verdict"] == report["verdict"], log_report
    if code is not None:
        assert log_report["causes"][0]["code"] == code


@pytest.mark.parametrize(("flags", "code"), [([], None), (["--mistake", "epoch_interval"], "epoch_interval")])
def test_a_real_lightning_run(tmp_path, flags, code):
    exit_code, report, frame = traced_and_diagnosed(
        tmp_path, [sys.executable, str(SCRIPTS / "lightning_module.py"), *flags]
    )
    assert len(frame) == 24
    if code is None:
        assert (exit_code, report["verdict"], report["causes"]) == (0, "matches", [])
    else:
        assert exit_code == 1 and report["causes"][0]["code"] == code, report


@pytest.mark.parametrize(
    ("flags", "code", "factor"),
    [([], None, None), (["--mistake", "per_process"], "scheduler_per_process", 2)],
)
def test_accelerate_on_two_gloo_processes(tmp_path, flags, code, factor):
    exit_code, report, frame = traced_and_diagnosed(
        tmp_path,
        [sys.executable, str(SCRIPTS / "accelerate_loop.py"), "--spawn", "2", *flags],
        SCRIPTS / "accelerate_design.json",
    )
    # one row per optimizer step on each rank
    assert sorted(frame["rank"].unique().tolist()) == [0, 1]
    for rank in (0, 1):
        assert frame.loc[frame["rank"] == rank, "step"].tolist() == list(range(24))
    if code is None:
        assert (exit_code, report["verdict"], report["causes"]) == (0, "matches", [])
    else:
        assert exit_code == 1 and report["causes"][0]["code"] == code, report
        assert report["causes"][0]["evidence"]["factor"] == factor


def test_torchrun_launches_two_traced_ranks(tmp_path):
    """The user's command is ``torchrun --nproc_per_node 2 accelerate_loop.py``: torchrun's own process
    and both ranks it starts run the injected tracer; the ranks come from torchrun's RANK variables."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    exit_code, report, frame = traced_and_diagnosed(
        tmp_path,
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            str(SCRIPTS / "accelerate_loop.py"),
            "--mistake",
            "per_process",
        ],
        SCRIPTS / "accelerate_design.json",
    )
    assert sorted(frame["rank"].unique().tolist()) == [0, 1]
    for rank in (0, 1):
        assert frame.loc[frame["rank"] == rank, "step"].tolist() == list(range(24))
    assert exit_code == 1 and report["causes"][0]["code"] == "scheduler_per_process", report
    assert report["causes"][0]["evidence"]["factor"] == 2


def test_the_users_own_sitecustomize_still_runs(tmp_path):
    """The tracer's sitecustomize goes first on PYTHONPATH; the one it shadows (the user's) still runs."""
    user = tmp_path / "user_site"
    user.mkdir()
    (user / "sitecustomize.py").write_text('import os\nos.environ["USER_SITECUSTOMIZE_RAN"] = "yes"\n')
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(user)])
    code = "import os, torch; print('user sitecustomize:', os.environ.get('USER_SITECUSTOMIZE_RAN'))"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schedules",
            "trace",
            "-o",
            str(tmp_path / "t.csv"),
            "--",
            sys.executable,
            "-c",
            code,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "user sitecustomize: yes" in done.stdout
