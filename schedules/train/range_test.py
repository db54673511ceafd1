"""LR range test ("LR finder", Smith 2017; fastai's ``lr_find``), with gradient accumulation.

The design's optimizer, param groups, batches and accumulation train the live run's model (the same
loop, data and sample order as :mod:`schedules.train`) while the base lr rises exponentially from
``min_lr`` to ``max_lr`` over ``steps`` optimizer steps: a ``torch.optim.lr_scheduler.ExponentialLR``
with ``gamma = (max_lr / min_lr) ** (1 / (steps - 1))`` on the real optimizer, stepped once per
optimizer step (group ``g`` runs at ``base lr * lr_scale_g``).  The design's warmup, decay and plateau
are not used.

**Smoothing.** ``smoothed_k = avg_k / (1 - beta ** (k + 1))`` with ``avg_k = beta * avg_{k-1} +
(1 - beta) * loss_k`` and ``avg_{-1} = 0`` (an exponential moving average with bias correction,
``beta = 0.98`` as fastai).  **Early stop.** The sweep ends once ``smoothed > 4 * best smoothed so far``
(that row is kept) or the loss is not finite (that row is dropped).

**Suggestions** are computed on the smoothed loss with fastai's trimming: the first ``steps // 10``
rows and the last 5 recorded rows are left out (the start is noisy, the end is divergence).

- ``steepest``: the lr where the smoothed loss falls fastest against ``ln(lr)``: the most negative
  slope over ``k = max(1, steps // 40)`` steps, ``argmin_i (s[i+k] - s[i]) / (ln lr[i+k] - ln lr[i])``,
  reported at the middle of that stretch (``lr[i + k // 2]``).  This is fastai's ``steep`` with a
  ``k``-step instead of a one-step difference: one-step slopes of a smoothed loss are still dominated
  by batch noise.  None when the loss never falls.
- ``valley``: fastai's ``valley`` rule.  ``lds[i]`` is the length of the longest strictly decreasing
  subsequence of the smoothed loss ending at ``i`` (``lds[i] = 1 + max(lds[j] : j < i, s[j] > s[i])``);
  ``end`` is the first ``i`` with the largest ``lds``; ``start = end - lds[end]``; the suggestion is
  the lr at ``start + int((end - start) / 3) + int((end - start) / 6)``, about halfway down the
  longest valley: well below the minimum, where the loss is still falling fast.

Worked example of the valley rule (:func:`valley_index`)::

    index     0    1    2    3    4    5    6    7    8    9
    smoothed  3.0  2.9  2.5  2.0  1.5  1.2  1.1  1.0  5.0  9.0
    lds       1    2    3    4    5    6    7    8    1    1

    end = 7, start = 7 - 8 = -1, sections = 8 / 3: index -1 + 2 + 1 = 2 (smoothed 2.5)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.optim.lr_scheduler import ExponentialLR

from ..build import load_config
from ..design import ConfigError, Problem, ScheduleConfig
from .base import CORRECT, DEFAULT_THREADS, StopFlag, check_live, limit_threads, resolve_device, stop_check
from .loop import LiveSetup

#: Most optimizer steps of one range test.
MAX_RANGE_STEPS = 2000
#: Smallest and largest lr a sweep may reach (the config's ``optimizer.lr`` is at most 10).
LR_BOUNDS = (1e-10, 10.0)
BETA = 0.98
STOP_FACTOR = 4.0
SKIP_END = 5

RULES = {
    "steepest": "where the smoothed loss falls fastest against log lr (fastai's 'steep', over a few steps)",
    "valley": "about halfway down the longest falling stretch of the smoothed loss (fastai's 'valley')",
}


@dataclass(frozen=True, slots=True)
class RangeRecord:
    """One optimizer step of the sweep: ``lr`` is the base lr (``optimizer.lr`` of the config)."""

    step: int
    lr: float
    lrs: dict[str, float]
    loss: float
    smoothed: float
    samples: int

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"step": self.step, "lr": self.lr}
        if len(self.lrs) > 1:
            row.update({f"lr/{name}": lr for name, lr in self.lrs.items()})
        row.update(loss=self.loss, smoothed=self.smoothed, samples=self.samples)
        return row


def range_columns(group_names: list[str]) -> list[str]:
    lr_cols = [f"lr/{n}" for n in group_names] if len(group_names) > 1 else []
    return ["step", "lr", *lr_cols, "loss", "smoothed", "samples"]


@dataclass(frozen=True)
class Suggestion:
    name: str  # steepest | valley
    lr: float
    step: int
    smoothed: float
    rule: str


@dataclass
class RangeTestResult:
    """The sweep's frame (``step, lr, [lr/<group>], loss, smoothed, samples``) and its suggestions."""

    frame: pd.DataFrame
    suggestions: dict[str, Suggestion]
    stop_reason: str
    notes: list[str] = field(default_factory=list)


