"""The Forecast page driven through the real app with AppTest: upload runs, fit, fitted vs logged,
predictions of the current and saved designs, which ends lower, suggest and apply, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_json import spec_of, trace, xy
from streamlit.testing.v1 import AppTest

from app import state
from schedules import load_config, lr_curve
from schedules.forecast import final_loss
from schedules.forecast.fit import _curve
from schedules.forecast.laws import prepare

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
TRUE = {"L0": 2.5, "A": 0.6, "alpha": 0.5, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.55}
PEAK = 3e-4
T = 500

#: AdamW 3e-4, 500 steps, warmup 20, cosine: the design the synthetic runs belong to.
DESIGN = {
    "name": "forecast design",
    "optimizer": {"name": "AdamW", "lr": PEAK},
    "training": {"dataset_size": 16000, "micro_batch_size": 32, "epochs": 1},
    "warmup": {"steps": 20},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def run_csv(kind: str) -> bytes:
    """A run of the design's length: warmup 20 then constant or cosine, loss from TRUE (no noise)."""
    curve = lr_curve(load_config(DESIGN))["lr"].to_numpy()
    lr = curve if kind == "cos" else np.where(np.arange(T) < 20, curve, PEAK)
    loss = _curve("multi-power", TRUE, prepare(lr), 10_000, 10_000)
    return pd.DataFrame({"step": np.arange(T), "lr": lr, "loss": loss}).to_csv(index=False).encode()


