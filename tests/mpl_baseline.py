"""The multi-power law's published fitting procedure, as a baseline for the studio's own fit.

Luo et al. 2025, *A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules* (ICLR 2025),
fit the law as their paper and its reference implementation (github.com/thu-yao-01-luo/MultiPowerLaw,
``src/fitting.py`` and ``src/config.py``) describe; written here from that description (no code copied):

- **Loss.** ``sum_t Huber_delta(ln L_logged(t) - ln L_law(t))`` over every logged loss, ``delta = 1e-3``.
- **Optimiser.** ``torch.optim.AdamW`` on the seven raw parameters in two groups: ``L0, A, B, C`` at lr
  ``5e-2``, ``alpha, beta, gamma`` at lr ``5e-3`` (AdamW's other defaults: betas (0.9, 0.999), eps 1e-8,
  weight decay 0.01); at most 200 steps, stopping early when the loss has not improved for 20 steps or
  the gradient norm is below 1e-5; the best parameters seen are the result.
- **Initialisation.** A linear regression of ``ln(L - min L + 0.01)`` on ``ln S(t)`` gives a slope and
  an intercept; the grid ``L0`` in ``linspace(min L - 0.2, min L + 0.2, 5)``, ``A`` in
  ``linspace(e^intercept - 0.1, e^intercept + 0.1, 3)``, ``alpha`` in ``linspace(-slope - 0.1, -slope +
  0.1, 3)``, ``B`` in ``linspace(100, 1000, 3)`` (135 points) each start an L-BFGS-B fit (bounds >= 0)
  of the simplified law ``L0 + A S(t)^-alpha - B (eta_peak - eta_t)`` with the same loss (here with its
  exact gradient rather than finite differences: the same problem, solved faster); the best is
  extended with ``C = 1, beta = 0.5, gamma = 0.5``.

Two choices the reference leaves to its data: its simplified law subtracts ``B (3e-4 - eta_t)``, 3e-4
being the runs' peak lr there; here the runs' own peak lr.  The law itself is evaluated with the
studio's vectorised form (``schedules.forecast.laws``, the same conventions: row ``t`` uses
``lr[0 .. t-1]``), with its analytic Jacobian turned into the gradient AdamW steps on.  Where AdamW
drives ``A``, ``B`` or ``C`` to zero or below (the reference would then take logs of negative numbers)
they are floored at 1e-12 when evaluating.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import huber
from scipy.stats import linregress

from schedules.forecast.fit import FORMAT
from schedules.forecast.laws import MP_PARAMS, make_bins, mp_value, prepare
from schedules.forecast.runs import Run

DELTA = 1e-3
LR_AMPLITUDES = 5e-2  # L0, A, B, C
LR_EXPONENTS = 5e-3  # alpha, beta, gamma
MAX_STEPS = 200
PATIENCE = 20
GRAD_NORM_STOP = 1e-5
FLOOR = 1e-12
BINS = 1024


class _Data:
    """Every logged loss after the warmup of every run, with what the law needs at those rows."""

    def __init__(self, runs: Sequence[Run]):
        self.parts = []
        etas = []
        for run in runs:
            seq = prepare(run.lr)
            keep = (run.loss_rows > seq.peak) & (run.loss_rows >= 1)
            rows = run.loss_rows[keep]
            self.parts.append((seq, seq.area[rows], run.loss[keep], make_bins(seq, BINS)))
            etas.append(seq.lr[rows - 1])  # eta_t: the lr of the last step before row t
        self.y = np.concatenate([p[2] for p in self.parts])
        self.area = np.concatenate([p[1] for p in self.parts])
        self.peak = max(p[0].peak_lr for p in self.parts)
        self.eta = np.concatenate(etas)

    def law(self, raw: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The law at every point and d law / d raw parameters (``L0, A, alpha, B, C, beta, gamma``)."""
        L0, A, alpha, B, C, beta, gamma = raw
        A, B, C = max(A, FLOOR), max(B, FLOOR), max(C, FLOOR)
        theta = np.array([L0, np.log(A), alpha, np.log(B), np.log(C), beta, gamma])
        vals, jacs = [], []
        for _seq, area, _y, bins in self.parts:
            v, J = mp_value(theta, area, bins, jac)
            vals.append(v)
            jacs.append(J)
        value = np.concatenate(vals)
        if not jac:
            return value, None
        J = np.concatenate(jacs)
        # theta holds ln A, ln B, ln C: d/dA = d/d ln A / A
        J[:, 1] /= A
        J[:, 3] /= B
        J[:, 4] /= C
        return value, J


