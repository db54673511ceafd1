"""The small designs the interop tests build: a training section, and a design over it.

Each test file sizes its designs differently (HF: 1,000 samples, accumulation 4; Lightning: 3,000,
accumulation 2; timm: 5,000, accumulation 4), so it takes its own pair::

    _training, _cfg = design_builders(n=1000, b=32, a=4, epochs=3)
    _training(n=5000)                                   # {"training": {...}} for apply_preset
    _cfg(training={"a": 1}, warmup={...}, decay={...})  # the loaded design
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schedules import load_config
from schedules.design import ScheduleConfig


def design_builders(
    n: int, b: int, a: int, epochs: int
) -> tuple[Callable[..., dict[str, Any]], Callable[..., ScheduleConfig]]:
    """``(training, cfg)`` for designs of ``n`` samples in micro-batches of ``b``, ``a``
    accumulation steps and ``epochs`` epochs unless a call says otherwise.

    ``training(n=, b=, a=, epochs=, **more)``: ``{"training": {...}}``, ``more`` being other training
    fields (``max_steps``, ``drop_last`` ...).  ``cfg(training={...}, **sections)``: the design with
    those sections over ``training(**training)``.
    """

    def training(n: int = n, b: int = b, a: int = a, epochs: int = epochs, **more: Any) -> dict[str, Any]:
        return {
            "training": {
                "dataset_size": n,
                "micro_batch_size": b,
                "accumulation_steps": a,
                "epochs": epochs,
                **more,
            }
        }

    def cfg(**sections: Any) -> ScheduleConfig:
        data = training(**sections.pop("training", {}))
        data.update(sections)
        return load_config(data)

    return training, cfg
