"""Schedule-free AdamW / SGD (Defazio et al. 2024, "The Road Less Scheduled"; the ``schedulefree``
package): no lr decay to design, so this shows what it does instead.

Per optimizer step ``k`` (0-based) the package's ``AdamWScheduleFree`` / ``SGDScheduleFree`` compute

    step size    lr_k  = lr * min(1, (k + 1) / warmup_steps)          (its own linear warmup)
    weight       w_k   = (k + 1)^r * max(lr_0 .. lr_k)^weight_lr_power
    averaging    c_k   = w_k / (w_0 + ... + w_k)

and move the averaged iterate ``x`` toward the new point ``z`` by ``c_k``: with the defaults (r = 0,
weight_lr_power = 2) ``c_k = 1 / (k + 1 - warmup-weighted)``, a uniform average after warmup that
plays the part of a decay.  The gradient is taken at an interpolation ``y`` of ``x`` and ``z``
(``beta1`` / momentum), so the training loop must call ``optimizer.train()`` before training steps
and ``optimizer.eval()`` before evaluating or saving (the parameters then hold ``x``).

:func:`trace` computes these numbers; ``tests/test_schedule_free.py`` checks them against the
package's own optimizer state (``scheduled_lr``, ``weight_sum``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
import torch

KINDS = {"AdamW": "AdamWScheduleFree", "SGD": "SGDScheduleFree"}
SOURCE = "Defazio et al. 2024, The Road Less Scheduled (schedulefree package)"


#: Optimizer-state keys the live run reads after each step (the package's own bookkeeping).
STATE_KEYS = ("scheduled_lr", "weight_sum")


def available() -> bool:
    """True when the ``schedulefree`` package is installed."""
    try:
        import schedulefree  # noqa: F401
    except ImportError:
        return False
    return True


def trace(
    lr: float, total_steps: int, warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0
) -> pd.DataFrame:
    """Columns ``step``, ``lr`` (the step size the optimizer uses), ``weight`` (``w_k``) and
    ``averaging`` (``c_k``, the fraction of the new point mixed into the averaged iterate)."""
    if total_steps < 1:
        raise ValueError(f"Expected total_steps >= 1, but got {total_steps}")
    k = np.arange(total_steps, dtype=np.float64)
    sched = np.minimum(1.0, (k + 1) / warmup_steps) if warmup_steps > 0 else np.ones_like(k)
    step_lr = lr * sched
    lr_max = np.maximum.accumulate(step_lr)
    weight = (k + 1) ** r * lr_max**weight_lr_power
    total = np.cumsum(weight)
    averaging = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    return pd.DataFrame({"step": k.astype(np.int64), "lr": step_lr, "weight": weight, "averaging": averaging})


def snippet(
    kind: str,
    lr: float,
    warmup_steps: int,
    accumulation_steps: int,
    total_steps: int,
    *,
    micro_batch_size: int = 32,
    kwargs: dict[str, Any] | None = None,
    eval_every: int | None = None,
) -> str:
    """A runnable training loop with the ``optimizer.train()`` / ``optimizer.eval()`` calls in their
    places (model and data are small placeholders marked ``# <-``); ``tests/test_schedule_free_live.py``
    executes it.  ``kwargs``: more arguments of the optimizer (see :func:`optimizer_kwargs`)."""
    cls = KINDS[kind]
    every = eval_every or max(1, total_steps // 3)
    extra = "".join(f", {k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in (kwargs or {}).items())
    return "\n".join(
        [
            f"# Schedule-free {kind} ({SOURCE}): no lr scheduler; warmup is the optimizer's own.",
            "import schedulefree",
            "import torch",
            "",
            "torch.manual_seed(0)",
            "inputs = torch.randn(1024, 10)  # <- your data",
            "targets = inputs @ torch.linspace(-1, 1, 10).unsqueeze(1) + 0.1 * torch.randn(1024, 1)",
            "data = torch.utils.data.TensorDataset(inputs, targets)",
            f"loader = torch.utils.data.DataLoader(data, batch_size={micro_batch_size}, shuffle=True)",
            "model = torch.nn.Linear(10, 1)  # <- your model",
            "loss_fn = torch.nn.MSELoss(reduction='sum')  # <- your loss, summed: divided by the step's samples",
            "",
            "",
            "def evaluate():  # <- your validation",
            "    with torch.no_grad():",
            "        return float(loss_fn(model(inputs), targets)) / len(inputs)",
            "",
            "",
            "def forever(loader):  # micro-batches, epoch after epoch",
            "    while True:",
            "        yield from loader",
            "",
            "",
            f"optimizer = schedulefree.{cls}(model.parameters(), lr={lr!r}, warmup_steps={warmup_steps}{extra})",
            "batches = forever(loader)",
            f"for step in range({total_steps}):  # optimizer steps",
            "    model.train()",
            "    optimizer.train()  # parameters at y, where the gradient is taken",
            f"    window = [next(batches) for _ in range({accumulation_steps})]  # micro-batches of this step",
            "    samples = sum(len(x) for x, _ in window)  # a short micro-batch at an epoch's end counts less",
            "    loss = 0.0",
            "    for x, y in window:",
            "        part = loss_fn(model(x), y) / samples  # each sample weighs the same",
            "        part.backward()",
            "        loss += part.item()",
            "    optimizer.step()",
            "    optimizer.zero_grad()",
            "",
            f"    if (step + 1) % {every} == 0:",
            "        model.eval()",
            "        optimizer.eval()  # parameters at x, the averaged iterate: evaluate and save this",
            f'        print(f"step {{step + 1}}/{total_steps}: training loss {{loss:.6f}}, validation loss {{evaluate():.6f}}")',
            "",
            "model.eval()",
            "optimizer.eval()  # before saving the final weights",
            "torch.save(model.state_dict(), 'model.pt')",
        ]
    )


def optimizer_kwargs(kind: str, design_kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The design's optimizer kwargs that the schedule-free class takes (``betas``, ``eps``,
    ``weight_decay``; ``momentum`` for SGD), and the names left out.

    ``lr`` and ``warmup_steps`` come from the design's lr and warmup, not from here.  SGD's momentum
    must be in (0, 1) for ``SGDScheduleFree`` (it interpolates with it): a design's momentum 0 (plain
    SGD) is left out, so the package's default 0.9 applies.
    """
    import schedulefree

    cls = getattr(schedulefree, KINDS[kind])
    accepted = set(inspect.signature(cls.__init__).parameters) - {
        "self",
        "params",
        "lr",
        "warmup_steps",
        "foreach",
    }
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in design_kwargs.items():
        if key not in accepted or (key == "momentum" and not 0 < float(value) < 1):
            dropped.append(key)
            continue
        kept[key] = tuple(value) if key == "betas" else value
    return kept, dropped


def make_optimizer(
    kind: str, groups: list[dict[str, Any]], *, warmup_steps: int, kwargs: dict[str, Any] | None = None
) -> torch.optim.Optimizer:
    """``schedulefree.AdamWScheduleFree`` / ``SGDScheduleFree`` over ``groups`` (dicts with ``params``
    and ``lr``: the design's per-group peak lrs), warming its step size up over ``warmup_steps``."""
    import schedulefree

    if kind not in KINDS:
        raise ValueError(f"Expected kind in {sorted(KINDS)}, but got {kind!r}")
    cls = getattr(schedulefree, KINDS[kind])
    return cls(groups, warmup_steps=warmup_steps, **(kwargs or {}))


def step_state(
    optimizer: torch.optim.Optimizer, weight_sum_before: float
) -> tuple[list[float], float, float]:
    """After ``optimizer.step()``: the step size each group used (``scheduled_lr``), and the first
    group's averaging weight ``w_k`` and fraction ``c_k = w_k / sum(w)``, read from the package's state
    (``weight_sum`` grows by ``w_k`` each step)."""
    groups = optimizer.param_groups
    total = float(groups[0]["weight_sum"])
    weight = total - weight_sum_before
    return [float(g["scheduled_lr"]) for g in groups], weight, (weight / total if total > 0 else 0.0)
