"""Closed-form learning rates written from the published formulas, for the acceptance tests.

Nothing here imports torch or the ``schedules`` engine: these are the hand-computed expected values
the engine's curves (made by stepping the real torch schedulers) are compared with.

Sources: the formulas in the ``torch.optim.lr_scheduler`` docstrings (the closed forms, not the
recursive "chainable" update rules), the lr lambdas of Hugging Face transformers'
``src/transformers/optimization.py``, and the papers the recipe presets cite.

Conventions: ``k`` is the optimizer step (row of the curve), ``w`` the warmup length, ``j`` the
decay scheduler's own step count (``k - w`` with ``interval="step"``; epoch ends since warmup end with
``interval="epoch"``), ``n`` the default decay length.  ``lr`` is one param group's base lr.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

#: Relative tolerance between the engine's curve and a closed form.  torch updates several schedulers
#: with recursive ("chainable") forms (``lr *= ratio``), so the last bits differ from a closed form by
#: a few ulps per step; over the < 300 steps of these tests that stays far below 1e-12.
REL = 1e-12
#: Absolute slack for values that are (mathematically) exactly 0, e.g. a cosine at its minimum, where
#: torch's recursive form leaves ~1e-18 behind: no relative tolerance can hold there.
ABS = 1e-15


# --------------------------------------------------------------------------------------------------
# warmup


def warmup_factor(k: int, w: int, start: float) -> float:
    """Linear warmup: ``start + (1 - start) * k / w`` for ``k < w`` (reaches 1 at ``k = w``)."""
    return start + (1.0 - start) * k / w


# --------------------------------------------------------------------------------------------------
# torch.optim.lr_scheduler closed forms (as in each class's docstring)


def cosine(j: int, lr: float, t_max: int, eta_min: float = 0.0) -> float:
    """CosineAnnealingLR: ``eta_min + (lr - eta_min) * (1 + cos(pi * j / T_max)) / 2`` (periodic past
    ``T_max``, as the docstring's formula is)."""
    return eta_min + (lr - eta_min) * (1.0 + math.cos(math.pi * j / t_max)) / 2.0


def restart_position(j: int, t_0: int, t_mult: int) -> tuple[int, int]:
    """``(T_cur, T_i)`` of CosineAnnealingWarmRestarts after ``j`` steps: cycles of ``T_0``,
    ``T_0 * T_mult``, ``T_0 * T_mult**2``, ... steps; ``T_cur`` counts steps since the last restart."""
    t_cur, t_i = j, t_0
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= t_mult
    return t_cur, t_i


def warm_restarts(j: int, lr: float, t_0: int, t_mult: int = 1, eta_min: float = 0.0) -> float:
    """CosineAnnealingWarmRestarts (SGDR): ``eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``."""
    t_cur, t_i = restart_position(j, t_0, t_mult)
    return eta_min + (lr - eta_min) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0


def linear(j: int, start: float, end: float, total: int) -> float:
    """LinearLR factor: from ``start`` to ``end`` over ``total`` steps, then ``end``."""
    return start + (end - start) * min(j, total) / total


def polynomial(j: int, total: int, power: float) -> float:
    """PolynomialLR factor: ``(1 - min(j, total) / total) ** power``."""
    return (1.0 - min(j, total) / total) ** power


def step_decay(j: int, step_size: int, gamma: float) -> float:
    """StepLR factor: ``gamma ** (j // step_size)``."""
    return gamma ** (j // step_size)


def multistep(j: int, milestones: Iterable[int], gamma: float) -> float:
    """MultiStepLR factor: ``gamma ** (number of milestones <= j)``."""
    return gamma ** sum(1 for m in milestones if m <= j)


def constant(j: int, factor: float, total: int) -> float:
    """ConstantLR factor: ``factor`` while ``j < total``, then 1."""
    return factor if j < total else 1.0


def exponential(j: int, gamma: float) -> float:
    """ExponentialLR factor: ``gamma ** j``."""
    return gamma**j


def cyclic(j: int, base_lr: float, max_lr: float, up: int, down: int, mode: str = "triangular") -> float:
    """CyclicLR (Smith 2017): a triangle from ``base_lr`` up to ``max_lr`` in ``up`` steps and back down
    in ``down`` steps; ``triangular2`` halves the amplitude every cycle."""
    cycle, p = divmod(j, up + down)
    height = p / up if p <= up else 1.0 - (p - up) / down
    amplitude = 1.0 if mode == "triangular" else 0.5**cycle
    return base_lr + (max_lr - base_lr) * height * amplitude


def anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


def one_cycle(
    j: int,
    max_lr: float,
    total: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    """OneCycleLR (two phases, torch's docstring and Smith & Topin 2019): from ``initial = max_lr /
    div_factor`` up to ``max_lr`` over steps ``0 .. pct_start * total - 1``, then down to
    ``initial / final_div_factor`` at step ``total - 1``."""
    initial = max_lr / div_factor
    floor = initial / final_div_factor
    fn = anneal_cos if anneal == "cos" else anneal_linear
    end_up = pct_start * total - 1.0
    end_down = total - 1.0
    if j <= end_up:
        return fn(initial, max_lr, j / end_up)
    return fn(max_lr, floor, (j - end_up) / (end_down - end_up))


def multiplicative(j: int, f: Callable[[int], float]) -> float:
    """MultiplicativeLR factor: ``f(1) * f(2) * ... * f(j)`` (1 at ``j = 0``)."""
    out = 1.0
    for i in range(1, j + 1):
        out *= f(i)
    return out


# --------------------------------------------------------------------------------------------------
# whole curves


def epoch_ends_between(first: int, stop: int, steps_per_epoch: int) -> int:
    """Number of epoch-ending optimizer steps ``k`` (``(k + 1) % S == 0``) with ``first <= k < stop``."""
    return sum(1 for k in range(first, stop) if (k + 1) % steps_per_epoch == 0)


def expected_curve(
    lr: float,
    total: int,
    warmup: int,
    start: float,
    decay: Callable[[int], float],
    steps_per_epoch: int | None = None,
) -> list[float]:
    """Expected lr of rows ``0 .. total-1`` for one param group with base lr ``lr``.

    Rows ``k < warmup``: ``lr * warmup_factor(k)``.  Later rows: ``decay(j)`` (an lr, not a factor) with
    ``j = k - warmup`` for ``interval="step"``; with ``steps_per_epoch`` given (``interval="epoch"``),
    ``j`` = the epoch ends ``k'`` with ``warmup <= k' < k`` (the decay is stepped after the last step
    of each epoch once warmup is over, so row ``k`` has seen the ends before it).
    """
    rows = []
    for k in range(total):
        if k < warmup:
            rows.append(lr * warmup_factor(k, warmup, start))
        elif steps_per_epoch is None:
            rows.append(decay(k - warmup))
        else:
            rows.append(decay(epoch_ends_between(warmup, k, steps_per_epoch)))
    return rows


def mismatches(
    got: Sequence[float], expected: Sequence[float], rel: float = REL, abs_tol: float = ABS
) -> list[tuple[int, float, float]]:
    """``(step, got, expected)`` for every row outside the tolerance."""
    return [
        (k, float(g), float(e))
        for k, (g, e) in enumerate(zip(got, expected, strict=True))
        if not math.isclose(float(g), float(e), rel_tol=rel, abs_tol=abs_tol)
    ]


def assert_rows(
    got: Sequence[float],
    expected: Sequence[float],
    rel: float = REL,
    abs_tol: float = ABS,
    label: str = "lr",
) -> None:
    """Every row within ``rel`` (plus ``abs_tol``); the message names the first rows that are not."""
    assert len(got) == len(expected), f"{label}: {len(got)} rows, expected {len(expected)}"
    bad = mismatches(got, expected, rel, abs_tol)
    if bad:
        shown = "; ".join(f"step {k}: got {g!r}, expected {e!r}" for k, g, e in bad[:5])
        raise AssertionError(f"{label}: {len(bad)} of {len(got)} rows differ (rel {rel:g}): {shown}")


def max_rel_error(got: Sequence[float], expected: Sequence[float]) -> float:
    """Largest relative error over rows whose expected value is not 0 (for reporting tolerances)."""
    return max(
        (abs(float(g) - e) / abs(e) for g, e in zip(got, expected, strict=True) if e != 0), default=0.0
    )


# --------------------------------------------------------------------------------------------------
# Hugging Face transformers' lr lambdas (src/transformers/optimization.py): factors on the base lr of
# optimizer step ``k``, with ``w`` warmup steps and ``t`` training steps.


def hf_linear(k: int, w: int, t: int) -> float:
    """get_linear_schedule_with_warmup."""
    if k < w:
        return k / max(1, w)
    return max(0.0, (t - k) / max(1, t - w))


def hf_cosine(k: int, w: int, t: int, num_cycles: float = 0.5) -> float:
    """get_cosine_schedule_with_warmup."""
    if k < w:
        return k / max(1, w)
    progress = (k - w) / max(1, t - w)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))


def hf_cosine_hard_restarts(k: int, w: int, t: int, num_cycles: int = 1) -> float:
    """get_cosine_with_hard_restarts_schedule_with_warmup."""
    if k < w:
        return k / max(1, w)
    progress = (k - w) / max(1, t - w)
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * progress) % 1.0))))


