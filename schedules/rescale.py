"""Batch-size assistant: a new peak lr (and step counts) when the effective batch changes.

When the micro-batch size, gradient accumulation or world size changes, the effective batch goes from
``B = b * A * W`` to ``B' = b' * A' * W'`` (``kappa = B' / B``) and a rule proposes the new peak lr:

=========  ========================  ==============================================================
rule       new lr                    source and limits
=========  ========================  ==============================================================
linear     ``lr * kappa``            Goyal et al. 2017, *Accurate, Large Minibatch SGD: Training
                                     ImageNet in 1 Hour*: SGD with momentum; held up to about 8k
                                     images on ImageNet with a gradual warmup, breaks down beyond
                                     (and above the critical batch size, McCandlish et al. 2018).
sqrt       ``lr * sqrt(kappa)``      Malladi et al. 2022, *On the SDEs and Scaling Rules for Adaptive
                                     Gradient Algorithms*: Adam/RMSprop family.  The full rule also
                                     sets ``1 - beta = kappa (1 - beta)`` and ``eps / sqrt(kappa)``
                                     (reported, not applied); validated for moderate kappa.
=========  ========================  ==============================================================

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
        "Square-root scaling rule (Adam family)",
        0.5,
        "Malladi et al. 2022, On the SDEs and Scaling Rules for Adaptive Gradient Algorithms",
        "For Adam/AdamW/RMSprop. The full rule also sets 1 - beta_i' = kappa (1 - beta_i) and eps' = eps / "
        "sqrt(kappa) (reported here, not applied); validated for moderate kappa, not far above the critical "
        "batch size.",
    ),
}

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

    @property
    def kappa(self) -> float:
        return self.new_batch / self.old_batch

    def summary(self) -> list[str]:
        return [
            f"effective batch {self.old_batch} -> {self.new_batch} (kappa = {self.kappa:g})",
            f"rule: {self.rule.title}: lr x kappa^{self.rule.exponent:g} [{self.rule.source}]",
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


def rescale(
    config: ScheduleConfig | dict[str, Any] | str,
    *,
    micro_batch_size: int | None = None,
    accumulation_steps: int | None = None,
    world_size: int | None = None,
    rule: str = "auto",
) -> Rescaled:
    """The design for a new effective batch: new peak lr by ``rule`` (``"linear"``, ``"sqrt"`` or
    ``"auto"``: linear for SGD, square root otherwise), lengths kept in samples (see the module doc).

    Worked example: AdamW at 3e-4, batch 32 x 4 x 1 = 128, warmup 100 steps; accumulation 4 -> 16
    gives B' = 512, kappa = 4, lr = 3e-4 * sqrt(4) = 6e-4, warmup 100 * 128 / 512 = 25 steps: the
    warmup still ends after 12,800 samples.
    """
    old = load_config(config)
    if rule != "auto" and rule not in RULES:
        raise ConfigError(Problem("rule", f"must be one of auto, {', '.join(RULES)}", rule))
    chosen = rule_for(old.optimizer.name) if rule == "auto" else RULES[rule]
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
    lr_factor = kappa**chosen.exponent
    ratio = b0 / b1  # steps -> steps keeping samples
    notes: list[str] = []

    data = old.to_dict()
    data["name"] = f"{old.name} (batch {b1}, {chosen.name} rule)"
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
    if chosen.name == "sqrt" and kappa != 1:
        betas = old.optimizer.kwargs.get("betas")
        if isinstance(betas, list) and len(betas) == 2:
            proposed = [max(0.0, 1 - kappa * (1 - float(b))) for b in betas]
            notes.append(
                f"Malladi et al. also scale betas {betas} -> [{proposed[0]:.6g}, {proposed[1]:.6g}] "
                f"and eps by 1/sqrt(kappa) = {1 / math.sqrt(kappa):.6g} (not applied)"
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
    return Rescaled(old, new, chosen, b0, b1, old.optimizer.lr, new_lr, ow, nw, os_, ns, notes)


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
        help="linear (SGD, Goyal et al. 2017), sqrt (Adam family, Malladi et al. 2022); auto picks by optimizer",
    )
    p.add_argument("-o", "--output", default=None, help="write the new design JSON here (default: stdout)")
    p.add_argument("--curve", default=None, help="also write old and new curves on a samples axis (CSV)")
    from .command import mark_outputs

    mark_outputs(p, "output", "curve")


def _register() -> None:
    from .command import EXIT_OK, command, write_frame, write_text

    @command(
        "rescale", "new peak lr and lengths when the effective batch changes (linear / sqrt rule)", _args
    )
    def cmd_rescale(args) -> int:
        import sys

        result = rescale(
            args.config,
            micro_batch_size=args.micro_batch_size,
            accumulation_steps=args.accumulation_steps,
            world_size=args.world_size,
            rule=args.rule,
        )
        text = result.new.to_json() + "\n"
        if args.output:
            write_text(text, args.output)
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