def objective(data: _Data, raw: np.ndarray, grad: bool = False) -> tuple[float, np.ndarray | None]:
    pred, J = data.law(raw, grad)
    if not (pred > 0).all() or not np.isfinite(pred).all():
        return float("inf"), (np.zeros(7) if grad else None)
    r = np.log(data.y) - np.log(pred)
    value = float(huber(DELTA, r).sum())
    if not grad:
        return value, None
    dr = np.clip(r, -DELTA, DELTA)  # d Huber / d r
    return value, (dr * (-1.0 / pred)) @ J


def initialise(data: _Data) -> np.ndarray:
    """The reference's grid + L-BFGS-B on the simplified law, extended with C = 1, beta = gamma = 0.5."""
    y = data.y
    low = float(y.min())
    fit = linregress(np.log(data.area), np.log(y - low + 0.01))
    drop = data.peak - data.eta
    log_y = np.log(y)

    log_area = np.log(data.area)

    def simple(p: np.ndarray) -> tuple[float, np.ndarray]:
        """The simplified law's loss and its gradient (exact: the same minimum L-BFGS-B's finite
        differences find, without their four extra evaluations per step)."""
        L0, A, alpha, B = p
        power = np.exp(-alpha * log_area)
        pred = L0 + A * power - B * drop
        if not (pred > 0).all():
            return 1e30, np.zeros(4)
        r = log_y - np.log(pred)
        g = -np.clip(r, -DELTA, DELTA) / pred
        grad = np.array([g.sum(), g @ power, g @ (-A * power * log_area), g @ (-drop)])
        return float(huber(DELTA, r).sum()), grad

    grid = product(
        np.linspace(low - 0.2, low + 0.2, 5),
        np.linspace(np.exp(fit.intercept) - 0.1, np.exp(fit.intercept) + 0.1, 3),
        np.linspace(-fit.slope - 0.1, -fit.slope + 0.1, 3),
        np.linspace(100, 1000, 3),
    )
    best, best_value = None, np.inf
    for start in grid:
        res = minimize(
            simple,
            np.array(start),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0, None)] * 4,
            options={"maxiter": 100_000, "ftol": 1e-9, "gtol": 1e-6, "eps": 1e-8},
        )
        if res.fun < best_value:
            best, best_value = res.x, res.fun
    L0, A, alpha, B = best
    return np.array([L0, A, alpha, B, 1.0, 0.5, 0.5])


def fit_baseline(runs: Sequence[Run], max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """The multi-power law fitted on ``runs`` by the published procedure; a dict :func:`predict` takes
    (``schedules.forecast.predict``), without a band."""
    data = _Data(runs)
    start = initialise(data)
    params = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in start]
    L0, A, alpha, B, C, beta, gamma = params
    opt = torch.optim.AdamW(
        [{"params": [L0, A, B, C], "lr": LR_AMPLITUDES}, {"params": [alpha, beta, gamma], "lr": LR_EXPONENTS}]
    )
    best, best_value = start.copy(), objective(data, start)[0]
    lowest, stale = np.inf, 0
    for step in range(max_steps):
        raw = np.array([p.item() for p in params])
        value, grad = objective(data, raw, grad=True)
        if value < lowest:
            lowest, stale = value, 0
        else:
            stale += 1
        if step > PATIENCE and stale >= PATIENCE:
            break
        if np.linalg.norm(grad) < GRAD_NORM_STOP:
            break
        if value < best_value:
            best, best_value = raw, value
        opt.zero_grad()
        for p, g in zip(params, grad, strict=True):
            p.grad = torch.tensor(float(g), dtype=torch.float64)
        opt.step()
    return {
        "format": FORMAT,
        "law": "multi-power",
        "params": dict(zip(MP_PARAMS, (float(v) for v in best), strict=True)),
        "runs": [r.name for r in runs],
        "cost": best_value,
        "band": {"params": []},
        "method": "Luo et al. 2025: Huber(1e-3) on log loss, AdamW (5e-2 / 5e-3), grid + L-BFGS-B start",
    }