def hf_polynomial(k: int, w: int, t: int, lr_init: float, lr_end: float = 1e-7, power: float = 1.0) -> float:
    """get_polynomial_decay_schedule_with_warmup (as a factor: the decayed lr / lr_init)."""
    if k < w:
        return k / max(1, w)
    if k > t:
        return lr_end / lr_init
    pct_remaining = 1 - (k - w) / (t - w)
    return ((lr_init - lr_end) * pct_remaining**power + lr_end) / lr_init


def hf_constant_with_warmup(k: int, w: int) -> float:
    """get_constant_schedule_with_warmup."""
    return k / max(1.0, w) if k < w else 1.0


def hf_inverse_sqrt(k: int, w: int, timescale: int | None = None) -> float:
    """get_inverse_sqrt_schedule (timescale defaults to the warmup steps, or 10_000 without warmup)."""
    timescale = timescale if timescale is not None else (w or 10_000)
    if k < w:
        return k / max(1, w)
    shift = timescale - w
    return 1.0 / math.sqrt((k + shift) / timescale)


def hf_wsd(
    k: int, w: int, stable: int, decay: int, min_lr_ratio: float = 0.0, num_cycles: float = 0.5
) -> float:
    """get_wsd_schedule with warmup_type="linear", decay_type="cosine"."""
    if k < w:
        return max(0.0, (k / max(1, w)) * (1.0 - min_lr_ratio) + min_lr_ratio)
    if k < w + stable:
        return 1.0
    if k < w + stable + decay:
        progress = (k - w - stable) / max(1, decay)
        factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