def smooth(losses: np.ndarray | list[float], beta: float = BETA) -> np.ndarray:
    """Bias-corrected exponential moving average (see the module docstring)."""
    out = np.empty(len(losses), dtype=np.float64)
    avg = 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(loss)
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def valley_index(smoothed: np.ndarray) -> int:
    """fastai's valley rule on ``smoothed`` (module docstring); an index into ``smoothed``."""
    n = len(smoothed)
    lds = np.ones(n, dtype=np.int64)
    max_end = 0
    for i in range(1, n):
        higher = smoothed[:i] > smoothed[i]
        if higher.any():
            lds[i] = 1 + int(lds[:i][higher].max())
        if lds[i] > lds[max_end]:
            max_end = i
    max_start = max_end - int(lds[max_end])
    sections = (max_end - max_start) / 3
    return max(0, max_start + int(sections) + int(sections / 2))


def suggest(frame: pd.DataFrame, steps: int) -> tuple[dict[str, Suggestion], list[str]]:
    """Suggestions from a sweep's frame (columns ``lr``, ``smoothed``), with notes when there are none."""
    skip_start = steps // 10
    rows = frame.iloc[skip_start : max(skip_start, len(frame) - SKIP_END)]
    if len(rows) < 5:
        return {}, [
            f"too few points to suggest an lr ({len(frame)} recorded; the first {skip_start} and last "
            f"{SKIP_END} are left out): raise min_lr's distance to max_lr or the steps"
        ]
    lrs = rows["lr"].to_numpy(dtype=np.float64)
    s = rows["smoothed"].to_numpy(dtype=np.float64)
    steps_col = rows["step"].to_numpy()
    out: dict[str, Suggestion] = {}
    notes: list[str] = []
    k = min(max(1, steps // 40), len(s) - 1)
    log_lr = np.log(lrs)
    slopes = (s[k:] - s[:-k]) / (log_lr[k:] - log_lr[:-k])
    i = int(np.argmin(slopes))
    if slopes[i] < 0:
        m = i + k // 2
        out["steepest"] = Suggestion(
            "steepest", float(lrs[m]), int(steps_col[m]), float(s[m]), RULES["steepest"]
        )
    else:
        notes.append("the smoothed loss never falls: no steepest-descent lr (try a lower min_lr)")
    j = valley_index(s)
    out["valley"] = Suggestion("valley", float(lrs[j]), int(steps_col[j]), float(s[j]), RULES["valley"])
    return out, notes


def sweep_config(config: ScheduleConfig, steps: int) -> ScheduleConfig:
    """The design with ``training.max_steps = steps`` and no warmup, decay or plateau."""
    data = config.to_dict()
    data["training"] = {**data["training"], "max_steps": steps}
    data.update(warmup=None, decay=None, plateau=None)
    data.pop("wsd", None)
    return load_config(data)


class RangeSweep:
    """An iterator of :class:`RangeRecord` (built by :func:`sweep`); ``result()`` once it is done."""

    def __init__(
        self,
        config: ScheduleConfig,
        *,
        min_lr: float,
        max_lr: float,
        steps: int,
        device: str,
        seed: int,
        model: str,
        dtype: str,
        stop: StopFlag,
        threads: int | None,
        beta: float,
        stop_factor: float,
    ):
        self.config = config
        self.plan = config.plan
        self.min_lr, self.max_lr, self.steps = min_lr, max_lr, steps
        self.device = device
        self.beta, self.stop_factor = beta, stop_factor
        self.threads = threads
        self.setup = LiveSetup(config, self.plan, model=model, seed=seed, device=device, dtype=dtype)
        self.group_names = self.setup.group_names
        self.scales = [g.scale for g in config.optimizer.groups()]
        self.optimizer = self.setup.make_optimizer([min_lr * s for s in self.scales])
        gamma = (max_lr / min_lr) ** (1.0 / (steps - 1)) if steps > 1 else 1.0
        self.scheduler = ExponentialLR(self.optimizer, gamma=gamma)
        self.stop_reason = ""
        self.stopped = False
        self.records: list[RangeRecord] = []
        self._stop = stop_check(stop)
        self._gen = self._run()

    def __iter__(self) -> RangeSweep:
        return self

    def __next__(self) -> RangeRecord:
        return next(self._gen)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.to_row() for r in self.records], columns=range_columns(self.group_names))

    def result(self) -> RangeTestResult:
        frame = self.frame()
        suggestions, notes = suggest(frame, self.steps)
        return RangeTestResult(frame, suggestions, self.stop_reason, notes)

    def _run(self) -> Iterator[RangeRecord]:
        limit_threads(self.threads if self.setup.device.type == "cpu" else None)
        setup, plan, optimizer = self.setup, self.plan, self.optimizer
        groups = optimizer.param_groups
        stopped = self._stop
        avg, best = 0.0, math.inf
        t0 = time.perf_counter()
        for k in range(self.steps):
            window = plan.window(k)
            total = torch.zeros((), dtype=torch.float64, device=setup.device)
            for idx in setup.micro_batches(window):
                if stopped():
                    self.stopped = True
                    self.stop_reason = f"stopped at step {k}"
                    return
                loss_sum = setup.loss_sum(idx)
                (loss_sum / window.samples).backward()
                total += loss_sum.detach().double()
            lrs = {n: float(g["lr"]) for n, g in zip(self.group_names, groups, strict=True)}
            base = lrs[self.group_names[0]] / self.scales[0]
            loss = float(total) / window.samples
            if not math.isfinite(loss):
                self.stop_reason = f"loss became {loss} at step {k} (lr {base:.3g}): the sweep stops there"
                return
            optimizer.step()
            self.scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            avg = self.beta * avg + (1 - self.beta) * loss
            smoothed = avg / (1 - self.beta ** (k + 1))
            record = RangeRecord(k, base, lrs, loss, smoothed, window.samples_through)
            self.records.append(record)
            yield record
            best = min(best, smoothed)
            if smoothed > self.stop_factor * best:
                self.stop_reason = (
                    f"smoothed loss {smoothed:.4g} > {self.stop_factor:g} x best {best:.4g} at step {k} "
                    f"(lr {base:.3g}): the sweep stops there"
                )
                return
        self.stop_reason = f"reached max_lr after {self.steps} steps in {time.perf_counter() - t0:.1f} s"


