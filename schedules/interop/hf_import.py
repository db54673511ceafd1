"""Hugging Face ``TrainingArguments`` JSON imported as a design.

The imported curve is what ``Trainer`` schedules (checked against
:func:`schedules.interop.hf.hf_curve`): torch scheduler classes where they reproduce it exactly,
else one ``LambdaLR`` expression of HF's formula (:func:`schedules.interop.hf.hf_expression`).
"""

from __future__ import annotations

import math
from typing import Any

from ..build import load_config
from ..curve import compute_curve
from ..design import ConfigError, Problem, ScheduleConfig, join_path
from ..design.plan import accounting
from .common import compare, get_number, num, read_json_object, unique
from .detect import ignored_hf_keys, require_format
from .hf import HF_DEFAULTS, HF_TYPES, hf_curve, hf_expression, hf_steps, min_lr_rate, wsd_phases

__all__ = ["OPTIM_TO_TORCH", "from_hf"]

#: TrainingArguments.optim -> torch.optim class
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
        if name == "cosine_with_min_lr" and kw.get("min_lr") is None and kw.get("min_lr_rate") is not None:
            dkw["eta_min_ratio"] = float(kw["min_lr_rate"])  # a ratio stays one when the lr changes
        elif name == "cosine_with_min_lr":
            dkw["eta_min"] = min_lr_rate(kw, lr) * lr
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
        _, stable = wsd_phases(kw, w, total)
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
