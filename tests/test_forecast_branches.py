"""Cooldown branches, fit once / predict many, saved fits, and the caveats of a prediction outside the
fitted runs (schedules.forecast: branches, cli, validity)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from test_forecast import MP_TRUE, PEAK, reference_mp, schedule

from schedules import load_config, lr_curve
from schedules.cli import main
from schedules.design import ConfigError
from schedules.forecast import Run, fit_runs, predict
from schedules.forecast.branches import (
    Branch,
    branch_config,
    branch_grid,
    forecast_branches,
    recommend,
    trunk_config,
)
from schedules.forecast.fit import _curve, check_fit
from schedules.forecast.laws import prepare
from schedules.forecast.suggest import ends_lower
from schedules.forecast.validity import ONE_RUN, caveats

#: The design the synthetic runs belong to: AdamW 3e-4, 600 steps of 32 (19,200 samples), warmup 20.
DESIGN = {
    "name": "trunk design",
    "optimizer": {"name": "AdamW", "lr": PEAK},
    "training": {"dataset_size": 19_200, "micro_batch_size": 32, "epochs": 1},
    "warmup": {"steps": 20},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def runs(noise: float = 1e-3) -> list[Run]:
    out = []
    for i, kind in enumerate(("const", "cos")):
        lr = schedule(kind, 600, warm=20)
        rows = np.arange(1, 601)
        loss = reference_mp(lr, MP_TRUE)[rows] * (1 + noise * np.random.default_rng(i).standard_normal(600))
        out.append(Run(kind, lr, rows, loss, batch=32))
    return out


@pytest.fixture(scope="module")
def fit() -> dict:
    return fit_runs(runs(), bootstrap=4)


def _write_runs(folder) -> list[str]:
    paths = []
    for run in runs():
        path = folder / f"{run.name}.csv"
        loss = np.full(len(run.lr), np.nan)
        loss[run.loss_rows[run.loss_rows < len(run.lr)]] = run.loss[run.loss_rows < len(run.lr)]
        pd.DataFrame({"step": np.arange(len(run.lr)), "lr": run.lr, "loss": loss}).to_csv(path, index=False)
        paths.append(str(path))
    return paths


# --------------------------------------------------------------------------------------------------
# the branch designs, by hand


@pytest.mark.parametrize(
    ("shape", "factor"),
    [
        ("linear", lambda p: 1 - 0.9 * p),
        ("cosine", lambda p: 0.1 + 0.9 * (1 + np.cos(np.pi * p)) / 2),
        ("1-sqrt", lambda p: 1 - 0.9 * np.sqrt(p)),
        ("linear-to-zero", lambda p: 1 - p),
    ],
)
def test_branch_curves_by_hand(shape, factor) -> None:
    """Trunk: warmup 20 steps from 0, then 3e-4.  A branch from step 100 over 40 steps: 140 rows, the
    trunk's lr up to row 99, then row 100 + j has 3e-4 x factor(j / 40)."""
    trunk = trunk_config(DESIGN)
    assert trunk.decay is None and trunk.warmup.steps == 20
    cfg = branch_config(trunk, Branch(100, 40, shape, 0.1))
    lr = lr_curve(cfg)["lr"].to_numpy()
    assert len(lr) == 140 and cfg.training.max_steps == 140
    np.testing.assert_allclose(lr[:20], PEAK * np.arange(20) / 20, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(lr[20:100], PEAK, rtol=1e-12)
    j = np.arange(40)
    np.testing.assert_allclose(lr[100:], PEAK * factor(j / 40), rtol=1e-10, atol=1e-18)
    assert cfg.name == f"trunk design: {shape} cooldown from step 100 over 40 steps, " + (
        "to 0" if shape == "linear-to-zero" else "to 0.1 x lr"
    )


def test_lengths_in_percent_and_the_grid() -> None:
    """20% of the branch's run from step 4000: n = 4000 x 20 / 80 = 1000, so n / (s + n) = 0.2."""
    grid = branch_grid([4000], ["20%", 1000, "10%"], ["linear"])
    assert [(b.start, b.length, b.end) for b in grid] == [(4000, 1000, 5000), (4000, 444, 4444)]  # deduped
    assert grid[0].slug == "linear_from4000_over1000"
    with pytest.raises(ConfigError, match="length: must be a number of steps or a percentage"):
        branch_grid([4000], ["abc"], ["linear"])
    with pytest.raises(
        ConfigError, match=r"length: must be a number of steps or a percentage in \(0, 100\)%"
    ):
        branch_grid([4000], ["100%"], ["linear"])
    with pytest.raises(ConfigError, match="branches: must be at most 48"):
        branch_grid(list(range(100, 1400, 100)), [10, 20], ["linear", "cosine"])
    with pytest.raises(
        ConfigError, match=r"start: must be >= 20 \(the trunk's warmup ends at step 20\), got 5"
    ):
        branch_config(trunk_config(DESIGN), Branch(5, 10, "linear"))


def test_trunk_of_a_wsd_design_keeps_its_warmup() -> None:
    wsd = load_config(
        {
            **DESIGN,
            "decay": None,
            "warmup": None,
            "wsd": {"warmup_steps": 30, "decay_ratio": 0.2, "warmup_start": 0.1},
        }
    )
    trunk = trunk_config(wsd)
    assert trunk.wsd is None and trunk.warmup.steps == 30 and trunk.warmup.start_factor == 0.1


# --------------------------------------------------------------------------------------------------
# forecasts


def test_branch_forecasts_and_recommendation(fit) -> None:
    grid = branch_grid([300, 400], ["25%"], ["linear", "1-sqrt", "linear-to-zero"], 0.1)
    result = forecast_branches(fit, DESIGN, grid)
    table = result.table
    assert len(table) == 6 and set(table.end) == {400, 533}
    for _, row in table.iterrows():
        frame = result.predictions[row.branch]
        assert row.loss_pred == frame.loss_pred.iloc[-1] and row.loss_high == frame.loss_high.iloc[-1]
        lr = lr_curve(result.designs[row.branch])["lr"].to_numpy()
        truth = _curve("multi-power", MP_TRUE, prepare(lr), len(lr) + 1, len(lr) + 1)[row.end - 1]
        assert row.loss_pred == pytest.approx(truth, rel=5e-3)  # two 600-step runs, 0.1% noise
    lines = recommend(table)
    assert lines[0].startswith("Stopping at step 400: ") and lines[1].startswith("Stopping at step 533: ")
    best_400 = table[table.end == 400].sort_values("loss_pred").iloc[0]
    assert best_400.branch in lines[0]
    # the trunk is predicted up to the last branch's end
    assert len(result.trunk) == 533 and (result.trunk.lr.iloc[20:] == PEAK).all()


def test_branch_forecasts_equal_forecast_predict_of_the_branch_designs(tmp_path, capsys) -> None:
    """The acceptance: `cooldown` writes each branch's design and its forecast; `forecast --load-fit
    --predict` of those designs gives the same final loss and band, to the last bit."""
    paths = _write_runs(tmp_path)
    design = tmp_path / "design.json"
    design.write_text(json.dumps(DESIGN))
    out = tmp_path / "branches"
    fit_path = tmp_path / "fit.json"
    argv = ["cooldown", str(design), "--fit", *paths, "--start", "300", "450", "--length", "100", "20%"]
    assert main([*argv, "--bootstrap", "3", "--save-fit", str(fit_path), "-o", f"{out}/"]) == 0
    printed = capsys.readouterr().out
    assert "Stopping at step 400:" in printed
    table = pd.read_csv(out / "branches.csv")
    assert len(table) == 4 * 4  # 2 starts x 2 lengths x 4 shapes, no duplicates (20% of 400 = 100: one)
    designs = sorted(str(p) for p in out.glob("*.json"))
    assert len(designs) == len(table)
    predicted = tmp_path / "predicted"
    assert main(["forecast", "--load-fit", str(fit_path), "--predict", *designs, "-o", f"{predicted}/"]) == 0
    for _, row in table.iterrows():
        frame = pd.read_csv(predicted / f"{row.file}.csv")
        assert len(frame) == row.end
        last = frame.iloc[-1]
        assert (last.loss_pred, last.loss_low, last.loss_high) == (row.loss_pred, row.loss_low, row.loss_high)


# --------------------------------------------------------------------------------------------------
# fit once, predict many; saved fits


def test_predict_many_equals_predict_one_and_load_fit_does_not_refit(tmp_path, capsys) -> None:
    paths = _write_runs(tmp_path)
    targets = []
    for kind, kw in (("wsd", {"frac": 0.3}), ("cos", {"final": 0.1}), ("step", {})):
        path = tmp_path / f"t_{kind}.csv"
        pd.DataFrame({"step": np.arange(600), "lr": schedule(kind, 600, warm=20, **kw)}).to_csv(
            path, index=False
        )
        targets.append(str(path))
    fit_path = tmp_path / "fit.json"
    many = tmp_path / "many"
    assert (
        main(
            [
                "forecast",
                "--fit",
                *paths,
                "--predict",
                *targets,
                "-o",
                f"{many}/",
                "--bootstrap",
                "3",
                "--save-fit",
                str(fit_path),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in many.iterdir()) == ["t_cos.csv", "t_step.csv", "t_wsd.csv"]
    for target in targets:
        one = tmp_path / "one.csv"
        assert main(["forecast", "--load-fit", str(fit_path), "--predict", target, "-o", str(one)]) == 0
        name = target.rsplit("/", 1)[1]
        assert (many / name).read_bytes() == one.read_bytes()
    err = capsys.readouterr().err
    assert "multi-power fit read from" in err
    # one target and a folder (DIR/): DIR/<name>.csv, the same bytes
    assert (
        main(["forecast", "--load-fit", str(fit_path), "--predict", targets[0], "-o", f"{tmp_path}/single/"])
        == 0
    )
    assert (tmp_path / "single" / "t_wsd.csv").read_bytes() == (many / "t_wsd.csv").read_bytes()
    # several targets need a folder; names must differ
    assert main(["forecast", "--load-fit", str(fit_path), "--predict", *targets]) == 2
    assert "-o: must name a folder (DIR/) for 3 targets" in capsys.readouterr().err
    (tmp_path / "b").mkdir()
    dup = tmp_path / "b" / "t_wsd.csv"
    dup.write_bytes((tmp_path / "t_wsd.csv").read_bytes())
    assert (
        main(
            [
                "forecast",
                "--load-fit",
                str(fit_path),
                "--predict",
                targets[0],
                str(dup),
                "-o",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "--predict: targets must have distinct names" in capsys.readouterr().err


def test_saved_fit_is_checked(tmp_path, capsys, fit) -> None:
    assert check_fit(json.loads(json.dumps(fit)))["params"] == fit["params"]
    bad = json.loads(json.dumps(fit))
    bad["params"]["alpha"] = "x"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    target = tmp_path / "t.csv"
    pd.DataFrame({"step": np.arange(10), "lr": np.full(10, PEAK)}).to_csv(target, index=False)
    assert main(["forecast", "--load-fit", str(path), "--predict", str(target)]) == 2
    assert "bad.json: params.alpha: must be a finite number, got 'x'" in capsys.readouterr().err
    for broken, line in (
        ({**fit, "format": "x"}, "format: must be 'lr-forecast/v1', got 'x'"),
        ({**fit, "law": "cubic"}, "law: must be one of multi-power, annealing, got 'cubic'"),
        ({**fit, "params": {"L0": 1.0}}, "params: must hold exactly L0, A, alpha, B, C, beta, gamma"),
        ({**fit, "band": {"params": [{"L0": 1}], "level": [5, 95]}}, "band.params[0]: must hold exactly"),
        ({**fit, "band": {"params": [], "level": [95, 5]}}, "band.level: must be [low, high]"),
    ):
        path.write_text(json.dumps(broken))
        assert main(["forecast", "--load-fit", str(path), "--predict", str(target)]) == 2
        assert line in capsys.readouterr().err
    path.write_text("{not json")
    assert main(["forecast", "--load-fit", str(path), "--predict", str(target)]) == 2
    assert "bad.json: must be JSON" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# caveats: outside the fitted runs, one-run fits


def test_caveats_outside_the_fitted_runs(fit) -> None:
    """The fitted runs: 600 steps, peak 3e-4, batch 32."""
    assert fit["scope"] == {
        "runs": 2,
        "steps": [600, 600],
        "peak_lr": [PEAK, PEAK],
        "batch": [32, 32],
        "batch_unknown": [],
    }
    inside = schedule("wsd", 600, warm=20)
    assert caveats(fit, inside, 32) == []
    assert caveats(fit, inside[:400], 32) == []  # shorter: within the areas the fit has seen
    lines = caveats(fit, schedule("cos", 1500, warm=20) * 3, 256)
    assert lines[0].startswith("peak lr 0.0009 is above the fitted runs' 0.0003")
    assert lines[1].startswith("length 1,500 steps is beyond the fitted runs' longest (600)")
    assert lines[2].startswith(
        "effective batch 256 differs from the fitted runs' 32: the law does not transfer"
    )
    table = ends_lower(fit, {"inside": inside, "bigger batch": inside}, {"inside": 32, "bigger batch": 256})
    assert table.set_index("design").loc["bigger batch", "caveats"].startswith("effective batch 256")
    assert not table.clear.any()  # the same curve: never "clearly" different, and a caveat besides


def test_one_run_fit_is_not_identifiable() -> None:
    """One decaying run: the fit runs, but every prediction and ranking says it is a guess."""
    one = fit_runs(runs()[1:], bootstrap=2)
    assert one["scope"]["runs"] == 1
    lr = schedule("wsd", 600, warm=20)
    assert caveats(one, lr, 32) == [ONE_RUN]
    table = ends_lower(one, {"a": lr, "b": schedule("cos", 600, warm=20)}, {"a": 32, "b": 32})
    assert (table.caveats == ONE_RUN).all() and not table.clear.any()


def test_old_fits_without_a_scope_say_so() -> None:
    lines = caveats({"law": "multi-power", "params": MP_TRUE}, np.ones(5))
    assert lines == [
        "the fit does not record its runs' lengths, peak lrs and batches (saved before they were)"
    ]
    assert not math.isnan(
        predict({"law": "multi-power", "params": MP_TRUE}, np.full(10, PEAK)).loss_pred.iloc[-1]
    )
