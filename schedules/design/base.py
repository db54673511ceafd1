"""The ground of the design: the caps every valid design stays under, and the strict base model.

The caps keep every valid design cheap to draw and safe to serve (docs/limits-and-security.md); the
quoted ranges in error messages come from them.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

FORMAT = "lr-schedule/v1"

#: Hard caps that keep every valid config cheap to draw and safe to serve.
MAX_TOTAL_STEPS = 2_000_000
MAX_PARAM_GROUPS = 32
MAX_METRIC_VALUES = 100_000
MAX_NAME_CHARS = 200
MAX_EXPRESSION_CHARS = 500
MAX_MILESTONES = 1_000
#: Most stages of a batch ramp (``training.batch_ramp``).
MAX_RAMP_STAGES = 64
#: Largest config file accepted (uploads, CLI, API): a design is a small JSON document.
MAX_CONFIG_BYTES = 1_000_000
#: Smallest nonzero start factor: LinearLR's recursive form divides by it.
MIN_FACTOR = 1e-6
#: Most lrs one curve records: total optimizer steps x param groups (2,000,000 steps x 2 groups, or
#: 125,000 steps x 32 groups).
MAX_CURVE_CELLS = 4_000_000
#: Most plateau evaluations one curve records (``total_steps / eval_every``): each is a Python
#: record (about 230 bytes, plus about 430 for the reduction event it may cause), so 2,000,000 steps
#: evaluated at every step held over 1 GB.  200,000 keep that under about 130 MB, like the lrs.
MAX_EVALUATIONS = 200_000


class StrictModel(BaseModel):
    """Strict JSON-like model: no coercion, no unknown keys, no NaN or infinity."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_default=False)


JsonScalar = bool | int | float | str | None
JsonValue = JsonScalar | list[JsonScalar]


def is_finite_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
