"""The two loss laws, evaluated with their Jacobians on chosen rows of an lr sequence.

Conventions (one place): ``lr[k]`` is the lr optimizer step ``k`` uses (row ``k`` of a curve, as in
CONTRACT.md section 3) and the loss at row ``t`` is the loss *after* ``t`` optimizer steps, i.e. the
training loss measured at step ``t`` before its update (what ``python -m schedules train`` logs).
So the loss at row ``t`` depends on ``lr[0 .. t-1]``:

- lr area before row t: ``S(t) = lr[0] + ... + lr[t-1]`` (warmup included: the paper's
  ``S1(t) + S_W``);
- the peak ``p`` is the first row holding the sequence's largest lr; rows ``<= p`` are the warmup;
- drops ``d[k] = lr[k-1] - lr[k]`` for ``k > p`` (0 elsewhere; a rise after the peak is a negative
  drop);
- area from row ``k`` to row ``t``: ``S_k(t) = S(t) - S(k)`` (0 when ``k >= t``).

**Multi-power law** (Luo et al., ICLR 2025, "A Multi-Power Law for Loss Curve Prediction Across
Learning Rate Schedules"), parameters ``L0, A, alpha, B, C, beta, gamma``::

    L(t)  = L0 + A * S(t) ** -alpha - LD(t)
    LD(t) = B * sum_k d[k] * G(lr[k] ** -gamma * S_k(t)),   G(x) = 1 - (C x + 1) ** -beta

**Annealing-momentum law** (Tissue et al., 2024, "Scaling Law with Learning Rate Annealing"),
parameters ``L0, A, alpha, C, lam``::

    m[k]  = lam * m[k-1] + d[k]          (m[k] = 0 up to the peak)
    S2(t) = m[0] + ... + m[t-1]
    L(t)  = L0 + A * S(t) ** -alpha - C * S2(t)

**Vectorised.**  The multi-power sum over ``k`` is a matrix (rows ``t`` x drop bins ``k``) reduced
with a matrix-vector product, in chunks of rows so memory stays bounded; never a Python loop over
steps.  When a sequence has more drops than ``max_bins``, consecutive drops of one sign are merged
into bins of equal count: a bin carries its summed drop, the drop-weighted mean of ``S(k)`` and the
drop-weighted geometric mean of ``lr[k]`` (a midpoint rule, second-order accurate; the tests bound
its error against the exact sum).  The momentum filter is ``scipy.signal.lfilter``.

Lrs below :data:`LR_FLOOR` times the peak are raised to it inside ``lr[k] ** -gamma`` (an lr of 0
would give ``0 * inf``); the exact limit there is G = 0 and the floor keeps it within 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def lfilter(b: list[float], a: list[float], x: np.ndarray) -> np.ndarray:
    """``scipy.signal.lfilter``, imported when first used (scipy takes seconds to import; the CLI
    starts faster without it)."""
    from scipy.signal import lfilter as scipy_lfilter

    return scipy_lfilter(b, a, x)


#: Smallest lr (relative to the peak) used in ``lr[k] ** -gamma``.
LR_FLOOR = 1e-9
#: Matrix elements per chunk of the multi-power sum (bounds memory to a few tens of MB).
CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Sequence:
    """One lr sequence prepared for evaluation: areas, peak, drops (all rows)."""

    lr: np.ndarray  # (T,)
    area: np.ndarray  # (T + 1,): area[t] = S(t) = lr[0] + ... + lr[t-1]
    peak: int  # first row of the largest lr
    drops: np.ndarray  # (T,): d[k]

    @property
    def steps(self) -> int:
        return len(self.lr)

    @property
    def peak_lr(self) -> float:
        return float(self.lr[self.peak])


def prepare(lr: np.ndarray) -> Sequence:
    lr = np.asarray(lr, dtype=np.float64)
    area = np.concatenate([[0.0], np.cumsum(lr)])
    peak = int(np.argmax(lr)) if len(lr) else 0
    drops = np.zeros_like(lr)
    if len(lr) > peak + 1:
        drops[peak + 1 :] = lr[peak:-1] - lr[peak + 1 :]
    return Sequence(lr, area, peak, drops)


@dataclass(frozen=True)
class Bins:
    """The multi-power sum's drops, merged into at most ``max_bins`` bins."""

    d: np.ndarray  # summed drop per bin
    start_area: np.ndarray  # S(k) of the bin (drop-weighted mean)
    log_lr: np.ndarray  # ln lr[k] of the bin (drop-weighted mean, floored)


