"""Your stack: the lr each optimizer step gets when the design is trained through a framework.

One module per stack (``plain``, ``hf``, ``accelerate``, ``lightning``, ``deepspeed``); AMP
(``torch.amp.GradScaler`` skipping the first steps) is a setting every stack takes.  Each module
states its stepping rule with the library source it comes from, and turns a design's plan into
:class:`~schedules.stacks.base.Ticks` (scheduler calls before each optimizer step); the lrs are then
the design's real torch schedulers stepped that many times.  Each module's ``run_real`` trains a
tiny model through the real library (CPU) and the tests compare the two bit for bit.

>>> run = stack_curve(config, StackConfig(name="accelerate", num_processes=4))
>>> run.matches, run.diagnosis, run.fix.description
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from ..build import load_config
from ..curve import Curve, compute_curve
from ..design import ConfigError, Problem, ScheduleConfig, StackConfig
from . import accelerate, deepspeed, hf, lightning, plain
from .base import DesignScheduler, stretch_cause, stretched, ticks_frame

__all__ = [
    "STACKS",
    "DesignScheduler",
    "Fix",
    "StackCurve",
    "StackConfig",
    "run_config",
    "stack_curve",
    "stretched",
]

STACKS: dict[str, ModuleType] = {m.NAME: m for m in (plain, hf, accelerate, lightning, deepspeed)}


@dataclass
class Fix:
    """A change of stack settings that makes the stack reproduce the design (verified)."""

    description: str
    settings: StackConfig


@dataclass
class StackCurve:
    """What one stack does with a design, compared with the design itself."""

    config: ScheduleConfig  # the run's config (training.world_size = num_processes when given)
    settings: StackConfig
    frame: pd.DataFrame  # step, epoch, samples, lr, [lr/<group>], skipped, scheduler_calls
    design: pd.DataFrame  # the design's curve (step, epoch, samples, lr, ...)
    design_steps: np.ndarray  # the design row each stack row's lr comes from
    matches: bool
    diagnosis: str
    fix: Fix | None
    note: str = ""

    @property
    def label(self) -> str:
        return stack_label(self.settings, self.config)


def stack_label(settings: StackConfig, config: ScheduleConfig) -> str:
    name = STACKS[settings.name].LABEL
    if settings.name == "accelerate":
        n = settings.num_processes or config.training.world_size
        name += f" ({n} process{'es' if n != 1 else ''})"
    return name


def run_config(config: ScheduleConfig, settings: StackConfig) -> ScheduleConfig:
    """The config of the run: ``training.world_size`` becomes ``num_processes`` when that is given."""
    n = settings.num_processes
    if n is None or n == config.training.world_size:
        return config
    data = config.to_dict()
    data["training"]["world_size"] = n
    try:
        return load_config(data)
    except ConfigError as exc:
        raise ConfigError(
            [
                Problem(f"stack.num_processes ({p.path})", p.message, p.value, p.has_value)
                for p in exc.problems
            ]
        ) from None


def lr_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The lr of every param group, one row per optimizer step (``lr/<group>`` columns, or ``lr``)."""
    cols = [c for c in frame.columns if c.startswith("lr/")] or ["lr"]
    return frame[cols].to_numpy(dtype=np.float64)


def _simulate(
    cfg: ScheduleConfig, settings: StackConfig, design: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, np.ndarray, str, Any]:
    plan = cfg.plan
    module = STACKS[settings.name]
    ticks = module.ticks(plan, settings)
    if cfg.plateau is not None and hasattr(module, "plateau_ticks"):
        # the framework steps the design's plateau itself (HF at evaluations, Lightning's monitor)
        ticks = module.plateau_ticks(cfg, plan, settings, ticks)
    design_steps = ticks.calls // settings.step_every
    if (
        design is not None
        and settings.scheduler_scale == 1
        and ticks.plateau_calls is None
        and len(design_steps) == len(design)
        and np.array_equal(design_steps, np.arange(len(design)))
    ):
        # Row k after exactly k steps of the design's schedulers: the design's own rows (the curve is
        # those schedulers stepped once per row), so they are not stepped a second time.
        frame = design.copy()
        frame["skipped"] = ticks.skipped
        frame["scheduler_calls"] = ticks.calls
        return frame, design_steps, "", ticks
    frame, design_steps, note = ticks_frame(cfg, ticks, settings)
    return frame, design_steps, note, ticks


