"""A design exported as a DeepSpeed config fragment: ``optimizer``, ``scheduler``, batch sizes.

DeepSpeed's schedulers have fixed shapes and the engine's stepping shifts them by one step (see
:mod:`schedules.interop.deepspeed`): every block that fits the design's shape competes, and the one
whose curve (:func:`schedules.interop.deepspeed.deepspeed_curve`) is nearest the design's is
exported, with warnings for what DeepSpeed cannot express and how far its curve is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..build import decay_kwargs, load_config
from ..curve import Curve, compute_curve, curve_of
from ..design import Plan, ScheduleConfig
from .common import cannot, compare, num, unique, without_ramp
from .deepspeed import deepspeed_curve

__all__ = ["to_deepspeed"]

TARGET = "DeepSpeed"


def _pack(values: np.ndarray) -> float | list[float]:
    vals = [float(v) for v in values]
    return vals[0] if all(v == vals[0] for v in vals) else vals


def _candidates(
    cfg: ScheduleConfig, plan: Plan, final: float | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Scheduler blocks worth trying for a design, and what DeepSpeed cannot express about it.

    ``final``: the design's last lr (first group), a floor worth trying (computed when left out)."""
    out: list[str] = []
    base = np.asarray(cfg.optimizer.base_lrs())
    T, w, h = plan.total_steps, plan.warmup_steps, plan.hold_steps
    s = cfg.warmup.start_factor if cfg.warmup is not None and w > 0 else 1.0
    if cfg.wsd is not None and w > 0:
        s = cfg.wsd.warmup_start if cfg.wsd.warmup_start is not None else cfg.wsd.min_lr_ratio
    decay = cfg.decay
    if decay is not None and decay.interval == "epoch":
        out.append(
            cannot(
                TARGET, "decay.interval='epoch'", "the engine steps the scheduler after every optimizer step"
            )
        )
    if cfg.plateau is not None:
        out.append(cannot(TARGET, "ReduceLROnPlateau", "DeepSpeed has no metric-driven scheduler"))
    if h > 0:
        out.append(cannot(TARGET, _hold_field(cfg, h), "no stable phase between warmup and decay"))
    if cfg.wsd is not None:
        out += _wsd_shapes(cfg.wsd, w)

    def warm(
        kind: str, shift: bool, extra: dict[str, Any], floor: np.ndarray | None = None
    ) -> dict[str, Any]:
        ww = max(w - 1, 0) if shift else w
        start = base * (s + (1 - s) / w) if (shift and w > 0) else base * s
        low = floor if floor is not None else (start if w > 0 else base)
        return {
            "type": kind,
            "params": {
                "warmup_min_lr": _pack(low),
                "warmup_max_lr": _pack(base),
                # DeepSpeed (0.19.8, lr_schedules.py) rejects warmup_num_steps <= 0 and uses max(2, it)
                # anyway: 1 is the same curve as 0 and a config the engine accepts.
                "warmup_num_steps": max(ww, 1),
                "warmup_type": "linear",
                **extra,
            },
        }

    name = decay.scheduler if decay is not None else None
    if w > 0 and name not in ("CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR"):
        out.append(
            cannot(
                TARGET,
                f"a warmup whose first two steps differ ({num(s)}x, then {num(s + (1 - s) / w)}x of the lr)",
                "the engine's first two steps both use warmup_min_lr: the constructor sets it and the first step() returns it",
            )
        )
    blocks: list[dict[str, Any]] = []
    kw = decay_kwargs(cfg, plan) if decay is not None else {}
    if name is None:
        blocks += [warm("WarmupLR", False, {}), warm("WarmupLR", True, {})]
    elif name in ("LinearLR", "PolynomialLR"):
        end = kw.get("end_factor", 0.0) if name == "LinearLR" else 0.0
        if name == "PolynomialLR" and kw["power"] != 1.0:
            out.append(cannot(TARGET, f"PolynomialLR power={kw['power']:g}", "WarmupDecayLR decays linearly"))
        if w > 0 and not math.isclose(s, end):
            out.append(
                cannot(
                    TARGET,
                    f"a warmup from {s:g}x with a decay to {end:g}x",
                    "WarmupDecayLR decays to its warmup_min_lr",
                )
            )
        floor = base * end
        for shift in (False, True):
            for total in sorted({T, max(T - 1, 1)}):
                blocks.append(warm("WarmupDecayLR", shift, {"total_num_steps": total}, floor))
                blocks.append(warm("WarmupDecayLR", shift, {"total_num_steps": total}))
    elif name in ("CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR"):
        eta = float(kw.get("eta_min", 0.0) or 0.0)
        if name != "CosineAnnealingLR":
            out.append(
                cannot(
                    TARGET,
                    f"decay.scheduler='{name}'",
                    "WarmupCosineLR has one cosine, no restarts or cycles",
                )
            )
        ratios = {eta / b for b in base}
        if len(ratios) > 1:
            out.append(
                cannot(
                    TARGET,
                    "an absolute eta_min with per-group lr_scale",
                    "cos_min_ratio is relative to each group",
                )
            )
        c = eta / float(base[0])
        if w > 0:
            out.append(
                cannot(
                    TARGET,
                    "the peak lr at the end of warmup",
                    "WarmupCosineLR's warmup stops one step short of the peak and its cosine starts one step past it",
                )
            )
        else:
            out.append(
                cannot(
                    TARGET, "a cosine without warmup", "WarmupCosineLR always warms up for at least 2 steps"
                )
            )
        for ww in {max(w, 2), max(w - 1, 2)}:
            for total in (T, T + 1, T - 1):
                for r_min in {s if w > 0 else 1.0, (s + (1 - s) / w) if w > 0 else 1.0}:
                    if total > ww:
                        blocks.append(
                            {
                                "type": "WarmupCosineLR",
                                "params": {
                                    "total_num_steps": total,
                                    "warmup_min_ratio": r_min,
                                    "warmup_num_steps": ww,
                                    "cos_min_ratio": c,
                                    "warmup_type": "linear",
                                },
                            }
                        )
    elif name == "CyclicLR" and w == 0:
        lo, hi = np.asarray(_as_list(kw["base_lr"], len(base))), np.asarray(_as_list(kw["max_lr"], len(base)))
        up = int(kw["step_size_up"])
        down = int(kw.get("step_size_down") or up)
        if kw.get("mode", "triangular") != "triangular":
            out.append(cannot(TARGET, f"CyclicLR mode='{kw.get('mode')}'", "OneCycle is a plain triangle"))
        if T > up + down + 1:
            out.append(
                cannot(TARGET, "more than one CyclicLR cycle", "OneCycle holds cycle_min_lr after its cycle")
            )
        if len(set(lo.tolist())) > 1 or len(set(hi.tolist())) > 1:
            out.append(
                cannot(TARGET, "per-group CyclicLR bounds", "OneCycle has one cycle_min_lr and cycle_max_lr")
            )
        if kw.get("cycle_momentum", True):
            out.append(cannot(TARGET, "CyclicLR's momentum cycling", "exported with cycle_momentum false"))
        blocks.append(
            {
                "type": "OneCycle",
                "params": {
                    "cycle_min_lr": float(lo[0]),
                    "cycle_max_lr": float(hi[0]),
                    "cycle_first_step_size": up,
                    "cycle_second_step_size": down,
                    "decay_lr_rate": 0.0,
                    "cycle_momentum": False,
                },
            }
        )
    else:
        out.append(cannot(TARGET, f"decay.scheduler='{name}'", "no DeepSpeed scheduler has this shape"))
    # Every DeepSpeed schedule competes (the export keeps the nearest): the warmup family with the
    # design's warmup, decaying to 0 or to the design's final lr.
    final = float(compute_curve(cfg).lrs[-1, 0]) if final is None else final
    floors = {0.0, *([final / float(base[0])] if 0 < final < float(base[0]) else [])}
    family: list[dict[str, Any]] = [warm("WarmupLR", False, {}), warm("WarmupLR", True, {})]
    for ratio in sorted(floors):
        family.append(warm("WarmupDecayLR", False, {"total_num_steps": T}, base * ratio))
        family.append(
            {
                "type": "WarmupCosineLR",
                "params": {
                    "total_num_steps": T if T > max(w, 2) else max(w, 2) + 1,
                    "warmup_min_ratio": s if w > 0 else 1.0,
                    "warmup_num_steps": max(w, 2),
                    "cos_min_ratio": ratio,
                    "warmup_type": "linear",
                },
            }
        )
    # ... with DeepSpeed's default log warmup too
    family += [{**b, "params": {**b["params"], "warmup_type": "log"}} for b in family]
    blocks += family
    return blocks, out


