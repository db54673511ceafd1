"""Issue 30, finding 5: run logs and Forecast under hostile files.

The row cap is checked before parsing (15 million empty lines: refused at once, not 20 s and 1.5 GB),
numbers of absurd length are refused naming the row and column, absurd losses are refused by the
fit, and every value dropped while reading is counted with its reason (inf/NaN, not a number, no
whole step, a repeated step) in the log's notes, which the CLI prints and the pages show.
"""

from __future__ import annotations

import json
import resource

import numpy as np
import pytest

from schedules.design import ConfigError
from schedules.forecast.runs import MAX_LOSS, Run, run_from_log
from schedules.logs import MAX_LOG_ROWS, MAX_NUMBER_CHARS, read_log


def problems(data: bytes, name: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        read_log(data, name)
    return err.value.lines()


def test_fifteen_million_empty_lines_are_refused_before_parsing() -> None:
    data = b"step,lr,loss\n" + b"\n" * 15_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert problems(data, "empty.csv") == [
        f"empty.csv: must have at most {MAX_LOG_ROWS:,} rows, got '15,000,000 rows'"
    ]
    # refused before parsing: no frame of 15,000,000 rows was built (its time: bench/hostile_refusals.py)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) < 200_000  # KB; was 1.5 GB


def test_a_json_log_with_too_many_records_is_refused_before_parsing() -> None:
    data = ("[" + ",".join(["{}"] * (MAX_LOG_ROWS + 1)) + "]").encode()
    assert problems(data, "h.json") == [
        f"h.json: must have at most {MAX_LOG_ROWS:,} records, got '{MAX_LOG_ROWS + 1:,} records'"
    ]


@pytest.mark.parametrize(
    ("data", "name", "line"),
    [
        (
            b"step,lr,loss\n" + b"9" * 5000 + b",0.1,1.0\n1,0.1,1.0\n",
            "log.csv",
            "log.csv: row 1, column 'step'",
        ),
        (
            b'{"log_history": [{"step": 1, "loss": 2.0}, {"step": ' + b"9" * 5000 + b', "loss": 1.0}]}',
            "trainer_state.json",
            "trainer_state.json: row 2, column 'step'",
        ),
        (
            b'{"step": 0, "loss": 2.0}\n{"step": 1, "loss": 0.' + b"0" * 100 + b"1}\n",
            "log.jsonl",
            "log.jsonl: row 2, column 'loss'",
        ),
    ],
)
def test_a_number_of_absurd_length_is_refused_naming_row_and_column(data, name, line) -> None:
    (got,) = problems(data, name)
    assert got.startswith(line + f": must be a number of at most {MAX_NUMBER_CHARS} characters; it has "), got


def test_dropped_values_are_counted_with_their_reason() -> None:
    csv = (
        "step,lr,loss\n"
        "0,0.1,3.0\n"
        "1,0.1,inf\n"  # inf: dropped
        "2,0.1,nan\n"  # NaN: dropped
        "2,0.1,2.5\n"  # step 2 again: the lr repeats (the last is kept); the loss has one value there
        "3,0.1,abc\n"  # not a number
        "3.5,0.1,2.4\n"  # no whole step
        "4,0.1,\n"  # empty: not a value, not counted
        "5,0.1,2.2\n"
    )
    log = read_log(csv.encode(), "run.csv")
    assert log.series["loss"]["step"].tolist() == [0, 2, 5]
    assert log.series["loss"]["value"].tolist() == [3.0, 2.5, 2.2]
    assert log.series["lr"]["step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert log.notes == [
        "column 'lr': 2 values dropped: 1 without a whole step, 1 at a step logged again (the last value there is kept)",
        "column 'loss': 4 values dropped: 2 inf or NaN, 1 not a number, 1 without a whole step",
    ]


def test_json_logs_count_nan_and_repeated_steps_too() -> None:
    records = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": float("nan")}, {"step": 3, "loss": 1.5},
               {"step": 3, "loss": 1.4}, {"step": 4, "learning_rate": 1e-3}]  # fmt: skip
    log = read_log(json.dumps({"log_history": records}).encode(), "trainer_state.json")
    assert log.series["loss"]["value"].tolist() == [2.0, 1.4]
    assert log.notes == [
        "column 'loss': 2 values dropped: 1 inf or NaN, 1 at a step logged again (the last value there is kept)"
    ]


