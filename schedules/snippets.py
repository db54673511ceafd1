"""Ready-to-paste PyTorch training loops for a config.

Two flavours, both with ``zero_grad`` / ``backward`` / accumulation / ``optimizer.step()`` /
``scheduler.step()`` in the right places (CONTRACT.md sections 2 and 3):

- :func:`build_scheduler_snippet`: loads the exported JSON and gets its schedulers from
  :func:`schedules.build_scheduler` (recommended: the config file stays the single source).
- :func:`plain_torch_snippet`: no dependency on this package; the same ``torch.optim.lr_scheduler``
  objects ``build_scheduler`` would make, with every default resolved to a number.

The model and data in the snippets are small runnable placeholders (marked ``# <-``) to be replaced.
Both loops record ``lr_log`` (the lr each optimizer step uses, which equals the exported curve) and
``epoch_end_log`` (the optimizer steps that end an epoch, which are the plan's).  Their loader yields
exactly the design's epochs: with ``world_size > 1`` a ``DistributedSampler`` with the design's
``drop_last`` gives each rank ``L = ceil(N / (b * W))`` micro-batches (``floor`` with ``drop_last``),
as HF Trainer and accelerate count them, and per-epoch steps follow the loader's own epoch end.
"""

from __future__ import annotations

import ast
from typing import Any

from .build import decay_kwargs, expression_constants, load_config
from .design import Plan, ScheduleConfig

_MATH_NAMES = {"cos", "sin", "exp", "log", "sqrt", "floor", "ceil", "pi", "e"}


