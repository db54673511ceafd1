"""timm's scheduler factory: the ``timm.scheduler.create_scheduler_v2`` argument set for a design.

timm is not installed here (it requires torchvision, which has no CPU build for this project's
torch); its schedules are re-implemented in :func:`timm_curve` from timm's documented definitions
(``timm/scheduler/*.py``, read in timm 1.0.31), including how ``train.py`` steps them: the
constructor sets the first lr (``warmup_lr`` with a warmup, else the base lr),
``step_update(num_updates)`` runs after every optimizer update and ``step(epoch + 1)`` after every
epoch; a scheduler acts on one of the two (``step_on_epochs``).  So row ``k`` of the curve is
``_get_lr(k)`` per update, or ``_get_lr(k // updates_per_epoch)`` per epoch; every value is
multiplied by a param group's ``lr_scale`` when the group has one (timm's layer-wise lr decay),
which is how a design's ``param_groups[].lr_scale`` is exported.

=============================================  ===============================================
design (warmup linear from ``s * lr``)          ``sched`` (always ``warmup_prefix=True``)
=============================================  ===============================================
no decay                                        ``constant``
``CosineAnnealingLR`` (T_max >= decay length)   ``cosine``, ``min_lr = eta_min``
``CosineAnnealingWarmRestarts`` ``T_mult`` 1     ``cosine``, ``cycle_limit`` cycles, decay 1
``LinearLR`` 1 -> e, ``PolynomialLR``             ``poly`` (``decay_rate`` is the power)
``StepLR``                                      ``step``
``MultiStepLR``                                 ``multistep`` (milestones + 1: timm applies
                                                milestone ``m`` at ``t = m - 1``)
hold + ``CosineAnnealingLR`` / ``LinearLR``      ``wsd`` (``decay_fn`` cosine / linear)
=============================================  ===============================================

Lengths are whole epochs when they divide ``updates_per_epoch``; otherwise the argument set counts
in updates (``updates_per_epoch=1``, every "epoch" one optimizer update), which
``create_scheduler_v2`` takes as it is (timm's ``train.py`` CLI takes epochs only).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from ..build import decay_kwargs, load_config
from ..curve import Curve, curve_of
from ..design import Plan, ScheduleConfig
from .common import cannot, compare, nearest, without_ramp

TARGET = "timm"
TIMM_SCHEDS = ("cosine", "poly", "step", "multistep", "constant", "wsd")

#: create_scheduler_v2 defaults (timm 1.0.31) of the arguments used here.
TIMM_DEFAULTS: dict[str, Any] = {
    "sched": "cosine",
    "num_epochs": 300,
    "decay_epochs": None,
    "decay_milestones": [90, 180, 270],
    "cooldown_epochs": 0,
    "decay_rate": 0.1,
    "min_lr": 0.0,
    "warmup_lr": 1e-5,
    "warmup_epochs": 0,
    "warmup_prefix": False,
    "cycle_mul": 1.0,
    "cycle_decay": 0.1,
    "cycle_limit": 1,
    "k_decay": 1.0,
    "decay_fn": None,
    "step_on_epochs": True,
    "updates_per_epoch": 0,
}


def timm_lr(args: dict[str, Any], base: float, t: np.ndarray) -> np.ndarray:
    """timm's ``_get_lr(t)`` for a base value, for ``create_scheduler_v2(**args)`` (vectorized)."""
    a = {**TIMM_DEFAULTS, **args}
    sched = a["sched"]
    upe = 1 if a["step_on_epochs"] else int(a["updates_per_epoch"])
    t_initial = a["num_epochs"] * upe
    warm = a["warmup_epochs"] * upe
    init = float(a["warmup_lr"])
    t = t.astype(np.float64)
    prefix = bool(a["warmup_prefix"])
    if sched == "wsd":
        prefix = True
    tt = t - warm if prefix else t
    if sched in ("cosine", "poly"):
        ti = float(t_initial)
        if a["cycle_mul"] != 1:
            raise ValueError("cycle_mul != 1 is not modelled")
        i = np.floor(tt / ti)
        t_curr = tt - ti * i
        lr_max = base * float(a["cycle_decay"]) ** i
        lo = float(a["min_lr"])
        if sched == "cosine":
            val = lo + 0.5 * (lr_max - lo) * (1 + np.cos(math.pi * t_curr / ti))
        else:
            val = lo + (lr_max - lo) * (1 - t_curr / ti) ** float(a["decay_rate"])
        after = np.where(i < int(a["cycle_limit"]), val, lo)
    elif sched in ("step", "constant"):
        d_t = (a["decay_epochs"] if a["decay_epochs"] is not None else 90) * upe
        rate = float(a["decay_rate"])
        if sched == "constant":
            d_t, rate = 1, 1.0
        after = base * rate ** np.floor(tt / d_t)
    elif sched == "multistep":
        ms = [m * upe for m in a["decay_milestones"]]
        counts = np.array([bisect.bisect_right(ms, x + 1) for x in tt])
        after = base * float(a["decay_rate"]) ** counts
    elif sched == "wsd":
        t_sched = t_initial if a["warmup_prefix"] else t_initial - warm
        decay_epochs = a["decay_epochs"] if a["decay_epochs"] is not None else 0.2
        d_t = decay_epochs * t_sched if 0 < decay_epochs < 1 else decay_epochs * upe
        d_t = int(round(d_t))
        lo = float(a["min_lr"])
        frac = np.minimum((tt - (t_sched - d_t)) / d_t, 1.0)
        fn = a["decay_fn"] or "1-sqrt"
        if fn == "linear":
            dec = 1.0 - frac
        elif fn == "cosine":
            dec = 0.5 * (1.0 + np.cos(math.pi * frac))
        else:
            dec = 1.0 - np.sqrt(np.clip(frac, 0, None))
        stable = max(base, lo)
        after = np.where(tt - (t_sched - d_t) <= 0, stable, lo + (stable - lo) * dec)
    else:
        raise ValueError(f"sched must be one of {', '.join(TIMM_SCHEDS)}, got {sched!r}")
    if warm:
        ramp = init + t * ((base - init) / warm)
        return np.where(t < warm, ramp, after)
    return after