def page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state[state.DESIGN_JSON] = load_config(DESIGN).to_json()
    at.run()
    at.switch_page("views/forecast.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, *kinds: str) -> None:
    files = [(f"{k}.csv", run_csv(k), "text/csv") for k in kinds]
    at.file_uploader(key="forecast_upload").set_value(files).run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Iterator[AppTest]:
    # A module fixture is set up before the per-test workspace fixture: give it an empty workspace of
    # its own, so the Library's designs (which the page also predicts) are only the ones made here.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_WORKSPACE", str(tmp_path_factory.mktemp("forecast-workspace")))
        yield _fitted()


def _fitted() -> AppTest:
    at = page()
    # a saved design: WSD with a linear cooldown over the last 20%
    wsd = {
        **DESIGN,
        "name": "wsd",
        "decay": {"scheduler": "LinearLR", "kwargs": {"end_factor": 0.0}, "hold_steps": 380},
    }
    at.session_state[state.SAVED_DESIGNS] = {"wsd": load_config(wsd).to_json()}
    upload(at, "const", "cos")
    at.button(key="forecast_fit_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_fit_shows_fitted_vs_logged_and_error(fitted) -> None:
    at = fitted
    fit = at.session_state["forecast_fit"]
    assert fit["law"] == "multi-power" and fit["runs"] == ["const.csv", "cos.csv"]
    assert fit["error"]["mean_rel"] < 1e-3  # noise-free runs
    spec = spec_of(at.get("plotly_chart")[0])
    x, y = xy(spec, "cos.csv (logged)")
    assert x[0] == 2 and len(x) == T - 2  # warmup from 0: no lr area before rows 0 and 1, no loss
    _, fitted_y = xy(spec, "cos.csv (fitted)")
    np.testing.assert_allclose(fitted_y[-1], y[-1], rtol=1e-3)
    errors = at.dataframe[0].value
    assert errors["run"].tolist() == ["const.csv", "cos.csv"]
    assert any("mean relative error" in m.value for m in at.markdown)


def test_predictions_and_which_ends_lower(fitted) -> None:
    at = fitted
    fit = at.session_state["forecast_fit"]
    spec = spec_of(at.get("plotly_chart")[1])
    names = [t.get("name") for t in spec["data"]]
    assert "Current design" in names and "wsd" in names
    x, y = xy(spec, "Current design")
    cosine_lr = lr_curve(load_config(DESIGN))["lr"].to_numpy()
    pred, low, high = final_loss(fit, cosine_lr)
    assert y[-1] == pytest.approx(pred, rel=1e-5)
    assert "fill" in trace(spec, "wsd band")
    table = at.dataframe[1].value
    assert set(table["design"]) == {"Current design", "wsd"}
    assert table["final loss"].is_monotonic_increasing
    assert table.loc[table.design == "Current design", "final loss"].iloc[0] == pytest.approx(pred)


def test_designs_outside_the_fitted_runs_are_flagged(fitted) -> None:
    """The uploaded logs carry no batch (said once); a design at 3x the fitted peak lr is flagged in the
    ranking, which then never calls it "clearly" higher or lower."""
    at = fitted
    warnings = " ".join(w.value for w in at.warning)
    assert "The effective batch of const.csv, cos.csv is not known" in warnings
    saved = dict(at.session_state[state.SAVED_DESIGNS])
    hot = {**DESIGN, "name": "hot", "optimizer": {"name": "AdamW", "lr": 3 * PEAK}}
    at.session_state[state.SAVED_DESIGNS] = {**saved, "hot": load_config(hot).to_json()}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [d.value for d in at.dataframe if "caveats" in d.value.columns]
    row = table.set_index("design").loc["hot"]
    assert row["caveats"].startswith("peak lr 0.0009 is above the fitted runs' 0.0003")
    assert row["clearly higher"] in ("cannot tell (see caveats)", "lowest")
    assert table.set_index("design").loc["Current design", "caveats"] == ""
    at.session_state[state.SAVED_DESIGNS] = saved
    at.run()


def test_cooldown_branches_fan_recommendation_and_open(fitted) -> None:
    at = fitted
    at.text_input(key="forecast_branch_starts").set_value("300, 400").run()
    at.text_input(key="forecast_branch_lengths").set_value("20%").run()
    at.button(key="forecast_branches_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state["forecast_branches"]
    assert len(result.table) == 2 * 4 and set(result.table.end) == {375, 500}
    spec = spec_of(at.get("plotly_chart")[2])
    names = {t.get("name") for t in spec["data"]}
    assert "trunk" in names and set(result.table.branch) <= names
    lines = [t.value for t in at.text]
    assert any(line.startswith("Stopping at step 375: ") for line in lines)
    assert any(line.startswith("Stopping at step 500: ") for line in lines)
    (table,) = [d.value for d in at.dataframe if "branch" in d.value.columns]
    assert len(table) == 8
    pick = result.table.branch.iloc[-1]
    at.selectbox(key="forecast_branch_pick").set_value(pick).run()
    at.button(key="forecast_branch_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    opened = load_config(at.session_state[state.DESIGN_JSON])
    assert opened.cache_key() == result.designs[pick].cache_key()
    # the branch's forecast is the prediction of the opened design's own curve (the last row)
    row = result.table.set_index("branch").loc[pick]
    lr = lr_curve(opened)["lr"].to_numpy()
    from schedules.forecast import predict

    assert predict(at.session_state["forecast_fit"], lr).loss_pred.iloc[-1] == row.loss_pred
    at.session_state[state.DESIGN_JSON] = load_config(DESIGN).to_json()
    at.switch_page("views/forecast.py").run()
    assert not at.exception


def test_one_run_fit_says_it_is_not_identifiable() -> None:
    at = page()
    upload(at, "cos")
    at.button(key="forecast_fit_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Fitted on one run: the law's parameters are not identifiable" in w.value for w in at.warning)
    (table,) = [d.value for d in at.dataframe if "caveats" in d.value.columns]
    assert table["caveats"].str.startswith("fitted on one run").all()


def test_suggest_and_open_in_the_designer(fitted) -> None:
    at = fitted
    at.button(key="forecast_suggest_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    suggestion = at.session_state["forecast_suggestion"]
    assert len(suggestion) == 26 and suggestion.loss_pred.is_monotonic_increasing
    best = suggestion.iloc[0]
    # the winner's score is the library's final loss of its own curve
    lr = lr_curve(load_config(best.config))["lr"].to_numpy()
    assert final_loss(at.session_state["forecast_fit"], lr)[0] == pytest.approx(best.loss_pred)
    at.button(
        key="forecast_suggestion_save"
    ).click().run()  # Save to Library: a proposal never ends in a wall
    assert not at.exception
    assert best["name"] in at.session_state[state.SAVED_DESIGNS]
    assert any("Saved" in s.value and "to the Library" in s.value for s in at.success)
    at.button(key="forecast_suggestion_open").click().run()  # Open in Designer: switches to the Designer
    assert not at.exception
    assert (
        load_config(at.session_state[state.DESIGN_JSON]).cache_key() == load_config(best.config).cache_key()
    )
    assert at.title[0].value == best["name"]
    assert any("from Forecast" in s.value for s in at.success)


def test_refuses_runs_without_decay_and_bad_files() -> None:
    at = page()
    assert at.button(key="forecast_fit_button").disabled  # no runs yet
    upload(at, "const")
    at.button(key="forecast_fit_button").click().run()
    assert not at.exception
    text = at.error[0].value
    assert "cannot identify the annealing term: no run's lr decreases after its peak" in text
    at.file_uploader(key="forecast_upload").set_value(
        [("bad.csv", b"step,lr\n0,0.1\n1,0.1\n", "text/csv")]
    ).run()
    assert not at.exception
    assert "`bad.csv`: needs training-loss values to fit on" in at.error[0].value


def test_validity_limits_are_stated() -> None:
    at = page()
    info = at.info[0].value
    assert "same model, data, batch size, optimizer" in info and "bootstrap" in info


def test_fit_result_is_json(fitted) -> None:
    fit = fitted.session_state["forecast_fit"]
    assert json.loads(json.dumps(fit)) == fit


def test_runs_and_designs_from_the_library_and_saving_the_fit() -> None:
    # Runs saved in the workspace (e.g. last week's), a design saved there: the Forecast page fits on
    # the stored runs, predicts the stored design, and saves the fit back to the Library.
    from app import library
    from schedules.logs import read_log
    from schedules.workspace.runlogs import save_log

    ws = library.workspace()
    for kind in ("const", "cos"):
        save_log(ws, read_log(run_csv(kind), f"{kind}.csv"), f"stored {kind}")
    wsd = {**DESIGN, "name": "wsd", "decay": {"scheduler": "LinearLR", "hold_steps": 380}}
    ws.save_design("stored wsd", load_config(wsd).to_json())

    at = page()
    pick = at.multiselect(key="forecast_library_pick")
    assert [o for o in pick.options if o.startswith("Library: stored")] == [
        o for o in pick.options if "stored" in o
    ] and len(pick.options) == 2
    pick.set_value(list(pick.options)).run()
    at.button(key="forecast_fit_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fit = at.session_state["forecast_fit"]
    assert sorted(fit["runs"]) == ["stored const", "stored cos"]
    # the stored design is predicted beside the current one
    (table,) = [d.value for d in at.dataframe if "final loss" in d.value.columns]
    assert {"Current design", "stored wsd"} <= set(table.iloc[:, 0])
    at.text_input(key="forecast_save_name").set_value("my fit").run()
    at.button(key="forecast_save_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (saved,) = ws.fits()
    assert saved.name == "my fit" and saved.law == fit["law"]
    assert saved.params == pytest.approx(fit["params"])
    assert sorted(saved.runs) == sorted(r.id for r in ws.runs())
