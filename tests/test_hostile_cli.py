"""Issue 30, findings 7 and 8: the CLI's inputs and outputs, and the validation gaps.

Every case exits 2 with lines naming the field or the file, never ``error: <ExceptionClass>: ...`` and
never a traceback; an input file is never overwritten; ``validate /dev/zero`` stops after 1 MB.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schedules import load_config
from schedules.cli import main
from schedules.design import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DESIGN = {
    "name": "d",
    "optimizer": {"name": "AdamW", "lr": 1e-3},
    "training": {"dataset_size": 1000, "micro_batch_size": 32, "epochs": 2},
    "warmup": {"steps": 5},
    "decay": {"scheduler": "CosineAnnealingLR"},
}
#: ``error: SomeClass: ...``: the catch-all a user must never reach.
CATCH_ALL = ("Error:", "Exception:", "internal error", "Traceback")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    d = tmp_path / "d.json"
    d.write_text(json.dumps(DESIGN))
    run = tmp_path / "run.csv"
    run.write_text(
        "step,lr,loss\n" + "".join(f"{i},{0.001 * (1 - i / 200):.6g},{3 - i * 0.01}\n" for i in range(200))
    )
    binary = tmp_path / "bin.json"
    binary.write_bytes(bytes(range(256)) * 10)
    utf16 = tmp_path / "u16.json"
    utf16.write_bytes(json.dumps(DESIGN).encode("utf-16"))
    folder = tmp_path / "folder"
    folder.mkdir()
    hf = tmp_path / "hf.json"
    hf.write_text('{"learning_rate": 0.001, "num_train_epochs": 1, "per_device_train_batch_size": 8}')
    return {
        "d": str(d),
        "run": str(run),
        "bin": str(binary),
        "u16": str(utf16),
        "dir": str(folder),
        "hf": str(hf),
        "under_file": str(d / "x.csv"),
    }


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def plain(lines: list[str]) -> None:
    for line in lines:
        assert not any(word in line for word in CATCH_ALL), line


# --------------------------------------------------------------------------------------------------
# finding 7: reads, encodings, outputs


def test_validate_dev_zero_stops_after_the_cap(capsys) -> None:
    code, err = cli(capsys, "validate", "/dev/zero")
    assert code == 2
    assert err == [
        "/dev/zero: must be at most 1,000,000 bytes (a config is a small JSON document), got 'more than 1,000,000 bytes'"
    ]


@pytest.mark.real
def test_validate_dev_zero_in_a_real_process_stays_small() -> None:
    """The red team saw 3.9 GB: the whole "file" was read before the 1 MB cap."""
    script = (
        "import resource, sys\nfrom schedules.cli import main\ncode = main(['validate', '/dev/zero'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\nsys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "/dev/zero: must be at most 1,000,000 bytes" in proc.stderr
    assert int(proc.stdout.strip()) < 1.5e9


@pytest.mark.parametrize("command", ["validate", "curve", "resume-check", "stack-check"])
def test_binary_and_utf16_files_are_named(capsys, files, command) -> None:
    extra = ["--at", "1"] if command == "resume-check" else []
    code, err = cli(capsys, command, files["bin"], *extra)
    assert (code, err) == (
        2,
        [f"{files['bin']}: must be UTF-8 text (is it a binary file?), got 'byte 0x80 at offset 128'"],
    )
    code, err = cli(capsys, command, files["u16"], *extra)
    assert (code, err) == (2, [f"{files['u16']}: must be UTF-8 text; it is UTF-16 (save it as UTF-8)"])


@pytest.mark.parametrize(
    "args",
    [
        ["curve", "{d}", "-o", "{d}"],
        ["plot", "{d}", "-o", "{d}"],
        ["export", "{d}", "--to", "hf", "-o", "{d}"],
        ["rescale", "{d}", "--accumulation-steps", "2", "-o", "{d}"],
        ["train", "{d}", "--max-steps", "2", "-o", "{d}"],
        ["import", "{hf}", "--from", "hf", "--dataset-size", "100", "-o", "{hf}"],
        ["forecast", "--fit", "{run}", "--predict", "{d}", "-o", "{run}"],
        ["forecast", "--fit", "{run}", "--predict", "{d}", "--save-fit", "{d}"],
    ],
)
def test_an_input_file_is_never_overwritten(capsys, files, args) -> None:
    args = [a.format(**files) for a in args]
    target = args[args.index("-o") + 1] if "-o" in args else args[args.index("--save-fit") + 1]
    before = Path(target).read_bytes()
    code, err = cli(capsys, *args)
    flag = "--output" if "-o" in args else "--save-fit"
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {flag} {target}: is also an input of this command"), err
    assert Path(target).read_bytes() == before


def test_a_folder_or_an_unwritable_output_is_named(capsys, files) -> None:
    for args in (["curve", files["d"], "-o", files["dir"]], ["schema", "-o", files["dir"]]):
        code, err = cli(capsys, *args)
        assert (code, err) == (
            2,
            [f"error: --output {files['dir']}: is a folder; give the name of a file to write"],
        )
    code, err = cli(capsys, "curve", files["d"], "-o", files["under_file"])
    assert code == 2 and err[0].startswith(f"error: {files['under_file']}: cannot be written ("), err
    code, err = cli(
        capsys, "workspace", "export", files["dir"], "--workspace", str(Path(files["dir"]).parent / "ws")
    )
    assert (code, err) == (
        2,
        [f"error: --file {files['dir']}: is a folder; give the name of a file to write"],
    )


def test_time_limit_must_be_finite_and_not_negative(capsys, files) -> None:
    for value in ("-1", "nan", "inf", "-inf", "soon"):
        code, err = cli(capsys, "curve", files["d"], f"--time-limit={value}")
        assert code == 2 and "argument --time-limit: must be a" in err[-1] and repr(value) in err[-1], err
    assert cli(capsys, "curve", files["d"], "--time-limit", "0")[0] == 0  # 0: no limit


def test_hostile_cli_sweep_never_reaches_the_catch_all(capsys, files, tmp_path) -> None:
    """The paths that ended in ``error: <ExceptionClass>: ...`` (or a traceback), one per line."""
    huge = "9" * 30
    ws = str(tmp_path / "ws")
    cases = [
        ["validate", files["dir"]],
        ["validate", str(tmp_path / "nope.json")],
        ["curve", "/dev/zero"],
        ["presets", "cosine", "--base", "/dev/zero"],
        ["import", "/dev/zero", "--from", "hf", "--dataset-size", "100"],
        ["import", files["bin"], "--from", "deepspeed"],
        ["import", files["dir"], "--from", "hf", "--dataset-size", "10"],
        ["forecast", "--fit", "/dev/zero", "--predict", files["d"]],
        ["forecast", "--fit", files["dir"], "--predict", files["d"]],
        ["forecast", "--fit", files["run"], "--predict", "/dev/zero"],
        ["forecast", "--fit", files["run"], "--predict", files["u16"]],
        ["train", "/dev/zero"],
        ["train", files["d"], "--seed", huge, "--max-steps", "2"],
        ["resume-check", files["d"], "--at", huge],
        ["workspace", "show", "run", huge, "--workspace", ws],
        ["workspace", "show", "fit", huge, "--workspace", ws],
        ["workspace", "show", "design", huge, "--workspace", ws],
        ["workspace", "show", "run", "²", "--workspace", ws],
        ["workspace", "import", "/dev/zero", "--workspace", ws],
        ["workspace", "import", files["dir"], "--workspace", ws],
        ["workspace", "import", files["d"], "--workspace", ws],
        ["workspace", "train", "/dev/zero", "--workspace", ws],
        ["workspace", "train", files["d"], "--flush-seconds", "nan", "--workspace", ws],
        ["plot", files["d"], "-o", files["under_file"].replace(".csv", ".html")],
    ]
    for args in cases:
        code, err = cli(capsys, *args)
        assert code == 2, (args, err)
        assert err and all(line.strip() for line in err), (args, err)
        plain(err)


# --------------------------------------------------------------------------------------------------
# finding 8: validation gaps


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        (
            {"betas": [0.9]},
            "optimizer.kwargs.betas: must be a list of 2 numbers (torch.optim.Adam's betas, default [0.9, 0.999]), got [0.9]",
        ),
        ({"betas": [0.9, "x"]}, "optimizer.kwargs.betas: must be a list of 2 numbers"),
        (
            {"maximize": "yes"},
            "optimizer.kwargs.maximize: must be true or false (torch.optim.Adam's maximize is a bool), got 'yes'",
        ),
        ({"amsgrad": 1}, "optimizer.kwargs.amsgrad: must be true or false"),
        ({"eps": "1e-8"}, "optimizer.kwargs.eps: must be a number (torch.optim.Adam's eps), got '1e-8'"),
        ({"weight_decay": True}, "optimizer.kwargs.weight_decay: must be a number"),
        ({"fused": "no"}, "optimizer.kwargs.fused: must be true or false"),
    ],
)
def test_optimizer_kwargs_are_typed_by_torchs_signature(kwargs, line) -> None:
    cfg = {**DESIGN, "optimizer": {"name": "Adam", "lr": 1e-3, "kwargs": kwargs}}
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert err.value.lines()[0].startswith(line), err.value.lines()


def test_well_typed_optimizer_kwargs_still_load() -> None:
    ok = {
        "betas": [0.8, 0.99],
        "eps": 1e-8,
        "weight_decay": 0,
        "amsgrad": True,
        "foreach": None,
        "maximize": False,
    }
    load_config({**DESIGN, "optimizer": {"name": "Adam", "lr": 1e-3, "kwargs": ok}})
    load_config(
        {**DESIGN, "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9, "nesterov": True}}}
    )
    load_config({**DESIGN, "optimizer": {"name": "Adafactor", "lr": 0.01, "kwargs": {"eps": [None, 0.001]}}})


def test_an_lr_lambda_cannot_take_the_lr_over_optimizer_lrs_cap() -> None:
    """LambdaLR: lr = base x factor; a factor of 1e16 on 1e-3 was an lr of 1e13 (the cap is 10)."""
    base = {**DESIGN, "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "1e16"}}}
    with pytest.raises(ConfigError) as err:
        load_config(base)
    assert err.value.lines() == [
        "decay.kwargs.lr_lambda: must keep the lr <= 10 (the cap of optimizer.lr): its factor at step=0 is 1e+16, "
        "so the lr would be 0.001 x 1e+16 = 1e+13, got '1e16'"
    ]
    # 1 + step over the decay's 59 steps (64 - 5 warmup): at most 60 x 1e-3 = 0.06: fine.
    load_config({**DESIGN, "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "1 + step"}}})
    # 1e4 x 1e-3 = 10 exactly is allowed; just above is not.
    load_config({**DESIGN, "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "10000"}}})
    with pytest.raises(ConfigError, match="so the lr would be 0.001 x 1e\\+04 = 10"):
        load_config({**DESIGN, "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": "10001"}}})


def test_a_multiplicative_lr_is_capped_on_the_product_of_its_factors() -> None:
    """MultiplicativeLR multiplies the lr by f(k) at every step k >= 1: 1.5 over the 59 decay steps is
    1.5**59 = 2.4e10 times the lr; 0.99 never grows it."""
    cfg = {**DESIGN, "decay": {"scheduler": "MultiplicativeLR", "kwargs": {"lr_lambda": "1.5"}}}
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    (line,) = err.value.lines()
    n = load_config({**DESIGN, "decay": None}).plan.total_steps - 5
    assert f"the product of its factors up to step={n} is {1.5**n:.3g}" in line
    assert math.isclose(1.5**n * 1e-3, float(line.split(" = ")[1].split(",")[0]), rel_tol=1e-2)
    load_config({**DESIGN, "decay": {"scheduler": "MultiplicativeLR", "kwargs": {"lr_lambda": "0.99"}}})


def test_a_repeated_json_key_is_refused_naming_it(capsys, tmp_path) -> None:
    path = tmp_path / "dup.json"
    path.write_text(
        '{"name": "a", "optimizer": {"name": "SGD", "lr": 0.1, "lr": 5}, "training": {"dataset_size": 10}}'
    )
    code, err = cli(capsys, "validate", str(path))
    assert (code, err) == (
        2,
        [
            "optimizer.lr: must appear once in its object (JSON with a repeated key is ambiguous: which value is meant?)"
        ],
    )


def test_a_saved_fit_is_read_bounded_and_an_output_folder_is_allowed_where_a_command_writes_into_one(
    capsys, tmp_path
) -> None:
    """forecast --load-fit /dev/zero stops at the cap; -o names a folder for forecast's several targets
    (written inside, by name), and is still refused as a folder for curve."""
    import argparse

    from schedules.cli import main
    from schedules.command import OutputError, check_outputs, mark_outputs

    assert main(["forecast", "--load-fit", "/dev/zero", "--predict", "x.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "/dev/zero: must be at most 5,000,000 bytes, got 'more than 5,000,000 bytes'", err
    p = argparse.ArgumentParser()
    p.add_argument("-o", "--output")
    mark_outputs(p, "output", folders=("output",))
    check_outputs(p.parse_args(["-o", str(tmp_path)]))  # a folder: allowed here
    q = argparse.ArgumentParser()
    q.add_argument("-o", "--output")
    with pytest.raises(OutputError, match="is a folder"):
        check_outputs(q.parse_args(["-o", str(tmp_path)]))
