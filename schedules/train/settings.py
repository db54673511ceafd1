"""The settings a comparison runs side by side: the design, the same batch split otherwise, the
scheduler mistakes, and the same samples per step on 1 and on 2 processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..build import load_config
from ..design import ScheduleConfig
from .base import BEFORE_OPTIMIZER, CORRECT, PER_MICRO_BATCH, PER_PROCESS


@dataclass(frozen=True)
class Setting:
    """One run of a comparison: a label, a config and a loop variant.

    ``needs_processes``: the setting is about real processes (the 2-process side of "same samples on
    1 and 2 processes", the per-process bug); a live run refuses rather than emulate its ranks."""

    label: str
    config: ScheduleConfig
    variant: str = CORRECT
    needs_processes: bool = False

    @property
    def split(self) -> tuple[int, int]:
        t = self.config.training
        return t.micro_batch_size, t.accumulation_steps


def split_label(micro_batch_size: int, accumulation_steps: int, world_size: int = 1) -> str:
    """``"16x4"`` (micro-batch x accumulation), ``"16x4x2"`` with 2 ranks."""
    label = f"{micro_batch_size}x{accumulation_steps}"
    return label + (f"x{world_size}" if world_size > 1 else "")


def other_split(micro_batch_size: int, accumulation_steps: int) -> tuple[int, int] | None:
    """Another ``(b, A)`` with the same effective batch ``b * A``.

    With accumulation: no accumulation, ``(b * A, 1)``.  Without: a quarter (else a half) of the
    micro-batch accumulated 4 (2) times.  ``None`` when ``b * A == 1``.
    """
    if accumulation_steps > 1:
        return micro_batch_size * accumulation_steps, 1
    for parts in (4, 2):
        if micro_batch_size % parts == 0:
            return micro_batch_size // parts, parts
    if micro_batch_size > 1:
        return 1, micro_batch_size
    return None


def with_split(config: ScheduleConfig, micro_batch_size: int, accumulation_steps: int) -> ScheduleConfig:
    data = config.to_dict()
    data["training"] = {
        **data["training"],
        "micro_batch_size": micro_batch_size,
        "accumulation_steps": accumulation_steps,
    }
    return load_config(data)


def comparison_settings(
    config: ScheduleConfig,
    *,
    design: bool = True,
    same_batch_other_split: bool = False,
    per_micro_batch_bug: bool = False,
    before_optimizer_bug: bool = False,
) -> tuple[list[Setting], list[str]]:
    """The settings to run side by side, and notes on any that cannot be made.

    The per-micro-batch bug only shows with accumulation, so it runs on whichever of the design's
    split and :func:`other_split` accumulates.
    """
    t = config.training
    b, a, w = t.micro_batch_size, t.accumulation_steps, t.world_size
    settings: list[Setting] = []
    notes: list[str] = []
    alt = other_split(b, a)
    if design:
        settings.append(Setting(f"{split_label(b, a, w)} design", config))
    if same_batch_other_split:
        if alt is None:
            notes.append("no other split of an effective batch of 1")
        else:
            settings.append(Setting(f"{split_label(*alt, w)} same batch", with_split(config, *alt)))
    if per_micro_batch_bug:
        if a > 1:
            settings.append(
                Setting(f"{split_label(b, a, w)} bug: sched per micro-batch", config, PER_MICRO_BATCH)
            )
        elif alt is not None:
            settings.append(
                Setting(
                    f"{split_label(*alt, w)} bug: sched per micro-batch",
                    with_split(config, *alt),
                    PER_MICRO_BATCH,
                )
            )
        else:
            notes.append("the per-micro-batch bug needs accumulation (an effective batch > 1)")
    if before_optimizer_bug:
        settings.append(
            Setting(f"{split_label(b, a, w)} bug: sched before optimizer", config, BEFORE_OPTIMIZER)
        )
    return settings, notes


def with_world_size(
    config: ScheduleConfig, world_size: int, micro_batch_size: int | None = None
) -> ScheduleConfig:
    """The config with another ``training.world_size`` (and micro-batch size), validated."""
    data = config.to_dict()
    training = {**data["training"], "world_size": world_size}
    if micro_batch_size is not None:
        training["micro_batch_size"] = micro_batch_size
    data["training"] = training
    return load_config(data)


def distributed_settings(
    config: ScheduleConfig, *, pair: bool = False, per_process_bug: bool = False
) -> tuple[list[Setting], list[str]]:
    """Settings that need 2 processes: the same samples per step on 2 ranks and on 1, and the bug.

    ``pair``: with a design of ``W = 1`` and an even ``b``, ``b/2 x A`` on 2 processes (the design
    itself is the 1-process side); with ``W > 1``, ``W*b x A`` on 1 process (the design is the
    ``W``-process side).  ``per_process_bug``: the design (``W > 1``) or its 2-rank counterpart
    (``W = 1``) with the scheduler stepped once per process per optimizer step.
    """
    t = config.training
    b, a, w = t.micro_batch_size, t.accumulation_steps, t.world_size
    settings: list[Setting] = []
    notes: list[str] = []
    two_ranks: ScheduleConfig | None = config if w > 1 else None
    if w == 1:
        if b % 2 == 0:
            two_ranks = with_world_size(config, 2, b // 2)
        elif pair or per_process_bug:
            notes.append(f"2 processes with the same samples per step need an even micro-batch size, got {b}")
    if pair:
        if w > 1:
            settings.append(
                Setting(f"{split_label(w * b, a)} on 1 process", with_world_size(config, 1, w * b))
            )
        elif two_ranks is not None:
            settings.append(
                Setting(f"{split_label(b // 2, a, 2)} on 2 processes", two_ranks, needs_processes=True)
            )
    if per_process_bug and two_ranks is not None:
        tb = two_ranks.training
        label = split_label(tb.micro_batch_size, a, tb.world_size)
        settings.append(
            Setting(f"{label} bug: sched per process", two_ranks, PER_PROCESS, needs_processes=True)
        )
    return settings, notes
