"""PyTorch Lightning: a ``configure_optimizers`` snippet with the design's torch schedulers.

The snippet builds the same ``torch.optim.lr_scheduler`` objects as
:func:`schedules.build_scheduler`, every default resolved to a number, and returns them in
Lightning's scheduler config (``interval``, ``frequency``, ``monitor``).  Lightning is not
installed here; :func:`lightning_curve` steps a ``configure_optimizers`` result by Lightning's
rules (``loops/training_epoch_loop.py``, ``_update_learning_rates``):

- ``"step"`` schedulers: after an optimizer step (``accumulate_grad_batches`` micro-batches, or
  the shorter last window of an epoch), when ``(batch_idx + 1) % frequency == 0`` with
  ``batch_idx`` the micro-batch index *within the epoch*; plateau schedulers after the others,
  with the logged ``monitor`` value;
- ``"epoch"`` schedulers: at the end of every epoch when ``(epoch + 1) % frequency == 0``.

So a per-step design is exact; a per-epoch decay is exact without warmup (Lightning steps an
epoch scheduler at every epoch end, while the design's decay counts epochs from the end of
warmup); a plateau evaluated every ``E`` optimizer steps is exact when ``E`` divides the steps
per epoch (``batch_idx`` restarts every epoch).  Anything else gets the nearest snippet and a
warning, or use the exact route, which needs this package:
``schedules.build_scheduler(optimizer, config)`` returned as the scheduler with
``lr_scheduler_step`` overridden (see :func:`build_scheduler_variant`).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler as tls

from ..build import (
    LinearWarmup,
    MetricFeed,
    decay_kwargs,
    dummy_optimizer,
    expression_constants,
    load_config,
    quiet_scheduler_warnings,
)
from ..curve import Curve, curve_of
from ..design import Plan, ScheduleConfig
from ..design.expr import LrExpression
from .common import cannot, compare, plain_expression, without_ramp

TARGET = "Lightning"


@dataclass
class Sched:
    """One scheduler object of the snippet: ``var = lr_scheduler.<cls>(optimizer, **kwargs)``."""

    var: str
    cls: str
    kwargs: dict[str, Any]
    comment: str = ""


@dataclass
class Lambda:
    """An lr_lambda: Python source for the snippet and a safe callable for the simulation."""

    source: str
    make: Callable[[], Callable[[int], float]]


@dataclass
class Spec:
    scheds: list[Sched] = field(default_factory=list)
    configs: list[dict[str, Any]] = field(default_factory=list)  # "scheduler" holds a var name
    warnings: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    math_names: set[str] = field(default_factory=set)


def _spec(cfg: ScheduleConfig, plan: Plan) -> Spec:
    spec = Spec()
    w, h = plan.warmup_steps, plan.hold_steps
    start = cfg.warmup.start_factor if cfg.warmup is not None else 1.0
    decay = cfg.decay
    epoch_interval = decay is not None and decay.interval == "epoch"

    def warmup_sched(chainable: bool) -> Sched:
        if start > 0:
            return Sched("warmup", "LinearLR", {"start_factor": start, "end_factor": 1.0, "total_iters": w})
        if chainable:
            # LinearLR cannot start at 0; a LambdaLR would overwrite the per-epoch decay after warmup.
            return Sched(
                "warmup",
                "LinearLR",
                {"start_factor": 1e-8, "end_factor": 1.0, "total_iters": w},
                "nearest chainable warmup (LinearLR cannot start at 0)",
            )
        return Sched(
            "warmup",
            "LambdaLR",
            {"lr_lambda": Lambda(f"lambda step: min(1.0, step / {w})", lambda: LinearWarmup(w))},
            "linear from 0",
        )

    decay_sched = _decay_sched(cfg, plan, spec) if decay is not None else None
    if epoch_interval:
        assert decay_sched is not None
        spec.scheds.append(decay_sched)
        if w > 0:
            spec.warnings.append(
                cannot(
                    TARGET,
                    "a per-step warmup before a per-epoch decay with plain torch schedulers",
                    "Lightning steps an 'epoch' scheduler at every epoch end, warmup epochs included, and a LambdaLR "
                    "warmup would overwrite it: use the exact build_scheduler variant",
                )
            )
            spec.scheds.append(warmup_sched(chainable=True))
            spec.configs.append({"scheduler": "warmup", "interval": "step", "frequency": 1})
        spec.configs.append({"scheduler": decay_sched.var, "interval": "epoch", "frequency": 1})
    else:
        phases: list[str] = []
        milestones: list[int] = []
        if w > 0:
            spec.scheds.append(warmup_sched(chainable=False))
            phases.append("warmup")
        if decay_sched is not None:
            if h > 0:
                spec.scheds.append(Sched("hold", "ConstantLR", {"factor": 1.0, "total_iters": h}))
                phases.append("hold")
            spec.scheds.append(decay_sched)
            phases.append(decay_sched.var)
        elif phases:
            spec.scheds.append(Sched("constant", "ConstantLR", {"factor": 1.0, "total_iters": 0}))
            phases.append("constant")
        if w > 0 and len(phases) > 1:
            milestones.append(w)
        if decay_sched is not None and h > 0:
            milestones.append(w + h)
        if len(phases) > 1:
            spec.scheds.append(
                Sched("scheduler", "SequentialLR", {"schedulers": phases, "milestones": milestones})
            )
            spec.configs.append({"scheduler": "scheduler", "interval": "step", "frequency": 1})
        elif phases:
            spec.configs.append({"scheduler": phases[0], "interval": "step", "frequency": 1})
    if cfg.plateau is not None:
        p = cfg.plateau
        kw = p.torch_kwargs()
        spec.scheds.append(Sched("plateau", "ReduceLROnPlateau", kw))
        if p.eval_every == "epoch":
            spec.configs.append(
                {"scheduler": "plateau", "interval": "epoch", "frequency": 1, "monitor": "val_loss"}
            )
        else:
            every = int(p.eval_every)
            spec.configs.append(
                {
                    "scheduler": "plateau",
                    "interval": "step",
                    "frequency": every * plan.accumulation_steps,
                    "monitor": "val_loss",
                }
            )
            L, A, S = plan.micro_batches_per_epoch, plan.accumulation_steps, plan.steps_per_epoch
            if plan.total_steps > S and (S % every or (L % A and S > every)):
                spec.warnings.append(
                    cannot(
                        TARGET,
                        f"plateau.eval_every={every} optimizer steps across epochs of {S} steps",
                        "Lightning's frequency counts micro-batches within an epoch (batch_idx restarts at 0)",
                    )
                )
    return spec


def _decay_sched(cfg: ScheduleConfig, plan: Plan, spec: Spec) -> Sched:
    assert cfg.decay is not None
    name = cfg.decay.scheduler
    kwargs = decay_kwargs(cfg, plan)
    if name in ("LambdaLR", "MultiplicativeLR"):
        expression = kwargs.pop("lr_lambda")
        constants = expression_constants(plan)
        if not plain_expression(expression):
            raise ValueError(
                "decay.kwargs.lr_lambda uses names outside step, n, total_steps, warmup_steps and the math "
                "functions: it is not written into generated code"
            )
        used = [k for k in constants if k in expression]
        lines = ["def decay_factor(step):", f'    """{expression}"""']
        lines += [f"    {k} = {constants[k]!r}" for k in used]
        lines.append(f"    return {expression}")
        spec.functions = lines
        spec.math_names |= {
            n
            for n in ("cos", "sin", "exp", "log", "sqrt", "floor", "ceil", "pi", "e")
            if _uses(expression, n)
        }
        kwargs["lr_lambda"] = Lambda("decay_factor", lambda: LrExpression(expression, constants))
    return Sched("decay", name, kwargs)


def _uses(expression: str, name: str) -> bool:
    import ast

    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(ast.parse(expression, mode="eval")))


# --------------------------------------------------------------------------------------------------
# rendering


def _lit(value: Any) -> str:
    if isinstance(value, Lambda):
        return value.source
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    return repr(value)


def _params_expr(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"self.{name}.parameters()"
    return f"self.get_submodule({name!r}).parameters()"


def render(cfg: ScheduleConfig, plan: Plan, spec: Spec) -> str:
    t = cfg.training
    opt = cfg.optimizer
    lines = [
        f'# configure_optimizers for a LightningModule, from the LR Schedule Studio design "{cfg.name}".',
        f"# Trainer(max_steps={plan.total_steps}, accumulate_grad_batches={t.accumulation_steps}"
        + (f", devices={t.world_size}" if t.world_size > 1 else "")
        + f"), DataLoader(batch_size={t.micro_batch_size}, drop_last={t.drop_last}) over {t.dataset_size} samples:",
        f"# {plan.steps_per_epoch} optimizer steps per epoch; warmup {plan.warmup_steps} steps. Steps are optimizer steps.",
    ]
    if any(c.get("monitor") for c in spec.configs):
        lines.append(
            '# Log the validation loss as "val_loss" (self.log("val_loss", loss)) at every evaluation.'
        )
        for c in spec.configs:
            if c.get("monitor") and c["interval"] == "step":
                lines.append(
                    f"# Validate every {c['frequency']} training batches: Trainer(val_check_interval={c['frequency']})."
                )
    if spec.math_names:
        lines.append(f"from math import {', '.join(sorted(spec.math_names))}")
    lines += ["", "import torch", "from torch.optim import lr_scheduler", ""]
    if spec.functions:
        lines += ["", *spec.functions, ""]
    lines += ["", "def configure_optimizers(self):"]
    extra = ", ".join(f"{k}={_lit(v)}" for k, v in opt.kwargs.items())
    extra = f", {extra}" if extra else ""
    groups = opt.groups()
    if len(groups) == 1:
        lines.append(f"    optimizer = torch.optim.{opt.name}(self.parameters(), lr={opt.lr!r}{extra})")
    else:
        lines.append("    param_groups = [  # one per design group: point each at its modules")
        for g, lr in zip(groups, opt.base_lrs(), strict=True):
            lines.append(
                f'        {{"params": {_params_expr(g.name)}, "lr": {lr!r}}},  # {g.name}: lr_scale {g.lr_scale:g}'
            )
        lines += ["    ]", f"    optimizer = torch.optim.{opt.name}(param_groups, lr={opt.lr!r}{extra})"]
    for s in spec.scheds:
        if s.cls == "SequentialLR":
            args = f"[{', '.join(s.kwargs['schedulers'])}], milestones={s.kwargs['milestones']}"
        else:
            args = ", ".join(f"{k}={_lit(v)}" for k, v in s.kwargs.items())
        comment = f"  # {s.comment}" if s.comment else ""
        lines.append(f"    {s.var} = lr_scheduler.{s.cls}(optimizer, {args}){comment}")
    configs = []
    for c in spec.configs:
        items = ", ".join(f'"{k}": {c[k]}' if k == "scheduler" else f'"{k}": {_lit(c[k])}' for k in c)
        configs.append("{" + items + "}")
    if len(configs) == 1:
        lines += [
            "    return {",
            '        "optimizer": optimizer,',
            f'        "lr_scheduler": {configs[0]},',
            "    }",
        ]
    elif configs:
        lines.append("    return [optimizer], [")
        lines += [f"        {c}," for c in configs]
        lines.append("    ]")
    else:
        lines.append("    return optimizer")
    return "\n".join(lines) + "\n"


def instantiate(spec: Spec, optimizer: torch.optim.Optimizer) -> dict[str, Any] | tuple[list, list]:
    """What the rendered ``configure_optimizers`` returns, built directly (no code is executed)."""
    objs: dict[str, Any] = {}
    with quiet_scheduler_warnings():
        for s in spec.scheds:
            kwargs = dict(s.kwargs)
            if s.cls == "SequentialLR":
                obj = tls.SequentialLR(
                    optimizer, [objs[v] for v in kwargs["schedulers"]], kwargs["milestones"]
                )
            else:
                for k, v in kwargs.items():
                    if isinstance(v, Lambda):
                        kwargs[k] = v.make()
                obj = getattr(tls, s.cls)(optimizer, **kwargs)
            objs[s.var] = obj
    configs = [{**c, "scheduler": objs[c["scheduler"]]} for c in spec.configs]
    if len(configs) == 1:
        return {"optimizer": optimizer, "lr_scheduler": configs[0]}
    return [optimizer], configs


# --------------------------------------------------------------------------------------------------
# Lightning's stepping rules


def _configs(result: Any) -> tuple[torch.optim.Optimizer, list[dict[str, Any]]]:
    if isinstance(result, dict):
        sched = result.get("lr_scheduler")
        configs = [] if sched is None else [sched if isinstance(sched, dict) else {"scheduler": sched}]
        return result["optimizer"], configs
    if isinstance(result, tuple | list) and len(result) == 2:
        opts, scheds = result
        return opts[0], [s if isinstance(s, dict) else {"scheduler": s} for s in scheds]
    return result, []


def lightning_curve(
    result: Any, plan: Plan, metric: Callable[[int], float | None] | None = None
) -> np.ndarray:
    """Step a ``configure_optimizers`` result by Lightning's rules; the lr of every group at every
    optimizer step, shape (T, groups).  ``metric(i)``: the monitored value at the i-th plateau step."""
    optimizer, configs = _configs(result)
    configs = [
        {
            "interval": c.get("interval", "epoch"),
            "frequency": c.get("frequency", 1),
            "plateau": isinstance(c["scheduler"], tls.ReduceLROnPlateau),
            **c,
        }
        for c in configs
    ]
    groups = optimizer.param_groups
    out = np.empty((plan.total_steps, len(groups)))
    L, A = plan.micro_batches_per_epoch, plan.accumulation_steps
    evals = 0

    def step_due(interval: str, count: int) -> None:
        """Lightning's update: the configs of ``interval`` whose frequency divides ``count``, plain
        schedulers first, then ReduceLROnPlateau with the monitored metric."""
        nonlocal evals
        for plateau in (False, True):
            for c in configs:
                if c["interval"] != interval or c["plateau"] != plateau or count % c["frequency"]:
                    continue
                if not plateau:
                    c["scheduler"].step()
                    continue
                value = metric(evals) if metric is not None else None
                evals += 1
                if value is not None:
                    c["scheduler"].step(value)

    k = 0
    epoch = 0
    with quiet_scheduler_warnings():
        while k < plan.total_steps:
            for batch_idx in range(L):
                if (batch_idx + 1) % A and batch_idx + 1 != L:
                    continue  # accumulating
                out[k] = [g["lr"] for g in groups]
                k += 1
                step_due("step", batch_idx + 1)
                if k >= plan.total_steps:
                    break
            step_due("epoch", epoch + 1)
            epoch += 1
    return out


def snippet_curve(config: ScheduleConfig | dict[str, Any] | str) -> np.ndarray:
    """The lrs the exported snippet gives under Lightning's rules (the design's plateau metric)."""
    cfg = load_config(config)
    plan = cfg.plan
    feed = MetricFeed(cfg.plateau.metric, 1) if cfg.plateau is not None else None
    return lightning_curve(instantiate(_spec(cfg, plan), dummy_optimizer(cfg)), plan, feed)


def to_lightning(
    config: ScheduleConfig | dict[str, Any] | str, *, curve: Curve | None = None
) -> tuple[str, list[str]]:
    """A ``configure_optimizers`` snippet (plain torch) for the design, and what it cannot express."""
    cfg = load_config(config)
    cfg, ramp_notes = without_ramp(cfg, TARGET)
    curve = curve_of(cfg, curve)
    plan = curve.plan
    spec = _spec(cfg, plan)
    code = render(cfg, plan, spec)
    feed = MetricFeed(cfg.plateau.metric, 1) if cfg.plateau is not None else None
    target = lightning_curve(instantiate(spec, dummy_optimizer(cfg)), plan, feed)
    warnings = list(spec.warnings) + ramp_notes
    mismatch = compare(curve.lrs, target)
    if mismatch is not None:
        warnings.append(mismatch.describe(TARGET))
        warnings.append(
            "exact alternative: build_scheduler_variant(config), which uses the schedules package"
        )
    return code, warnings


def build_scheduler_variant(config: ScheduleConfig | dict[str, Any] | str, path: str = "design.json") -> str:
    """The exact route for any design: ``schedules.build_scheduler`` inside Lightning."""
    cfg = load_config(config)
    return f'''# configure_optimizers + lr_scheduler_step for a LightningModule: the design "{cfg.name}" exactly,
# via the schedules package (pip install lr-schedule-studio) and the exported {path}.
import torch

import schedules

CONFIG = schedules.load_config("{path}")


def configure_optimizers(self):
    optimizer = torch.optim.{cfg.optimizer.name}(self.parameters(), lr=CONFIG.optimizer.lr, **CONFIG.optimizer.kwargs)
    schedule = schedules.build_scheduler(optimizer, CONFIG)  # one param group per design group
    return {{"optimizer": optimizer, "lr_scheduler": {{"scheduler": schedule, "interval": "step", "frequency": 1}}}}


def lr_scheduler_step(self, scheduler, metric):
    # Called once per optimizer step; pass the validation loss when the design evaluates now.
    value = self.trainer.callback_metrics.get("val_loss") if scheduler.needs_metric else None
    scheduler.step(None if value is None else float(value))
'''
