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
from .base import DesignScheduler, ticks_frame

__all__ = ["STACKS", "DesignScheduler", "Fix", "StackCurve", "StackConfig", "stack_curve", "run_config"]

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
    design_steps = ticks.calls // settings.scheduler_scale
    if (
        design is not None
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
    frame, design_steps, note = ticks_frame(cfg, ticks, settings.scheduler_scale)
    return frame, design_steps, note, ticks


def _same(frame: pd.DataFrame, design: pd.DataFrame) -> bool:
    return len(frame) == len(design) and np.array_equal(lr_matrix(frame), lr_matrix(design))


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
        parts.append(f"the scheduler was built for {s.scheduler_scale}x the optimizer steps")
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


def _effect(frame: pd.DataFrame, design: pd.DataFrame, design_steps: np.ndarray) -> str:
    t = len(design)
    rows = len(frame)
    lr, want = frame["lr"].to_numpy(), design["lr"].to_numpy()
    n = min(rows, t)
    end = np.flatnonzero(design_steps >= t - 1)
    bits: list[str] = []
    if len(end) and end[0] < rows - 1:
        bits.append(f"the schedule reaches its end at step {int(end[0]):,} of {rows:,}")
    elif rows and design_steps[-1] < t - 1:
        d = int(design_steps[-1])
        bits.append(
            f"at the last step it is at design step {d:,} of {t:,} (lr {lr[rows - 1]:.3g} instead of {want[t - 1]:.3g})"
        )
    diff = np.flatnonzero(~((lr[:n] == want[:n]) | (np.isnan(lr[:n]) & np.isnan(want[:n]))))
    if len(diff):
        k = int(diff[0])
        bits.append(f"first differs at step {k:,} (lr {lr[k]:.3g} instead of {want[k]:.3g})")
    return ", ".join(bits)


def _candidates(cfg: ScheduleConfig, s: StackConfig) -> list[tuple[str, dict[str, Any]]]:
    plan = cfg.plan
    out: list[tuple[str, dict[str, Any]]] = []
    if s.name == "accelerate":
        if not s.step_scheduler_with_optimizer:
            out.append(
                ("Accelerator(step_scheduler_with_optimizer=True)", {"step_scheduler_with_optimizer": True})
            )
        n = accelerate.processes(plan, s)
        if n > 1 and not s.split_batches:
            out.append(
                (
                    f"build the scheduler with num_training_steps x {n} (and warmup x {n})",
                    {"scheduler_scale": s.scheduler_scale * n},
                )
            )
            out.append(
                (
                    "Accelerator(dataloader_config=DataLoaderConfiguration(split_batches=True)) with a DataLoader "
                    f"batch of micro_batch_size x {n}",
                    {"split_batches": True},
                )
            )
    if s.name == "lightning" and (s.lightning_interval != "step" or s.lightning_frequency != 1):
        out.append(
            (
                "return the scheduler with 'interval': 'step', 'frequency': 1",
                {"lightning_interval": "step", "lightning_frequency": 1},
            )
        )
    if s.scheduler_scale > 1 and not any("scheduler_scale" in c for _, c in out):
        out.append(
            (
                "build the scheduler with num_training_steps (the optimizer steps of the run)",
                {"scheduler_scale": 1},
            )
        )
    if len(out) > 1:
        merged: dict[str, Any] = {}
        for _, change in out:
            merged.update(change)
        out.append((" and ".join(d for d, _ in out), merged))
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
        diagnosis = f"{_cause(run_cfg, settings, ticks, len(frame), len(design))}: {_effect(frame, design, design_steps)}"
        fix = find_fix(run_cfg, settings, design)
    if note:
        diagnosis += f" ({note})"
    return StackCurve(run_cfg, settings, frame, design, design_steps, matches, diagnosis, fix, note)
