"""Safe lr-lambda expressions for LambdaLR and MultiplicativeLR.

A config can carry ``"lr_lambda": "1 / sqrt(max(step, 1))"``.  It is parsed once with
``ast.parse(mode="eval")`` (one expression: ``"1; 2"`` is refused), checked against a whitelist of
node types, names and functions, and compiled into a tree of small Python closures: never Python
``eval``, no attribute access, no imports, no strings, no containers.

The language is capped so that one evaluation can never hold the interpreter for long:

* at most :data:`MAX_NODES` syntax nodes and integer literals of at most :data:`MAX_INT_LITERAL`;
* **every value is a float**: integer literals and ``step`` are converted on entry, ``floor``/``ceil``
  give floats, so ``999999**999999`` is a float power (an immediate overflow, refused by name) and
  never a big-integer computation that takes seconds while holding the GIL.  Each operation is one
  C float operation; an evaluation costs O(nodes).

:func:`check_expression` evaluates the expression at *every* step the design will take, vectorised
with numpy (the same tree, numpy operations), and refuses a non-finite or negative factor naming the
step.  The callable :class:`LrExpression` is what ``torch.optim.lr_scheduler.LambdaLR`` receives; it
pickles as just its expression and constants (so ``state_dict()`` works).
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .problems import ConfigError, Problem

#: Most syntax nodes in one expression (``0.5 * (1 + cos(pi * step / n))`` has 15).
MAX_NODES = 200
#: Largest integer literal (larger numbers are written as floats, e.g. ``1e20``).
MAX_INT_LITERAL = 10**15
#: Steps evaluated at once by the vectorised check (bounds its memory: a few MB per chunk).
CHECK_CHUNK = 1 << 16

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
#: Arguments each function takes: (fewest, most).
_ARITY = {"min": (2, 16), "max": (2, 16), "log": (1, 2)}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("step", "n", "total_steps", "warmup_steps")
_NAMES = (*VARIABLES, *CONSTANTS)

_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
)


def _allowed_text() -> str:
    return (
        f"an expression of {', '.join(VARIABLES)} with numbers, + - * / // % **, comparisons, "
        f"'a if cond else b', and {', '.join(FUNCTIONS)}, pi, e"
    )


class _Refused(ValueError):
    """The expression is outside the language (message says what)."""


# --------------------------------------------------------------------------------------------------
# parsing and validation


@functools.lru_cache(maxsize=512)
def _tree(expression: str) -> ast.Expression:
    """The validated syntax tree of ``expression``; :class:`_Refused` with the reason otherwise."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise _Refused(f"must be one valid expression ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError):
        raise _Refused("must be one valid expression") from None
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise _Refused(f"must have at most {MAX_NODES} operations, names and numbers")
        if not isinstance(node, _NODES):
            raise _Refused(f"uses {type(node).__name__}, which is not allowed: {_allowed_text()}")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _Refused(f"uses the constant {v!r}: only numbers are allowed")
            if isinstance(v, int) and abs(v) > MAX_INT_LITERAL:
                raise _Refused(
                    f"has the integer {_short_int(v)}: integers must be at most {MAX_INT_LITERAL:.0e} "
                    "(write larger numbers as floats, e.g. 1e20)"
                )
            if isinstance(v, float) and not math.isfinite(v):
                raise _Refused("uses an infinite number")
        elif isinstance(node, ast.Name) and node.id not in _NAMES and node.id not in FUNCTIONS:
            raise _Refused(f"uses the name '{node.id}', which is not allowed: {_allowed_text()}")
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS or node.keywords:
                shown = name or type(node.func).__name__
                raise _Refused(f"calls '{shown}', which is not allowed: functions are {', '.join(FUNCTIONS)}")
            lo, hi = _ARITY.get(name, (1, 1))
            if not lo <= len(node.args) <= hi:
                want = str(lo) if lo == hi else f"{lo} to {hi}"
                raise _Refused(f"calls {name}() with {len(node.args)} arguments (it takes {want})")
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FUNCTIONS and id(node) not in called:
            raise _Refused(f"uses the function '{node.id}' as a value: call it, e.g. {node.id}(step)")
    return tree


def in_language(expression: str) -> bool:
    """True when ``expression`` is inside the expression language (the check every config passes):
    numbers, the documented names and math functions, within the size limits."""
    try:
        _tree(expression)
    except _Refused:
        return False
    return True


def _short_int(v: int) -> str:
    digits = len(str(abs(v))) if v.bit_length() < 10_000 else int(v.bit_length() * 0.30103) + 1
    return str(v) if digits <= 20 else f"a {digits}-digit number"


# --------------------------------------------------------------------------------------------------
# scalar evaluation: closures over floats


def _pow(a: float, b: float) -> float:
    return math.pow(a, b)  # floats only: OverflowError / ValueError, never a huge integer


def _floor(x: float) -> float:
    return float(math.floor(x))


def _ceil(x: float) -> float:
    return float(math.ceil(x))