def _py(value: Any) -> str:
    """A Python literal that reproduces ``value`` exactly (floats via repr)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    return repr(value)


def _kwargs(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_py(v)}" for k, v in kwargs.items())


def _header(config: ScheduleConfig, plan: Plan) -> list[str]:
    t = config.training
    lines = [
        f"# LR Schedule Studio design {config.name!r} ({config.format}).",
        f"# Step accounting: {plan.micro_batches_per_epoch} micro-batches per epoch per rank, "
        f"{plan.steps_per_epoch} optimizer steps per epoch,",
        f"# {plan.total_steps} optimizer steps in all, warmup {plan.warmup_steps}, effective batch "
        f"{t.micro_batch_size} x {t.accumulation_steps} x {t.world_size} = {plan.effective_batch}.",
    ]
    if plan.batch_ramp:
        lines.append(
            "# WARNING: training.batch_ramp is not in this loop, which accumulates a fixed "
            f"{t.accumulation_steps} micro-batches: the first {plan.ramp_steps} optimizer steps of the design "
            "take fewer (schedules.load_config(...).plan.window(k).micro_batches)."
        )
    return lines


def _model_lines(config: ScheduleConfig, with_lr: bool) -> list[str]:
    groups = config.optimizer.groups()
    lrs = config.optimizer.base_lrs()

    def lr(i: int) -> str:
        return f", 'lr': {lrs[i]!r}" if with_lr else ""

    if len(groups) == 1:
        return [
            "model = torch.nn.Linear(16, 1)  # <- your model",
            f"param_groups = [{{'params': model.parameters(){lr(0)}}}]",
        ]
    layers = ", ".join(["torch.nn.Linear(16, 16)"] * (len(groups) - 1) + ["torch.nn.Linear(16, 1)"])
    lines = [
        f"model = torch.nn.Sequential({layers})  # <- your model",
        "param_groups = [  # <- one per group",
    ]
    for i, g in enumerate(groups):
        mup = f" / width_mult {g.width_mult!r} (muP, matrix-like)" if g.width_mult is not None else ""
        lines.append(
            f"    {{'params': model[{i}].parameters(){lr(i)}}},  # {g.name}: lr x {g.lr_scale!r}{mup}"
        )
    lines.append("]")
    return lines


def _data_lines(config: ScheduleConfig, batch: str, drop_last: str) -> list[str]:
    """The dataset and a loader that yields exactly the design's epochs on every rank.

    With ``world_size > 1`` a ``DistributedSampler`` with the design's ``drop_last``: each rank gets
    ``ceil(N / W)`` samples (``floor`` with ``drop_last``), so ``len(loader)`` is the plan's ``L`` =
    ``ceil(N / (b * W))`` (``floor``), as HF Trainer and accelerate count it.  ``num_replicas`` and
    ``rank`` are explicit, so one process can run a rank's loop without a process group.
    """
    t = config.training
    lines = [
        "loss_fn = torch.nn.MSELoss()",
        f"samples = {t.dataset_size}",
        "dataset = TensorDataset(torch.randn(samples, 16), torch.randn(samples, 1))  # <- your dataset",
    ]
    if t.world_size > 1:
        lines += [
            f"# {t.world_size} ranks (torchrun --nproc_per_node {t.world_size}): each reads its own share of the data",
            "rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0",
            f"sampler = DistributedSampler(dataset, num_replicas={t.world_size}, rank=rank, shuffle=True, "
            f"drop_last={drop_last})",
            f"loader = DataLoader(dataset, batch_size={batch}, sampler=sampler, drop_last={drop_last})",
            f"assert len(loader) == {_plan_l(config)}  # micro-batches per epoch per rank, as designed",
        ]
    else:
        lines.append(f"loader = DataLoader(dataset, batch_size={batch}, shuffle=True, drop_last={drop_last})")
    return lines


def _data_import(config: ScheduleConfig) -> str:
    names = (
        "DataLoader, DistributedSampler, TensorDataset"
        if config.training.world_size > 1
        else "DataLoader, TensorDataset"
    )
    return f"from torch.utils.data import {names}"


def _plan_l(config: ScheduleConfig) -> int:
    return config.plan.micro_batches_per_epoch


def _evaluate_lines(config: ScheduleConfig) -> list[str]:
    if config.plateau is None:
        return []
    return [
        "",
        "",
        "def evaluate() -> float:",
        f'    """<- your validation loop: the metric ReduceLROnPlateau watches (mode={config.plateau.mode!r})."""',
        "    model.eval()",
        "    with torch.no_grad():",
        "        x, y = dataset[:64]",
        "        value = loss_fn(model(x), y).item()",
        "    model.train()",
        "    return value",
        "",
    ]


def _loop_lines(
    optimizer_step: list[str], scheduler_step: list[str], accumulation: str, total: str, distributed: bool
) -> list[str]:
    return [
        "",
        "lr_log = []  # the lr of every param group at each optimizer step: equals the exported curve",
        "epoch_end_log = []  # the optimizer steps that end an epoch (the loader ran out)",
        "step = 0  # optimizer steps taken",
        "epoch = 0",
        "optimizer.zero_grad()",
        f"while step < {total}:  # epochs repeat until the total is reached",
        *(
            ["    sampler.set_epoch(epoch)  # a new shuffle every epoch, the same on every rank"]
            if distributed
            else []
        ),
        "    for i, (x, y) in enumerate(loader):",
        f"        window_start = i // {accumulation} * {accumulation}",
        f"        window = min({accumulation}, len(loader) - window_start)  # micro-batches in this window",
        "        loss = loss_fn(model(x), y) / window  # mean over the accumulation window",
        "        loss.backward()",
        "        if i + 1 < window_start + window:",
        "            continue  # accumulate: no optimizer step yet",
        "        epoch_end = i + 1 == len(loader)  # this optimizer step ends the epoch",
        "        lr_log.append([group['lr'] for group in optimizer.param_groups])",
        *optimizer_step,
        *scheduler_step,
        "        optimizer.zero_grad()",
        "        if epoch_end:",
        "            epoch_end_log.append(step)",
        "        step += 1",
        f"        if step == {total}:",
        "            break",
        "    epoch += 1",
    ]


def build_scheduler_snippet(
    config: ScheduleConfig | dict[str, Any] | str, path: str = "lr-schedule.json"
) -> str:
    """A training loop that loads the exported config from ``path`` and uses ``build_scheduler``."""
    cfg = load_config(config)
    plan = cfg.plan
    lines = [
        *_header(cfg, plan),
        "import torch",
        _data_import(cfg),
        "",
        "import schedules",
        "",
        f"config = schedules.load_config({path!r})  # the JSON exported from the designer",
        "training = config.training",
        *_model_lines(cfg, with_lr=False),
        f"optimizer = torch.optim.{cfg.optimizer.name}(param_groups, lr=config.optimizer.lr, **config.optimizer.kwargs)",
        "schedule = schedules.build_scheduler(optimizer, config)  # sets each group's lr from the config",
        "plan = schedule.plan",
        *_data_lines(cfg, "training.micro_batch_size", "training.drop_last"),
        *_evaluate_lines(cfg),
        *_loop_lines(
            ["        optimizer.step()"],
            [
                "        # After optimizer.step(), once per optimizer step (never per micro-batch): the lr",
                "        # the next step uses. The schedule asks for the metric when an evaluation is due.",
                "        schedule.step(evaluate() if schedule.needs_metric else None)"
                if cfg.plateau is not None
                else "        schedule.step()",
            ],
            "training.accumulation_steps",
            "plan.total_steps",
            cfg.training.world_size > 1,
        ),
    ]
    return "\n".join(lines) + "\n"


def _may_go_negative(config: ScheduleConfig) -> bool:
    """True when a scheduler of the design has a recursive (chainable) form that may round below 0."""
    return config.decay is not None or (config.warmup is not None and config.warmup.start_factor > 0)


def _expression_function(name: str, expression: str, constants: dict[str, float]) -> list[str]:
    used = {n.id for n in ast.walk(ast.parse(expression, mode="eval")) if isinstance(n, ast.Name)}
    consts = {k: v for k, v in constants.items() if k in used}
    lines = [f"def {name}(step):", f'    """{expression}"""']
    for k, v in consts.items():
        lines.append(f"    {k} = {_py(v)}")
    lines.append(f"    return {expression}")
    return lines


def _wsd_function(cfg: ScheduleConfig, total: int) -> list[str]:
    """``def wsd_factor(step)``: transformers' WSD lambda with this design's numbers (as WSDFactor)."""
    from .design.wsd import wsd_factor

    f = wsd_factor(cfg.wsd, total)
    warm = {
        "linear": "progress",
        "cosine": "0.5 * (1.0 - cos(pi * progress))",
        "1-sqrt": "1.0 - sqrt(1.0 - progress)",
    }[f.warmup_type]
    decay = {
        "linear": "1.0 - progress",
        "cosine": "0.5 * (1.0 + cos(pi * 0.5 * 2.0 * progress))",
        "1-sqrt": "1.0 - sqrt(progress)",
    }[f.decay_type]
    w, s, d = f.warmup_steps, f.stable_steps, f.decay_steps
    return [
        "def wsd_factor(step):",
        f'    """Warmup {w} steps ({f.warmup_type}), stable {s}, decay {d} ({f.decay_type}) to '
        f'{f.min_lr_ratio!r} x lr (transformers.get_wsd_schedule)."""',
        f"    if step < {w}:",
        f"        progress = float(step) / float({max(1, w)})",
        f"        return max(0.0, ({warm}) * (1.0 - {f.warmup_start!r}) + {f.warmup_start!r})",
        f"    if step < {w + s}:",
        "        return 1.0",
        f"    if step < {w + s + d}:",
        f"        progress = float(step - {w} - {s}) / float({max(1, d)})",
        f"        return max(0.0, ({decay}) * (1.0 - {f.min_lr_ratio!r}) + {f.min_lr_ratio!r})",
        f"    return {f.min_lr_ratio!r}",
    ]


