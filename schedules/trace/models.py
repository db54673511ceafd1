"""The models of known mistakes a diagnosis tries (see :mod:`.diagnose`).

:class:`Engine` holds the intended design against the observed rows: the design's real torch
schedulers stepped as a model says (:func:`schedules.stacks.base.record`), re-sized the ways a run
is commonly mis-sized, and checked row by row within :data:`schedules.logs.MATCH_TOLERANCE`.  The
stepping causes a trace's counts show, the plateau and rank causes, and the models of a bare log
(stepping, AMP skips, resumes) are here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..build import load_config
from ..curve import compute_curve
from ..design import ConfigError, ScheduleConfig
from ..logs import MATCH_TOLERANCE
from ..stacks.base import (
    MAX_SCHEDULER_STEPS,
    calls_after_steps_that_ran,
    design_windows,
    exclusive_cumsum,
    record,
)
from .observed import Observed, peak_of

#: Most alternative sizings tried (each is one pass of the design's schedulers over the run).
MAX_SIZINGS = 16


# --------------------------------------------------------------------------------------------------
# the models


@dataclass
class Model:
    code: str
    pred: np.ndarray  # lr per row 0..R-1 (NaN where the model says nothing)
    evidence: dict[str, Any]
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # causes named with it


class Engine:
    """The intended design against the observed rows (see the module docstring)."""

    def __init__(self, observed: Observed, config: ScheduleConfig, stack: str):
        self.obs = observed
        self.cfg = config
        self.plan = config.plan
        self.T = self.plan.total_steps
        self.stack = stack
        self.R = max(observed.steps, self.T, int(observed.rows[-1]) + 1 if len(observed.rows) else 0)
        self.curve = compute_curve(config)
        self.c = self.curve.lrs[:, 0]
        self.peak = max(peak_of(self.c), peak_of(observed.lr)) or 1.0
        self.tol = MATCH_TOLERANCE * self.peak
        self._ext: dict[str, np.ndarray] = {}

    # -- the design's schedulers stepped j times ----------------------------------------------
    def extended(self, cfg: ScheduleConfig, upto: int) -> np.ndarray:
        """lr (first group) after ``j`` steps of ``cfg``'s real schedulers, ``j = 0 .. upto - 1``."""
        upto = int(min(max(upto, 1), MAX_SCHEDULER_STEPS))
        key = cfg.cache_key
        have = self._ext.get(key)
        if have is None or len(have) < upto:
            lrs, _ = record(cfg, np.arange(upto, dtype=np.int64))
            have = lrs[:, 0]
            self._ext[key] = have
        return have

    def stepped(self, cfg: ScheduleConfig, ticks: np.ndarray) -> np.ndarray:
        """lr per row when ``cfg``'s schedulers have been stepped ``ticks[k]`` times before row ``k``."""
        ticks = np.asarray(ticks, dtype=np.int64)
        if len(ticks) == 0:
            return np.empty(0)
        e = self.extended(cfg, int(ticks.max()) + 1)
        out = np.full(len(ticks), np.nan)
        inside = (ticks >= 0) & (ticks < len(e))
        out[inside] = e[ticks[inside]]
        return out

    # -- comparing -----------------------------------------------------------------------------
    def check(self, pred: np.ndarray) -> tuple[float, int | None]:
        """(fraction of the observed rows the prediction reproduces, first row it does not)."""
        rows, got = self.obs.rows, self.obs.lr
        want = np.full(len(rows), np.nan)
        inside = rows < len(pred)
        want[inside] = pred[rows[inside]]
        ok = np.abs(want - got) <= self.tol
        if ok.all():
            return 1.0, None
        return float(ok.mean()), int(rows[np.argmin(ok)])

    def base_evidence(self, pred: np.ndarray | None = None) -> dict[str, Any]:
        """The first step where the run differs from the intended schedule, expected vs got."""
        expected = self.expected()
        _, first = self.check(expected)
        ev: dict[str, Any] = {"total_steps": self.T, "warmup_steps": self.plan.warmup_steps}
        ev["accumulation"] = self.plan.accumulation_steps
        if first is not None:
            i = int(np.searchsorted(self.obs.rows, first))
            ev.update(
                first_step=first,
                expected=float(expected[first]) if first < len(expected) else None,
                got=float(self.obs.lr[i]),
            )
        return ev

    def expected(self) -> np.ndarray:
        """The intended lr per row: the design's curve (its rows), NaN past its end."""
        out = np.full(self.R, np.nan)
        out[: self.T] = self.c
        return out

    # -- variants of the design ----------------------------------------------------------------
    def resized(self, steps: int) -> ScheduleConfig | None:
        """The design built for ``steps`` optimizer steps (``training.max_steps``)."""
        if steps < 1 or steps == self.T or steps > 2_000_000:
            return None
        data = self.cfg.to_dict()
        data["training"]["max_steps"] = int(steps)
        try:
            return load_config(data)
        except ConfigError:
            return None

    def warmup_scaled(self, factor: int) -> ScheduleConfig | None:
        w = self.plan.warmup_steps
        if factor <= 1 or w <= 0:
            return None
        data = self.cfg.to_dict()
        if data.get("wsd"):
            data["wsd"]["warmup_steps"], data["wsd"]["warmup_ratio"] = w * factor, None
        elif data.get("warmup"):
            data["warmup"]["steps"], data["warmup"]["ratio"] = w * factor, None
        else:
            return None
        try:
            return load_config(data)
        except ConfigError:
            return None

    def sizing_factors(self, extra: list[float]) -> list[float]:
        a, w, e = self.plan.accumulation_steps, self.plan.world_size, self.plan.total_epochs
        out = [f for f in extra if f > 0]
        for f in (a, w, a * w, 1 / a, 1 / w, 1 / (a * w), e, 1 / e, 2, 4, 0.5, 0.25, 8, 0.125, 3, 1 / 3):
            out.append(float(f))
        seen: set[int] = set()
        keep: list[float] = []
        for f in out:
            steps = int(round(f * self.T))
            if steps != self.T and steps >= 1 and steps not in seen:
                seen.add(steps)
                keep.append(steps / self.T)
        return keep[:MAX_SIZINGS]

    def sizings(self, extra: list[float]) -> list[tuple[str, ScheduleConfig, dict[str, Any]]]:
        """Each wrong sizing of the design: ``(code, config, evidence)``."""
        out: list[tuple[str, ScheduleConfig, dict[str, Any]]] = []
        a = self.plan.accumulation_steps
        scaled = self.warmup_scaled(a)
        if scaled is not None:
            out.append(
                (
                    "warmup_in_micro_batches",
                    scaled,
                    {"factor": a, "configured_warmup": scaled.plan.warmup_steps},
                )
            )
        if a > 1:
            from ..mistakes import unadjusted_config

            try:
                wrong = unadjusted_config(self.cfg)
            except ConfigError:
                wrong = None
            if wrong is not None and wrong.plan.total_steps != self.T:
                t = wrong.plan.total_steps
                out.append(("wrong_total_steps", wrong, {"factor": t / self.T, "configured_steps": t}))
        done = {cfg.plan.total_steps for code, cfg, _ in out if code == "wrong_total_steps"}
        for f in self.sizing_factors(extra):
            steps = int(round(f * self.T))
            if steps in done:
                continue
            cfg = self.resized(steps)
            if cfg is not None:
                done.add(steps)
                out.append(("wrong_total_steps", cfg, {"factor": steps / self.T, "configured_steps": steps}))
        return out