_SCALAR_FUNCS: dict[str, Callable[..., float]] = {
    **FUNCTIONS,
    "floor": _floor,
    "ceil": _ceil,
    "abs": lambda x: abs(x),
}
_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _pow,
}
_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
Env = dict[str, float]


def _scalar(node: ast.AST) -> Callable[[Env], float]:
    if isinstance(node, ast.Expression):
        return _scalar(node.body)
    if isinstance(node, ast.Constant):
        value = float(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        name = node.id
        return lambda env: env[name]
    if isinstance(node, ast.BinOp):
        op, left, right = _BIN[type(node.op)], _scalar(node.left), _scalar(node.right)
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.UnaryOp):
        operand = _scalar(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env: -operand(env)
        if isinstance(node.op, ast.UAdd):
            return operand
        return lambda env: float(not operand(env))
    if isinstance(node, ast.BoolOp):
        parts = [_scalar(v) for v in node.values]
        if isinstance(node.op, ast.And):

            def and_(env: Env) -> float:
                value = 0.0
                for p in parts:
                    value = p(env)
                    if not value:
                        return value
                return value

            return and_

        def or_(env: Env) -> float:
            value = 0.0
            for p in parts:
                value = p(env)
                if value:
                    return value
            return value

        return or_
    if isinstance(node, ast.Compare):
        first = _scalar(node.left)
        pairs = [(_CMP[type(o)], _scalar(c)) for o, c in zip(node.ops, node.comparators, strict=True)]

        def compare(env: Env) -> float:
            left = first(env)
            for op, right_fn in pairs:
                right = right_fn(env)
                if not op(left, right):
                    return 0.0
                left = right
            return 1.0

        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = _scalar(node.test), _scalar(node.body), _scalar(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)
    if isinstance(node, ast.Call):
        fn = _SCALAR_FUNCS[node.func.id]  # type: ignore[attr-defined]
        args = [_scalar(a) for a in node.args]
        if len(args) == 1:
            (a0,) = args
            return lambda env: fn(a0(env))
        return lambda env: fn(*[a(env) for a in args])
    raise _Refused(f"uses {type(node).__name__}")  # pragma: no cover - _tree refused it already


@functools.lru_cache(maxsize=512)
def _compiled(expression: str) -> Callable[[Env], float]:
    return _scalar(_tree(expression))


# --------------------------------------------------------------------------------------------------
# vectorised evaluation: the same tree with numpy operations (for checking every step at once)


def _np_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(np.asarray(a, dtype=np.float64), b)


_NP_BIN = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: _np_pow,
}
_NP_CMP = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}