def _hold_field(cfg: ScheduleConfig, h: int) -> str:
    """The setting that makes the ``h`` steps at the peak: the ``wsd`` section's stable phase (set, or
    inferred as total - warmup - decay) or the decay's hold."""
    if cfg.wsd is not None:
        if cfg.wsd.stable_steps is not None:
            return f"wsd.stable_steps={h}"
        return f"the wsd stable phase of {h} steps (wsd.stable_steps inferred: total - warmup - decay)"
    if cfg.decay is not None and cfg.decay.hold_ratio is not None:
        return f"decay.hold_ratio={cfg.decay.hold_ratio:g} ({h} steps)"
    return f"decay.hold_steps={h}"


def _wsd_shapes(ws: Any, w: int) -> list[str]:
    """What DeepSpeed's schedulers cannot do of a ``wsd`` section's warmup and decay shapes."""
    out: list[str] = []
    if w > 0 and ws.warmup_type != "linear":
        out.append(
            cannot(TARGET, f"wsd.warmup_type='{ws.warmup_type}'", "DeepSpeed warms up linearly or by log")
        )
    if ws.decay_type == "1-sqrt":  # linear and cosine: WarmupDecayLR / WarmupCosineLR when h == 0
        out.append(cannot(TARGET, "wsd.decay_type='1-sqrt'", "no DeepSpeed scheduler has this shape"))
    return out


