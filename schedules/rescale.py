"""Scale-up calculator: the new design when the effective batch changes, under each published rule.

When the micro-batch size, gradient accumulation or world size changes, the effective batch goes from
``B = b * A * W`` to ``B' = b' * A' * W'`` (``kappa = B' / B``) and each rule proposes a new design:

=========  ==============================================  ==================================================
rule       what changes                                    source and limits
=========  ==============================================  ==================================================
linear     ``lr * kappa``                                  Goyal et al. 2017, *Accurate, Large Minibatch SGD:
                                                           Training ImageNet in 1 Hour*: SGD with momentum;
                                                           held up to about 8k images on ImageNet with a
                                                           gradual warmup, breaks down beyond (and above the
                                                           critical batch size, McCandlish et al. 2018).
sqrt       ``lr * sqrt(kappa)``; ``1 - beta_i`` times       Malladi et al. 2022, *On the SDEs and Scaling Rules
           kappa (Adam's ``betas``, RMSprop's ``alpha``);   for Adaptive Gradient Algorithms* (the square-root
           ``eps / sqrt(kappa)``                            SDE rule): Adam/RMSprop family, moderate kappa;
                                                           refused when a ``1 - kappa (1 - beta) <= 0``.
ema        the optimizer's rule (linear for SGD, sqrt      Busbridge et al. 2023, *How to Scale Your EMA*: a
           otherwise) plus a model EMA's momentum          model EMA (Polyak averaging, an EMA teacher) keeps
           ``rho -> rho ** kappa``                          its time horizon in samples.  The EMA is not part
                                                           of a design: its numbers are in the proposal.
timescale  the sqrt rule's lr, betas and eps, and           Wang & Aitchison 2025, *How to set AdamW's weight
           AdamW's ``weight_decay`` so that the EMA         decay as you scale model and dataset size*: AdamW's
           timescale ``tau = 1 / (lr * weight_decay)``     weights are an EMA of updates over ``tau``
           stays the same in epochs:                        iterations; keep ``tau * B / N`` fixed.  AdamW only
           ``wd' = wd * kappa * lr / lr'``                  (decoupled weight decay).
=========  ==============================================  ==================================================

Every length counted in optimizer steps is kept in **samples**: warmup, hold, the WSD lengths, the
decay's explicit lengths (``interval="step"``), ``max_steps`` and a plateau's ``eval_every`` become
``round(steps * B / B')``, so the new warmup ends at the same sample count (exactly when ``B'``
divides it; otherwise within ``B' / 2`` samples, reported).  Absolute lrs in the design (``eta_min``,
``CyclicLR``/``OneCycleLR`` bounds, ``plateau.min_lr``) scale with the peak lr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .build import load_config
from .design import DECAY_KWARGS, ConfigError, Problem, ScheduleConfig
from .design.base import MAX_NAME_CHARS


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    exponent: float  # new lr = lr * kappa ** exponent
    source: str
    limits: str


RULES: dict[str, Rule] = {
    "linear": Rule(
        "linear",
        "Linear scaling rule (SGD)",
        1.0,
        "Goyal et al. 2017, Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
        "For SGD with momentum. Held up to ~8k images per batch on ImageNet with a 5-epoch gradual warmup; "
        "breaks down for larger batches and above the critical batch size (McCandlish et al. 2018).",
    ),
    "sqrt": Rule(
        "sqrt",
        "Square-root scaling rule, SDE form (Adam family)",
        0.5,
        "Malladi et al. 2022, On the SDEs and Scaling Rules for Adaptive Gradient Algorithms",
        "For Adam/AdamW/RMSprop: lr x sqrt(kappa), 1 - beta_i' = kappa (1 - beta_i), eps' = eps / sqrt(kappa) "
        "(applied). Validated for moderate kappa, not far above the critical batch size; impossible once "
        "kappa (1 - beta) >= 1.",
    ),
    "ema": Rule(
        "ema",
        "EMA scaling rule (model EMA momentum)",
        math.nan,  # the optimizer's own rule: linear for SGD, square root otherwise
        "Busbridge et al. 2023, How to Scale Your EMA",
        "A model EMA (Polyak averaging, an EMA teacher) with momentum rho becomes rho ** kappa, so it averages "
        "over the same samples; used together with the optimizer's own rule (here: linear for SGD, the "
        "square-root SDE rule otherwise). The EMA is not part of a design: its new momentum is in the notes.",
    ),
    "timescale": Rule(
        "timescale",
        "AdamW timescale kept in epochs",
        0.5,
        "Wang & Aitchison 2025, How to set AdamW's weight decay as you scale model and dataset size",
        "AdamW's weights are an EMA of its updates with timescale tau = 1 / (lr x weight_decay) iterations; "
        "in epochs tau x B / N. With the square-root SDE rule's lr, weight_decay' = weight_decay x kappa x "
        "lr / lr' keeps it. AdamW only (decoupled weight decay).",
    ),
}

#: The torch defaults the SDE rule scales when a design does not set them.
ADAM_FAMILY = {"Adam", "AdamW", "Adamax", "NAdam", "RAdam"}
DEFAULT_BETAS = (0.9, 0.999)
DEFAULT_EPS = {"RMSprop": 1e-8, "Adagrad": 1e-10, "Adadelta": 1e-6}
DEFAULT_RMSPROP_ALPHA = 0.99
#: torch.optim.AdamW's default weight_decay.
ADAMW_WEIGHT_DECAY = 0.01

#: Optimizers the linear rule is stated for; every other torch.optim class is adaptive here.
SGD_FAMILY = {"SGD", "ASGD"}


def rule_for(optimizer_name: str) -> Rule:
    """The rule the sources state for this optimizer: linear for SGD, square root otherwise."""
    return RULES["linear" if optimizer_name in SGD_FAMILY else "sqrt"]


@dataclass
class Rescaled:
    """A proposal: the new design and the numbers behind it."""

    old: ScheduleConfig
    new: ScheduleConfig
    rule: Rule
    old_batch: int
    new_batch: int
    old_lr: float
    new_lr: float
    old_warmup_steps: int
    new_warmup_steps: int
    old_warmup_samples: int
    new_warmup_samples: int
    notes: list[str] = field(default_factory=list)
    #: Optimizer kwargs the rule changed: name -> (old, new).
    kwargs_changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: The model EMA's momentum (old, new) under the ema rule.
    ema: tuple[float, float] | None = None

    @property
    def kappa(self) -> float:
        return self.new_batch / self.old_batch

    @property
    def lr_exponent(self) -> float:
        return math.log(self.new_lr / self.old_lr) / math.log(self.kappa) if self.kappa != 1 else 0.0

    def summary(self) -> list[str]:
        changed = [f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in self.kwargs_changed.items()]
        return [
            f"effective batch {self.old_batch} -> {self.new_batch} (kappa = {self.kappa:g})",
            f"rule: {self.rule.title}: lr x kappa^{self.lr_exponent:g} [{self.rule.source}]",
            *([f"optimizer kwargs: {'; '.join(changed)}"] if changed else []),
            *([f"model EMA momentum {self.ema[0]:.10g} -> {self.ema[1]:.10g}"] if self.ema else []),
            f"peak lr {self.old_lr:.6g} -> {self.new_lr:.6g}",
            f"warmup {self.old_warmup_steps} -> {self.new_warmup_steps} optimizer steps, ending after "
            f"{self.old_warmup_samples} -> {self.new_warmup_samples} samples",
            f"limits: {self.rule.limits}",
            *self.notes,
        ]


def _steps(value: int | None, ratio: float, minimum: int = 0) -> int | None:
    if value is None:
        return None
    return max(minimum, int(round(value * ratio)))


def _warmup_samples(cfg: ScheduleConfig) -> tuple[int, int]:
    """(warmup steps, samples consumed by the end of warmup)."""
    plan = cfg.plan
    w = min(plan.warmup_steps, plan.total_steps)
    return w, (int(plan.samples_array()[w - 1]) if w > 0 else 0)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.10g}" for v in value) + "]"
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def sde_kwargs(name: str, kwargs: dict[str, Any], kappa: float) -> dict[str, tuple[Any, Any]]:
    """The optimizer kwargs the square-root SDE rule (Malladi et al. 2022) changes: ``1 - beta`` times
    ``kappa`` for Adam's ``betas`` (RMSprop's ``alpha``), ``eps / sqrt(kappa)``; torch's defaults are
    written out when the design leaves them unset.  ConfigError naming the kwarg when a new beta would
    be <= 0 (``kappa >= 1 / (1 - beta)``: the SDE approximation has no such optimizer).

    >>> sde_kwargs("AdamW", {"betas": [0.9, 0.999], "eps": 1e-8}, 4.0)["betas"]
    ([0.9, 0.999], [0.6, 0.996])
    """
    out: dict[str, tuple[Any, Any]] = {}
    if kappa == 1:
        return out

    def scaled(beta: float, path: str) -> float:
        new = float(f"{1.0 - kappa * (1.0 - float(beta)):.15g}")  # 0.6, not 0.6000000000000001
        if not new > 0:
            raise ConfigError(
                Problem(
                    path,
                    f"would be {new:.6g} under the square-root SDE rule (1 - kappa (1 - beta) with kappa "
                    f"{kappa:g}); it needs kappa < 1 / (1 - beta) = {1 / (1 - float(beta)):.6g}",
                    beta,
                )
            )
        return new

    if name in ADAM_FAMILY:
        betas = kwargs.get("betas", list(DEFAULT_BETAS))
        if isinstance(betas, list) and len(betas) == 2:
            new = [scaled(b, f"optimizer.kwargs.betas[{i}]") for i, b in enumerate(betas)]
            out["betas"] = (list(betas), new)
    elif name == "RMSprop":
        alpha = kwargs.get("alpha", DEFAULT_RMSPROP_ALPHA)
        out["alpha"] = (alpha, scaled(alpha, "optimizer.kwargs.alpha"))
    if name in ADAM_FAMILY or name in DEFAULT_EPS:
        eps = kwargs.get("eps", DEFAULT_EPS.get(name, 1e-8))
        if isinstance(eps, int | float) and not isinstance(eps, bool):
            out["eps"] = (eps, eps / math.sqrt(kappa))
    return out


def ema_momentum(rho: float, kappa: float) -> float:
    """Busbridge et al. 2023: a model EMA's momentum for a batch ``kappa`` times larger, ``rho ** kappa``.

    >>> round(ema_momentum(0.999, 4), 12)
    0.996005996001
    """
    if not (isinstance(rho, int | float) and 0 <= rho < 1):
        raise ConfigError(Problem("ema_momentum", "must be a number in [0, 1)", rho))
    return float(rho) ** kappa


def adamw_timescale(lr: float, weight_decay: float, batch: int, dataset_size: int) -> tuple[float, float]:
    """AdamW's EMA timescale (Wang & Aitchison 2025): ``(tau_iterations, tau_epochs)`` with
    ``tau_iterations = 1 / (lr * weight_decay)`` and ``tau_epochs = tau_iterations * batch / N``.

    >>> adamw_timescale(1e-3, 0.1, 512, 1_000_000)
    (10000.0, 5.12)
    """
    tau = 1.0 / (lr * weight_decay)
    return tau, tau * batch / dataset_size


def rescale(
    config: ScheduleConfig | dict[str, Any] | str,
    *,
    micro_batch_size: int | None = None,
    accumulation_steps: int | None = None,
    world_size: int | None = None,
    rule: str = "auto",
    ema: float | None = None,
) -> Rescaled:
    """The design for a new effective batch under ``rule`` (``"linear"``, ``"sqrt"``, ``"ema"``,
    ``"timescale"``, or ``"auto"``: linear for SGD, square root otherwise), lengths kept in samples
    (see the module doc).  ``ema``: a model EMA's momentum, for the ema rule (default 0.999).

    Worked example: AdamW at 3e-4, betas (0.9, 0.999), batch 32 x 4 x 1 = 128, warmup 100 steps;
    accumulation 4 -> 16 gives B' = 512, kappa = 4, lr = 3e-4 * sqrt(4) = 6e-4, betas (0.6, 0.996),
    eps 1e-8 / 2, warmup 100 * 128 / 512 = 25 steps: the warmup still ends after 12,800 samples.
    """
    old = load_config(config)
    if rule != "auto" and rule not in RULES:
        raise ConfigError(Problem("rule", f"must be one of auto, {', '.join(RULES)}", rule))
    chosen = rule_for(old.optimizer.name) if rule == "auto" else RULES[rule]
    base = chosen
    if chosen.name == "ema":
        base = rule_for(old.optimizer.name)
    elif chosen.name == "timescale":
        base = RULES["sqrt"]
        if old.optimizer.name != "AdamW":
            raise ConfigError(
                Problem(
                    "optimizer.name",
                    "must be AdamW for the timescale rule (Wang & Aitchison 2025: decoupled weight decay)",
                    old.optimizer.name,
                )
            )
    t = old.training
    new_training = {
        "micro_batch_size": t.micro_batch_size if micro_batch_size is None else micro_batch_size,
        "accumulation_steps": t.accumulation_steps if accumulation_steps is None else accumulation_steps,
        "world_size": t.world_size if world_size is None else world_size,
    }
    for name, value in new_training.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(Problem(f"training.{name}", "must be an integer >= 1", value))
    b0 = t.micro_batch_size * t.accumulation_steps * t.world_size
    b1 = new_training["micro_batch_size"] * new_training["accumulation_steps"] * new_training["world_size"]
    kappa = b1 / b0
    lr_factor = kappa**base.exponent
    ratio = b0 / b1  # steps -> steps keeping samples
    notes: list[str] = []

    data = old.to_dict()
    data["name"] = f"{old.name} (batch {b1}, {chosen.name} rule)"[:MAX_NAME_CHARS]
    data["training"].update(new_training)
    if data["training"]["max_steps"] is not None:
        data["training"]["max_steps"] = _steps(data["training"]["max_steps"], ratio, 1)
    new_lr = old.optimizer.lr * lr_factor
    if not (0 < new_lr <= 10):
        raise ConfigError(
            Problem(
                "optimizer.lr",
                f"would be {new_lr:g} after the {chosen.name} rule, outside (0, 10]",
                old.optimizer.lr,
            )
        )
    data["optimizer"]["lr"] = new_lr
    changed: dict[str, tuple[Any, Any]] = {}
    kw = data["optimizer"]["kwargs"]
    if base.name == "sqrt":
        changed = sde_kwargs(old.optimizer.name, old.optimizer.kwargs, kappa)
        for name, (_, new) in changed.items():
            kw[name] = new
        if "betas" in changed:
            old_b, new_b = changed["betas"]
            notes.append(
                f"square-root SDE rule (Malladi et al.): betas {_show(old_b)} -> {_show(new_b)}, eps x "
                f"1/sqrt(kappa) = {1 / math.sqrt(kappa):.6g} (applied)"
            )
        elif not changed and kappa != 1:
            notes.append(f"{old.optimizer.name} has no betas or eps the SDE rule scales: only the lr changes")
    ema_pair = None
    if chosen.name == "ema":
        rho = 0.999 if ema is None else ema
        ema_pair = (float(rho), ema_momentum(rho, kappa))
        notes.append(
            f"model EMA momentum {rho:.10g} -> {ema_pair[1]:.10g} (rho ** kappa; set it where the EMA lives)"
        )
    if chosen.name == "timescale":
        wd = old.optimizer.kwargs.get("weight_decay", ADAMW_WEIGHT_DECAY)
        if not (isinstance(wd, int | float) and not isinstance(wd, bool) and wd > 0):
            raise ConfigError(
                Problem(
                    "optimizer.kwargs.weight_decay",
                    "must be > 0 for the timescale rule (tau = 1 / (lr wd))",
                    wd,
                )
            )
        new_wd = float(wd) * kappa * old.optimizer.lr / new_lr
        kw["weight_decay"] = new_wd
        changed["weight_decay"] = (wd, new_wd)
        n = old.training.dataset_size
        _, tau0 = adamw_timescale(old.optimizer.lr, float(wd), b0, n)
        _, tau1 = adamw_timescale(new_lr, new_wd, b1, n)
        notes.append(
            f"AdamW timescale at the peak lr: {tau0:.6g} epochs before and after (weight_decay {_show(wd)} -> "
            f"{_show(new_wd)})"
        )
    w = data.get("warmup")
    if w and w.get("steps") is not None:
        w["steps"] = _steps(w["steps"], ratio)
    d = data.get("decay")
    if d:
        if d.get("hold_steps") is not None:
            d["hold_steps"] = _steps(d["hold_steps"], ratio)
        kw = d["kwargs"]
        if d["interval"] == "step":
            for name in DECAY_KWARGS[d["scheduler"]].length_args + ("step_size_down",):
                value = kw.get(name)
                if isinstance(value, list):
                    kw[name] = sorted({max(1, int(round(v * ratio))) for v in value})
                elif value is not None:
                    kw[name] = _steps(value, ratio, 1)
        elif any(kw.get(n) is not None for n in DECAY_KWARGS[d["scheduler"]].length_args):
            notes.append("decay lengths count epochs (interval='epoch'): kept as they are")
        for name in ("eta_min", "base_lr", "max_lr"):
            value = kw.get(name)
            if isinstance(value, list):
                kw[name] = [v * lr_factor for v in value]
            elif isinstance(value, int | float) and not isinstance(value, bool):
                kw[name] = value * lr_factor
        if d["scheduler"] in ("LambdaLR", "MultiplicativeLR"):
            notes.append("an lr_lambda expression counts steps: check any step numbers written in it")
    ws = data.get("wsd")
    if ws:
        for name, low in (("warmup_steps", 0), ("stable_steps", 0), ("decay_steps", 1)):
            ws[name] = _steps(ws.get(name), ratio, low)
    p = data.get("plateau")
    if p:
        if p["eval_every"] != "epoch":
            p["eval_every"] = _steps(p["eval_every"], ratio, 1)
        p["min_lr"] = (
            [v * lr_factor for v in p["min_lr"]] if isinstance(p["min_lr"], list) else p["min_lr"] * lr_factor
        )
    new = load_config(data)
    ow, os_ = _warmup_samples(old)
    nw, ns = _warmup_samples(new)
    if os_ != ns:
        notes.append(
            f"the old warmup ends after {os_} samples, not a multiple of the new batch {b1}: the new one ends "
            f"after {ns} ({ns - os_:+d} samples)"
        )
    return Rescaled(
        old, new, chosen, b0, b1, old.optimizer.lr, new_lr, ow, nw, os_, ns, notes, changed, ema_pair
    )


def rescale_all(
    config: ScheduleConfig | dict[str, Any] | str, *, ema: float | None = None, **batch: int | None
) -> dict[str, Rescaled | ConfigError]:
    """Every rule's proposal side by side (rule name -> :class:`Rescaled`, or the ConfigError that says
    why the rule does not apply to this design)."""
    out: dict[str, Rescaled | ConfigError] = {}
    for name in RULES:
        try:
            out[name] = rescale(config, rule=name, ema=ema, **batch)
        except ConfigError as exc:
            out[name] = exc
    return out


def peak_timescale(config: ScheduleConfig) -> float | None:
    """AdamW's timescale at the peak lr in epochs (:func:`adamw_timescale` with the design's peak lr,
    weight decay and effective batch after any ramp); None for another optimizer or no weight decay."""
    if config.optimizer.name != "AdamW":
        return None
    wd = config.optimizer.kwargs.get("weight_decay", ADAMW_WEIGHT_DECAY)
    if not (isinstance(wd, int | float) and wd > 0):
        return None
    batch = config.plan.effective_batch
    return adamw_timescale(float(config.optimizer.lr), float(wd), batch, config.training.dataset_size)[1]


def timescale_frame(result: Rescaled):
    """AdamW's timescale over both schedules: ``design`` (old/new), ``step``, ``samples``, ``epochs``,
    ``tau_iterations = 1 / (lr_t * weight_decay)`` and ``tau_epochs = tau_iterations * B_t / N``
    (``B_t`` the step's batch), on one samples axis.  Rows where the lr is 0 are left out (infinite).
    Designs without AdamW's weight decay give an empty frame."""
    import pandas as pd

    from .curve import lr_curve

    frames = []
    for label, cfg in (("old", result.old), ("new", result.new)):
        if cfg.optimizer.name != "AdamW":
            continue
        wd = cfg.optimizer.kwargs.get("weight_decay", ADAMW_WEIGHT_DECAY)
        if not (isinstance(wd, int | float) and wd > 0):
            continue
        f = lr_curve(cfg)[["step", "samples", "lr"]]
        keep = f["lr"].to_numpy() > 0
        batch = cfg.plan.batch_array()[keep]
        f = f[keep]
        tau = 1.0 / (f["lr"].to_numpy() * float(wd))
        n = cfg.training.dataset_size
        frames.append(
            pd.DataFrame(
                {
                    "design": label,
                    "step": f["step"].to_numpy(),
                    "samples": f["samples"].to_numpy(),
                    "epochs": f["samples"].to_numpy() / n,
                    "tau_iterations": tau,
                    "tau_epochs": tau * batch / n,
                }
            )
        )
    cols = ["design", "step", "samples", "epochs", "tau_iterations", "tau_epochs"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def samples_frame(result: Rescaled):
    """Old and new curves on one samples axis: columns ``design`` (old/new), ``step``, ``samples``, ``lr``."""
    import pandas as pd

    from .curve import lr_curve

    frames = []
    for label, cfg in (("old", result.old), ("new", result.new)):
        f = lr_curve(cfg)[["step", "samples", "lr"]]
        f.insert(0, "design", label)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# CLI: python -m schedules rescale CONFIG.json --accumulation-steps 16 -o NEW.json


def _args(p) -> None:
    p.add_argument("config", help="config JSON file (lr-schedule/v1)")
    p.add_argument(
        "--micro-batch-size", type=int, default=None, help="new micro-batch size (default: unchanged)"
    )
    p.add_argument(
        "--accumulation-steps", type=int, default=None, help="new accumulation steps (default: unchanged)"
    )
    p.add_argument("--world-size", type=int, default=None, help="new world size (default: unchanged)")
    p.add_argument(
        "--rule",
        choices=["auto", *RULES],
        default="auto",
        help="linear (SGD, Goyal et al. 2017), sqrt (Adam family, the SDE rule of Malladi et al. 2022), ema "
        "(Busbridge et al. 2023), timescale (AdamW, Wang & Aitchison 2025); auto picks linear or sqrt by optimizer",
    )
    p.add_argument(
        "--ema-momentum",
        type=float,
        default=None,
        metavar="RHO",
        help="a model EMA's momentum, for the ema rule (default 0.999): the proposal gives RHO ** kappa",
    )
    p.add_argument(
        "--all",
        default=None,
        metavar="DIR/",
        help="write every rule's proposal as DIR/<rule>.json (rules that do not apply are named on stderr)",
    )
    p.add_argument("-o", "--output", default=None, help="write the new design JSON here (default: stdout)")
    p.add_argument("--curve", default=None, help="also write old and new curves on a samples axis (CSV)")


def _register() -> None:
    from .command import EXIT_OK, command, write_frame

    @command(
        "rescale",
        "the design for a new effective batch under a scale-up rule (linear, sqrt/SDE, ema, timescale)",
        _args,
    )
    def cmd_rescale(args) -> int:
        import sys
        from pathlib import Path

        batch = {
            "micro_batch_size": args.micro_batch_size,
            "accumulation_steps": args.accumulation_steps,
            "world_size": args.world_size,
        }
        if args.all:
            folder = Path(args.all)
            folder.mkdir(parents=True, exist_ok=True)
            for name, proposal in rescale_all(args.config, ema=args.ema_momentum, **batch).items():
                if isinstance(proposal, ConfigError):
                    for line in proposal.lines():
                        print(f"{name} rule does not apply: {line}", file=sys.stderr)
                    continue
                (folder / f"{name}.json").write_text(proposal.new.to_json() + "\n", encoding="utf-8")
                print(f"{folder / (name + '.json')}: " + "; ".join(proposal.summary()[:4]))
            return EXIT_OK
        result = rescale(args.config, rule=args.rule, ema=args.ema_momentum, **batch)
        text = result.new.to_json() + "\n"
        if args.output:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
            for line in result.summary():
                print(line)
        else:
            sys.stdout.write(text)
            for line in result.summary():
                print(line, file=sys.stderr)
        if args.curve:
            write_frame(samples_frame(result), args.curve)
        return EXIT_OK


_register()
