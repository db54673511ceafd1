"""What HF ``Trainer`` does with ``TrainingArguments``: its named schedules and its step accounting.

:func:`hf_factor` restates each schedule ``transformers.get_scheduler`` builds (transformers 5.x),
vectorized over the optimizer step, and :func:`hf_expression` writes the same formula as an
``lr_lambda`` expression; :func:`hf_steps` is ``Trainer``'s step accounting and :func:`hf_curve` the
lr it gives every param group at every optimizer step (it steps the scheduler once per optimizer
step).  The export (:mod:`schedules.interop.hf_export`) and the import
(:mod:`schedules.interop.hf_import`) are both checked against :func:`hf_curve`.

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

from ..build import MetricFeed, quiet_scheduler_warnings, torch_optimizer_settings
from ..design import ConfigError, Plan, Problem, ScheduleConfig
from .common import num

__all__ = [
    "HF_DEFAULTS",
    "HF_TYPES",
    "hf_curve",
    "hf_optimizer",
    "hf_expression",
    "hf_factor",
    "hf_steps",
    "min_lr_rate",
    "wsd_phases",
]

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
            rate = min_lr_rate(kwargs, lr_init)
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
        rate = min_lr_rate(kwargs, lr_init)
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


def min_lr_rate(kwargs: dict[str, Any], lr_init: float) -> float:
    """The floor of the ``*_with_min_lr`` schedules as a fraction of ``lr_init``: ``min_lr / lr_init``
    or ``min_lr_rate`` (exactly one of them must be set, as in transformers)."""
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


def wsd_phases(kwargs: dict[str, Any], warmup: int, total: int) -> tuple[int, int]:
    """``warmup_stable_decay``'s ``(decay, stable)`` steps: ``num_decay_steps`` (default: all the steps
    after the warmup), and ``num_stable_steps``, else the steps left after the warmup and the decay
    (transformers' ``get_wsd_schedule``)."""
    decay = int(kwargs.get("num_decay_steps", max(1, total - warmup)))
    stable = kwargs.get("num_stable_steps")
    return decay, int(stable) if stable is not None else total - warmup - decay


def _wsd_factor(k: np.ndarray, warmup: int, total: int, kwargs: dict[str, Any]) -> np.ndarray:
    if kwargs.get("num_decay_steps") is None:
        raise ConfigError(
            Problem("lr_scheduler_kwargs.num_decay_steps", "is required by warmup_stable_decay", None, False)
        )
    decay, stable = wsd_phases(kwargs, warmup, total)
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
# the optimizer Trainer builds

#: TrainingArguments.optim -> the torch class transformers 5.x builds (trainer_optimizer.py handlers).
HF_OPTIM_CLASSES = {
    "adamw_torch": "AdamW",
    "adamw_torch_fused": "AdamW",
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
}
#: The ``optim_args`` keys each handler reads (the rest are ignored): numbers, and the booleans.
HF_OPTIM_ARGS = {
    "sgd": (("momentum", "dampening", "weight_decay"), ("nesterov",)),
    "adagrad": (("lr_decay", "weight_decay", "eps"), ()),
    "rmsprop": (("momentum", "alpha", "eps", "weight_decay"), ("centered",)),
}


def hf_optimizer(args: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """The optimizer ``Trainer`` builds from ``TrainingArguments(**args)`` (transformers 5.x,
    ``Trainer.create_optimizer`` and ``get_optimizer_cls_and_kwargs``): the torch class, and the
    effective settings of its two param groups, the parameters weight decay applies to and the
    biases and normalization weights (``get_decay_parameter_names``), whose ``weight_decay`` is 0.0.
    ``adamw_torch`` takes ``adam_beta1``/``adam_beta2``/``adam_epsilon``; ``sgd``, ``adagrad`` and
    ``rmsprop`` read their keys from ``optim_args`` (``"momentum=0.9,nesterov=True"``); each group's
    ``weight_decay`` is ``args.weight_decay`` (so ``optim_args``' one is overridden).  ``None`` for
    the other ``optim`` values (not modelled here)."""
    optim = args.get("optim", HF_DEFAULTS["optim"])
    cls = HF_OPTIM_CLASSES.get(optim)
    if cls is None:
        return None
    kwargs: dict[str, Any] = {}
    if cls == "AdamW":
        kwargs = {
            "betas": (
                float(args.get("adam_beta1", HF_DEFAULTS["adam_beta1"])),
                float(args.get("adam_beta2", HF_DEFAULTS["adam_beta2"])),
            ),
            "eps": float(args.get("adam_epsilon", HF_DEFAULTS["adam_epsilon"])),
        }
    else:
        given = parse_optim_args(args.get("optim_args"))
        numbers, flags = HF_OPTIM_ARGS[optim]
        kwargs = {k: float(given[k]) for k in numbers if k in given}
        kwargs.update({k: given[k].lower() in ("true", "1", "yes") for k in flags if k in given})
    wd = float(args.get("weight_decay", HF_DEFAULTS["weight_decay"]))
    decay = torch_optimizer_settings(cls, {**kwargs, "weight_decay": wd})
    no_decay = torch_optimizer_settings(cls, {**kwargs, "weight_decay": 0.0})
    return cls, decay, no_decay


def parse_optim_args(text: str | None) -> dict[str, str]:
    """``TrainingArguments.optim_args`` as transformers reads it: ``"a=1, b=2"`` -> ``{"a": "1", "b": "2"}``."""
    if not text:
        return {}
    out = {}
    for item in text.replace(" ", "").split(","):
        key, _, value = item.partition("=")
        out[key] = value
    return out


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
# the same formulas as lr_lambda expressions


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
            r = num(min_lr_rate(kw, lr))
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
        r = num(min_lr_rate(kw, lr))
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
        nd, st = wsd_phases(kw, W, T)
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