def _as_list(value: Any, groups: int) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)] * groups


def _distance(design: np.ndarray, target: np.ndarray) -> tuple[int, float]:
    """Rows that differ (0 when exact), then the mean squared difference relative to the peak: the
    block that differs at the fewest optimizer steps, the nearest by least squares among those."""
    mismatch = compare(design, target)
    peak = float(np.max(np.abs(design))) or 1.0
    mse = float(np.mean(((design - target) / peak) ** 2))
    return (0 if mismatch is None else mismatch.rows_differing, mse if math.isfinite(mse) else math.inf)


def to_deepspeed(
    config: ScheduleConfig | dict[str, Any] | str, *, curve: Curve | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A DeepSpeed config fragment (``optimizer``, ``scheduler``, batch sizes) for the design, and
    what DeepSpeed cannot express.  Of the blocks that fit the design's shape, the one whose
    curve (under the engine's stepping) is nearest the design's is returned."""
    cfg = load_config(config)
    cfg, ramp_notes = without_ramp(cfg, TARGET)
    curve = curve_of(cfg, curve)
    plan = curve.plan
    blocks, warnings = _candidates(cfg, plan, float(curve.lrs[-1, 0]))
    lrs = cfg.optimizer.base_lrs()
    best = min(blocks, key=lambda b: _distance(curve.lrs, deepspeed_curve(b, lrs, plan.total_steps)))
    payload: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": cfg.training.micro_batch_size,
        "gradient_accumulation_steps": cfg.training.accumulation_steps,
        "optimizer": _optimizer_block(cfg, warnings),
        "scheduler": best,
    }
    if len(lrs) > 1:
        warnings.append(
            "note: build the optimizer with the design's param groups (lr = optimizer lr x lr_scale) and pass it "
            "to deepspeed.initialize(optimizer=...); the optimizer block sets one lr"
        )
    mismatch = compare(curve.lrs, deepspeed_curve(best, lrs, plan.total_steps))
    if mismatch is not None:
        warnings.append(mismatch.describe(TARGET))
    warnings += ramp_notes
    return payload, unique(warnings)


def _optimizer_block(cfg: ScheduleConfig, warnings: list[str]) -> dict[str, Any]:
    opt = cfg.optimizer
    params: dict[str, Any] = {"lr": opt.lr}
    kwargs = dict(opt.kwargs)
    if opt.name in ("Adam", "AdamW"):
        kind = "AdamW" if opt.name == "AdamW" else "Adam"
        for key in ("betas", "eps", "weight_decay"):
            if key in kwargs:
                params[key] = kwargs.pop(key)
        if opt.name == "Adam":
            params["adam_w_mode"] = False  # DeepSpeed's "Adam" is AdamW unless told otherwise
    elif opt.name in ("SGD", "Adagrad", "Lamb"):
        kind = opt.name
        params.update(kwargs)
        kwargs = {}
    else:
        kind = opt.name
        warnings.append(
            cannot(
                TARGET,
                f"optimizer.name='{opt.name}' as a config block",
                "pass the torch optimizer to deepspeed.initialize(optimizer=...)",
            )
        )
        params.update(kwargs)
        kwargs = {}
    for key, value in kwargs.items():
        warnings.append(
            cannot(TARGET, f"optimizer.kwargs.{key}={value!r}", f"not a parameter of DeepSpeed's {kind}")
        )
    return {"type": kind, "params": params}
