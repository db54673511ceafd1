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

import numpy as np
import pandas as pd

KINDS = {"AdamW": "AdamWScheduleFree", "SGD": "SGDScheduleFree"}
SOURCE = "Defazio et al. 2024, The Road Less Scheduled (schedulefree package)"


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


def snippet(kind: str, lr: float, warmup_steps: int, accumulation_steps: int, total_steps: int) -> str:
    """A training loop with the ``optimizer.train()`` / ``optimizer.eval()`` calls in their places."""
    cls = KINDS[kind]
    return "\n".join(
        [
            f"# Schedule-free {kind} ({SOURCE}): no lr scheduler; warmup is the optimizer's own.",
            "import schedulefree",
            "",
            f"optimizer = schedulefree.{cls}(model.parameters(), lr={lr!r}, warmup_steps={warmup_steps})",
            "",
            f"for step in range({total_steps}):  # optimizer steps",
            "    model.train()",
            "    optimizer.train()  # parameters at y, where the gradient is taken",
            f"    for x, y in micro_batches(step):  # {accumulation_steps} per optimizer step",
            f"        (loss_fn(model(x), y) / {accumulation_steps}).backward()",
            "    optimizer.step()",
            "    optimizer.zero_grad()",
            "",
            "    if step % eval_every == 0:",
            "        model.eval()",
            "        optimizer.eval()  # parameters at x, the averaged iterate: evaluate and save this",
            "        evaluate(model)",
            "",
            "model.eval()",
            "optimizer.eval()  # before saving the final weights",
            "torch.save(model.state_dict(), 'model.pt')",
        ]
    )
