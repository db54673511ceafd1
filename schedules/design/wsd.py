"""Warmup-stable-decay (WSD) and cosine-to-a-floor, as one ``LambdaLR`` with a small named lambda.

:class:`WSDFactor` is the ``lr_lambda`` ``build_scheduler`` gives a ``torch.optim.lr_scheduler.LambdaLR``
for a config's ``wsd`` section.  It computes, operation for operation, what
``transformers.optimization._get_wsd_scheduler_lambda`` computes (``num_cycles=0.5``), with one
addition: the warmup may start from a factor other than the floor (``warmup_start``).  It pickles as
its numbers, so ``state_dict()`` works.

The ``hf_*`` functions turn transformers' schedule arguments into a design:

==================================================  ================================================
transformers                                        wsd section
==================================================  ================================================
``get_wsd_schedule(w, d, T, warmup_type,            ``warmup_steps=w, decay_steps=d, warmup_type,
decay_type, min_lr_ratio)``                         decay_type, min_lr_ratio`` (stable = T - w - d)
``get_cosine_with_min_lr_schedule_with_warmup``     ``warmup_steps=w, warmup_start=0, decay_steps=T-w,
(``cosine_with_min_lr``)                            decay_type="cosine", min_lr_ratio=min_lr_rate``
``get_cosine_with_min_lr_schedule_with_warmup_      ``warmup_steps=w-1, warmup_start=1/w,
lr_rate`` (``cosine_warmup_with_min_lr``, w >= 1)    decay_steps=T-w``: its warmup ``(k+1)/w`` reaches 1
                                                    one row early and its decay counts from ``k+1``
==================================================  ================================================

Sources: Hu et al. 2024 (MiniCPM, WSD); Hagele et al. 2024, "Scaling Laws and Compute-Optimal Training
Beyond Fixed Training Durations" (the 1-sqrt cooldown); transformers ``optimization.py``.
"""

from __future__ import annotations

import math
from typing import Any

SHAPES = ("linear", "cosine", "1-sqrt")


class WSDFactor:
    """``f(k)``: the factor on the base lr at optimizer step ``k`` (a picklable ``lr_lambda``).

    Example (w=2, s=2, d=2, linear warmup from 0, linear decay to 0.1):

    ====  ====  ====  ====  ====  ====  ====  ====
    k      0     1     2     3     4     5     6
    f(k)  0.0   0.5   1.0   1.0   1.0   0.55  0.1
    ====  ====  ====  ====  ====  ====  ====  ====
    """

    def __init__(
        self,
        warmup_steps: int,
        stable_steps: int,
        decay_steps: int,
        warmup_type: str = "linear",
        decay_type: str = "cosine",
        min_lr_ratio: float = 0.0,
        warmup_start: float | None = None,
    ):
        for name, value in (("warmup_type", warmup_type), ("decay_type", decay_type)):
            if value not in SHAPES:
                raise ValueError(f"Expected {name} in {SHAPES}, but got {value!r}")
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"Expected min_lr_ratio in [0, 1], but got {min_lr_ratio}")
        self.warmup_steps = int(warmup_steps)
        self.stable_steps = int(stable_steps)
        self.decay_steps = int(decay_steps)
        self.warmup_type = warmup_type
        self.decay_type = decay_type
        self.min_lr_ratio = float(min_lr_ratio)
        self.warmup_start = float(min_lr_ratio if warmup_start is None else warmup_start)

    def __call__(self, current_step: int) -> float:
        w, s, d, r = self.warmup_steps, self.stable_steps, self.decay_steps, self.min_lr_ratio
        if current_step < w:
            progress = float(current_step) / float(max(1, w))
            if self.warmup_type == "linear":
                factor = progress
            elif self.warmup_type == "cosine":
                factor = 0.5 * (1.0 - math.cos(math.pi * progress))
            else:
                factor = 1.0 - math.sqrt(1.0 - progress)
            r0 = self.warmup_start
            factor = factor * (1.0 - r0) + r0
            return max(0.0, factor)
        if current_step < w + s:
            return 1.0
        if current_step < w + s + d:
            progress = float(current_step - w - s) / float(max(1, d))
            if self.decay_type == "linear":
                factor = 1.0 - progress
            elif self.decay_type == "cosine":
                factor = 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress))
            else:
                factor = 1.0 - math.sqrt(progress)
            factor = factor * (1.0 - r) + r
            return max(0.0, factor)
        return r

    def __repr__(self) -> str:
        return (
            f"WSDFactor(warmup_steps={self.warmup_steps}, stable_steps={self.stable_steps}, "
            f"decay_steps={self.decay_steps}, warmup_type={self.warmup_type!r}, "
            f"decay_type={self.decay_type!r}, min_lr_ratio={self.min_lr_ratio!r}, "
            f"warmup_start={self.warmup_start!r})"
        )


def wsd_factor(section: Any, total_steps: int) -> WSDFactor:
    """The lambda of a config's ``wsd`` section for a run of ``total_steps`` optimizer steps."""
    w, s, d = section.lengths(total_steps)
    return WSDFactor(
        w,
        max(0, s),
        d,
        section.warmup_type,
        section.decay_type,
        section.min_lr_ratio,
        section.warmup_start,
    )


# --------------------------------------------------------------------------------------------------
# transformers' arguments -> a wsd section


def hf_wsd_section(
    num_warmup_steps: int,
    num_decay_steps: int,
    num_training_steps: int | None = None,
    num_stable_steps: int | None = None,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0.0,
) -> dict[str, Any]:
    """The ``wsd`` section equal to ``transformers.get_wsd_schedule`` with these arguments."""
    if num_training_steps is None and num_stable_steps is None:
        raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
    return {
        "warmup_steps": int(num_warmup_steps),
        "warmup_type": warmup_type,
        "stable_steps": None if num_stable_steps is None else int(num_stable_steps),
        "decay_steps": int(num_decay_steps),
        "decay_type": decay_type,
        "min_lr_ratio": float(min_lr_ratio),
    }


def hf_cosine_with_min_lr_section(
    num_warmup_steps: int, num_training_steps: int, min_lr_rate: float
) -> dict[str, Any]:
    """``get_cosine_with_min_lr_schedule_with_warmup`` (``lr_scheduler_type="cosine_with_min_lr"``)."""
    w, t = int(num_warmup_steps), int(num_training_steps)
    return {
        "warmup_steps": w,
        "warmup_start": 0.0,
        "stable_steps": 0,
        "decay_steps": max(1, t - w),
        "decay_type": "cosine",
        "min_lr_ratio": float(min_lr_rate),
    }


def hf_cosine_warmup_with_min_lr_section(
    num_warmup_steps: int, num_training_steps: int, min_lr_rate: float
) -> dict[str, Any]:
    """``get_cosine_with_min_lr_schedule_with_warmup_lr_rate`` (``"cosine_warmup_with_min_lr"``,
    ``warmup_lr_rate=None``): warmup ``(k + 1) / w`` and a decay counted from ``k + 1``; needs w >= 1."""
    w, t = int(num_warmup_steps), int(num_training_steps)
    if w < 1:
        raise ValueError(
            f"Expected num_warmup_steps >= 1 (its decay starts one step early at 0), but got {w}"
        )
    return {
        "warmup_steps": w - 1,
        "warmup_start": 1.0 / w,
        "stable_steps": 0,
        "decay_steps": max(1, t - w),
        "decay_type": "cosine",
        "min_lr_ratio": float(min_lr_rate),
    }