def sweep(
    config: ScheduleConfig | dict[str, Any] | str,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 10.0,
    steps: int = 200,
    device: str = "auto",
    seed: int = 0,
    model: str = "mlp",
    dtype: str = "float32",
    stop: StopFlag = None,
    threads: int | None = DEFAULT_THREADS,
    beta: float = BETA,
    stop_factor: float = STOP_FACTOR,
) -> RangeSweep:
    """Set up a range test of ``config``'s optimizer and batches (validated now); iterate it to run.

    Raises :class:`ConfigError` naming the argument (``min_lr``, ``max_lr``, ``steps``) or the config
    field over a live-run cap.
    """
    cfg = load_config(config)
    problems = []
    lo, hi = LR_BOUNDS
    for name, value in (("min_lr", min_lr), ("max_lr", max_lr)):
        if not isinstance(value, int | float) or not math.isfinite(value) or not lo <= value <= hi:
            problems.append(Problem(name, f"must be a number >= {lo:g} and <= {hi:g}", value))
    if not problems and not min_lr < max_lr:
        problems.append(Problem("max_lr", f"must be > min_lr ({min_lr:g})", max_lr))
    if not isinstance(steps, int) or isinstance(steps, bool) or not 10 <= steps <= MAX_RANGE_STEPS:
        problems.append(Problem("steps", f"must be an integer >= 10 and <= {MAX_RANGE_STEPS}", steps))
    for name, value, low, high in (("beta", beta, 0.0, 0.999), ("stop_factor", stop_factor, 1.0, 1e6)):
        if not isinstance(value, int | float) or not low <= value <= high:
            problems.append(Problem(name, f"must be a number >= {low:g} and <= {high:g}", value))
    if problems:
        raise ConfigError(problems)
    swept = sweep_config(cfg, steps)
    check_live(swept, model=model, variant=CORRECT, dtype=dtype, seed=seed)
    return RangeSweep(
        swept,
        min_lr=float(min_lr),
        max_lr=float(max_lr),
        steps=steps,
        device=resolve_device(device),
        seed=seed,
        model=model,
        dtype=dtype,
        stop=stop,
        threads=threads,
        beta=beta,
        stop_factor=stop_factor,
    )


def range_test(config: ScheduleConfig | dict[str, Any] | str, **kwargs: Any) -> RangeTestResult:
    """Run a whole sweep (:func:`sweep`'s arguments) and return the frame and suggestions."""
    run = sweep(config, **kwargs)
    for _ in run:
        pass
    return run.result()


def with_lr(config: ScheduleConfig, lr: float) -> ScheduleConfig:
    """``config`` with ``optimizer.lr = lr`` rounded to 3 significant digits (validated)."""
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ConfigError(Problem("optimizer.lr", "must be a positive number", lr))
    rounded = float(f"{lr:.3g}")
    data = config.to_dict()
    data["optimizer"] = {**data["optimizer"], "lr": rounded}
    return load_config(data)