#: "The same lr" for a stack: within this relative tolerance (plus RTOL x 1e-3 of the peak for rows at
#: ~0), as the exports' checks.  A scheduler built for N x the steps and stepped N times per optimizer
#: step reaches the design's values through other float operations (torch's recursive forms drift
#: ~1e-16 per step); every other stack gives the design's lrs bit for bit.
RTOL = 1e-12


def _same(frame: pd.DataFrame, design: pd.DataFrame) -> bool:
    if len(frame) != len(design):
        return False
    a, b = lr_matrix(frame), lr_matrix(design)
    peak = float(np.nanmax(np.abs(b))) if b.size and not np.isnan(b).all() else 0.0
    close = np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b)) + RTOL * 1e-3 * peak
    return bool(np.all(close | (np.isnan(a) & np.isnan(b))))


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n:,} times"


def _cause(cfg: ScheduleConfig, s: StackConfig, ticks: Any, rows: int, design_rows: int) -> str:
    plan = cfg.plan
    label = stack_label(s, cfg)
    parts: list[str] = []
    if s.name == "accelerate" and not s.step_scheduler_with_optimizer:
        parts.append(
            f"accelerate with step_scheduler_with_optimizer=False steps the scheduler on every call, once per "
            f"micro-batch ({plan.accumulation_steps}x per optimizer step)"
        )
    elif s.name == "accelerate" and not s.split_batches and accelerate.processes(plan, s) > 1:
        n = accelerate.processes(plan, s)
        parts.append(f"accelerate with {n} processes steps the scheduler {n}x per optimizer step")
    if s.name == "lightning" and s.lightning_interval == "epoch":
        parts.append(
            f"Lightning with interval='epoch' steps the scheduler once per epoch "
            f"({_times(ticks.total_calls)} in {rows:,} optimizer steps)"
        )
    elif s.name == "lightning" and s.lightning_frequency > 1:
        parts.append(
            f"Lightning with frequency={s.lightning_frequency} steps the scheduler every "
            f"{s.lightning_frequency} batches ({_times(ticks.total_calls)} in {rows:,} optimizer steps)"
        )
    if s.scheduler_scale > 1:
        parts.append(stretch_cause(cfg, s.scheduler_scale))
    if s.step_every > 1:
        parts.append(
            f"the scheduler handed over advances the design once every {s.step_every} scheduler calls "
            f"(DesignScheduler(..., scale={s.step_every}))"
        )
    if s.amp_skipped_steps and s.name in ("hf", "deepspeed", "accelerate"):
        skipped = int(ticks.skipped.sum())
        parts.append(f"{label} does not step the scheduler on the {skipped:,} optimizer steps AMP skipped")
    if s.name == "deepspeed" and rows != design_rows:
        parts.append(
            f"DeepSpeed's accumulation windows span epochs (no short last window): {rows:,} optimizer steps "
            f"instead of {design_rows:,}"
        )
    if ticks.plateau_calls is not None and cfg.plateau is not None and rows:
        design_evals = plan.eval_steps(cfg.plateau.eval_every)
        stack_evals = len(ticks.plateau_metric)
        ends = np.flatnonzero(np.diff(np.append(ticks.plateau_calls, ticks.plateau_calls[-1] + 1)))
        if stack_evals != len(design_evals) or not np.array_equal(
            ends[:stack_evals], design_evals[:stack_evals]
        ):
            every = cfg.plateau.eval_every
            rule = (
                f"every {int(every) * plan.accumulation_steps} batches counted within each epoch"
                if s.name == "lightning" and every != "epoch"
                else "at its evaluations"
            )
            parts.append(
                f"{label} steps the ReduceLROnPlateau {_times(stack_evals)} ({rule}) where the design "
                f"evaluates {_times(len(design_evals))}"
            )
    if not parts:
        parts.append(f"{label} steps the scheduler {_times(ticks.total_calls)} in {rows:,} optimizer steps")
    return "; ".join(parts)