def hf_wsd_decay(
    k: int, w: int, stable: int, decay: int, decay_type: str, min_lr_ratio: float = 0.0
) -> float:
    """get_wsd_schedule with warmup_type="linear" and any decay_type (linear, cosine, 1-sqrt)."""
    if k < w + stable or k >= w + stable + decay:
        return hf_wsd(k, w, stable, decay, min_lr_ratio)
    progress = (k - w - stable) / max(1, decay)
    factor = {
        "linear": 1.0 - progress,
        "cosine": 0.5 * (1.0 + math.cos(math.pi * progress)),
        "1-sqrt": 1.0 - math.sqrt(progress),
    }[decay_type]
    return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)


def hf_cosine_warmup_with_min_lr(k: int, w: int, t: int, min_lr_rate: float) -> float:
    """get_cosine_with_min_lr_schedule_with_warmup_lr_rate (warmup_lr_rate=None)."""
    if k < w:
        return (k + 1.0) / max(1.0, w)
    progress = (k - w + 1.0) / max(1.0, t - w)
    factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, factor * (1 - min_lr_rate) + min_lr_rate)


def hf_cosine_with_min_lr(k: int, w: int, t: int, min_lr_rate: float, num_cycles: float = 0.5) -> float:
    """get_cosine_with_min_lr_schedule_with_warmup."""
    if k < w:
        return k / max(1, w)
    progress = (k - w) / max(1, t - w)
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0.0, factor * (1 - min_lr_rate) + min_lr_rate)


def hf_warmup_steps(t: int, ratio: float) -> int:
    """transformers' TrainingArguments.get_warmup_steps for a warmup_ratio: ``ceil(t * ratio)``."""
    return math.ceil(t * ratio)


# --------------------------------------------------------------------------------------------------
# torch.optim.lr_scheduler.ReduceLROnPlateau, by its documented rules


def plateau_lrs(
    metrics: Sequence[float],
    lr: float,
    *,
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    eps: float = 1e-8,
) -> list[float]:
    """The lr after each evaluation (mode "min"): an evaluation improves when ``metric < best * (1 -
    threshold)`` (rel) or ``< best - threshold`` (abs); after more than ``patience`` evaluations without
    improvement the lr becomes ``max(lr * factor, min_lr)`` (if that changes it by more than ``eps``)
    and ``cooldown`` evaluations follow in which bad evaluations are not counted."""
    best = math.inf
    bad = 0
    cooldown_left = 0
    out = []
    for metric in metrics:
        limit = best * (1.0 - threshold) if threshold_mode == "rel" else best - threshold
        if metric < limit:
            best = metric
            bad = 0
        else:
            bad += 1
        if cooldown_left > 0:
            cooldown_left -= 1
            bad = 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cooldown_left = cooldown
            bad = 0
        out.append(lr)
    return out


def hf_scheduler_lrs(payload: dict, total: int, warmup: int) -> np.ndarray:
    """The lr of every optimizer step from ``transformers.get_scheduler`` itself (stepped as Trainer does)."""
    import torch
    from transformers import get_scheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=payload["learning_rate"])
    sched = get_scheduler(
        payload["lr_scheduler_type"],
        opt,
        num_warmup_steps=warmup,
        num_training_steps=total,
        scheduler_specific_kwargs=payload.get("lr_scheduler_kwargs") or {},
    )
    out = np.empty(total)
    for k in range(total):
        out[k] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return out
