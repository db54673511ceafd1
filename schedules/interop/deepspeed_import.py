"""A DeepSpeed config (``ds_config.json``) or its ``scheduler`` block imported as a design.

The imported curve is DeepSpeed's under the engine's stepping
(:func:`schedules.interop.deepspeed.deepspeed_curve`): torch scheduler classes where they reproduce
it (or, with ``exact=False``, the nearest ones), else one ``LambdaLR`` expression of DeepSpeed's
formula (:func:`schedules.interop.deepspeed.ds_expression`).
"""

from __future__ import annotations

import math
from typing import Any

from ..build import load_config
from ..curve import compute_curve
from ..design import ConfigError, Problem, ScheduleConfig
from .common import compare, get_number, read_json_object, unique
from .deepspeed import block_params, deepspeed_curve, ds_expression, scalar, total_num_steps
from .detect import ignored_deepspeed_keys, looks_like, require_format

__all__ = ["from_deepspeed"]


def from_deepspeed(
    source: str | bytes | dict[str, Any],
    *,
    base: ScheduleConfig | dict[str, Any] | str | None = None,
    total_steps: int | None = None,
    exact: bool = True,
    default_total_steps: int | None = None,
) -> tuple[ScheduleConfig, list[str]]:
    """A design from a DeepSpeed config (``ds_config.json``) or its ``scheduler`` block.

    The run length is ``total_steps`` when given; else the block's own ``total_num_steps`` (when
    ``base`` runs within one step of it, ``base``'s length: exports may size it one step off, see the
    module doc); else ``default_total_steps``; else ``base``'s.  The optimizer comes from the
    config's ``optimizer`` block, else ``base``; batch sizes from ``train_micro_batch_size_per_gpu`` /
    ``gradient_accumulation_steps``, else ``base``.  ``exact``: reproduce DeepSpeed's curve at every
    step (a ``LambdaLR`` expression where no torch class does); ``False`` gives the nearest warmup +
    decay made of torch classes, with a warning saying how far it is.  A document that looks like
    another format (HF ``TrainingArguments``, a design) is refused saying so; every top-level key
    the import does not use is named in a warning.
    """
    doc = read_json_object(source, "a DeepSpeed config")
    if looks_like(doc) in ("hf", "design"):
        require_format(doc, "deepspeed")
    block = doc.get("scheduler", doc) if "type" not in doc else doc
    if not isinstance(block, dict) or "type" not in block:
        raise ConfigError(Problem("scheduler", "must be an object with 'type' and 'params'", block))
    kind, p = block_params(block)
    warnings: list[str] = ignored_deepspeed_keys(doc)
    base_cfg = load_config(base) if base is not None else load_config({})
    data = base_cfg.to_dict()
    data.update({"name": f"DeepSpeed {kind}", "warmup": None, "decay": None, "plateau": None})
    data.pop("wsd", None)  # the imported scheduler replaces the base's whole schedule
    training = data["training"]
    if "train_micro_batch_size_per_gpu" in doc:
        training["micro_batch_size"] = get_number(
            doc, "train_micro_batch_size_per_gpu", 1, integer=True, low=1
        )
    if "gradient_accumulation_steps" in doc:
        training["accumulation_steps"] = get_number(
            doc, "gradient_accumulation_steps", 1, integer=True, low=1
        )
    own = total_num_steps(p) if p.get("total_num_steps") is not None else None
    t = total_steps
    if t is None and own is not None:
        t = own
        if base is not None:
            base_total = compute_total(load_config(data))
            if abs(base_total - own) <= 1:
                t = base_total
    if t is None:
        t = default_total_steps
    if t is not None:
        training["max_steps"] = int(
            get_number({"t": t}, "t", None, path="total_num_steps", integer=True, low=1)
        )
    elif base is None:
        warnings.append(
            f"no total_num_steps: the run length is the default design's ({load_config(data).training.epochs} epochs)"
        )

    optimizer = data["optimizer"]
    opt_block = doc.get("optimizer")
    if isinstance(opt_block, dict):
        optimizer.update(_optimizer_from_block(opt_block, warnings))
    lr = _peak(kind, p, optimizer["lr"])
    groups = len(base_cfg.optimizer.groups())
    scales = _group_scales(kind, p, groups, warnings)
    optimizer["lr"] = lr
    if scales is not None and optimizer.get("param_groups"):
        optimizer["param_groups"] = [
            {"name": g["name"], "lr_scale": sc}
            for g, sc in zip(optimizer["param_groups"], scales, strict=True)
        ]
    if kind in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR") and p["warmup_type"] == "log":
        warnings.append(
            "DeepSpeed's 'log' warmup has no torch scheduler class"
            + (": imported as a LambdaLR expression" if exact else ": imported as a linear warmup")
        )
    if kind == "OneCycle" and p.get("cycle_momentum", True):
        warnings.append(
            "OneCycle's momentum cycling (cycle_min_mom .. cycle_max_mom) is not part of a design"
        )
    data["optimizer"] = optimizer
    cfg0 = load_config(data)
    plan_total = compute_total(cfg0)
    target = deepspeed_curve(block, cfg0.optimizer.base_lrs(), plan_total)
    native = _native(kind, p, lr, plan_total)
    cfg = None
    if native is not None:
        try:
            cand = load_config({**data, **native})
            if compare(compute_curve(cand).lrs, target) is None or not exact:
                cfg = cand
        except ConfigError:
            cfg = None
    if cfg is None:
        data["decay"] = {"scheduler": "LambdaLR", "kwargs": {"lr_lambda": ds_expression(block, lr)}}
        cfg = load_config(data)
    mismatch = compare(compute_curve(cfg).lrs, target)
    if mismatch is not None:
        warnings.append(
            mismatch.describe("the imported design").replace(
                "the imported design gives", "the imported design (torch classes) gives"
            )
        )
    return cfg, unique(warnings)


