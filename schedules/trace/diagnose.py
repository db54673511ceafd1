"""What happened to a run's schedule: compare it with the intended one and name the causes.

The intended schedule is the design given (``diagnose LOG --design D.json``, or the one stored in a
trace's sidecar by ``trace --design``); without one it is inferred (:mod:`.infer`): the family the
run's lrs follow, sized to end at the run's last optimizer step.

**Matches** when every logged lr is the intended one within :data:`schedules.logs.MATCH_TOLERANCE`
of the peak, on as many optimizer steps, on every rank.  Otherwise each cause is a *model* of a known
mistake run on the intended design's real torch schedulers (:func:`schedules.stacks.base.record`,
:mod:`schedules.mistakes`, :mod:`schedules.resume`, :mod:`schedules.stacks`): a model that reproduces
every logged lr explains the run.

- A **trace** knows how often the scheduler was stepped before each optimizer step, so the stepping
  is read, not guessed: the lrs are the (possibly re-sized) design's schedulers stepped exactly as the
  trace counts.  What is left to find is the sizing (``wrong_total_steps``, ``warmup_in_micro_batches``)
  and the resumes (a scheduler built mid-run without its state).
- A **log** has only lrs: each stepping model and each sizing model is tried in turn; several may
  explain a log equally well, in which case all are named (most common first).

Confidence: 0.99 for a trace whose counts and lrs a model reproduces exactly, 0.9 for the first exact
model of a log (0.6 for the alternatives), less when only the counts or part of the rows agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..build import load_config
from ..design import ConfigError, ScheduleConfig
from ..logs import MATCH_TOLERANCE
from .causes import PRIOR, TITLES, fix_line
from .infer import Family, design_of, infer_family
from .models import (
    Engine,
    Model,
    effective_ticks,
    log_models,
    plateau_cause,
    ranks_cause,
    resume_models,
    round_factor,
    stepping_causes,
)
from .observed import Observed, peak_of


@dataclass
class Cause:
    """One named cause: its code, how sure, the evidence, the fix, the lr it predicts per row."""

    code: str
    confidence: float
    evidence: dict[str, Any]
    fix: str
    predicted: np.ndarray | None = None  # lr per row 0.. (the model's), for the chart

    @property
    def title(self) -> str:
        return TITLES.get(self.code, self.code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "confidence": round(float(self.confidence), 3),
            "title": self.title,
            "evidence": _jsonable(self.evidence),
            "fix": self.fix,
        }


@dataclass
class Diagnosis:
    """The verdict, the causes (most likely first) and what was compared."""

    verdict: str  # matches | differs
    causes: list[Cause]
    observed: Observed
    intended: ScheduleConfig | None  # the design, or the inferred intended design
    design_given: bool
    family: Family | None  # the inferred family (no design given)
    expected: np.ndarray  # the intended lr per row 0.. (design's real schedulers, stepped once per row)
    stack: str
    notes: list[str] = field(default_factory=list)
    fixed_stack: dict[str, Any] | None = None

    @property
    def matches(self) -> bool:
        return self.verdict == "matches"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "causes": [c.to_dict() for c in self.causes],
            "log": self.observed.name,
            "source": self.observed.source,
            "steps": self.observed.steps,
            "ranks": len(self.observed.ranks) or 1,
            "design": "given" if self.design_given else ("inferred" if self.intended is not None else None),
            "design_steps": self.intended.plan.total_steps if self.intended is not None else None,
            "family": self.family.to_dict() if self.family is not None else None,
            "stack": self.stack,
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """The CLI's text: the verdict, then each cause with its evidence and fix."""
        o = self.observed
        what = "the design" if self.design_given else "the inferred schedule"
        if self.family is not None:
            what += f" ({self.family.text()})"
        head = f"{o.name}: {o.steps:,} optimizer steps"
        if len(o.ranks) > 1:
            head += f" on {len(o.ranks)} ranks"
        if self.matches:
            out = [f"matches: {head}, every lr is {what}'s"]
        else:
            out = [f"differs: {head}, compared with {what}"]
        for i, c in enumerate(self.causes, 1):
            out.append(f"{i}. {c.code} ({c.title}), confidence {c.confidence:.2f}")
            out.append(f"   evidence: {c.evidence.get('text', '')}")
            for line in c.fix.splitlines():
                out.append(f"   fix: {line}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def fixed_design(self) -> ScheduleConfig | None:
        """The intended design with its ``stack`` section as the fix leaves it (the app's *Apply*)."""
        if self.intended is None:
            return None
        data = self.intended.to_dict()
        if self.fixed_stack is not None:
            data["stack"] = self.fixed_stack
        elif data.get("stack") is None and self.stack in (
            "plain",
            "hf",
            "accelerate",
            "lightning",
            "deepspeed",
        ):
            data["stack"] = (
                {"name": self.stack, "lightning_interval": "step"}
                if self.stack == "lightning"
                else {"name": self.stack}
            )
        try:
            return load_config(data)
        except ConfigError:
            return self.intended


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --------------------------------------------------------------------------------------------------
# the diagnosis


def _cause(
    code: str, confidence: float, evidence: dict[str, Any], stack: str, pred: np.ndarray | None
) -> Cause:
    ev = dict(evidence)
    ev["text"] = _text(code, ev)
    return Cause(code, confidence, ev, fix_line(code, stack, ev), pred)


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _text(code: str, ev: dict[str, Any]) -> str:
    f = ev.get("factor")
    first = ev.get("first_step")
    where = (
        f"; first differs at step {first}: expected lr {_fmt(ev.get('expected'))}, got {_fmt(ev.get('got'))}"
        if first is not None
        else ""
    )
    t = ev.get("total_steps")
    body = {
        "scheduler_per_micro_batch": f"scheduler.step() ran {f}x per optimizer step (once per micro-batch, accumulation {ev.get('accumulation', f)}): the schedule runs {f}x too fast",
        "scheduler_per_process": f"the scheduler was stepped {f}x per optimizer step (once per process, {ev.get('processes', f)} processes): the schedule runs {f}x too fast",
        "scheduler_rate": f"the scheduler was stepped {f}x per optimizer step",
        "wrong_total_steps": f"the scheduler was built for {ev.get('configured_steps')} steps, the run takes {t} (factor {_fmt(f)})",
        "warmup_in_micro_batches": f"the warmup lasts {ev.get('configured_warmup')} steps, not {ev.get('warmup_steps')} (counted in micro-batches: factor {f})",
        "scheduler_before_optimizer": "scheduler.step() ran before the first optimizer.step(): every step used the next step's lr",
        "resume_reset": f"the schedule restarted from its step 0 at step {ev.get('resume_step')} (a scheduler rebuilt without its state)",
        "resume_wrong_order": f"at the resume (step {ev.get('resume_step')}) torch's schedulers were built after the optimizer was restored: the constructors' lr was used",
        "amp_skipped_steps": f"GradScaler skipped {ev.get('skipped_steps')} steps and the scheduler was not stepped on them: the schedule lags {f} steps and never reaches its last {f}",
        "plateau_cadence": f"ReduceLROnPlateau.step() ran {ev.get('plateau_steps')} times (every {ev.get('every')} steps)"
        + (
            f" where the design evaluates {ev.get('design_evaluations')} times (every {ev.get('eval_every')})"
            if "design_evaluations" in ev
            else ": patience counts optimizer steps, not evaluations"
        ),
        "epoch_interval": f"the scheduler stepped once every {f} optimizer steps (once per epoch) where the design steps it every optimizer step",
        "run_length": f"the run took {ev.get('run_steps')} optimizer steps, the design {t} (factor {_fmt(f)})",
        "ranks_differ": f"rank {ev.get('rank')} used other lrs than rank 0 from step {ev.get('first_step')}",
        "unexplained": "no model of a known mistake reproduces the run's lrs",
    }.get(code, code)
    if code == "ranks_differ":
        return body + f" (expected {_fmt(ev.get('expected'))}, got {_fmt(ev.get('got'))})"
    return body + where


def _order(causes: list[Cause]) -> list[Cause]:
    return sorted(causes, key=lambda c: (-round(c.confidence, 3), PRIOR.get(c.code, 99)))


def _meta_lengths(obs: Observed) -> list[int]:
    """Lengths the trace's schedulers were built with (transformers' num_training_steps, T_max ...)."""
    out: list[int] = []
    names = ("num_training_steps", "T_max", "total_iters", "total_steps")
    for s in obs.schedulers():
        kwargs = s.get("kwargs") or {}
        stack = [kwargs]
        while stack:
            d = stack.pop()
            if isinstance(d, dict):
                for key, value in d.items():
                    if key in names and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                        out.append(value)
                    elif isinstance(value, (dict, list)):
                        stack.append(value)
            elif isinstance(d, list):
                stack.extend(d)
    return out


def _diagnose_trace(eng: Engine, extra: list[float]) -> list[Cause]:
    obs, stack = eng.obs, eng.stack
    ticks, resets = effective_ticks(obs)
    base = eng.base_evidence()
    variants: list[tuple[str | None, ScheduleConfig, dict[str, Any]]] = [(None, eng.cfg, {})]
    lengths = _meta_lengths(obs)
    extra = extra + [n / eng.T for n in lengths] + [(n + eng.plan.warmup_steps) / eng.T for n in lengths]
    variants += eng.sizings(extra)
    stepping = stepping_causes(obs, ticks, eng.plan.world_size)
    tick_sets = [ticks]
    if resets:
        tick_sets.append(effective_ticks(obs, restored_first_row=True)[0])
    for (code, cfg, ev), ticks in ((v, t) for v in variants for t in tick_sets):
        pred_rows = _with_restored(eng.stepped(cfg, np.maximum(ticks, 0)), ticks, obs, eng)
        fit, _ = eng.check(_rows_to_pred(obs, pred_rows, eng.R))
        if fit < 1.0:
            continue
        causes = [_cause(c, 0.99, {**base, **e}, stack, None) for c, e in stepping]
        for r in resets:
            causes.append(_cause("resume_reset", 0.99, {**base, "resume_step": r}, stack, None))
        if code is not None:
            causes.append(
                _cause(code, 0.99, {**base, **ev, "factor": round_factor(ev.get("factor"))}, stack, None)
            )
        if causes:
            pred = _rows_to_pred(obs, pred_rows, eng.R)
            causes[0].predicted = pred
            return causes
    for m in resume_models(eng, resets):  # torch's own resume traps at the restarts the sidecar shows
        if eng.check(m.pred)[0] == 1.0:
            causes = [_cause(c, 0.99, {**base, **e}, stack, None) for c, e in stepping]
            return [*causes, _cause(m.code, 0.99, {**base, **m.evidence}, stack, m.pred)]
    # no model reproduces every lr: the counts still say what the stepping was
    causes = [_cause(c, 0.7, {**base, **e}, stack, None) for c, e in stepping]
    causes += [_cause("resume_reset", 0.7, {**base, "resume_step": r}, stack, None) for r in resets]
    return causes


def _with_restored(pred: np.ndarray, ticks: np.ndarray, obs: Observed, eng: Engine) -> np.ndarray:
    """Rows marked ``-1`` (see :func:`effective_ticks`) keep the lr the run had before the restart:
    the previous run's next lr, i.e. the design's at that row's uninterrupted tick count."""
    marked = np.flatnonzero(ticks < 0)
    if len(marked):
        pred = pred.copy()
        pred[marked] = eng.stepped(eng.cfg, obs.ticks[marked])  # the ticks before the restart
    return pred


def _rows_to_pred(obs: Observed, values: np.ndarray, R: int) -> np.ndarray:
    """A trace's per-step values (its own rows) as an array over rows 0..R-1."""
    out = np.full(max(R, len(values)), np.nan)
    out[: len(values)] = values
    return out


def _diagnose_log(eng: Engine, extra: list[float]) -> list[Cause]:
    stack = eng.stack
    _, first_bad = eng.check(eng.expected())
    base = eng.base_evidence()
    models = log_models(eng, first_bad)
    k = np.arange(eng.R, dtype=np.int64)
    for code, cfg, ev in eng.sizings(extra):
        models.append(Model(code, eng.stepped(cfg, k), {**ev, "factor": round_factor(ev.get("factor"))}))
    scored = [(m, *eng.check(m.pred)) for m in models]
    exact: list[Model] = []
    for m, fit, _ in scored:
        if fit == 1.0 and m.code not in {e.code for e in exact}:
            exact.append(m)
    if exact:
        exact.sort(key=lambda m: PRIOR.get(m.code, 99))
        return [
            _cause(m.code, 0.9 if i == 0 else 0.6, {**base, **m.evidence}, stack, m.pred)
            for i, m in enumerate(exact)
        ]
    best = max(scored, key=lambda t: t[1], default=None)
    causes = []
    if best is not None and best[1] >= 0.5:
        m, fit = best[0], best[1]
        causes.append(
            _cause(m.code, 0.5 * fit, {**base, **m.evidence, "rows_explained": round(fit, 4)}, stack, m.pred)
        )
    return causes


def diagnose(
    observed: Observed,
    design: ScheduleConfig | dict[str, Any] | str | None = None,
    *,
    stack: str | None = None,
) -> Diagnosis:
    """Compare ``observed`` with ``design`` (or its sidecar's, or the inferred one); see the module
    docstring.  ``stack``: the user's stack for the fix lines (default: the design's ``stack``
    section, else what the trace saw, else ``plain``).

    A log (not a trace) is also read one row earlier: transformers' Trainer logs at
    ``global_step`` s the lr that step s - 1 used.  The reading that matches wins; else the one a
    model explains exactly (the log as written first)."""
    found = _diagnose_aligned(observed, design, stack)
    if observed.is_trace or (found.matches and found.intended is not None):
        return found
    early = _one_row_earlier(observed)
    if early is None:
        return found
    again = _diagnose_aligned(early, design, stack)
    exact = any(c.confidence >= 0.9 for c in found.causes)
    if (
        (again.matches and (again.intended is not None or found.intended is None))
        or (not exact and found.intended is None and again.intended is not None)
        or (not exact and any(c.confidence >= 0.9 for c in again.causes))
    ):
        again.notes.append(
            "the log records each step's lr at the step after it (as transformers' Trainer logs "
            "learning_rate at global_step s for the step s - 1 took): read one row earlier"
        )
        return again
    return found


def _diagnose_aligned(
    observed: Observed, design: ScheduleConfig | dict[str, Any] | str | None, stack: str | None
) -> Diagnosis:
    notes = list(observed.notes)
    cfg = None
    given = design is not None
    if design is not None:
        cfg = load_config(design)
    elif observed.design_json() is not None:
        cfg = load_config(observed.design_json())
        given = True
        notes.append("compared with the design stored in the trace (trace --design)")
    family = None
    if stack is None:
        stack = cfg.stack.name if cfg is not None and cfg.stack is not None else observed.stack
    if cfg is None:
        cfg, family, more = infer_intended(observed)
        notes += more
        if cfg is None:
            return _no_design(observed, family, stack, notes)
    return _judge(Engine(observed, cfg, stack), observed, cfg, given, family, stack, notes)


def _one_row_earlier(observed: Observed) -> Observed | None:
    keep = observed.rows >= 1
    if keep.sum() < 2:
        return None
    return Observed(
        name=observed.name,
        source=observed.source,
        rows=observed.rows[keep] - 1,
        lr=observed.lr[keep],
        meta=observed.meta,
        total=observed.total,
        notes=list(observed.notes),
    )


def _judge(
    eng: Engine,
    observed: Observed,
    cfg: ScheduleConfig,
    given: bool,
    family: Family | None,
    stack: str,
    notes: list[str],
) -> Diagnosis:
    expected = eng.expected()
    fit, first_bad = eng.check(expected)
    causes: list[Cause] = []
    extra = [family.end / eng.T] if family is not None and family.end else []
    ranks = ranks_cause(eng, observed)
    plateau = plateau_cause(observed, cfg)
    if plateau is not None:
        causes.append(
            _cause(
                plateau[0],
                0.9 if cfg.plateau is not None else 0.6,
                {**eng.base_evidence(), **plateau[1]},
                stack,
                None,
            )
        )
    if fit == 1.0:
        run_steps = observed.steps
        known = observed.is_trace or observed.total is not None
        if (known and run_steps != eng.T) or run_steps > eng.T:
            causes.append(
                _cause(
                    "run_length",
                    0.95,
                    {
                        **eng.base_evidence(),
                        "run_steps": run_steps,
                        "factor": round_factor(run_steps / eng.T),
                    },
                    stack,
                    None,
                )
            )
    else:
        found = _diagnose_trace(eng, extra) if observed.is_trace else _diagnose_log(eng, extra)
        causes += [c for c in found if c.code not in {x.code for x in causes}]
        if not any(c.confidence >= 0.9 for c in causes) and plateau is None:
            causes.append(
                _cause(
                    "unexplained", 0.5, {**eng.base_evidence(), "rows_explained": round(fit, 4)}, stack, None
                )
            )
    if ranks is not None:
        causes.append(_cause(ranks[0], 0.95, ranks[1], stack, None))
    causes = _order(causes)
    verdict = "matches" if not causes else "differs"
    return Diagnosis(
        verdict,
        causes,
        observed,
        cfg,
        given,
        family,
        expected,
        stack,
        notes,
        fixed_stack=_fixed_stack(cfg, causes, stack, observed),
    )


def _no_design(observed: Observed, family: Family | None, stack: str, notes: list[str]) -> Diagnosis:
    """No design and no family fits: only a trace's counts can say something."""
    causes: list[Cause] = []
    if observed.is_trace:
        ticks, resets = effective_ticks(observed)
        for code, ev in stepping_causes(observed, ticks, len(observed.ranks) or 1):
            causes.append(_cause(code, 0.6, ev, stack, None))
        for r in resets:
            causes.append(_cause("resume_reset", 0.6, {"resume_step": r}, stack, None))
        plateau = plateau_cause(observed, None)
        if plateau is not None:
            causes.append(_cause(plateau[0], 0.6, plateau[1], stack, None))
    notes.append("no known family fits the lrs: only the stepping could be checked")
    return Diagnosis(
        "matches" if not causes else "differs",
        _order(causes),
        observed,
        None,
        False,
        family,
        np.full(observed.steps, np.nan),
        stack,
        notes,
    )


def _fixed_stack(
    cfg: ScheduleConfig, causes: list[Cause], stack: str, observed: Observed
) -> dict[str, Any] | None:
    """The design's stack section as the fix leaves it, verified with :func:`schedules.stacks.stack_curve`
    where the stack model knows the mistake (accelerate's processes, Lightning's interval)."""
    codes = {c.code for c in causes}
    if stack == "accelerate" and "scheduler_per_process" in codes:
        from ..stacks import stack_curve

        n = next(int(c.evidence.get("processes") or 2) for c in causes if c.code == "scheduler_per_process")
        run = stack_curve(cfg, {"name": "accelerate", "num_processes": n})
        if run.fix is not None:
            return run.fix.settings.model_dump()
    if stack == "lightning" and "epoch_interval" in codes:
        return {"name": "lightning", "lightning_interval": "step", "lightning_frequency": 1}
    return None


# --------------------------------------------------------------------------------------------------
# no design: the intended schedule, inferred


def infer_intended(observed: Observed) -> tuple[ScheduleConfig | None, Family | None, list[str]]:
    """The design the run most likely meant: the family its lrs follow per optimizer step, sized to
    end at its last step; from a trace, the family of the scheduler's own steps (the configured
    schedule, before any stepping mistake).  ``(None, family, notes)`` when no family fits."""
    notes: list[str] = []
    n = observed.steps
    x = observed.rows.astype(float)
    y = observed.lr
    family = infer_family(x, y, end_at=float(n))
    configured = family
    sized = family.exact and (family.end is None or abs(family.end - n) < 0.5)
    if observed.is_trace and sized and not effective_ticks(observed)[1]:
        pass  # the lr per optimizer step is a known schedule ending with the run: that was meant
    elif observed.is_trace:
        ticks, resets = effective_ticks(observed)
        if resets:  # read the family from the steps before the first restart
            keep = observed.rows < resets[0]
            configured = infer_family(ticks[observed.rows[keep]].astype(float), y[keep], end_at=float(n))
        elif not np.array_equal(ticks, np.arange(len(ticks))):
            configured = infer_family(ticks[observed.rows].astype(float), y, end_at=float(n))
    else:
        r = _restart(y)
        if not family.fits and r is not None:
            configured = infer_family(x[:r], y[:r], end_at=float(n))
            notes.append(
                f"the lrs restart at step {int(observed.rows[r])}: the family is read from the steps before"
            )
    if not configured.fits:
        return None, configured, notes
    a = 1
    if observed.is_trace:
        micro = observed.counts["micro_batches"].to_numpy()
        a = max(1, int(np.median(micro))) if len(micro) else 1
    world = max(1, len(observed.ranks))
    optimizer = "AdamW"
    for r in (observed.meta or {}).get("ranks", []):
        for p in r.get("processes", []):
            cls = (p.get("optimizer") or {}).get("class")
            if cls:
                optimizer = cls
    scales = None
    if observed.groups:
        base = peak_of(y)
        scales = {g: (peak_of(v) / base if base else 1.0) for g, v in observed.groups.items()}
    design = design_of(
        configured, n, accumulation=a, world_size=world, optimizer=optimizer, group_scales=scales
    )
    try:
        cfg = load_config(design)
    except ConfigError:
        design["optimizer"]["name"] = "AdamW"
        try:
            cfg = load_config(design)
        except ConfigError as exc:
            notes.append(f"the inferred schedule is not a valid design ({exc})")
            return None, configured, notes
    return cfg, configured, notes


def _restart(y: np.ndarray) -> int | None:
    """The first index ``r > 1`` where the lrs start over (``y[r], y[r+1] == y[0], y[1]``)."""
    if len(y) < 4:
        return None
    peak = float(np.max(np.abs(y))) or 1.0
    tol = MATCH_TOLERANCE * peak
    for r in range(2, len(y) - 1):
        if abs(y[r] - y[0]) <= tol and abs(y[r + 1] - y[1]) <= tol and abs(y[r] - y[r - 1]) > tol:
            return r
    return None
