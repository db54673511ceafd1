"""Loss forecast: predict a schedule's loss curve from runs you already have.

Two published laws (:mod:`schedules.forecast.laws`): the multi-power law (Luo et al., ICLR 2025)
and the annealing-momentum law (Tissue et al., 2024), fitted on one or more runs with a Huber loss on
log residuals (:mod:`schedules.forecast.fit`), predicting the loss of any lr sequence with a
bootstrap band.  Runs come from every run-log format the studio reads and from Live runs
(:mod:`schedules.forecast.runs`).

    from schedules.forecast import fit_runs, predict, run_from_file
    fit = fit_runs([run_from_file("constant.csv"), run_from_file("cosine.csv")])
    frame = predict(fit, lr)   # step, lr, loss_pred, loss_low, loss_high

Valid for the model, data, batch size and optimizer of the fitted runs; only the schedule changes:
:mod:`schedules.forecast.validity` says where a target lies outside them.  Cooldown branches off a
constant trunk, each with its forecast: :mod:`schedules.forecast.branches`.
"""

from .branches import Branch, branch_grid, forecast_branches, recommend
from .fit import FORMAT, LAWS, check_fit, check_runs, final_loss, fit_error, fit_runs, law_curve, predict
from .runs import Run, run_from_dict, run_from_file, run_from_frame, run_from_log, target_lr
from .validity import caveats, scope_notes

__all__ = [
    "FORMAT",
    "LAWS",
    "Branch",
    "Run",
    "branch_grid",
    "caveats",
    "check_fit",
    "check_runs",
    "final_loss",
    "fit_error",
    "fit_runs",
    "forecast_branches",
    "law_curve",
    "predict",
    "recommend",
    "run_from_dict",
    "run_from_file",
    "run_from_frame",
    "run_from_log",
    "scope_notes",
    "target_lr",
]
