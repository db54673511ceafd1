"""The batch ramp as one line of text for the Designer: ``"256:1000000, 512:3000000"`` is
``training.batch_ramp = [{"batch": 256, "until_samples": 1000000}, {"batch": 512, "until_samples":
3000000}]`` (each stage ``batch:until_samples``).  Pure functions, tested without a running app."""

from __future__ import annotations

import re
from typing import Any

from schedules.design import ConfigError, Problem

PATH = "training.batch_ramp"
EXAMPLE = "256:1000000, 512:3000000"
_STAGE = re.compile(r"^\s*(\d+)\s*[:@]\s*(\d+)\s*$")


def ramp_to_text(stages: list[Any] | None) -> str:
    """``"batch:until, ..."`` of the design's stages ('' without a ramp)."""
    return ", ".join(f"{s.batch}:{s.until_samples}" for s in stages or [])


def text_to_ramp(text: str | None) -> list[dict[str, int]] | None:
    """The stages written in ``text`` (None when empty); ConfigError naming the field otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    stages = []
    for i, part in enumerate(p for p in re.split(r"[,;]", text) if p.strip()):
        m = _STAGE.match(part)
        if m is None:
            raise ConfigError(
                Problem(
                    f"{PATH}[{i}]",
                    f"must be batch:until_samples (whole numbers), e.g. {EXAMPLE}",
                    part.strip(),
                )
            )
        stages.append({"batch": int(m.group(1)), "until_samples": int(m.group(2))})
    return stages