def timm_curve(args: dict[str, Any], config: ScheduleConfig, plan: Plan) -> np.ndarray:
    """The lr of every param group at every optimizer step under timm, shape (T, groups).

    Groups carry ``lr`` = the optimizer lr and ``lr_scale`` = the design's scale (see module doc).
    """
    k = np.arange(plan.total_steps)
    t = k if not args.get("step_on_epochs", True) else k // plan.steps_per_epoch
    values = timm_lr(args, config.optimizer.lr, t)
    scales = np.asarray([g.lr_scale for g in config.optimizer.groups()])
    return values[:, None] * scales[None, :]


# --------------------------------------------------------------------------------------------------
# export


def _units(lengths: list[int], upe: int) -> tuple[int, bool]:
    """``(updates_per_epoch, whole_epochs)``: the plan's epoch when every length is a multiple."""
    if all(x % upe == 0 for x in lengths):
        return upe, True
    return 1, False


def _mapping(cfg: ScheduleConfig, plan: Plan) -> tuple[dict[str, Any] | None, list[str]]:
    out: list[str] = []
    w, h, n = plan.warmup_steps, plan.hold_steps, plan.decay_length
    lr = cfg.optimizer.lr
    s = cfg.warmup.start_factor if cfg.warmup is not None and w > 0 else 0.0
    decay = cfg.decay
    per_epoch = decay is not None and decay.interval == "epoch"
    if cfg.plateau is not None:
        out.append(
            cannot(
                TARGET,
                "ReduceLROnPlateau",
                "timm's 'plateau' is deprecated, per epoch, without its cooldown / threshold",
            )
        )
    if per_epoch and w > 0:
        out.append(
            cannot(
                TARGET,
                "a per-step warmup before a per-epoch decay",
                "one step_on_epochs for the whole schedule",
            )
        )
    core: dict[str, Any]
    lengths: list[int] = [w]
    if decay is None:
        core = {"sched": "constant", "num_epochs": plan.total_steps - w}
        lengths.append(plan.total_steps - w)
    else:
        kw = decay_kwargs(cfg, plan)
        name = decay.scheduler
        if h > 0:
            if name == "CosineAnnealingLR" and kw["T_max"] == n:
                fn, floor = "cosine", kw["eta_min"]
            elif name == "LinearLR" and kw["start_factor"] == 1.0 and kw["total_iters"] == n:
                fn, floor = "linear", kw["end_factor"] * lr
            else:
                out.append(
                    cannot(
                        TARGET, f"a hold before {name}", "wsd decays by linear, cosine, 1-sqrt, power or exp"
                    )
                )
                return None, out
            core = {"sched": "wsd", "num_epochs": h + n, "decay_epochs": n, "decay_fn": fn, "min_lr": floor}
            lengths += [h + n, n]
        elif name == "CosineAnnealingLR":
            if kw["T_max"] < n:
                out.append(
                    cannot(
                        TARGET,
                        f"CosineAnnealingLR T_max={kw['T_max']} shorter than the decay ({n})",
                        "timm holds min_lr after its cycle",
                    )
                )
            core = {"sched": "cosine", "num_epochs": kw["T_max"], "min_lr": kw["eta_min"], "cycle_limit": 1}
            lengths.append(kw["T_max"])
            _absolute_floor(cfg, kw["eta_min"], out)
        elif name == "CosineAnnealingWarmRestarts" and kw["T_mult"] == 1:
            cycles = -(-n // kw["T_0"])
            core = {
                "sched": "cosine",
                "num_epochs": kw["T_0"],
                "min_lr": kw["eta_min"],
                "cycle_limit": cycles,
                "cycle_decay": 1.0,
                "cycle_mul": 1.0,
            }
            lengths.append(kw["T_0"])
            _absolute_floor(cfg, kw["eta_min"], out)
        elif name == "LinearLR" and kw["start_factor"] == 1.0:
            core = {
                "sched": "poly",
                "num_epochs": kw["total_iters"],
                "decay_rate": 1.0,
                "min_lr": kw["end_factor"] * lr,
            }
            lengths.append(kw["total_iters"])
        elif name == "PolynomialLR":
            core = {
                "sched": "poly",
                "num_epochs": kw["total_iters"],
                "decay_rate": kw["power"],
                "min_lr": 0.0,
            }
            lengths.append(kw["total_iters"])
        elif name == "StepLR":
            core = {
                "sched": "step",
                "decay_epochs": kw["step_size"],
                "decay_rate": kw["gamma"],
                "num_epochs": n,
            }
            lengths += [kw["step_size"], n]
        elif name == "MultiStepLR":
            core = {
                "sched": "multistep",
                "decay_milestones": [m + 1 for m in kw["milestones"]],
                "decay_rate": kw["gamma"],
                "num_epochs": n,
            }
            lengths += [m + 1 for m in kw["milestones"]] + [n]
        else:
            out.append(
                cannot(
                    TARGET,
                    f"decay.scheduler='{name}' with these arguments",
                    "no timm scheduler has this shape",
                )
            )
            return None, out
    core.update({"warmup_epochs": w, "warmup_lr": s * lr, "warmup_prefix": True, "cooldown_epochs": 0})
    if per_epoch:
        core.update({"step_on_epochs": True, "warmup_epochs": 0})
        return core, out
    upe, whole = _units(lengths, plan.steps_per_epoch)
    scale = upe
    for key in ("num_epochs", "warmup_epochs", "decay_epochs"):
        if key in core:
            core[key] = core[key] // scale
    if "decay_milestones" in core:
        core["decay_milestones"] = [m // scale for m in core["decay_milestones"]]
    core.update({"step_on_epochs": False, "updates_per_epoch": upe})
    if not whole:
        out.append(
            f"note: lengths are not whole epochs of {plan.steps_per_epoch} updates, so the timm arguments count "
            "optimizer updates (updates_per_epoch=1): pass them to create_scheduler_v2 as they are"
        )
    return core, out


def _absolute_floor(cfg: ScheduleConfig, eta_min: float, out: list[str]) -> None:
    if eta_min and any(g.lr_scale != 1.0 for g in cfg.optimizer.groups()):
        out.append(
            cannot(
                TARGET,
                "an absolute eta_min with per-group lr_scale",
                "timm multiplies min_lr by each group's lr_scale",
            )
        )


_SEARCH_BASE_KEYS = ("sched", "warmup_prefix", "cycle_limit", "step_on_epochs", "updates_per_epoch")


def _mse(design: np.ndarray, target: np.ndarray) -> float:
    peak = float(np.max(np.abs(design))) or 1.0
    return float(np.mean(((design - target) / peak) ** 2))


def timm_candidates(cfg: ScheduleConfig, plan: Plan, design: np.ndarray) -> list[dict[str, Any]]:
    """Every timm schedule with the arguments worth trying, counted in updates (optimizer steps):
    cosine and poly (``decay_rate`` = power) to 0 or the design's final lr, step (a few
    ``decay_epochs`` x ``decay_rate``), constant, and wsd (``decay_epochs`` fraction x ``decay_fn``),
    each with the design's warmup (linear from ``start_factor`` x lr)."""
    w, total = plan.warmup_steps, plan.total_steps
    s = cfg.warmup.start_factor if cfg.warmup is not None and w > 0 else 0.0
    lr = cfg.optimizer.lr
    n = max(1, total - w)
    final = float(design[-1, 0])
    floors = sorted({0.0, *([final] if 0 < final < lr else [])})
    base = {
        "warmup_epochs": w,
        "warmup_lr": s * lr,
        "warmup_prefix": True,
        "cycle_limit": 1,
        "step_on_epochs": False,
        "updates_per_epoch": 1,
    }
    out: list[dict[str, Any]] = [{"sched": "constant", **base, "num_epochs": n}]
    for lo in floors:
        out.append({"sched": "cosine", **base, "num_epochs": n, "min_lr": lo})
        for rate in (1.0, 2.0, 0.5, 3.0):
            out.append({"sched": "poly", **base, "num_epochs": n, "min_lr": lo, "decay_rate": rate})
        for frac in (0.1, 0.2, 0.5):
            for fn in ("linear", "cosine", "1-sqrt"):
                out.append(
                    {
                        "sched": "wsd",
                        **base,
                        "num_epochs": n,
                        "min_lr": lo,
                        "decay_epochs": frac,
                        "decay_fn": fn,
                    }
                )
    for size in sorted({max(1, n // 4), max(1, n // 3), max(1, n // 2)}):
        for rate in (0.1, 0.5):
            out.append({"sched": "step", **base, "num_epochs": n, "decay_epochs": size, "decay_rate": rate})
    return out


def closest_timm(cfg: ScheduleConfig, plan: Plan, design: np.ndarray) -> dict[str, Any]:
    """The :func:`timm_candidates` entry nearest the design (least squares over every group)."""
    return nearest(
        timm_candidates(cfg, plan, design), lambda a: timm_curve(a, cfg, plan), lambda t: _mse(design, t)
    )


def to_timm(
    config: ScheduleConfig | dict[str, Any] | str, *, curve: Curve | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``create_scheduler_v2`` keyword arguments (without ``optimizer``) for the design, plus the
    param groups to build the optimizer with, and what timm cannot express."""
    cfg = load_config(config)
    cfg, ramp_notes = without_ramp(cfg, "timm")
    curve = curve_of(cfg, curve)
    plan = curve.plan
    args, warnings = _mapping(cfg, plan)
    if args is None or compare(curve.lrs, timm_curve(args, cfg, plan)) is not None:
        found = closest_timm(cfg, plan, curve.lrs)
        if args is None or _mse(curve.lrs, timm_curve(found, cfg, plan)) < _mse(
            curve.lrs, timm_curve(args, cfg, plan)
        ):
            args = found
            warnings.append(
                f"closest timm schedule: {found['sched']} in updates "
                + str({k: v for k, v in found.items() if k not in _SEARCH_BASE_KEYS})
            )
    mismatch = compare(curve.lrs, timm_curve(args, cfg, plan))
    if mismatch is not None:
        warnings.append(mismatch.describe(TARGET))
    payload = {
        "create_scheduler_v2": args,
        "param_groups": [
            {"name": g.name, "lr": cfg.optimizer.lr, "lr_scale": g.lr_scale} for g in cfg.optimizer.groups()
        ],
        "optimizer": {"name": cfg.optimizer.name, "lr": cfg.optimizer.lr, **cfg.optimizer.kwargs},
    }
    return payload, list(dict.fromkeys(warnings + ramp_notes))