def test_semicolon_logs_and_nan_cells_next_to_each_other() -> None:
    log = read_log(b"step;loss;val_loss\n1;nan;nan\n2;2.0;NaN\n3;1.5;1.7\n", "semi.csv")
    assert log.series["loss"]["value"].tolist() == [2.0, 1.5] and log.series["val_loss"]["step"].tolist() == [
        3
    ]
    assert log.notes == [
        "column 'loss': 1 value dropped: 1 inf or NaN",
        "column 'val_loss': 2 values dropped: 2 inf or NaN",
    ]


def test_absurd_losses_are_refused_by_the_fit_not_fitted() -> None:
    lr = np.linspace(1e-3, 1e-4, 100)
    loss = 3.0 - np.linspace(0, 1, 100)
    loss[40] = 1e300
    with pytest.raises(ConfigError) as err:
        Run("huge.csv", lr, np.arange(100), loss)
    assert err.value.lines() == [
        f"huge.csv: loss: must be <= {MAX_LOSS:g} at every logged step (a larger loss is a diverged run or a unit "
        "mistake, not a point to fit); at step 40, got 1e+300"
    ]
    loss[40] = MAX_LOSS  # the cap itself is allowed
    Run("ok.csv", lr, np.arange(100), loss)


def test_a_forecast_run_says_what_its_log_dropped() -> None:
    rows = "".join(f"{i},{1e-3 * (1 - i / 100):.6g},{'inf' if i == 7 else 3 - i / 100}\n" for i in range(100))
    run = run_from_log(read_log(("step,lr,loss\n" + rows).encode(), "r.csv"))
    assert "column 'loss': 1 value dropped: 1 inf or NaN" in run.notes


def test_the_cli_prints_the_dropped_counts(tmp_path, capsys) -> None:
    from schedules.cli import main

    def log(name: str, decay: bool) -> str:
        path = tmp_path / name
        lrs = [1e-3 * (1 - i / 400) if decay else 1e-3 for i in range(400)]
        losses = [2 + 3 * (i + 10) ** -0.5 - (0.2 * i / 400 if decay else 0) for i in range(400)]
        losses[17] = float("nan")
        path.write_text(
            "step,lr,loss\n"
            + "".join(f"{i},{lr!r},{loss!r}\n" for i, (lr, loss) in enumerate(zip(lrs, losses, strict=True)))
        )
        return str(path)

    design = tmp_path / "d.json"
    design.write_text(json.dumps({"optimizer": {"name": "SGD", "lr": 1e-3}, "training": {"max_steps": 400}}))
    code = main(
        [
            "forecast",
            "--fit",
            log("a.csv", False),
            log("b.csv", True),
            "--predict",
            str(design),
            "-o",
            str(tmp_path / "out.csv"),
            "--bootstrap",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: a.csv: column 'loss': 1 value dropped: 1 inf or NaN" in err
    assert "note: b.csv: column 'loss': 1 value dropped: 1 inf or NaN" in err


def test_the_run_logs_page_shows_the_dropped_counts_and_the_refusals() -> None:
    """The same log on the Run logs page (AppTest): the counts are visible under the summary; a
    5,000-digit step is an error box naming its row and column, not an exception box."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    main = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
    at = AppTest.from_file(main, default_timeout=90)
    at.run()
    at.switch_page("views/logs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    csv = "step,lr,loss\n0,0.1,3.0\n1,0.1,inf\n2,0.1,nan\n2,0.1,2.5\n3,0.1,abc\n5,0.1,2.2\n"
    at.file_uploader(key="logs_upload").set_value(("run.csv", csv.encode(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert "column 'lr': 1 value dropped: 1 at a step logged again (the last value there is kept)" in captions
    assert "column 'loss': 3 values dropped: 2 inf or NaN, 1 not a number" in captions, captions

    long_step = b"step,lr,loss\n" + b"9" * 5000 + b",0.1,1.0\n1,0.1,1.0\n"
    at.file_uploader(key="logs_upload").set_value(("long.csv", long_step, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "long.csv could not be read" in errors[0], errors
    assert "`long.csv`: row 1, column 'step': must be a number of at most 64 characters" in errors[0].replace(
        "\\", ""
    ), errors