# --------------------------------------------------------------------------------------------------
# traces: the stepping is counted


def _resume_points(obs: Observed) -> list[tuple[int, bool]]:
    """``(step, state loaded)`` for each scheduler built on the traced optimizer after step 0."""
    built = sorted({int(s.get("step", 0)) for s in obs.schedulers() if int(s.get("step", 0)) > 0})
    loaded = {
        int(e.get("step", 0)) for e in obs.states_loaded() if e.get("event") == "scheduler_state_loaded"
    }
    return [(r, r in loaded) for r in built]


def effective_ticks(obs: Observed, restored_first_row: bool = False) -> tuple[np.ndarray, list[int]]:
    """The trace's ticks, restarting from 0 where a scheduler was rebuilt without its state.

    ``restored_first_row``: the resumed run's first step used the lr the optimizer's restored state
    carried (``optimizer.load_state_dict`` after the scheduler was built), so the restart shows from
    the step after; its row is marked with the tick ``-1`` ("the lr before the restart")."""
    ticks = obs.ticks.copy()
    resets = []
    for r, loaded in _resume_points(obs):
        if not loaded and r < len(ticks):
            before = ticks[r - 1] + int(obs.counts["scheduler_steps"].iloc[r]) if r > 0 else 0
            ticks[r:] -= before
            resets.append(r)
    ticks = np.maximum(ticks, 0)
    if restored_first_row:
        for r in resets:
            ticks[r] = -1
    return ticks, resets