def _distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with 3 significant digits, more (up to 17) where 3 would print them alike."""
    for digits in (3, 6, 9, 17):
        x, y = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if x != y:
            return x, y
    return x, y


def _effect(frame: pd.DataFrame, design: pd.DataFrame, design_steps: np.ndarray, length: int) -> str:
    """Where the stack's rows stand on the schedule it steps (``length`` rows long: the design's, or
    the design built for N x the steps), where they first leave the design's and the largest gap."""
    t = len(design)
    rows = len(frame)
    lr, want = frame["lr"].to_numpy(), design["lr"].to_numpy()
    n = min(rows, t)
    end = np.flatnonzero(design_steps >= length - 1)
    bits: list[str] = []
    if len(end) and end[0] < rows - 1:
        bits.append(f"the schedule reaches its end at step {int(end[0]):,} of {rows:,}")
    elif rows and design_steps[-1] < length - 1:
        d = int(design_steps[-1])
        if length == t:
            bits.append(
                f"at the last step it is at design step {d:,} of {t:,} (lr {lr[rows - 1]:.3g} instead of {want[t - 1]:.3g})"
            )
        else:
            bits.append(f"at the last step it is at step {d:,} of the {length:,} it was built for")
    diff = np.flatnonzero(~((lr[:n] == want[:n]) | (np.isnan(lr[:n]) & np.isnan(want[:n]))))
    if len(diff):
        k = int(diff[0])
        got, exp = _distinct(float(lr[k]), float(want[k]))
        bits.append(f"first differs at step {k:,} (lr {got} instead of {exp})")
        peak = float(np.nanmax(np.abs(lr_matrix(design)))) if t else 0.0
        gaps = np.abs(lr_matrix(frame)[:n] - lr_matrix(design)[:n]).max(axis=1)
        if peak > 0 and np.isfinite(gaps).all():
            w = int(np.argmax(gaps))
            bits.append(f"largest gap {gaps[w] / peak:.1%} of the peak lr, at step {w:,}")
    return ", ".join(bits)


def _candidates(cfg: ScheduleConfig, s: StackConfig) -> list[tuple[str, dict[str, Any]]]:
    """Changes of settings worth trying, simplest first: each one alone, then all the needed ones
    together (with each way of fixing accelerate's extra calls in turn)."""
    plan = cfg.plan
    needed: list[tuple[str, dict[str, Any]]] = []  # changes that may all be needed at once
    ways: list[tuple[str, dict[str, Any]]] = []  # alternative fixes of one cause (accelerate's N calls)
    every = 1
    # every way states each setting it changes: back to one design step per call, or to a scheduler
    # built for the run's own steps, where the stack's settings had something else
    one_call = (
        "hand the design over as DesignScheduler(optimizer, config) (scale=1: one design step per "
        "scheduler call)",
        {"step_every": 1},
    )
    unstretch = (
        "build the scheduler with num_training_steps (the optimizer steps of the run)",
        {"scheduler_scale": 1},
    )

    def way(*parts: tuple[str, dict[str, Any]]) -> None:
        if parts:
            merged: dict[str, Any] = {}
            for _, change in parts:
                merged.update(change)
            ways.append((" and ".join(d for d, _ in parts), merged))

    if s.name == "accelerate":
        if not s.step_scheduler_with_optimizer:
            needed.append(
                ("Accelerator(step_scheduler_with_optimizer=True)", {"step_scheduler_with_optimizer": True})
            )
        n = accelerate.processes(plan, s)
        if n > 1 and not s.split_batches:
            every = n
            scale_n = (
                f"hand the design to accelerate as DesignScheduler(optimizer, config, scale={n}): one "
                f"design step every {n} scheduler calls",
                {"step_every": n},
            )
            way(
                *([scale_n] if s.step_every != n else []),
                *([unstretch] if s.scheduler_scale != 1 else []),
            )
            if s.scheduler_scale != n:
                # accelerate's own advice; the design stretched n times and sampled every n steps: the
                # design again only where its lengths stretch n-fold exactly (verified like any fix)
                way(
                    (f"build the scheduler with num_training_steps x {n}", {"scheduler_scale": n}),
                    *([one_call] if s.step_every != 1 else []),
                )
            way(
                (
                    "Accelerator(dataloader_config=DataLoaderConfiguration(split_batches=True)) with a DataLoader "
                    f"batch of micro_batch_size x {n}",
                    {"split_batches": True},
                ),
                *([one_call] if s.step_every != 1 else []),
                *([unstretch] if s.scheduler_scale != 1 else []),
            )
    if s.step_every != every and not ways:
        needed.append(one_call)
    if s.name == "lightning" and cfg.plateau is not None and s.lightning_plateau == "monitor":
        needed.append(
            (
                "hand the whole design to Lightning as one scheduler, its plateau inside (DesignScheduler or "
                "build_scheduler_variant) with 'interval': 'step', 'frequency': 1",
                {"lightning_plateau": "inside", "lightning_interval": "step", "lightning_frequency": 1},
            )
        )
    elif s.name == "lightning" and (s.lightning_interval != "step" or s.lightning_frequency != 1):
        needed.append(
            (
                "return the scheduler with 'interval': 'step', 'frequency': 1",
                {"lightning_interval": "step", "lightning_frequency": 1},
            )
        )
    if s.scheduler_scale > 1 and not ways:
        needed.append(unstretch)
    out = [*needed, *ways]
    for alt in ways or [None]:
        combo = [*needed, *([alt] if alt is not None else [])]
        if len(combo) > 1:
            merged: dict[str, Any] = {}
            for _, change in combo:
                merged.update(change)
            out.append((" and ".join(d for d, _ in combo), merged))
    return out


