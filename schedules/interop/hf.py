"""Hugging Face ``TrainingArguments``: export a design as its kwargs, import its JSON as a design.

**What HF can express.**  ``Trainer`` builds one scheduler with
``transformers.get_scheduler(lr_scheduler_type, optimizer, num_warmup_steps, num_training_steps,
scheduler_specific_kwargs=lr_scheduler_kwargs)`` and steps it once per optimizer step.  Every named
schedule is a ``LambdaLR`` with a linear warmup from 0 (except ``constant`` and
``reduce_lr_on_plateau``, which have none).  These designs are exactly an HF schedule:

==================================================================  ==========================
design (interval "step", warmup from 0 or none, one lr)             ``lr_scheduler_type``
==================================================================  ==========================
no decay                                                            ``constant`` /
                                                                    ``constant_with_warmup``
``LinearLR`` 1 -> 0 over the decay length                           ``linear``
``CosineAnnealingLR``, ``eta_min`` 0 (``T_max`` -> ``num_cycles``)     ``cosine``
``CosineAnnealingLR``, ``eta_min`` > 0                               ``cosine_with_min_lr``
``CosineAnnealingWarmRestarts`` ``T_mult`` 1, ``T_0`` dividing it     ``cosine_with_restarts``
``PolynomialLR`` over the decay length                              ``polynomial`` (lr_end 0)
``LambdaLR`` ``1/sqrt((step + w) / w)`` (the inverse_sqrt preset)     ``inverse_sqrt``
hold + ``CosineAnnealingLR`` / ``LinearLR`` (warmup from the floor)    ``warmup_stable_decay``
``ReduceLROnPlateau`` alone                                         ``reduce_lr_on_plateau``
==================================================================  ==========================

Anything else gets the closest named schedule (least squares over the curve) and warnings.

**Step accounting.**  ``Trainer.set_initial_training_values`` (transformers 4.52 and later,
including 5.x; read in 4.52.1, 4.57.1 and 5.24.0) computes ``num_update_steps_per_epoch =
max(ceil(len(train_dataloader) / gradient_accumulation_steps), 1)`` and ``max_steps =
ceil(num_train_epochs * num_update_steps_per_epoch)`` unless ``max_steps > 0``: the same ``S`` and
``T`` as :mod:`schedules.design.plan` when ``len(train_dataloader)`` is our ``L`` (``ceil(N / (b * W))``
per rank, ``floor`` with ``dataloader_drop_last``).  Warmup: ``warmup_steps`` if >= 1, else
``ceil(T * ratio)`` (``warmup_ratio`` before 5.0): the same as ``warmup.ratio``.  Releases before
4.52 (read in 4.45.2, 4.46.0, 4.51.3) used ``floor(len / accumulation)``: when ``L`` is not a
multiple of the accumulation the scheduler was sized for fewer steps than the run takes, and the
export says so with the numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..build import MetricFeed, decay_kwargs, load_config, quiet_scheduler_warnings
from ..curve import Curve, compute_curve, curve_of
from ..design import ConfigError, Plan, Problem, ScheduleConfig, join_path
from ..design.plan import accounting
from .common import cannot, close, compare, get_number, num, read_json_object, unique
from .detect import ignored_hf_keys, require_format

TARGET = "HF TrainingArguments"

HF_TYPES = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)

#: TrainingArguments defaults (transformers 5.x) of the fields read here.
HF_DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-5,
    "lr_scheduler_type": "linear",
    "lr_scheduler_kwargs": None,
    "warmup_steps": 0,
    "warmup_ratio": 0.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "num_train_epochs": 3.0,
    "max_steps": -1,
    "dataloader_drop_last": False,
    "weight_decay": 0.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "optim": "adamw_torch",
}

#: torch.optim class -> TrainingArguments.optim
HF_OPTIM = {"AdamW": "adamw_torch", "SGD": "sgd", "Adagrad": "adagrad", "RMSprop": "rmsprop"}
OPTIM_TO_TORCH = {
    "adamw_torch": "AdamW",
    "adamw_torch_fused": "AdamW",
    "adamw_hf": "AdamW",
    "adamw_torch_xla": "AdamW",
    "adamw_torch_npu_fused": "AdamW",
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
}

# --------------------------------------------------------------------------------------------------
# HF's named schedules, as functions of the optimizer step (vectorized)


def hf_factor(
    name: str, steps: np.ndarray, warmup: int, total: int, kwargs: dict[str, Any], lr_init: float
) -> np.ndarray:
    """The multiplier HF's ``LambdaLR`` applies to the base lr at each step (transformers 5.x).

    ``steps``: optimizer-step indices (row ``k`` of the curve is the factor at ``k``).
    ``lr_init``: ``optimizer.defaults["lr"]`` (``learning_rate``), used by ``polynomial`` and by
    ``cosine_with_min_lr``'s ``min_lr``.
    """
    k = steps.astype(np.float64)
    w = float(warmup)
    ramp = k / float(max(1, warmup))
    after = k >= w
    span = float(max(1, total - warmup))
    if name == "constant":
        return np.ones_like(k)
    if name == "constant_with_warmup":
        return np.where(after, 1.0, k / max(1.0, w))
    if name == "linear":
        return np.where(after, np.maximum(0.0, (total - k) / span), ramp)
    if name in ("cosine", "cosine_with_min_lr"):
        cycles = float(kwargs.get("num_cycles", 0.5))
        progress = (k - w) / span
        f = 0.5 * (1.0 + np.cos(math.pi * cycles * 2.0 * progress))
        if name == "cosine_with_min_lr":
            rate = _min_lr_rate(kwargs, lr_init)
            f = f * (1 - rate) + rate
        return np.where(after, np.maximum(0.0, f), ramp)
    if name == "cosine_with_restarts":
        cycles = float(kwargs.get("num_cycles", 1))
        progress = (k - w) / span
        f = np.maximum(0.0, 0.5 * (1.0 + np.cos(math.pi * np.mod(cycles * progress, 1.0))))
        return np.where(after, np.where(progress >= 1.0, 0.0, f), ramp)
    if name == "polynomial":
        lr_end = float(kwargs.get("lr_end", 1e-7))
        power = float(kwargs.get("power", 1.0))
        decay_steps = total - warmup
        with np.errstate(divide="ignore", invalid="ignore"):
            remaining = 1 - (k - w) / decay_steps
            f = ((lr_init - lr_end) * np.power(np.maximum(remaining, 0.0), power) + lr_end) / lr_init
        f = np.where(k > total, lr_end / lr_init, f)
        return np.where(after, f, ramp)
    if name == "inverse_sqrt":
        timescale = kwargs.get("timescale") or (warmup or 10_000)
        shift = timescale - warmup
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(after, 1.0 / np.sqrt((k + shift) / timescale), ramp)
    if name == "cosine_warmup_with_min_lr":
        rate = _min_lr_rate(kwargs, lr_init)
        cycles = float(kwargs.get("num_cycles", 0.5))
        wr = kwargs.get("warmup_lr_rate")
        if wr is None:
            up = (k + 1.0) / max(1.0, w)
        else:
            up = float(wr) + (1.0 - float(wr)) * k / max(1, warmup - 1)
        progress = (k - w + 1.0) / max(1.0, float(total) - w)
        f = 0.5 * (1.0 + np.cos(math.pi * cycles * 2.0 * progress))
        return np.where(after, np.maximum(0, f * (1 - rate) + rate), up)
    if name == "warmup_stable_decay":
        return _wsd_factor(k, warmup, total, kwargs)
    raise ConfigError(Problem("lr_scheduler_type", f"must be one of {', '.join(HF_TYPES)}", name))


def _min_lr_rate(kwargs: dict[str, Any], lr_init: float) -> float:
    if kwargs.get("min_lr") is not None and kwargs.get("min_lr_rate") is not None:
        raise ConfigError(
            Problem("lr_scheduler_kwargs", "set only one of min_lr and min_lr_rate", kwargs, has_value=False)
        )
    if kwargs.get("min_lr") is not None:
        return float(kwargs["min_lr"]) / lr_init
    if kwargs.get("min_lr_rate") is None:
        raise ConfigError(
            Problem(
                "lr_scheduler_kwargs", "needs min_lr or min_lr_rate for this schedule", None, has_value=False
            )
        )
    return float(kwargs["min_lr_rate"])


def _wsd_factor(k: np.ndarray, warmup: int, total: int, kwargs: dict[str, Any]) -> np.ndarray:
    if kwargs.get("num_decay_steps") is None:
        raise ConfigError(
            Problem("lr_scheduler_kwargs.num_decay_steps", "is required by warmup_stable_decay", None, False)
        )
    decay = int(kwargs["num_decay_steps"])
    stable = kwargs.get("num_stable_steps")
    stable = int(stable) if stable is not None else total - warmup - decay
    wtype = kwargs.get("warmup_type", "linear")
    dtype = kwargs.get("decay_type", "cosine")
    floor = float(kwargs.get("min_lr_ratio", 0.0))
    cycles = float(kwargs.get("num_cycles", 0.5))
    for key, value in (("warmup_type", wtype), ("decay_type", dtype)):
        if value not in ("linear", "cosine", "1-sqrt"):
            raise ConfigError(
                Problem(f"lr_scheduler_kwargs.{key}", "must be one of linear, cosine, 1-sqrt", value)
            )
    p = k / float(max(1, warmup))
    up = {
        "linear": lambda p: p,
        "cosine": lambda p: 0.5 * (1.0 - np.cos(math.pi * p)),
        "1-sqrt": lambda p: 1.0 - np.sqrt(np.clip(1.0 - p, 0.0, None)),
    }[wtype](p)
    up = np.maximum(0.0, up * (1.0 - floor) + floor)
    q = np.clip((k - warmup - stable) / float(max(1, decay)), 0.0, None)
    down = {
        "linear": lambda q: 1.0 - q,
        "cosine": lambda q: 0.5 * (1.0 + np.cos(math.pi * cycles * 2.0 * q)),
        "1-sqrt": lambda q: 1.0 - np.sqrt(q),
    }[dtype](q)
    down = np.maximum(0.0, down * (1.0 - floor) + floor)
    return np.where(
        k < warmup,
        up,
        np.where(k < warmup + stable, 1.0, np.where(k < warmup + stable + decay, down, floor)),
    )


# --------------------------------------------------------------------------------------------------
# HF's step accounting


def hf_steps(args: dict[str, Any], plan: Plan) -> tuple[int, int, int]:
    """``(steps_per_epoch, total_steps, warmup_steps)`` as ``Trainer`` (>= 4.52) computes them for a
    run whose ``len(train_dataloader)`` is ``plan.micro_batches_per_epoch``."""
    ga = int(args.get("gradient_accumulation_steps", 1))
    per_epoch = max(-(-plan.micro_batches_per_epoch // ga), 1)
    max_steps = int(args.get("max_steps", -1))
    total = max_steps if max_steps > 0 else math.ceil(float(args.get("num_train_epochs", 3.0)) * per_epoch)
    ws = args.get("warmup_steps", 0) or 0
    ratio = args.get("warmup_ratio", 0.0) or 0.0
    if ws >= 1:
        warmup = int(ws)
    elif ws > 0:
        warmup = math.ceil(total * ws)
    else:
        warmup = math.ceil(total * ratio)
    return per_epoch, total, warmup


def hf_curve(args: dict[str, Any], config: ScheduleConfig, plan: Plan | None = None) -> np.ndarray:
    """The lr HF's ``Trainer`` gives every param group at every optimizer step, shape (T, groups).

    ``Trainer`` builds its optimizer with one ``learning_rate`` for every group.  The plateau
    metric is the design's (HF feeds ``metric_for_best_model`` from each evaluation instead).
    """
    plan = plan or config.plan
    _, total, warmup = hf_steps(args, plan)
    lr = float(args.get("learning_rate", HF_DEFAULTS["learning_rate"]))
    groups = len(config.optimizer.groups())
    name = args.get("lr_scheduler_type", "linear")
    kwargs = dict(args.get("lr_scheduler_kwargs") or {})
    if name == "reduce_lr_on_plateau":
        return _plateau_curve(args, config, plan, total, lr, groups)
    f = hf_factor(name, np.arange(total), warmup, total, kwargs, lr)
    return np.repeat((lr * f)[:, None], groups, axis=1)


def _plateau_curve(
    args: dict[str, Any], config: ScheduleConfig, plan: Plan, total: int, lr: float, groups: int
) -> np.ndarray:
    params = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(groups)]
    opt = torch.optim.SGD(params, lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **(args.get("lr_scheduler_kwargs") or {}))
    every = plan.steps_per_epoch if args.get("eval_strategy") == "epoch" else int(args.get("eval_steps") or 1)
    if config.plateau is None:
        feed = None
    else:
        feed = MetricFeed(config.plateau.metric, total // every + 1)
    out = np.empty((total, groups))
    with quiet_scheduler_warnings():
        for k in range(total):
            out[k] = [g["lr"] for g in opt.param_groups]
            if feed is not None and (k + 1) % every == 0:
                value = feed((k + 1) // every - 1)
                if value is not None:
                    sched.step(value)
    return out


# --------------------------------------------------------------------------------------------------
# export


def _design_numbers(cfg: ScheduleConfig, plan: Plan) -> tuple[int, float, int, int]:
    w = plan.warmup_steps
    s = cfg.warmup.start_factor if cfg.warmup is not None and w > 0 else 0.0
    return w, s, plan.hold_steps, plan.decay_length


def recognize(
    cfg: ScheduleConfig, plan: Plan, design: np.ndarray
) -> tuple[str | None, dict[str, Any], list[str]]:
    """The named HF schedule a design is (``None`` if none), its kwargs, and what HF cannot say.

    ``design``: the design's curve (T, groups), used to recognize lr_lambda expressions by value.
    """
    w, s, h, n = _design_numbers(cfg, plan)
    lr = cfg.optimizer.lr
    out: list[str] = []
    decay, plateau = cfg.decay, cfg.plateau
    if cfg.wsd is not None:
        return _recognize_wsd(cfg, plan, out)
    wsd_like = decay is not None and h > 0
    if w > 0 and s != 0 and not wsd_like:
        out.append(_warmup_start(s))
    if decay is not None and decay.interval == "epoch":
        out.append(
            cannot(TARGET, "decay.interval='epoch'", "Trainer steps its scheduler after every optimizer step")
        )
        return None, {}, out
    if plateau is not None:
        if decay is not None or w > 0:
            out.append(
                cannot(
                    TARGET,
                    "ReduceLROnPlateau together with a warmup or decay",
                    "one lr_scheduler_type per run; reduce_lr_on_plateau has no warmup",
                )
            )
            if decay is None:
                return None, {}, out
        else:
            kw = {
                "mode": plateau.mode,
                "factor": plateau.factor,
                "patience": plateau.patience,
                "threshold": plateau.threshold,
                "threshold_mode": plateau.threshold_mode,
                "cooldown": plateau.cooldown,
                "min_lr": plateau.min_lr,
                "eps": plateau.eps,
            }
            return "reduce_lr_on_plateau", kw, out
    if decay is None:
        return ("constant_with_warmup" if w > 0 else "constant"), {}, out
    kw = decay_kwargs(cfg, plan)
    name = decay.scheduler
    if h > 0:
        floor = None
        dtype = None
        if name == "CosineAnnealingLR":
            floor, dtype = kw["eta_min"] / lr, "cosine"
        elif name == "LinearLR" and kw["start_factor"] == 1.0 and kw["total_iters"] == n:
            floor, dtype = kw["end_factor"], "linear"
        if floor is None:
            out.append(
                cannot(
                    TARGET, f"a hold before {name}", "warmup_stable_decay decays by cosine, linear or 1-sqrt"
                )
            )
            return None, {}, out
        if w > 0 and not close(s, floor):
            out.append(
                cannot(
                    TARGET,
                    f"warmup.start_factor={s:g} with a decay floor of {floor:g}",
                    "warmup_stable_decay warms up from min_lr_ratio",
                )
            )
        wkw: dict[str, Any] = {"num_decay_steps": n, "decay_type": dtype, "min_lr_ratio": floor}
        if dtype == "cosine" and kw["T_max"] != n:
            wkw["num_cycles"] = n / (2 * kw["T_max"])
        return "warmup_stable_decay", wkw, out
    if (
        name == "LinearLR"
        and kw["start_factor"] == 1.0
        and kw["end_factor"] == 0.0
        and kw["total_iters"] == n
    ):
        return "linear", {}, out
    if name == "CosineAnnealingLR":
        hkw: dict[str, Any] = {}
        if kw["T_max"] != n:
            hkw["num_cycles"] = n / (2 * kw["T_max"])
        if kw["eta_min"] == 0:
            return "cosine", hkw, out
        return "cosine_with_min_lr", {"min_lr": kw["eta_min"], **hkw}, out
    if name == "CosineAnnealingWarmRestarts":
        t0, mult, floor = kw["T_0"], kw["T_mult"], kw["eta_min"]
        if mult == 1 and floor == 0:
            # HF's cycle is (k - w) * num_cycles / n: num_cycles = n / T_0 gives cycles of T_0 steps, a
            # whole number when T_0 divides n (to_hf checks the fractional case row by row).
            return "cosine_with_restarts", {"num_cycles": n // t0 if n % t0 == 0 else n / t0}, out
        why = []
        if mult != 1:
            why.append(f"T_mult={mult} (HF cycles have equal length)")
        if floor != 0:
            why.append(f"eta_min={floor:g} (HF restarts decay to 0)")
        if n % t0:
            why.append(f"T_0={t0} does not divide the {n} decay steps (HF has a whole number of cycles)")
        out.append(cannot(TARGET, "this CosineAnnealingWarmRestarts", "; ".join(why)))
        return None, {}, out
    if name == "PolynomialLR" and kw["total_iters"] == n:
        return "polynomial", {"lr_end": 0.0, "power": kw["power"]}, out
    if name == "LambdaLR":
        ts = max(w, 1)
        guess = lr * hf_factor(
            "inverse_sqrt", np.arange(plan.total_steps), w, plan.total_steps, {"timescale": ts}, lr
        )
        if compare(design[:, :1], guess[:, None]) is None:
            return "inverse_sqrt", {"timescale": ts}, out
    out.append(
        cannot(
            TARGET, f"decay.scheduler='{name}' with these arguments", "no named HF schedule has this shape"
        )
    )
    return None, {}, out


def _recognize_wsd(cfg: ScheduleConfig, plan: Plan, out: list[str]) -> tuple[str, dict[str, Any], list[str]]:
    """A ``wsd`` section is ``warmup_stable_decay`` with the same numbers (schedules/design/wsd.py)."""
    ws = cfg.wsd
    assert ws is not None
    w, _, d = ws.lengths(plan.total_steps)
    if w > 0 and ws.warmup_start is not None and not close(ws.warmup_start, ws.min_lr_ratio):
        out.append(
            cannot(
                TARGET,
                f"wsd.warmup_start={ws.warmup_start:g}",
                "warmup_stable_decay warms up from min_lr_ratio",
            )
        )
    if cfg.plateau is not None:
        out.append(cannot(TARGET, "ReduceLROnPlateau together with wsd", "one lr_scheduler_type per run"))
    kw: dict[str, Any] = {
        "num_decay_steps": d,
        "warmup_type": ws.warmup_type,
        "decay_type": ws.decay_type,
        "min_lr_ratio": ws.min_lr_ratio,
    }
    if ws.stable_steps is not None:
        kw["num_stable_steps"] = ws.stable_steps
    return "warmup_stable_decay", kw, out


def _warmup_start(s: float) -> str:
    return cannot(TARGET, f"warmup.start_factor={s:g}", "HF warms up linearly from 0")


def _base_args(cfg: ScheduleConfig, plan: Plan) -> tuple[dict[str, Any], list[str]]:
    t = cfg.training
    out: list[str] = []
    args: dict[str, Any] = {
        "learning_rate": cfg.optimizer.lr,
        "per_device_train_batch_size": t.micro_batch_size,
        "gradient_accumulation_steps": t.accumulation_steps,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps if t.max_steps is not None else -1,
        "dataloader_drop_last": t.drop_last,
        "warmup_steps": plan.warmup_steps,
    }
    opt = cfg.optimizer
    optim = HF_OPTIM.get(opt.name)
    kwargs = dict(opt.kwargs)
    if optim is None and opt.name == "Adam" and not kwargs.get("weight_decay"):
        optim = "adamw_torch"  # Adam without weight decay is AdamW without weight decay
        kwargs["weight_decay"] = 0.0
    if optim is None:
        out.append(
            cannot(
                TARGET,
                f"optimizer.name='{opt.name}'",
                "no TrainingArguments.optim for it; pass your own optimizer to Trainer(optimizers=...)",
            )
        )
    else:
        args["optim"] = optim
    if "weight_decay" in kwargs:
        args["weight_decay"] = kwargs.pop("weight_decay")
    if optim and optim.startswith("adamw"):
        betas = kwargs.pop("betas", None)
        if isinstance(betas, list) and len(betas) == 2:
            args["adam_beta1"], args["adam_beta2"] = betas
        if "eps" in kwargs:
            args["adam_epsilon"] = kwargs.pop("eps")
    for key in kwargs:
        out.append(
            cannot(
                TARGET,
                f"optimizer.kwargs.{key}={kwargs[key]!r}",
                "set it with optim_args or your own optimizer",
            )
        )
    scales = [g.lr_scale for g in opt.groups()]
    if any(sc != 1.0 for sc in scales):
        names = ", ".join(f"{g.name} x{g.lr_scale:g}" for g in opt.groups())
        out.append(cannot(TARGET, f"per-group lr_scale ({names})", "HF uses one learning_rate"))
    if t.world_size > 1:
        out.append(
            cannot(
                TARGET,
                f"training.world_size={t.world_size}",
                f"set by the launcher: run {t.world_size} processes, e.g. torchrun --nproc_per_node {t.world_size}",
            )
        )
    return args, out


def _accounting_warnings(plan: Plan) -> list[str]:
    L, A = plan.micro_batches_per_epoch, plan.accumulation_steps
    if L % A == 0 or plan.max_steps is not None:
        return []
    old = max(L // A, 1)
    return [
        f"transformers < 4.52 counts floor({L}/{A}) = {old} optimizer steps per epoch (4.52+ and this design: "
        f"ceil = {plan.steps_per_epoch}), so it sizes the schedule for {plan.epochs * old} steps while the run "
        f"takes {plan.total_steps}: use transformers >= 4.52 or set max_steps={plan.total_steps}"
    ]


#: Rows the closest-schedule search looks at (evenly spaced; every row for shorter curves).  The
#: exactness check and the reported gap always use every row.
SEARCH_ROWS = 20_000


def hf_candidates(cfg: ScheduleConfig, plan: Plan, design: np.ndarray) -> list[tuple[str, dict[str, Any]]]:
    """Every HF named schedule with the kwargs worth trying for this design, simplest first.

    ``num_cycles`` (cosine, cosine_with_min_lr, cosine_warmup_with_min_lr, cosine_with_restarts, WSD),
    ``power`` and ``lr_end`` (polynomial), ``min_lr`` / ``min_lr_rate``, ``timescale`` (inverse_sqrt)
    and WSD's ``num_decay_steps``, ``decay_type``, ``warmup_type``, ``min_lr_ratio``: a grid plus the
    values read off the design (its decay's ``T_max``, ``T_0``, ``power``, ``eta_min``, final lr).
    ``reduce_lr_on_plateau`` is left to :func:`recognize` (it needs the design's plateau).
    """
    w, total = plan.warmup_steps, plan.total_steps
    span = max(1, total - w)
    lr = cfg.optimizer.lr
    final = float(design[-1])
    kw: dict[str, Any] = {}
    if cfg.decay is not None:
        kw = decay_kwargs(cfg, plan)
    name = cfg.decay.scheduler if cfg.decay is not None else None
    n_design = plan.decay_length

    def uniq(values) -> list[float]:
        out: list[float] = []
        for v in values:
            v = float(v)
            if math.isfinite(v) and v not in out:
                out.append(v)
        return out

    half_cycles = [0.5, 0.25, 0.75, 1.0, 1.5, 2.0]
    if name == "CosineAnnealingLR" and kw.get("T_max"):
        half_cycles.insert(1, n_design / (2 * kw["T_max"]))
        half_cycles.insert(2, span / (2 * kw["T_max"]))
    half_cycles = uniq(half_cycles)
    restarts = list(range(1, 11))
    if name == "CosineAnnealingWarmRestarts" and kw.get("T_0"):
        restarts = [round(n_design / kw["T_0"]) or 1, n_design / kw["T_0"], span / kw["T_0"], *restarts]
    restarts = uniq(restarts)
    rates = uniq(
        [
            0.0,
            *([final / lr] if 0 < final < lr else []),
            *([kw["eta_min"] / lr] if 0 < kw.get("eta_min", 0) < lr else []),
        ]
    )
    powers = uniq([1.0, 2.0, 0.5, 3.0, *([kw["power"]] if name == "PolynomialLR" else [])])
    lr_ends = uniq([0.0, 1e-7 if 1e-7 < lr else 0.0, *([final] if 0 < final < lr else [])])
    timescales = sorted(
        {max(w, 1), 10_000, *(2**i for i in range(0, max(1, int(math.log2(max(total, 2)))) + 2))}
    )

    out: list[tuple[str, dict[str, Any]]] = [
        ("constant_with_warmup" if w else "constant", {}),
        ("linear", {}),
    ]
    out += [("cosine", {} if c == 0.5 else {"num_cycles": c}) for c in half_cycles]
    out += [("cosine_with_restarts", {"num_cycles": int(c) if c == int(c) else c}) for c in restarts]
    for rate in rates:
        if rate > 0:
            out += [
                ("cosine_with_min_lr", {"min_lr_rate": rate, **({} if c == 0.5 else {"num_cycles": c})})
                for c in half_cycles
            ]
    if w > 0:
        out += [("cosine_warmup_with_min_lr", {"min_lr_rate": rate}) for rate in rates]
    out += [("polynomial", {"lr_end": e, "power": pw}) for pw in powers for e in lr_ends if e < lr]
    out += [("inverse_sqrt", {"timescale": int(ts)}) for ts in timescales]
    decays = sorted(
        {d for d in (n_design, span, *(round(span * f) for f in (0.1, 0.2, 0.3, 0.5, 0.8))) if 1 <= d <= span}
    )
    wtypes = ["linear", "cosine", "1-sqrt"] if w > 0 else ["linear"]
    for d in decays:
        for dtype in ("linear", "cosine", "1-sqrt"):
            for rate in rates:
                for wtype in wtypes:
                    wkw: dict[str, Any] = {
                        "num_decay_steps": int(d),
                        "decay_type": dtype,
                        "min_lr_ratio": rate,
                    }
                    if wtype != "linear":
                        wkw["warmup_type"] = wtype
                    out.append(("warmup_stable_decay", wkw))
    return out


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def closest(cfg: ScheduleConfig, plan: Plan, design: np.ndarray) -> tuple[str, dict[str, Any]]:
    """The named schedule (with the design's warmup) nearest the design's first group: least squares
    over :func:`hf_candidates` (on at most :data:`SEARCH_ROWS` evenly spaced rows)."""
    w, total = plan.warmup_steps, plan.total_steps
    lr = cfg.optimizer.lr
    rows = (
        np.arange(total)
        if total <= SEARCH_ROWS
        else np.unique(np.linspace(0, total - 1, SEARCH_ROWS).astype(np.int64))
    )
    target = np.asarray(design, dtype=np.float64)[rows]
    best, best_err = None, math.inf
    for name, kw in hf_candidates(cfg, plan, design):
        with np.errstate(all="ignore"):
            f = lr * hf_factor(name, rows, w, total, kw, lr)
        if not np.isfinite(f).all():
            continue
        err = _rms(f, target)
        if err < best_err:
            best, best_err = (name, kw), err
    assert best is not None
    return best


def to_hf(
    config: ScheduleConfig | dict[str, Any] | str, *, curve: Curve | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``TrainingArguments`` keyword arguments for the design, and what HF cannot express.

    ``TrainingArguments(output_dir=..., **payload)``; ``Trainer`` then builds the schedule with
    ``get_scheduler``.  The curve HF will produce is recomputed from HF's formulas and compared with
    the design, so an empty warning list means the same lr at every optimizer step.
    """
    cfg = load_config(config)
    curve = curve_of(cfg, curve)
    plan = curve.plan
    args, warnings = _base_args(cfg, plan)
    name, kwargs, structural = recognize(cfg, plan, curve.lrs)
    warnings += structural
    if name != "reduce_lr_on_plateau" and (
        name is None or compare(curve.lrs[:, :1], _first_group(args, name, kwargs, cfg, plan)) is not None
    ):
        # Not exactly a named schedule: the closest of every named schedule and its kwargs (the
        # recognized one, e.g. the same shape from a warmup HF cannot start, competes too).
        found = closest(cfg, plan, curve.lrs[:, 0])
        if name is not None:
            lr = cfg.optimizer.lr
            k = np.arange(plan.total_steps)
            mine = _rms(
                lr * hf_factor(name, k, plan.warmup_steps, plan.total_steps, kwargs, lr), curve.lrs[:, 0]
            )
            theirs = _rms(
                lr * hf_factor(found[0], k, plan.warmup_steps, plan.total_steps, found[1], lr),
                curve.lrs[:, 0],
            )
            if theirs < mine:
                name, kwargs = found
        else:
            name, kwargs = found
        warnings.append(f"closest HF schedule: {name}" + (f" {kwargs}" if kwargs else ""))
    args["lr_scheduler_type"] = name
    if kwargs:
        args["lr_scheduler_kwargs"] = kwargs
    if name in ("constant", "reduce_lr_on_plateau"):
        args["warmup_steps"] = 0
    if name == "reduce_lr_on_plateau":
        p = cfg.plateau
        assert p is not None
        if p.eval_every == "epoch":
            args["eval_strategy"] = "epoch"
        else:
            args["eval_strategy"] = "steps"
            args["eval_steps"] = int(p.eval_every)
        args["metric_for_best_model"] = "eval_loss"
        args["greater_is_better"] = p.mode == "max"
        warnings.append(
            cannot(
                TARGET,
                "the ReduceLROnPlateau metric source (plateau.metric)",
                "Trainer passes metric_for_best_model of each evaluation; the design's values are used here only to compare",
            )
        )
    warnings += _accounting_warnings(plan)
    mismatch = compare(curve.lrs, hf_curve(args, cfg, plan))
    if mismatch is not None:
        warnings.append(mismatch.describe("HF"))
    return args, unique(warnings)


def _first_group(
    args: dict[str, Any], name: str, kwargs: dict[str, Any], cfg: ScheduleConfig, plan: Plan
) -> np.ndarray:
    trial = {**args, "lr_scheduler_type": name, "lr_scheduler_kwargs": kwargs}
    if name == "constant":
        trial["warmup_steps"] = 0
    return hf_curve(trial, cfg, plan)[:, :1]


# --------------------------------------------------------------------------------------------------
# import


def from_hf(
    source: str | bytes | dict[str, Any],
    *,
    dataset_size: int | None = None,
    world_size: int | None = None,
    base: ScheduleConfig | dict[str, Any] | str | None = None,
) -> tuple[ScheduleConfig, list[str]]:
    """A design from ``TrainingArguments`` JSON (``args.to_json_string()``, ``to_dict()``, or the
    kwargs you pass), with warnings for what the design could not take over.

    ``TrainingArguments`` has no dataset size and no world size: give them (or a ``base`` design to
    take them from).  The imported curve equals what ``Trainer`` would schedule (checked against
    HF's formulas); a schedule that no torch scheduler class reproduces exactly is imported as a
    ``LambdaLR`` expression of HF's formula.  A document that is not ``TrainingArguments`` (``{}``, a
    DeepSpeed config, a design) is refused with a :class:`ConfigError` saying what it looks like;
    every key the import does not use is named in a warning.
    """
    args = read_json_object(source, "TrainingArguments")
    require_format(args, "hf")
    base_cfg = load_config(base) if base is not None else None
    warnings: list[str] = ignored_hf_keys(args)
    a = {key: args.get(key, default) for key, default in HF_DEFAULTS.items()}
    if dataset_size is None:
        if base_cfg is None:
            raise ConfigError(
                Problem(
                    "dataset_size",
                    "is required: TrainingArguments does not say how many training samples there are",
                    None,
                    has_value=False,
                )
            )
        dataset_size = base_cfg.training.dataset_size
    if world_size is None:
        world_size = base_cfg.training.world_size if base_cfg is not None else 1
    lr = get_number(a, "learning_rate", 5e-5, low=0, high=10)
    b = get_number(a, "per_device_train_batch_size", 8, integer=True, low=1)
    ga = get_number(a, "gradient_accumulation_steps", 1, integer=True, low=1)
    epochs = get_number(a, "num_train_epochs", 3.0, low=0)
    max_steps = get_number(a, "max_steps", -1, integer=True)
    drop_last = bool(a.get("dataloader_drop_last") or False)
    name = a.get("lr_scheduler_type") or "linear"
    if isinstance(name, str) and name.startswith("SchedulerType."):
        name = name.split(".", 1)[1].lower()
    if name not in HF_TYPES:
        raise ConfigError(Problem("lr_scheduler_type", f"must be one of {', '.join(HF_TYPES)}", name))
    kwargs = a.get("lr_scheduler_kwargs") or {}
    if isinstance(kwargs, str):
        kwargs = read_json_object(kwargs, "lr_scheduler_kwargs")
    if not isinstance(kwargs, dict):
        raise ConfigError(Problem("lr_scheduler_kwargs", "must be an object", kwargs))
    for key, value in kwargs.items():  # HF's schedule kwargs are numbers (decay_type: a name)
        ok = isinstance(value, str) or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
        if not ok:
            raise ConfigError(Problem(join_path(["lr_scheduler_kwargs", key]), "must be a number", value))

    training: dict[str, Any] = {
        "dataset_size": int(dataset_size),
        "micro_batch_size": b,
        "accumulation_steps": ga,
        "world_size": int(world_size),
        "epochs": max(1, math.ceil(epochs)),
        "max_steps": max_steps if max_steps > 0 else None,
        "drop_last": drop_last,
    }
    # num_train_epochs may be fractional: Trainer then runs ceil(epochs * S) steps.
    _, per_epoch, _ = accounting(load_config({"training": training}).training)
    if max_steps <= 0 and float(epochs) != int(epochs):
        training["max_steps"] = math.ceil(float(epochs) * per_epoch)
    ws = get_number(a, "warmup_steps", 0, low=0)
    ratio = get_number(a, "warmup_ratio", 0.0, low=0, high=1)
    hf_args = {
        "learning_rate": lr,
        "lr_scheduler_type": name,
        "lr_scheduler_kwargs": kwargs,
        "gradient_accumulation_steps": ga,
        "max_steps": max_steps,
        "num_train_epochs": epochs,
        "warmup_steps": ws,
        "warmup_ratio": ratio,
        "eval_strategy": args.get("eval_strategy") or args.get("evaluation_strategy"),
        "eval_steps": args.get("eval_steps"),
    }
    plan = load_config({"training": training}).plan
    _, total, w = hf_steps(hf_args, plan)
    if w == 0:
        warmup = None
    elif ws >= 1 or (ws == 0 and ratio == 0):
        warmup = {"steps": w, "ratio": None, "start_factor": 0.0}
    else:
        warmup = {"steps": None, "ratio": ws if ws > 0 else ratio, "start_factor": 0.0}
    optimizer = _optimizer_from_hf(a, lr, warnings)
    if base_cfg is not None and base_cfg.optimizer.param_groups:
        warnings.append("per-group lr_scale of the base design dropped: HF uses one learning_rate")

    data: dict[str, Any] = {"name": f"HF {name}", "optimizer": optimizer, "training": training}
    try:
        cfg = load_config({**data, **_native_design(name, kwargs, warmup, w, total, lr, hf_args, warnings)})
        native_ok = (
            name == "reduce_lr_on_plateau" or compare(compute_curve(cfg).lrs, hf_curve(hf_args, cfg)) is None
        )
    except ConfigError:
        native_ok = False
    if not native_ok:
        cfg = load_config({**data, **_expression_design(name, kwargs, w, total, lr)})
        mismatch = compare(compute_curve(cfg).lrs, hf_curve(hf_args, cfg))
        if mismatch is not None:  # pragma: no cover - the expressions mirror HF's formulas
            warnings.append(mismatch.describe("the imported design"))
    return cfg, unique(warnings)


def _optimizer_from_hf(a: dict[str, Any], lr: float, warnings: list[str]) -> dict[str, Any]:
    optim = str(a.get("optim") or "adamw_torch")
    if optim.startswith("OptimizerNames."):
        optim = optim.split(".", 1)[1].lower()
    name = OPTIM_TO_TORCH.get(optim)
    if name is None:
        warnings.append(f"optim='{optim}' has no torch.optim class here: imported as AdamW")
        name = "AdamW"
    kwargs: dict[str, Any] = {"weight_decay": float(a.get("weight_decay") or 0.0)}
    if name == "AdamW":
        kwargs["betas"] = [float(a.get("adam_beta1", 0.9)), float(a.get("adam_beta2", 0.999))]
        kwargs["eps"] = float(a.get("adam_epsilon", 1e-8))
    return {"name": name, "lr": lr, "kwargs": kwargs}


def _native_design(
    name: str,
    kw: dict[str, Any],
    warmup: dict[str, Any] | None,
    w: int,
    total: int,
    lr: float,
    args: dict[str, Any],
    warnings: list[str],
) -> dict[str, Any]:
    """Warmup / decay / plateau sections made of torch scheduler classes (checked afterwards)."""
    n = max(1, total - w)
    if name == "constant":
        if w > 0:
            warnings.append(f"warmup_steps={w} ignored: HF's 'constant' schedule has no warmup")
        return {"warmup": None, "decay": None}
    if name == "constant_with_warmup":
        return {"warmup": warmup, "decay": None}
    if name == "linear":
        return {
            "warmup": warmup,
            "decay": {"scheduler": "LinearLR", "kwargs": {"start_factor": 1.0, "end_factor": 0.0}},
        }
    if name in ("cosine", "cosine_with_min_lr"):
        cycles = float(kw.get("num_cycles", 0.5))
        t_max = n / (2 * cycles) if cycles > 0 else None
        dkw: dict[str, Any] = {}
        if t_max is not None and t_max != n and float(t_max).is_integer():
            dkw["T_max"] = int(t_max)
        if name == "cosine_with_min_lr":
            dkw["eta_min"] = _min_lr_rate(kw, lr) * lr
        return {"warmup": warmup, "decay": {"scheduler": "CosineAnnealingLR", "kwargs": dkw}}
    if name == "cosine_with_restarts":
        cycles = int(kw.get("num_cycles", 1))
        t0 = max(1, n // max(cycles, 1))
        return {
            "warmup": warmup,
            "decay": {
                "scheduler": "CosineAnnealingWarmRestarts",
                "kwargs": {"T_0": t0, "T_mult": 1, "eta_min": 0.0},
            },
        }
    if name == "polynomial":
        return {
            "warmup": warmup,
            "decay": {"scheduler": "PolynomialLR", "kwargs": {"power": float(kw.get("power", 1.0))}},
        }
    if name == "inverse_sqrt":
        ts = kw.get("timescale") or (w or 10_000)
        return {
            "warmup": warmup,
            "decay": {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": f"1 / sqrt((step + {ts}) / {ts})"}},
        }
    if name == "warmup_stable_decay":
        floor = float(kw.get("min_lr_ratio", 0.0))
        decay_steps = int(kw.get("num_decay_steps", n))
        stable = kw.get("num_stable_steps")
        stable = int(stable) if stable is not None else total - w - decay_steps
        dtype = kw.get("decay_type", "cosine")
        if dtype == "cosine":
            decay = {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": floor * lr}}
        elif dtype == "linear":
            decay = {"scheduler": "LinearLR", "kwargs": {"start_factor": 1.0, "end_factor": floor}}
        else:
            decay = {
                "scheduler": "LambdaLR",
                "kwargs": {"lr_lambda": f"{num(floor)} + (1 - {num(floor)}) * (1 - sqrt(step / n))"},
            }
        decay["hold_steps"] = max(0, stable)
        wu = {**warmup, "start_factor": floor} if warmup is not None else None
        return {"warmup": wu, "decay": decay}
    if name == "reduce_lr_on_plateau":
        if w > 0:
            warnings.append(f"warmup_steps={w} ignored: HF's reduce_lr_on_plateau has no warmup")
        every: Any = "epoch"
        strategy = str(args.get("eval_strategy") or "epoch")
        if strategy.endswith("steps") or strategy.endswith("STEPS"):
            every = int(args.get("eval_steps") or 500)
        plateau = {
            k: kw[k]
            for k in (
                "mode",
                "factor",
                "patience",
                "threshold",
                "threshold_mode",
                "cooldown",
                "min_lr",
                "eps",
            )
            if k in kw
        }
        warnings.append(
            "plateau.metric: HF feeds eval_loss from each evaluation; the design uses a synthetic validation "
            "loss until you load a run's values (Run logs page)"
        )
        return {"warmup": None, "decay": None, "plateau": {**plateau, "eval_every": every}}
    # cosine_warmup_with_min_lr: (k + 1) / w warmup has no torch class: an expression throughout.
    return _expression_design(name, kw, w, total, lr)


def _expression_design(name: str, kw: dict[str, Any], w: int, total: int, lr: float) -> dict[str, Any]:
    """The whole schedule as one LambdaLR expression of HF's formula (no warmup section)."""
    return {
        "warmup": None,
        "decay": {
            "scheduler": "LambdaLR",
            "kwargs": {"lr_lambda": hf_expression(name, kw, w, total, lr)},
            "hold_steps": None,
        },
        "plateau": None,
    }


def hf_expression(name: str, kw: dict[str, Any], w: int, total: int, lr: float) -> str:
    """HF's lr factor at optimizer step ``step`` as an ``lr_lambda`` expression (literal numbers)."""
    W, T = w, total
    span = max(1, T - W)
    ramp = f"step / {max(1, W)}"

    def piecewise(after: str, before: str = ramp) -> str:
        return f"({before} if step < {W} else {after})" if W > 0 else f"({after})"

    if name == "constant":
        return "1.0"
    if name == "constant_with_warmup":
        return piecewise("1.0")
    if name == "linear":
        return piecewise(f"max(0.0, ({T} - step) / {span})")
    if name in ("cosine", "cosine_with_min_lr"):
        c = num(float(kw.get("num_cycles", 0.5)))
        f = f"0.5 * (1.0 + cos(pi * {c} * 2.0 * ((step - {W}) / {span})))"
        if name == "cosine_with_min_lr":
            r = num(_min_lr_rate(kw, lr))
            f = f"{f} * (1 - {r}) + {r}"
        return piecewise(f"max(0.0, {f})")
    if name == "cosine_with_restarts":
        c = num(float(kw.get("num_cycles", 1)))
        p = f"((step - {W}) / {span})"
        return piecewise(f"(0.0 if {p} >= 1.0 else max(0.0, 0.5 * (1.0 + cos(pi * (({c} * {p}) % 1.0)))))")
    if name == "polynomial":
        end, power = float(kw.get("lr_end", 1e-7)), float(kw.get("power", 1.0))
        rng = num(lr - end)
        return piecewise(f"({rng} * (1 - (step - {W}) / {T - W}) ** {num(power)} + {num(end)}) / {num(lr)}")
    if name == "inverse_sqrt":
        ts = kw.get("timescale") or (W or 10_000)
        return piecewise(f"1.0 / sqrt((step + {ts - W}) / {ts})")
    if name == "cosine_warmup_with_min_lr":
        r = num(_min_lr_rate(kw, lr))
        c = num(float(kw.get("num_cycles", 0.5)))
        wr = kw.get("warmup_lr_rate")
        up = (
            f"(step + 1.0) / {max(1, W)}"
            if wr is None
            else f"{num(wr)} + (1.0 - {num(wr)}) * step / {max(1, W - 1)}"
        )
        f = f"0.5 * (1.0 + cos(pi * {c} * 2.0 * ((step - {W} + 1.0) / {max(1, T - W)})))"
        return piecewise(f"max(0.0, {f} * (1 - {r}) + {r})", up)
    if name == "warmup_stable_decay":
        floor = num(float(kw.get("min_lr_ratio", 0.0)))
        c = num(float(kw.get("num_cycles", 0.5)))
        nd = int(kw.get("num_decay_steps", span))
        st = kw.get("num_stable_steps")
        st = int(st) if st is not None else T - W - nd
        p = f"(step / {max(1, W)})"
        up = {
            "linear": p,
            "cosine": f"0.5 * (1.0 - cos(pi * {p}))",
            "1-sqrt": f"1.0 - sqrt(1.0 - {p})",
        }[kw.get("warmup_type", "linear")]
        q = f"((step - {W + st}) / {max(1, nd)})"
        down = {
            "linear": f"1.0 - {q}",
            "cosine": f"0.5 * (1.0 + cos(pi * {c} * 2.0 * {q}))",
            "1-sqrt": f"1.0 - sqrt({q})",
        }[kw.get("decay_type", "cosine")]
        up_f = f"max(0.0, ({up}) * (1.0 - {floor}) + {floor})"
        down_f = f"max(0.0, ({down}) * (1.0 - {floor}) + {floor})"
        return (
            f"({up_f} if step < {W} else (1.0 if step < {W + st} else "
            f"({down_f} if step < {W + st + nd} else {floor})))"
        )
    raise ConfigError(Problem("lr_scheduler_type", f"cannot be imported: {name}", name))
