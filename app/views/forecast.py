"""Forecast: fit a loss law on runs you already have, predict the loss of the current and saved
designs, see which ends lower (and where a design lies outside the fitted runs), get a suggested
schedule, and branch cooldowns off a constant trunk.  Logic: schedules.forecast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import forecast_charts, library, state, ui
from app.design_actions import design_actions
from schedules.build import load_config
from schedules.design import ConfigError
from schedules.forecast import LAWS, Run, fit_runs, predict, run_from_dict, run_from_frame, run_from_log
from schedules.forecast.branches import DEFAULT_FINAL, SHAPES, branch_grid, forecast_branches, recommend
from schedules.forecast.suggest import ends_lower, suggest
from schedules.forecast.validity import ONE_RUN, caveats, scope_notes
from schedules.logs import MAX_LOG_BYTES, read_log

ss = st.session_state
#: The fitted law: the plain dict of schedules.forecast.fit_runs (law, params, runs, band, error).
K_FIT = "forecast_fit"
#: The runs it was fitted on, as Run.to_dict() dicts.
K_RUNS = "forecast_runs"
K_UPLOAD = "forecast_upload"
K_LIVE = "forecast_live_pick"
K_LIBRARY = "forecast_library_pick"
K_SAVE_NAME = "forecast_save_name"
K_EXAMPLES = "forecast_examples"
K_USE_DESIGN = "forecast_use_design"
K_LAW = "forecast_law"
K_ERROR = "forecast_error"
K_SUGGEST = "forecast_suggestion"
K_BRANCHES = "forecast_branches"
K_BR_STARTS = "forecast_branch_starts"
K_BR_LENGTHS = "forecast_branch_lengths"
K_BR_SHAPES = "forecast_branch_shapes"
K_BR_FINAL = "forecast_branch_final"
K_BR_PICK = "forecast_branch_pick"
#: The fitted-vs-logged figure, drawn once per fit.
K_FIGURE = "forecast_fitted_figure"
LIVE_RUN = "live_run"  # the Live page's LiveRun (app/views/live.py)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "forecast"
EXAMPLE_FILES = ("constant.csv", "cosine.csv")
#: The designs the example runs were trained with (their effective batch is the runs' batch).
EXAMPLE_DESIGNS = {"constant.csv": "constant_design.json", "cosine.csv": "cosine_design.json"}
UPLOAD_MB = max(1, min(MAX_LOG_BYTES // (1024 * 1024), int(st.get_option("server.maxUploadSize"))))
CURRENT = "Current design"

LIMITS = (
    "**Validity.** A fitted law predicts what changing the *schedule alone* does: same model, data, "
    "batch size, optimizer and its other settings, and a similar peak lr as the fitted runs. It "
    "extrapolates poorly to runs much longer than the fitted ones, to lrs above the fitted peak "
    "(where training may diverge; the laws cannot), and to schedules that rise again after the "
    "warmup. The band is a bootstrap of the fit (how firmly the runs pin down the parameters), not "
    "the law's own error on unlike schedules. At least one fitted run must decay its lr, or the "
    "annealing term cannot be identified."
)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_prediction(fit_json: str, cache_key: str) -> pd.DataFrame:
    fit = json.loads(fit_json)
    lr = ui.curve_of(load_config(cache_key)).frame["lr"].to_numpy(dtype=np.float64)
    return predict(fit, lr)


def _lr_of(config) -> np.ndarray:
    return ui.curve_of(config).frame["lr"].to_numpy(dtype=np.float64)


def _live_frames() -> dict[str, pd.DataFrame]:
    run = ss.get(LIVE_RUN)
    if run is None or not hasattr(run, "snapshot"):
        return {}
    snap = run.snapshot()
    return {
        f"Live: {label}": f
        for label, f in snap.frames.items()
        if len(f) > 1 and snap.outcomes.get(label) != "running"
    }


def _library_runs() -> dict[str, int]:
    """Label -> id of the runs saved in the workspace (Library), newest first ({} when unavailable)."""
    ws, _ = library.try_workspace()
    if ws is None:
        return {}
    try:
        return {f"Library: {r.name} (#{r.id})": r.id for r in ws.runs()}
    except Exception:  # a locked or damaged workspace: the page works without it
        return {}


def collect_runs(
    uploads, live_pick: list[str], examples: bool, use_design: bool, library_pick: list[str] = ()
) -> tuple[list[Run], list[str]]:
    runs: list[Run] = []
    problems: list[str] = []
    if library_pick:
        from schedules.workspace.runlogs import forecast_run

        stored = _library_runs()
        ws, _ = library.try_workspace()
        for label in library_pick:
            if ws is not None and label in stored:
                try:
                    runs.append(forecast_run(ws, stored[label]))
                except ConfigError as exc:
                    problems.extend(f"{label}: {line}" for line in exc.lines())
    design = state.current_config() if use_design else None
    if examples:
        for name in EXAMPLE_FILES:
            path = EXAMPLES / name
            runs.append(run_from_log(read_log(path.read_bytes(), name), EXAMPLES / EXAMPLE_DESIGNS[name]))
    for up in uploads or []:
        try:
            runs.append(run_from_log(read_log(up.getvalue(), up.name), design))
        except ConfigError as exc:
            problems.extend(exc.lines())
    frames = _live_frames()
    for label in live_pick:
        if label in frames:
            try:
                runs.append(run_from_frame(frames[label], label))
            except ConfigError as exc:
                problems.extend(exc.lines())
    return runs, problems


def do_fit(runs: list[Run], law: str) -> None:
    bar = st.progress(0.0, text="Fitting…")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(1.0, fraction), text=f"Fitting the {law} law: {message}")

    try:
        fit = fit_runs(runs, law, progress=progress)
    except ConfigError as exc:
        ss[K_ERROR] = exc.lines()
        ss.pop(K_FIT, None)
    else:
        ss[K_FIT] = fit
        ss[K_RUNS] = [r.to_dict() for r in runs]
        ss[K_FIGURE] = forecast_charts.fitted_figure(fit, runs)
        ss.pop(K_ERROR, None)
        ss.pop(K_SUGGEST, None)
    finally:
        bar.empty()


def _numbers(text: str) -> list[str]:
    return [p.strip() for p in str(text or "").replace(";", ",").split(",") if p.strip()]


def branches_section(fit: dict) -> None:
    """5. Cooldown branches off the current design's constant trunk: the fan, the forecasts, which branch
    when, and any branch as a design."""
    st.subheader("5. Cooldown branches")
    st.caption(
        "From a constant trunk (the current design's optimizer, batch and warmup, then its peak lr), branch "
        "cooldowns at the steps you choose: each is the run that holds the peak until its start and then "
        "decays over its length (linear, cosine or 1-sqrt to the final fraction of the peak, or linear to "
        "zero, D2Z). Lengths are optimizer steps, or P% of the branch's whole run."
    )
    total = state.current_config().plan.total_steps
    ss.setdefault(K_BR_STARTS, f"{round(total * 0.6)}, {round(total * 0.8)}")
    ss.setdefault(K_BR_LENGTHS, "20%")
    ss.setdefault(K_BR_SHAPES, list(SHAPES))
    a, b, c, d = st.columns([1.2, 1, 2, 0.8])
    a.text_input("Start steps", key=K_BR_STARTS, help="Where the cooldowns leave the trunk, e.g. 4000, 6000.")
    b.text_input("Lengths", key=K_BR_LENGTHS, help="Optimizer steps (800) or a share of the run (20%).")
    c.multiselect("Shapes", list(SHAPES), key=K_BR_SHAPES)
    d.number_input(
        "Final x peak",
        min_value=0.0,
        max_value=0.99,
        value=DEFAULT_FINAL,
        step=0.05,
        key=K_BR_FINAL,
        help="Where linear, cosine and 1-sqrt end (linear-to-zero ends at 0).",
    )
    if st.button("Forecast the branches", key="forecast_branches_button", icon=":material/call_split:"):
        try:
            starts = [int(x) for x in _numbers(ss[K_BR_STARTS])]
        except ValueError:
            ui.show_problems(
                "No branches", [f"start: must be whole numbers separated by commas, got {ss[K_BR_STARTS]!r}"]
            )
            return
        with st.spinner("Forecasting the branches…"):
            try:
                grid = branch_grid(starts, _numbers(ss[K_BR_LENGTHS]), ss[K_BR_SHAPES], float(ss[K_BR_FINAL]))
                ss[K_BRANCHES] = forecast_branches(fit, state.current_config(), grid, _lr_of)
            except ConfigError as exc:
                ss.pop(K_BRANCHES, None)
                ui.show_problems("No branches", exc)
                return
    result = ss.get(K_BRANCHES)
    if result is None:
        return
    starts = [int(result.table.loc[result.table.branch == n, "start"].iloc[0]) for n in result.predictions]
    st.plotly_chart(
        forecast_charts.branches_figure(result.trunk, result.predictions, starts),
        key="forecast_branches_chart",
        config={"displaylogo": False},
    )
    st.markdown("**Which branch when**")
    for line in recommend(result.table):
        st.text(line)
    st.dataframe(
        result.table.drop(columns=["file"]).rename(
            columns={"loss_pred": "final loss", "loss_low": "band low", "loss_high": "band high"}
        ),
        hide_index=True,
        key="forecast_branches_table",
    )
    names = list(result.table.branch)
    if ss.get(K_BR_PICK) not in names:
        ss[K_BR_PICK] = names[0]
    pick = st.selectbox("Open a branch as a design", names, key=K_BR_PICK)
    design_actions(result.designs[pick], "forecast_branch", "Forecast's cooldown branches")


# --------------------------------------------------------------------------------------------------
# page

st.title("Forecast")
st.caption(
    "Predict a schedule's loss curve before paying for the run: fit a published loss law on runs you "
    "already have (same model and data, different schedules), then compare designs by predicted loss."
)
st.info(LIMITS, icon=":material/info:")

st.subheader("1. Runs to fit on")
cols = st.columns([3, 2])
with cols[0]:
    uploads = st.file_uploader(
        "Run logs: CSV step,lr,loss (loss may be empty), trainer_state.json, JSON Lines, TensorBoard event files",
        key=K_UPLOAD,
        accept_multiple_files=True,
        max_upload_size=UPLOAD_MB,
        help="Each run needs the lr of every optimizer step (or tick 'lr from the current design').",
    )
    st.toggle(
        "Logs without the lr of every step: take the lr from the current design",
        key=K_USE_DESIGN,
        help="HF logs the lr only every logging_steps; the design that produced the run gives all of them.",
    )
with cols[1]:
    frames = _live_frames()
    if frames:
        st.multiselect("Live runs of this session", list(frames), key=K_LIVE)
    else:
        st.caption("Live runs of this session appear here once they have finished (Live run page).")
    stored = _library_runs()
    if stored:
        st.multiselect(
            "Runs from the Library",
            list(stored),
            key=K_LIBRARY,
            help="Live runs and run logs saved in the workspace (Library page), also from earlier sessions.",
        )
    st.checkbox(
        "Example runs: the project's MLP, constant and cosine lr",
        key=K_EXAMPLES,
        help="docs/forecast/constant.csv and cosine.csv (bench/forecast_live.py trained them).",
    )
    st.selectbox(
        "Law",
        LAWS,
        key=K_LAW,
        help="multi-power: Luo et al., ICLR 2025. annealing: Tissue et al., 2024 (momentum of lr drops).",
    )

runs, problems = collect_runs(
    uploads,
    ss.get(K_LIVE, []),
    bool(ss.get(K_EXAMPLES)),
    bool(ss.get(K_USE_DESIGN)),
    [label for label in ss.get(K_LIBRARY, []) if label in stored],
)
if problems:
    ui.show_problems("Some runs could not be used", problems)
st.caption(
    f"{len(runs)} run(s) selected: "
    + ", ".join(f"{r.name} ({r.steps} steps, {len(r.loss)} losses)" for r in runs)
    if runs
    else "No runs selected yet."
)
if st.button("Fit", type="primary", key="forecast_fit_button", disabled=not runs):
    do_fit(runs, ss.get(K_LAW, LAWS[0]))

if ss.get(K_ERROR):
    ui.show_problems("The law cannot be fitted on these runs", ss[K_ERROR])

fit = ss.get(K_FIT)
if fit is None:
    st.stop()

fitted_runs = [run_from_dict(d) for d in ss.get(K_RUNS, [])]
if K_FIGURE not in ss:  # a fit restored from elsewhere (e.g. a saved workspace)
    ss[K_FIGURE] = forecast_charts.fitted_figure(fit, fitted_runs)
st.subheader("2. Fitted vs logged")
err = fit["error"]
st.markdown(
    f"**{fit['law']}** law on {len(fitted_runs)} run(s): mean relative error **{err['mean_rel']:.3%}** at the "
    f"fit points. Parameters: " + ", ".join(f"`{k}` = {v:.4g}" for k, v in fit["params"].items())
)
st.plotly_chart(
    forecast_charts.fitted_figure(fit, fitted_runs), key="forecast_fitted", config={"displaylogo": False}
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "run": name,
                "fit points": e["points"],
                "mean rel. error": f"{e['mean_rel']:.3%}",
                "max rel. error": f"{e['max_rel']:.3%}",
                "mean rel. error, every logged loss": f"{e['mean_rel_logged']:.3%}",
            }
            for name, e in err["runs"].items()
        ]
    ),
    hide_index=True,
    key="forecast_error_table",
)
for line in scope_notes(fit) + ([ONE_RUN] if fit.get("scope", {}).get("runs", 2) < 2 else []):
    st.warning(line[:1].upper() + line[1:] + ".", icon=":material/warning:")
a, b, c = st.columns([2, 1, 1], vertical_alignment="bottom")
a.text_input("Save the fit as", key=K_SAVE_NAME, placeholder=f"{fit['law']} fit")
if b.button("Save to the Library", key="forecast_save_fit", icon=":material/bookmark_add:"):
    from schedules.workspace.runlogs import save_forecast_fit

    ws, why = library.try_workspace()
    name = (ss.get(K_SAVE_NAME) or "").strip() or f"{fit['law']} fit"
    picked = [stored[label] for label in ss.get(K_LIBRARY, []) if label in stored]
    try:
        if ws is None:
            raise OSError(why)
        save_forecast_fit(ws, name, fit, picked)
    except Exception as exc:  # the workspace is optional: say why, keep the fit on the page
        st.warning(f"The fit was not saved: {exc}", icon=":material/warning:")
    else:
        st.success(f"Saved the fit {name!r} to the Library.", icon=":material/check_circle:")
c.download_button(
    "Download the fit (JSON)",
    json.dumps(fit, indent=1),
    file_name="forecast_fit.json",
    mime="application/json",
)

st.subheader("3. Predicted loss of your designs")
fit_json = json.dumps(fit, sort_keys=True)
designs = {CURRENT: state.current_config()}
saved = dict(library.designs_for_compare())  # the Library's designs, then this session's
saved.update(ss.get(state.SAVED_DESIGNS, {}))
for name, text in saved.items():
    try:
        designs[name] = load_config(text)
    except ConfigError:
        continue
preds = {name: cached_prediction(fit_json, cfg.cache_key()) for name, cfg in designs.items()}
st.plotly_chart(
    forecast_charts.prediction_figure(preds), key="forecast_predicted", config={"displaylogo": False}
)
st.markdown("**Which ends lower**")
table = ends_lower(
    fit,
    {name: f["lr"].to_numpy() for name, f in preds.items()},
    {name: int(cfg.plan.effective_batch) for name, cfg in designs.items()},
)


def _clear(row) -> str:
    if row.name == 0:
        return "lowest"
    if row.clear:
        return "yes"
    return "cannot tell (see caveats)" if row.caveats or table.caveats.iloc[0] else "within the band"


st.dataframe(
    table.assign(
        vs_best=table.vs_best.map(lambda v: f"{v:+.3%}"),
        clear=table.apply(_clear, axis=1),
    ).rename(
        columns={
            "loss_pred": "final loss",
            "loss_low": "band low",
            "loss_high": "band high",
            "vs_best": "vs lowest",
            "clear": "clearly higher",
        }
    )[
        [
            "design",
            "steps",
            "final_lr",
            "final loss",
            "band low",
            "band high",
            "vs lowest",
            "clearly higher",
            "caveats",
        ]
    ],
    hide_index=True,
    key="forecast_ends_lower",
)
st.download_button(
    "Download the current design's prediction (CSV)",
    preds[CURRENT].to_csv(index=False),
    file_name="forecast.csv",
    mime="text/csv",
)

st.subheader("4. Suggest a schedule")
st.caption(
    "Searches warmup + cosine and WSD (hold, then a linear, cosine or 1-sqrt cooldown over the last "
    "10-50% of the run, to 0 or 0.1 x lr), keeping the current design's optimizer, training and warmup, "
    "and picks the lowest predicted final loss."
)
if st.button("Suggest", key="forecast_suggest_button"):
    with st.spinner("Scoring the candidates…"):
        try:
            ss[K_SUGGEST] = suggest(fit, state.current_config(), _lr_of)
        except ConfigError as exc:
            ui.show_problems("No suggestion", exc)
suggestion = ss.get(K_SUGGEST)
if suggestion is not None and len(suggestion):
    best = suggestion.iloc[0]
    current_final = float(table.loc[table.design == CURRENT, "loss_pred"].iloc[0])
    st.markdown(
        f"Lowest predicted final loss: **{best['name']}**, {best.loss_pred:.4f} "
        f"(band {best.loss_low:.4f} to {best.loss_high:.4f}; current design {current_final:.4f})."
    )
    best_config = load_config(best.config)
    for line in caveats(fit, _lr_of(best_config), int(best_config.plan.effective_batch)):
        st.caption(f"Caveat: {line}.")
    design_actions(best_config, "forecast_suggestion", "Forecast's suggestion")
    st.dataframe(
        suggestion.drop(columns=["config"]).head(10),
        hide_index=True,
        key="forecast_suggest_table",
    )

branches_section(fit)
