"""Safe lr-lambda expressions for LambdaLR and MultiplicativeLR.

A config can carry ``"lr_lambda": "1 / sqrt(max(step, 1))"``.  It is parsed once and evaluated with
``simpleeval`` over a fixed set of names and math functions: never Python ``eval``, no attribute
access, no imports, no strings.  The callable object is what ``torch.optim.lr_scheduler.LambdaLR``
receives, and it pickles as just its expression and constants (so ``state_dict()`` works).
"""

from __future__ import annotations

import ast
import functools
import math
import threading
from typing import Any

import simpleeval

from .errors import ConfigError, Problem

FUNCTIONS: dict[str, Any] = {
    "cos": math.cos,
    "sin": math.sin,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("step", "n", "total_steps", "warmup_steps")
_LOCAL = threading.local()


@functools.lru_cache(maxsize=256)
def _parsed(expression: str) -> ast.AST:
    return simpleeval.SimpleEval.parse(expression)


class LrExpression:
    """``f(step) -> float`` from an expression in ``step`` and the plan's constants."""

    def __init__(self, expression: str, constants: dict[str, float], path: str = "decay.kwargs.lr_lambda"):
        self.expression = expression
        self.constants = dict(constants)
        self.path = path

    def _evaluator(self, step: int) -> Any:
        # One evaluator per thread and expression, reused across steps (only ``step`` changes).
        cache = _LOCAL.__dict__.setdefault("evaluators", {})
        key = (self.expression, tuple(sorted(self.constants.items())))
        ev = cache.get(key)
        if ev is None:
            if len(cache) > 64:
                cache.clear()
            ev = simpleeval.SimpleEval(functions=FUNCTIONS, names={**CONSTANTS, **self.constants})
            cache[key] = ev
        ev.names["step"] = step
        return ev

    def __call__(self, step: int) -> float:
        try:
            value = self._evaluator(step).eval(self.expression, previously_parsed=_parsed(self.expression))
        except ConfigError:
            raise
        except Exception as exc:  # simpleeval raises many types; all mean "bad expression"
            raise ConfigError(
                Problem(
                    self.path,
                    f"could not be evaluated at step={step} ({type(exc).__name__}: {exc})",
                    self.expression,
                )
            ) from None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(
                Problem(
                    self.path,
                    f"must give a finite number >= 0 at every step; at step={step} it gave {value!r}",
                    self.expression,
                )
            )
        return float(value)


def check_expression(expression: str, constants: dict[str, float], path: str) -> None:
    """Parse ``expression`` and evaluate it at steps 0 and 1; raise ConfigError if it fails."""
    try:
        _parsed(expression)
    except Exception as exc:
        raise ConfigError(
            Problem(path, f"must be a valid expression of {', '.join(VARIABLES)} ({exc})", expression)
        ) from None
    fn = LrExpression(expression, constants, path)
    fn(0)
    fn(1)