def find_fix(cfg: ScheduleConfig, settings: StackConfig, design: pd.DataFrame) -> Fix | None:
    """The first candidate change of settings whose recomputed curve equals the design, row for row."""
    for description, change in _candidates(cfg, settings):
        trial = settings.model_copy(update=change)
        frame, _, _, _ = _simulate(cfg, trial, design)
        if _same(frame, design):
            return Fix(description, trial)
    return None


def stack_curve(
    config: ScheduleConfig | dict[str, Any] | str,
    settings: StackConfig | dict[str, Any] | None = None,
    *,
    curve: Curve | None = None,
) -> StackCurve:
    """What the stack in ``settings`` (default: the config's ``stack`` section, else ``plain``) does
    with the design: one row per optimizer step that stack takes, the diagnosis and a verified fix.
    ``curve``: the design's computed curve, used when it is the run's (not recomputed)."""
    cfg = load_config(config)
    if settings is None:
        settings = cfg.stack or StackConfig()
    elif isinstance(settings, dict):
        settings = load_config({**cfg.to_dict(), "stack": settings}).stack
    if cfg.training.batch_ramp and settings.name != "plain":
        raise ConfigError(
            Problem(
                "stack.name",
                f"must be plain with training.batch_ramp: {settings.name} trains with one batch size per run "
                "(train each ramp stage as its own run, or use a hand-written loop)",
                settings.name,
            )
        )
    run_cfg = run_config(cfg, settings)
    if curve is None or curve.config != run_cfg:
        curve = compute_curve(run_cfg)
    design = curve.frame
    frame, design_steps, note, ticks = _simulate(run_cfg, settings, design)
    matches = _same(frame, design)
    label = stack_label(settings, run_cfg)
    if matches:
        diagnosis = f"{label} reproduces the design: every one of the {len(design):,} optimizer steps gets the designed lr"
        if settings.amp_skipped_steps and settings.name in ("plain", "lightning"):
            diagnosis += (
                f" (the scheduler also steps on the {min(settings.amp_skipped_steps, len(design)):,} "
                "steps AMP skipped: torch warns, harmless)"
            )
        fix = None
    else:
        length = len(design) * settings.scheduler_scale
        diagnosis = (
            f"{_cause(run_cfg, settings, ticks, len(frame), len(design))}: "
            f"{_effect(frame, design, design_steps, length)}"
        )
        fix = find_fix(run_cfg, settings, design)
    if note:
        diagnosis += f" ({note})"
    return StackCurve(run_cfg, settings, frame, design, design_steps, matches, diagnosis, fix, note)