def compute_total(cfg: ScheduleConfig) -> int:

    return cfg.plan.total_steps


def _optimizer_from_block(block: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    kind = str(block.get("type", "AdamW"))
    params = dict(block.get("params") or {})
    names = {"adam": "AdamW", "adamw": "AdamW", "sgd": "SGD", "adagrad": "Adagrad", "lamb": None}
    name = names.get(kind.lower(), kind)
    if kind.lower() == "adam" and params.pop("adam_w_mode", True) is False:
        name = "Adam"
    params.pop("adam_w_mode", None)
    params.pop("torch_adam", None)
    if name is None:
        warnings.append(f"optimizer type '{kind}' has no torch.optim class: imported as AdamW")
        name = "AdamW"
    out: dict[str, Any] = {"name": name}
    if "lr" in params:
        out["lr"] = get_number(params, "lr", None, path="optimizer.params.lr", low=0, high=10)
    kwargs = {
        k: v for k, v in params.items() if k in ("betas", "eps", "weight_decay", "momentum", "nesterov")
    }
    for k in params:
        if k not in kwargs and k != "lr":
            warnings.append(f"optimizer.params.{k} dropped (not a {name} argument)")
    out["kwargs"] = kwargs
    return out


def _peak(kind: str, p: dict[str, Any], lr: float) -> float:
    """The design's base lr for a block: the lr the block peaks at (first group)."""
    if kind in ("WarmupLR", "WarmupDecayLR") and p["warmup_max_lr"] is not None:
        return scalar(p["warmup_max_lr"])
    if kind == "OneCycle" and p["cycle_max_lr"] is not None:
        return float(p["cycle_max_lr"])
    if kind == "LRRangeTest":
        return scalar(p["lr_range_test_min_lr"])
    return float(lr)


def _group_scales(kind: str, p: dict[str, Any], groups: int, warnings: list[str]) -> list[float] | None:
    key = {
        "WarmupLR": "warmup_max_lr",
        "WarmupDecayLR": "warmup_max_lr",
        "LRRangeTest": "lr_range_test_min_lr",
    }.get(kind)
    if key is None or not isinstance(p.get(key), list | tuple):
        return None
    values = [float(v) for v in p[key]]
    if len(values) != groups:
        raise ConfigError(
            Problem(
                f"scheduler.params.{key}",
                f"must have one value per param group of the base design ({groups})",
                values,
            )
        )
    if kind != "LRRangeTest":
        lows = p.get("warmup_min_lr")
        if isinstance(lows, list | tuple) and len({lo / hi for lo, hi in zip(lows, values, strict=True)}) > 1:
            warnings.append(
                "per-group warmup_min_lr / warmup_max_lr ratios differ: the design scales one shape per group"
            )
    return [v / values[0] for v in values]


def _native(kind: str, p: dict[str, Any], lr: float, total: int) -> dict[str, Any] | None:
    """Warmup + decay sections of torch classes nearest the block (natural reading: warmup over
    warmup_num_steps steps from warmup_min_lr)."""
    if kind not in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR"):
        return None
    w = int(p["warmup_num_steps"])
    if kind == "WarmupCosineLR":
        start = float(p["warmup_min_ratio"])
        floor = float(p["cos_min_ratio"]) * lr
    else:
        low = scalar(p["warmup_min_lr"])
        start = low / lr if lr else 0.0
        floor = low
    same = kind == "WarmupLR" and math.isclose(start, 1.0)
    warmup = (
        None
        if (w <= 0 or same)
        else {"steps": max(2, w), "ratio": None, "start_factor": min(max(start, 0.0), 1.0)}
    )
    if kind == "WarmupLR":
        return {"warmup": warmup, "decay": None}
    if kind == "WarmupDecayLR":
        return {
            "warmup": warmup,
            "decay": {
                "scheduler": "LinearLR",
                "kwargs": {"start_factor": 1.0, "end_factor": floor / lr if lr else 0.0},
            },
        }
    return {"warmup": warmup, "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": floor}}}
