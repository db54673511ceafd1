"""Hugging Face ``TrainingArguments``: export a design as its kwargs.

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
The curve HF will produce is recomputed with HF's formulas (:func:`schedules.interop.hf.hf_curve`)
and compared with the design, so an empty warning list means the same lr at every optimizer step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..build import decay_kwargs, load_config
from ..curve import Curve, curve_of
from ..design import Plan, ScheduleConfig
from ..stacks.hf import training_arguments
from .common import cannot, close, compare, nearest, unique, without_ramp
from .hf import hf_curve, hf_factor

__all__ = ["HF_OPTIM", "SEARCH_ROWS", "closest", "hf_candidates", "recognize", "to_hf"]

TARGET = "HF TrainingArguments"

#: torch.optim class -> TrainingArguments.optim
HF_OPTIM = {"AdamW": "adamw_torch", "SGD": "sgd", "Adagrad": "adagrad", "RMSprop": "rmsprop"}


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
        **training_arguments(t),
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
    return nearest(
        hf_candidates(cfg, plan, design),
        lambda c: lr * hf_factor(c[0], rows, w, total, c[1], lr),
        lambda f: _rms(f, target),
    )


def to_hf(
    config: ScheduleConfig | dict[str, Any] | str, *, curve: Curve | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``TrainingArguments`` keyword arguments for the design, and what HF cannot express.

    ``TrainingArguments(output_dir=..., **payload)``; ``Trainer`` then builds the schedule with
    ``get_scheduler``.  The curve HF will produce is recomputed from HF's formulas and compared with
    the design, so an empty warning list means the same lr at every optimizer step.
    """
    cfg = load_config(config)
    cfg, ramp_notes = without_ramp(cfg, "HF")
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
    warnings += _accounting_warnings(plan) + ramp_notes
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