def stepping_causes(
    obs: Observed, ticks: np.ndarray, world_size: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """What the trace's counts say about the stepping (independent of the lrs)."""
    counts = obs.counts
    n = len(counts)
    sched = counts["scheduler_steps"].to_numpy()
    micro = counts["micro_batches"].to_numpy()
    skipped = counts["skipped"].to_numpy().astype(bool)
    out: list[tuple[str, dict[str, Any]]] = []
    if n == 0 or np.array_equal(ticks, np.arange(n)):
        return out
    rest = sched[1:] if n > 1 else sched
    typical = int(np.median(rest)) if len(rest) else 0
    ranks = max(1, len(obs.ranks))
    if sched[0] >= 1 and typical == 1:
        out.append(("scheduler_before_optimizer", {"factor": 1, "row0_scheduler_steps": int(sched[0])}))
        return out
    if skipped.any():
        lag = int(np.sum(skipped & (np.append(sched[1:], 0) == 0)))
        if lag:
            out.append(
                ("amp_skipped_steps", {"skipped_steps": int(skipped.sum()), "lag": lag, "factor": lag})
            )
    if typical > 1:
        m = int(np.median(micro[micro > 0])) if (micro > 0).any() else 0
        per_process = typical == ranks or typical == world_size
        # Stepped per micro-batch, the scheduler already moved during the first window (before the
        # first optimizer step); stepped per process, only after each optimizer step.
        if per_process and sched[0] == 0:
            out.append(("scheduler_per_process", {"factor": typical, "processes": typical}))
        elif m > 1 and np.mean(sched[1:] == micro[1:]) >= 0.9:
            out.append(("scheduler_per_micro_batch", {"factor": m, "accumulation": m}))
        elif per_process:
            out.append(("scheduler_per_process", {"factor": typical, "processes": typical}))
        else:
            out.append(("scheduler_rate", {"factor": typical}))
    elif typical == 0 and sched.sum() > 0:
        at = np.flatnonzero(sched > 0)
        every = int(np.median(np.diff(at))) if len(at) > 1 else int(at[0])
        out.append(("epoch_interval", {"factor": every, "steps_per_epoch": every}))
    return out


def plateau_cause(obs: Observed, cfg: ScheduleConfig | None) -> tuple[str, dict[str, Any]] | None:
    """``plateau_cadence`` from a trace's plateau counts: against the design's evaluations, or
    (no design) a plateau stepped after (nearly) every optimizer step."""
    if obs.counts is None:
        return None
    plateau = obs.counts["plateau_steps"].to_numpy()
    got = np.repeat(np.arange(len(plateau)), plateau)
    total = len(got) + obs.trailing("plateau_steps")
    every = int(np.median(np.diff(got))) if len(got) > 1 else (int(got[0]) if len(got) else 0)
    if cfg is None or cfg.plateau is None:
        if len(plateau) > 2 and len(got) >= 0.9 * len(plateau):
            return "plateau_cadence", {"plateau_steps": total, "every": every}
        return None
    plan = cfg.plan
    evals = plan.eval_steps(cfg.plateau.eval_every)
    want = evals + 1
    want = want[want < len(plateau)]
    if np.array_equal(got, want):
        return None
    ev = cfg.plateau.eval_every
    design_every = plan.steps_per_epoch if ev == "epoch" else int(ev)
    return "plateau_cadence", {
        "plateau_steps": total,
        "every": every,
        "design_evaluations": int(len(evals)),
        "eval_every": design_every,
        "factor": round_factor(design_every / every) if every else None,
    }


def ranks_cause(eng: Engine, obs: Observed) -> tuple[str, dict[str, Any]] | None:
    if len(obs.ranks) < 2:
        return None
    first = min(obs.ranks)
    base = obs.ranks[first]
    for r, lr in obs.ranks.items():
        n = min(len(lr), len(base))
        bad = np.flatnonzero(~(np.abs(lr[:n] - base[:n]) <= eng.tol))
        if len(lr) != len(base) or len(bad):
            k = int(bad[0]) if len(bad) else n
            return "ranks_differ", {
                "rank": r,
                "first_step": k,
                "expected": float(base[k]) if k < len(base) else None,
                "got": float(lr[k]) if k < len(lr) else None,
                "rows": {str(first): len(base), str(r): len(lr)},
            }
    return None


# --------------------------------------------------------------------------------------------------
# logs: the stepping is modelled


def log_models(eng: Engine, first_bad: int | None) -> list[Model]:
    plan, R, cfg = eng.plan, eng.R, eng.cfg
    k = np.arange(R, dtype=np.int64)
    models: list[Model] = []
    a, w, s = plan.accumulation_steps, plan.world_size, plan.steps_per_epoch
    models.append(Model("scheduler_before_optimizer", eng.stepped(cfg, k + 1), {"factor": 1}))
    if a > 1:
        win = np.full(R, a, dtype=np.int64)
        win[: eng.T] = design_windows(plan)
        models.append(
            Model(
                "scheduler_per_micro_batch",
                eng.stepped(cfg, exclusive_cumsum(win) + win - 1),
                {"factor": a, "accumulation": a},
            )
        )
    for n in sorted({w, 2, 4, 8} - {1}):
        models.append(Model("scheduler_per_process", eng.stepped(cfg, n * k), {"factor": n, "processes": n}))
    if 1 < s < eng.T:
        models.append(Model("epoch_interval", eng.stepped(cfg, k // s), {"factor": s, "steps_per_epoch": s}))
    if first_bad is not None and first_bad > 0:
        c0 = eng.c[0]
        obs = eng.obs
        same = np.abs(obs.lr - c0) <= eng.tol
        lead = int(np.argmin(same)) if not same.all() else len(same)
        design_lead = (
            int(np.argmax(np.abs(eng.c - c0) > eng.tol)) if (np.abs(eng.c - c0) > eng.tol).any() else eng.T
        )
        skipped_rows = int(obs.rows[lead]) - design_lead if lead < len(obs.rows) else 0
        if skipped_rows > 0:
            skipped = np.zeros(R, dtype=bool)
            skipped[:skipped_rows] = True
            ticks, _ = calls_after_steps_that_ran(skipped)
            models.append(
                Model(
                    "amp_skipped_steps",
                    eng.stepped(cfg, ticks),
                    {"skipped_steps": skipped_rows, "factor": skipped_rows},
                )
            )
        # a restart can show a few rows after the resume (the restarted lrs may equal the design's
        # for a while): the resume steps up to 4 rows before the first difference are tried
        starts = list(range(max(1, first_bad - 4), first_bad + 1))
        for r in starts:
            models.append(
                Model("resume_reset", eng.stepped(cfg, np.where(k < r, k, k - r)), {"resume_step": r})
            )
            if r >= 1:  # the optimizer's restored state set the resumed run's first lr
                models.append(
                    Model("resume_reset", eng.stepped(cfg, np.where(k <= r, k, k - r)), {"resume_step": r})
                )
        models += resume_models(eng, starts)
    return models


def resume_models(eng: Engine, steps: list[int]) -> list[Model]:
    """The studio's resume traps (:func:`schedules.resume.resumed_lrs`) saved after each of ``steps``:
    a scheduler rebuilt fresh (``resume_reset``) and torch's schedulers built after the optimizer's
    state was restored (``resume_wrong_order``), on the configured optimizer and schedulers."""
    from ..resume import resumed_lrs

    out: list[Model] = []
    for r in steps:
        if not 1 <= r <= eng.T - 1:
            continue
        for code, order in (("resume_reset", "fresh"), ("resume_wrong_order", "torch_wrong_order")):
            pred = np.full(eng.R, np.nan)
            pred[: eng.T] = resumed_lrs(eng.cfg, r, order)[:, 0]
            out.append(Model(code, pred, {"resume_step": r}))
    return out


def round_factor(f: Any) -> Any:
    if isinstance(f, float):
        r = round(f)
        return int(r) if abs(f - r) < 1e-9 else round(f, 6)
    return f