def _np_log(x: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    return np.log(x) if base is None else np.log(x) / np.log(base)


_NP_FUNCS: dict[str, Callable[..., np.ndarray]] = {
    "cos": np.cos,
    "sin": np.sin,
    "exp": np.exp,
    "log": _np_log,
    "sqrt": np.sqrt,
    "min": lambda *a: functools.reduce(np.minimum, a),
    "max": lambda *a: functools.reduce(np.maximum, a),
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
}
NpEnv = dict[str, Any]


def _vector(node: ast.AST) -> Callable[[NpEnv], np.ndarray]:
    if isinstance(node, ast.Expression):
        return _vector(node.body)
    if isinstance(node, ast.Constant):
        value = np.float64(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        name = node.id
        return lambda env: env[name]
    if isinstance(node, ast.BinOp):
        op, left, right = _NP_BIN[type(node.op)], _vector(node.left), _vector(node.right)
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.UnaryOp):
        operand = _vector(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env: np.negative(operand(env))
        if isinstance(node.op, ast.UAdd):
            return operand
        return lambda env: (operand(env) == 0).astype(np.float64)
    if isinstance(node, ast.BoolOp):
        parts = [_vector(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)

        def boolop(env: NpEnv) -> np.ndarray:
            value = parts[-1](env)
            for p in reversed(parts[:-1]):  # a and b: b where a is true, else a (Python's rule)
                first = p(env)
                value = np.where(first != 0, value, first) if is_and else np.where(first != 0, first, value)
            return value

        return boolop
    if isinstance(node, ast.Compare):
        first = _vector(node.left)
        pairs = [(_NP_CMP[type(o)], _vector(c)) for o, c in zip(node.ops, node.comparators, strict=True)]

        def compare(env: NpEnv) -> np.ndarray:
            left = first(env)
            out: Any = True
            for op, right_fn in pairs:
                right = right_fn(env)
                out = np.logical_and(out, op(left, right))
                left = right
            return np.asarray(out, dtype=np.float64)

        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = _vector(node.test), _vector(node.body), _vector(node.orelse)
        return lambda env: np.where(test(env) != 0, body(env), orelse(env))
    if isinstance(node, ast.Call):
        fn = _NP_FUNCS[node.func.id]  # type: ignore[attr-defined]
        args = [_vector(a) for a in node.args]
        return lambda env: fn(*[a(env) for a in args])
    raise _Refused(f"uses {type(node).__name__}")  # pragma: no cover


@functools.lru_cache(maxsize=128)
def _vectorised(expression: str) -> Callable[[NpEnv], np.ndarray]:
    return _vector(_tree(expression))


# --------------------------------------------------------------------------------------------------
# the public pieces


class LrExpression:
    """``f(step) -> float`` from an expression in ``step`` and the plan's constants."""

    def __init__(self, expression: str, constants: dict[str, float], path: str = "decay.kwargs.lr_lambda"):
        self.expression = expression
        self.constants = dict(constants)
        self.path = path

    def __getstate__(self) -> dict[str, Any]:
        return {"expression": self.expression, "constants": self.constants, "path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _env(self) -> Env:
        env = self.__dict__.get("_env_cache")
        if env is None:
            env = {**CONSTANTS, **{k: float(v) for k, v in self.constants.items()}, "step": 0.0}
            self.__dict__["_env_cache"] = env
        return env

    def __call__(self, step: int) -> float:
        try:
            fn = _compiled(self.expression)
            env = self._env()
            env["step"] = float(step)
            value = fn(env)
            finite = math.isfinite(value)
        except _Refused as exc:
            raise ConfigError(Problem(self.path, str(exc), self.expression)) from None
        except Exception as exc:  # a math domain error, a division by zero, an overflow
            raise ConfigError(
                Problem(
                    self.path,
                    f"could not be evaluated at step={step} ({type(exc).__name__}: {exc})",
                    self.expression,
                )
            ) from None
        if not finite or value < 0:
            raise ConfigError(
                Problem(
                    self.path,
                    f"must give a finite number >= 0 at every step; at step={step} it gave {value!r}",
                    self.expression,
                )
            )
        return value


def check_expression(
    expression: str, constants: dict[str, float], path: str, steps: int | None = None
) -> None:
    """Refuse (ConfigError naming ``path``) an expression outside the language, or one that gives a
    non-finite or negative factor at any step ``0..steps`` (default ``constants["n"]``, the decay
    length: every step its scheduler is evaluated at).  Vectorised; the result is cached."""
    last = int(constants.get("n", 1) if steps is None else steps)
    problem = _check(expression, tuple(sorted((k, float(v)) for k, v in constants.items())), path, last)
    if problem is not None:
        raise ConfigError(problem)


@functools.lru_cache(maxsize=256)
def _check(expression: str, constants: tuple[tuple[str, float], ...], path: str, last: int) -> Problem | None:
    try:
        fn = _vectorised(expression)
    except _Refused as exc:
        return Problem(path, str(exc), expression)
    env: NpEnv = {**CONSTANTS, **dict(constants)}
    hi = max(last, 1)
    with np.errstate(all="ignore"):
        for start in range(0, hi + 1, CHECK_CHUNK):
            steps = np.arange(start, min(hi + 1, start + CHECK_CHUNK), dtype=np.float64)
            env["step"] = steps
            try:
                values = np.broadcast_to(np.asarray(fn(env), dtype=np.float64), steps.shape)
            except (TypeError, ValueError, ZeroDivisionError, OverflowError, FloatingPointError) as exc:
                return Problem(path, f"could not be evaluated ({type(exc).__name__}: {exc})", expression)
            bad = ~np.isfinite(values) | (values < 0)
            if bad.any():
                k = int(np.argmax(bad))
                step = int(steps[k])
                return Problem(
                    path,
                    f"must give a finite number >= 0 at every step; at step={step} it gives "
                    f"{_shown(float(values[k]))}",
                    expression,
                )
    # Scalar confirmation at the ends (the engine's own arithmetic, which raises on domain errors).
    fn_scalar = LrExpression(expression, dict(constants), path)
    for step in {0, max(0, last)}:
        try:
            fn_scalar(step)
        except ConfigError as exc:
            return exc.problems[0]
    return None


def largest_factor(
    expression: str, constants: dict[str, float], last: int, cumulative: bool = False
) -> tuple[float, int]:
    """``(largest factor, step)`` over steps ``0..last`` of an expression :func:`check_expression`
    accepted.  ``cumulative``: MultiplicativeLR's view, the running product of the factors at steps
    ``1..k`` (its lr over its initial lr), largest over ``k`` (``inf`` when it overflows)."""
    fn = _vectorised(expression)
    env: NpEnv = {**CONSTANTS, **{k: float(v) for k, v in constants.items()}}
    hi = max(int(last), 1)
    best, at = (1.0, 0) if cumulative else (-math.inf, 0)
    carry = 1.0
    with np.errstate(all="ignore"):
        for start in range(1 if cumulative else 0, hi + 1, CHECK_CHUNK):
            steps = np.arange(start, min(hi + 1, start + CHECK_CHUNK), dtype=np.float64)
            env["step"] = steps
            values = np.broadcast_to(np.asarray(fn(env), dtype=np.float64), steps.shape)
            if cumulative:
                values = carry * np.cumprod(values)
                carry = float(values[-1])
            k = int(np.argmax(values))
            if float(values[k]) > best:
                best, at = float(values[k]), int(steps[k])
    return best, at


def _shown(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return repr(value)