def make_bins(seq: Sequence, max_bins: int) -> Bins:
    k = np.flatnonzero(seq.drops)
    if len(k) == 0:
        return Bins(np.zeros(0), np.zeros(0), np.zeros(0))
    d = seq.drops[k]
    log_lr = np.log(np.maximum(seq.lr[k], LR_FLOOR * max(seq.peak_lr, 1e-300)))
    start = seq.area[k]
    if len(k) <= max_bins:
        return Bins(d, start, log_lr)
    # Runs of one sign, then equal-count bins inside each run (bins never mix signs).
    sign = np.sign(d)
    cuts = np.flatnonzero(np.diff(sign)) + 1
    segments = np.split(np.arange(len(k)), cuts)
    per = max(1, int(np.ceil(len(k) / max_bins)))
    edges: list[int] = []
    for seg in segments:
        edges.extend(range(int(seg[0]), int(seg[-1]) + 1, per))
    edges.append(len(k))
    idx = np.asarray(edges)
    w = np.abs(d)
    wsum = np.add.reduceat(w, idx[:-1])
    return Bins(
        np.add.reduceat(d, idx[:-1]),
        np.add.reduceat(w * start, idx[:-1]) / wsum,
        np.add.reduceat(w * log_lr, idx[:-1]) / wsum,
    )


# --------------------------------------------------------------------------------------------------
# multi-power law

MP_PARAMS = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
AN_PARAMS = ("L0", "A", "alpha", "C", "lam")


def mp_annealing(
    area_t: np.ndarray, bins: Bins, C: float, beta: float, gamma: float, jac: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """``sum_k d[k] G(lr[k]^-gamma S_k(t))`` at areas ``area_t`` (the multi-power sum without B).

    With ``jac``: also its derivatives by ``ln C``, ``beta`` and ``gamma`` (shape ``(n, 3)``)."""
    n = len(area_t)
    out = np.zeros(n)
    deriv = np.zeros((n, 3)) if jac else None
    if len(bins.d) == 0 or n == 0:
        return out, deriv
    scale = np.exp(-gamma * bins.log_lr)  # lr^-gamma per bin
    rows = max(1, CHUNK_ELEMENTS // len(bins.d))
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        s = area_t[lo:hi, None] - bins.start_area[None, :]
        np.maximum(s, 0.0, out=s)
        x = s * scale[None, :]  # lr^-gamma S_k(t)
        lu = np.log1p(C * x)  # ln u, u = 1 + C x
        v = np.exp(-beta * lu)  # u^-beta
        out[lo:hi] = (1.0 - v) @ bins.d
        if jac:
            q = beta * v * C * x / (1.0 + C * x)  # d G / d ln C  (= C x beta u^(-beta-1))
            deriv[lo:hi, 0] = q @ bins.d
            deriv[lo:hi, 1] = (v * lu) @ bins.d  # d G / d beta
            deriv[lo:hi, 2] = q @ (bins.d * -bins.log_lr)  # d G / d gamma
    return out, deriv


def mp_value(
    theta: np.ndarray, area_t: np.ndarray, bins: Bins, jac: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Loss at areas ``area_t``; ``theta = [L0, ln A, alpha, ln B, ln C, beta, gamma]``.

    With ``jac``: d loss / d theta, shape ``(n, 7)``."""
    L0, lnA, alpha, lnB, lnC, beta, gamma = (float(v) for v in theta)
    A, B, C = np.exp(lnA), np.exp(lnB), np.exp(lnC)
    with np.errstate(divide="ignore"):
        log_s = np.log(area_t)
    power = A * np.exp(-alpha * log_s)
    ann, d_ann = mp_annealing(area_t, bins, C, beta, gamma, jac)
    loss = L0 + power - B * ann
    if not jac:
        return loss, None
    J = np.empty((len(area_t), 7))
    J[:, 0] = 1.0
    J[:, 1] = power
    J[:, 2] = -power * log_s
    J[:, 3] = -B * ann
    J[:, 4:7] = -B * d_ann
    return loss, J


# --------------------------------------------------------------------------------------------------
# annealing-momentum law


def momentum_area(seq: Sequence, lam: float, jac: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """``S2`` at every row ``t = 0 .. T`` (length ``T + 1``), and ``d S2 / d lam`` with ``jac``."""
    m = lfilter([1.0], [1.0, -lam], seq.drops)
    s2 = np.concatenate([[0.0], np.cumsum(m)])
    if not jac:
        return s2, None
    shifted = np.concatenate([[0.0], m[:-1]])
    dm = lfilter([1.0], [1.0, -lam], shifted)
    return s2, np.concatenate([[0.0], np.cumsum(dm)])


def an_value(
    theta: np.ndarray, seq: Sequence, rows: np.ndarray, jac: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Loss at ``rows``; ``theta = [L0, ln A, alpha, ln C, lam]``; d loss / d theta with ``jac``."""
    L0, lnA, alpha, lnC, lam = (float(v) for v in theta)
    A, C = np.exp(lnA), np.exp(lnC)
    area_t = seq.area[rows]
    with np.errstate(divide="ignore"):
        log_s = np.log(area_t)
    power = A * np.exp(-alpha * log_s)
    s2_all, ds2_all = momentum_area(seq, lam, jac)
    s2 = s2_all[rows]
    loss = L0 + power - C * s2
    if not jac:
        return loss, None
    J = np.empty((len(rows), 5))
    J[:, 0] = 1.0
    J[:, 1] = power
    J[:, 2] = -power * log_s
    J[:, 3] = -C * s2
    J[:, 4] = -C * ds2_all[rows]
    return loss, J