def plain_torch_snippet(config: ScheduleConfig | dict[str, Any] | str) -> str:
    """A self-contained loop with the torch schedulers ``build_scheduler`` makes, defaults resolved."""
    cfg = load_config(config)
    plan = cfg.plan
    t = cfg.training
    w, h = plan.warmup_steps, plan.hold_steps
    epoch_interval = cfg.decay is not None and cfg.decay.interval == "epoch"
    start = cfg.warmup.start_factor if cfg.warmup is not None else 1.0

    functions: list[str] = []
    math_names: set[str] = set()
    decay_line = ""
    if cfg.decay is not None:
        kwargs = decay_kwargs(cfg, plan)
        if cfg.decay.scheduler in ("LambdaLR", "MultiplicativeLR"):
            expression = kwargs.pop("lr_lambda")
            tree = ast.parse(expression, mode="eval")
            math_names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & _MATH_NAMES
            functions += [
                "",
                "",
                *_expression_function("decay_factor", expression, expression_constants(plan)),
                "",
            ]
            args = ", ".join(["lr_lambda=decay_factor", *([_kwargs(kwargs)] if kwargs else [])])
        else:
            args = _kwargs(kwargs)
        decay_line = f"decay = lr_scheduler.{cfg.decay.scheduler}(optimizer, {args})"
    if cfg.wsd is not None:
        functions += ["", "", *_wsd_function(cfg, plan.total_steps), ""]
        math_names |= {"cos", "pi", "sqrt"}
    if w > 0 and start == 0:
        warmup_line = (
            f"warmup = lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, step / {w}))  # linear from 0"
        )
    else:
        warmup_line = f"warmup = lr_scheduler.LinearLR(optimizer, start_factor={start!r}, end_factor=1.0, total_iters={w})"

    sched: list[str] = []
    step_lines: list[str] = []
    if epoch_interval:
        # As build_scheduler: the decay is constructed when the warmup ends, on the lr the warmup
        # reached and as on a fresh optimizer (its own initial_lr), so its first value shows there.
        make_decay = [
            "for group in optimizer.param_groups:",
            "    group.pop('initial_lr', None)  # the decay records the lr it starts from",
            decay_line,
        ]
        if w > 0:
            sched.append(warmup_line)
            sched.append("decay = None  # per-epoch decay: constructed when the warmup ends")
            step_lines += [
                f"        if step < {w}:",
                "            warmup.step()",
                f"            if step + 1 == {w}:  # the warmup has ended: construct the decay",
                *("                " + line for line in make_decay),
                "        elif epoch_end:  # the last optimizer step of an epoch",
                "            decay.step()",
            ]
        else:
            sched.append(decay_line)
            step_lines += [
                "        if epoch_end:  # the last optimizer step of an epoch",
                "            decay.step()",
            ]
    elif cfg.wsd is not None:
        sched.append("scheduler = lr_scheduler.LambdaLR(optimizer, wsd_factor)  # warmup-stable-decay")
        step_lines.append("        scheduler.step()")
    else:
        phases: list[str] = []
        milestones: list[int] = []
        if w > 0:
            sched.append(warmup_line)
            phases.append("warmup")
        if cfg.decay is not None:
            if h > 0:
                sched.append(f"hold = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters={h})")
                phases.append("hold")
            sched.append(decay_line)
            phases.append("decay")
        elif phases:
            sched.append("constant = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)")
            phases.append("constant")
        if w > 0 and len(phases) > 1:
            milestones.append(w)
        if cfg.decay is not None and h > 0:
            milestones.append(w + h)
        if len(phases) > 1:
            sched.append(
                f"scheduler = lr_scheduler.SequentialLR(optimizer, [{', '.join(phases)}], milestones={milestones})"
            )
            step_lines.append("        scheduler.step()")
        elif phases:
            step_lines.append(f"        {phases[0]}.step()")
    if step_lines and _may_go_negative(cfg):
        step_lines += [
            "        for group in optimizer.param_groups:",
            "            if group['lr'] < 0.0:  # a recursive form can end at -1e-17 (LinearLR to 0): use 0",
            "                group['lr'] = 0.0",
        ]
    if cfg.plateau is not None:
        p = cfg.plateau
        pk = p.torch_kwargs()
        sched.append(f"plateau = lr_scheduler.ReduceLROnPlateau(optimizer, {_kwargs(pk)})")
        if p.eval_every == "epoch":
            step_lines.append("        if epoch_end:  # evaluate every epoch")
        else:
            step_lines.append(
                f"        if (step + 1) % {int(p.eval_every)} == 0:  # evaluate every {int(p.eval_every)} optimizer steps"
            )
        step_lines.append("            plateau.step(evaluate())")
    if step_lines:
        step_lines = [
            "        # After optimizer.step(), once per optimizer step (never per micro-batch): the lr",
            "        # the next step uses.",
            *step_lines,
        ]

    opt_kwargs = _kwargs(cfg.optimizer.kwargs)
    lines = _header(cfg, plan)
    if math_names:
        lines.append(f"from math import {', '.join(sorted(math_names))}")
        lines.append("")
    lines += [
        "import torch",
        "from torch.optim import lr_scheduler",
        _data_import(cfg),
        "",
        f"MICRO_BATCH_SIZE = {t.micro_batch_size}",
        f"ACCUMULATION_STEPS = {t.accumulation_steps}  # micro-batches per optimizer step",
        f"TOTAL_STEPS = {plan.total_steps}  # optimizer steps",
        "",
        *_model_lines(cfg, with_lr=True),
        f"optimizer = torch.optim.{cfg.optimizer.name}(param_groups, lr={cfg.optimizer.lr!r}"
        + (f", {opt_kwargs}" if opt_kwargs else "")
        + ")",
        *_data_lines(cfg, "MICRO_BATCH_SIZE", str(t.drop_last)),
        *functions,
        *_evaluate_lines(cfg),
        "",
        *sched,
        *_loop_lines(
            ["        optimizer.step()"], step_lines, "ACCUMULATION_STEPS", "TOTAL_STEPS", t.world_size > 1
        ),
    ]
    return "\n".join(lines) + "\n"
