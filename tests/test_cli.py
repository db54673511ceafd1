"""``python -m schedules``: curve CSV, validate, schema; exit codes 0/1/2 and never a traceback."""

import csv
import json
import subprocess
import sys

import pytest

from schedules import lr_curve
from schedules.cli import main

WORKED = {
    "optimizer": {
        "name": "SGD",
        "lr": 0.1,
        "param_groups": [{"name": "body", "lr_scale": 0.5}, {"name": "head"}],
    },
    "training": {"dataset_size": 1000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 3},
    "warmup": {"steps": 4, "start_factor": 0.0},
    "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 10, "gamma": 0.5}},
}


def write(tmp_path, data, name="c.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "schedules", *args], capture_output=True, text=True, timeout=120
    )


def test_curve_csv_columns_and_values(tmp_path):
    out = tmp_path / "curve.csv"
    assert main(["curve", write(tmp_path, WORKED), "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["step", "epoch", "samples", "lr", "lr/body", "lr/head"]
    assert len(rows) == 24
    # Warmup 0, .25, .5, .75 of 0.1; then StepLR halves every 10 decay steps; epoch 8 steps; samples as planned.
    assert [float(r["lr/head"]) for r in rows[:5]] == [0.1 * k / 4 for k in range(4)] + [0.1]
    assert [float(rows[k]["lr/head"]) for k in (13, 14, 23)] == [
        0.1,
        0.05,
        0.05,
    ]  # j = k - 4; 0.5 ** (j // 10)
    assert [float(r["lr"]) for r in rows] == [float(r["lr/body"]) for r in rows]
    assert float(rows[4]["lr/body"]) == 0.05
    assert [(r["step"], r["epoch"], r["samples"]) for r in (rows[7], rows[8], rows[23])] == [
        ("7", "0", "1000"),
        ("8", "1", "1128"),
        ("23", "2", "3000"),
    ]
    # Full precision: the CSV round-trips to the library's values exactly.
    frame = lr_curve(WORKED)
    assert [float(r["lr/head"]) for r in rows] == frame["lr/head"].tolist()


def test_curve_single_group_has_no_group_columns(tmp_path, capsys):
    assert main(["curve", write(tmp_path, {"training": {"max_steps": 3}})]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "step,epoch,samples,lr"


def test_validate_ok_and_invalid_exit_codes(tmp_path, capsys):
    assert main(["validate", write(tmp_path, WORKED)]) == 0
    assert "24 optimizer steps" in capsys.readouterr().out
    bad = {
        **WORKED,
        "training": {**WORKED["training"], "accumulation_steps": 0, "epochs": -1},
        "color": "red",
    }
    assert main(["validate", write(tmp_path, bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "training.accumulation_steps: must be an integer >= 1 and <= 100000, got 0",
        "training.epochs: must be an integer >= 1 and <= 100000, got -1",
        "color: is not a known field (allowed: format, name, optimizer, training, warmup, decay, plateau, wsd, stack), got 'red'",
    ]


@pytest.mark.parametrize(
    ("content", "first_line"),
    [
        ("not json", "(file): must be valid JSON"),
        ('{"warmup": {"steps": "ten"}}', "warmup.steps: must be an integer"),
        (
            '{"decay": {"scheduler": "StepLR", "kwargs": {"gamma": -1}}}',
            "decay.kwargs.gamma: must be a number > 0",
        ),
        ('{"plateau": {"mode": "minimum"}}', "plateau.mode: must be one of 'min' or 'max'"),
        ('{"optimizer": {"name": "LBFGS"}}', "optimizer.name: must be one of"),
    ],
)
def test_invalid_input_exit_2_one_line(tmp_path, capsys, content, first_line):
    for command in ("validate", "curve"):
        path = write(tmp_path, content)
        assert main([command, path]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(first_line.replace("(file)", path))  # a file's problems name it
        assert len(captured.err.strip().splitlines()) == 1
        assert "Traceback" not in captured.err and captured.out == ""


def test_invalid_input_in_a_real_process_has_no_traceback(tmp_path):
    proc = run_cli("curve", write(tmp_path, '{"training": {"epochs": "three"}}'))
    assert proc.returncode == 2
    assert proc.stderr == "training.epochs: must be an integer >= 1 and <= 100000, got 'three'\n"
    assert proc.stdout == ""


def test_missing_file_and_usage_errors(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read the file" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_an_output_that_is_a_folder_exits_2_naming_it(tmp_path):
    target = tmp_path / "dir-not-file"
    target.mkdir()
    proc = run_cli("curve", write(tmp_path, WORKED), "-o", str(target))
    assert proc.returncode == 2
    assert proc.stderr == f"error: --output {target}: is a folder; give the name of a file to write\n"


def test_schema_command_matches_checked_in_file(capsys):
    from schedules.design.parse import SCHEMA_PATH

    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SCHEMA_PATH.read_text()


def test_presets_command_lists_and_writes(tmp_path, capsys):
    assert main(["presets"]) == 0
    assert "cosine_with_min_lr" in capsys.readouterr().out
    out = tmp_path / "p.json"
    assert main(["presets", "cosine", "-o", str(out)]) == 0
    cfg = json.loads(out.read_text())
    assert cfg["decay"]["scheduler"] == "CosineAnnealingLR" and cfg["warmup"]["ratio"] == 0.05
    assert main(["presets", "nope"]) == 2
