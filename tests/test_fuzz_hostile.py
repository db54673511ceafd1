"""Issue 17 acceptance: a hypothesis fuzz of the config, >= 2,000 cases in ``make test``.

Hostile configs are built from valid designs (every scheduler, LambdaLR expressions from a hostile
grammar) by 1-3 mutations anywhere: huge and non-finite numbers, NaN/Infinity and 5,000-digit
literals in the JSON text, dotted and union-tag-like keys, wrong types, 32 groups over two million
steps.  Every case is accepted (then planned, and drawn when small) or refused with a
:class:`ConfigError` whose every line names a field of the config; nothing else escapes.  Runs
derandomized (the "ci" profile of conftest.py).  The case count and run time go to
``tests/artifacts/fuzz_hostile.json``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules import ConfigError, compute_curve, load_config, make_plan, parse_config_json
from schedules.design import ScheduleConfig

EXAMPLES = int(os.environ.get("FUZZ_HOSTILE_EXAMPLES", "2000"))
#: Accepted designs up to this many lrs (steps x groups) are drawn in full; longer ones are planned.
DRAW_CELLS = 3_000
TOP_LEVEL = set(ScheduleConfig.model_fields) | {"(config)", "(file)"}
COUNTS: Counter = Counter()
STARTED = time.perf_counter()

_numbers = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([999999, 10**15, 10**16, 2**63, 0.5, 1e-320, 1e308, 3.5]),
    st.floats(-1e3, 1e3, allow_nan=False),
).map(repr)
_names = st.sampled_from(["step", "n", "total_steps", "warmup_steps", "pi", "e", "foo", "__import__", "cos"])


def _combine(children):
    binary = st.tuples(
        children, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", ">=", "and", "or"]), children
    )
    call = st.tuples(
        st.sampled_from(["cos", "sin", "exp", "log", "sqrt", "min", "max", "abs", "floor", "ceil", "open"]),
        st.lists(children, min_size=0, max_size=3),
    )
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        call.map(lambda c: f"{c[0]}({', '.join(c[1])})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        children.map(lambda c: f"-{c}"),
        children.map(lambda c: f"not {c}"),
    )


expressions = st.recursive(st.one_of(_numbers, _names), _combine, max_leaves=12)
hostile_expressions = st.one_of(
    expressions,
    st.tuples(expressions, st.sampled_from(["; ", "\n", ", "]), expressions).map("".join),
    st.sampled_from(["999999**999999 % 7 + 1", "10**400", "1 - step/10", "'a' * 9", "step.real", "[1][0]"]),
    st.just("-" * 250 + "1"),
)

SCHEDULERS = {
    "CosineAnnealingLR": {"eta_min": 1e-6},
    "CosineAnnealingWarmRestarts": {"T_mult": 2},
    "LinearLR": {"end_factor": 0.1},
    "PolynomialLR": {"power": 2.0},
    "StepLR": {"gamma": 0.5},
    "MultiStepLR": {"milestones": [3, 8]},
    "ConstantLR": {"factor": 0.5},
    "ExponentialLR": {"gamma": 0.9},
    "CyclicLR": {"step_size_up": 4},
    "OneCycleLR": {"pct_start": 0.25},
    "LambdaLR": {"lr_lambda": "1 / sqrt(1 + step)"},
    "MultiplicativeLR": {"lr_lambda": "0.99"},
}

hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -1, 2_000_000, 10**400, 1e308, -1e308, 5e-324, 0.5, 1.5, 32]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["epoch", "step", "min", "rel", "cos", "AdamW", "Muon", "SGD"]),
    st.lists(st.one_of(st.integers(-5, 50), st.floats(allow_nan=True)), max_size=4),
    st.dictionaries(
        st.sampled_from(["a.b", "int", "list[int]", "", "x", "betas"]), st.integers(-2, 2), max_size=2
    ),
    hostile_expressions,
)
keys = st.one_of(
    st.sampled_from(
        ["a.b", "int", "float", "list[float]", "bool", 'q"]', "", "epochs", "lr", "kwargs", "betas"]
    ),
    st.text(min_size=1, max_size=8),
)


@st.composite
def designs(draw) -> dict:
    scheduler = draw(st.sampled_from([None, *SCHEDULERS]))
    groups = draw(st.sampled_from([None, 1, 2, 32]))
    optimizer = {"name": draw(st.sampled_from(["SGD", "AdamW", "Adam", "RMSprop"])), "lr": 0.01}
    if groups:
        optimizer["param_groups"] = [{"name": f"g{i}", "lr_scale": 1.0 / (i + 1)} for i in range(groups)]
    training = {
        "dataset_size": draw(st.sampled_from([40, 100, 1000, 2_000_000])),
        "micro_batch_size": draw(st.sampled_from([1, 4, 10])),
        "accumulation_steps": draw(st.sampled_from([1, 2])),
        "epochs": draw(st.sampled_from([1, 2])),
    }
    doc: dict = {"name": "fuzz", "optimizer": optimizer, "training": training}
    if draw(st.booleans()):
        doc["warmup"] = {"steps": draw(st.sampled_from([0, 2, 5])), "start_factor": 0.1}
    if scheduler:
        # A deep copy: a mutation inside a list (MultiStepLR's milestones) must not change SCHEDULERS
        # for the next case (hypothesis then saw a different strategy: FlakyStrategyDefinition).
        kwargs = copy.deepcopy(SCHEDULERS[scheduler])
        if "lr_lambda" in kwargs and draw(st.booleans()):
            kwargs["lr_lambda"] = draw(hostile_expressions)
        doc["decay"] = {"scheduler": scheduler, "kwargs": kwargs}
    if draw(st.integers(0, 3)) == 0:
        doc["plateau"] = {"metric": {"synthetic": {"noise": 0.1}}, "eval_every": 3, "patience": 1}
    for _ in range(draw(st.integers(0, 3))):
        _mutate(draw, doc)
    return doc


def _containers(obj, path=()):
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from _containers(v, (*path, k))
    elif isinstance(obj, list):
        yield path, obj
        for i, v in enumerate(obj):
            yield from _containers(v, (*path, i))


def _mutate(draw, doc: dict) -> None:
    where = draw(st.sampled_from(list(_containers(doc))))[1]
    if isinstance(where, dict):
        if where and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(where, key=str)))
        else:
            key = draw(keys)
        where[key] = draw(hostile_values)
    elif where:
        where[draw(st.integers(0, len(where) - 1))] = draw(hostile_values)


def _as_text(draw, doc: dict) -> str:
    """JSON text, sometimes with a literal JSON itself cannot carry spliced in (NaN, 5,000 digits)."""
    text = json.dumps(doc, allow_nan=True)
    splice = draw(st.sampled_from([None, "NaN", "-Infinity", "9" * 5000]))
    if splice and '"epochs": 1' in text:
        text = text.replace('"epochs": 1', f'"epochs": {splice}', 1)
    return text


def check(loader, payload) -> None:
    try:
        cfg = loader(payload)
    except ConfigError as exc:
        COUNTS["refused"] += 1
        assert exc.problems
        for problem in exc.problems:
            line = str(problem)
            head = problem.path.split(".")[0].split("[")[0]
            # every message names a field of the config (an unknown top-level key is named itself)
            assert head in TOP_LEVEL or problem.allowed.startswith("is not a known field"), line
            assert "\n" not in line and len(line) < 2000
            assert "Traceback" not in line and "site-packages" not in line
        return
    plan = make_plan(cfg)
    cells = plan.total_steps * len(cfg.optimizer.groups())
    if cells <= DRAW_CELLS:
        curve = compute_curve(cfg, time_limit=60)
        assert len(curve.frame) == plan.total_steps
        assert all(math.isfinite(x) and x >= 0 for x in curve.lrs.ravel().tolist())
        COUNTS["accepted, drawn"] += 1
    else:
        COUNTS["accepted, planned"] += 1


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(designs(), st.data())
def test_hostile_configs_are_accepted_or_refused_by_field(doc, data):
    if data.draw(st.booleans()):
        check(load_config, doc)
    else:
        check(parse_config_json, _as_text(data.draw, doc))


@pytest.fixture(scope="module", autouse=True)
def report(artifacts_dir):
    yield
    total = sum(COUNTS.values())
    seconds = time.perf_counter() - STARTED
    (artifacts_dir / "fuzz_hostile.json").write_text(
        json.dumps({"cases": total, "seconds": round(seconds, 1), **COUNTS}, indent=2)
    )
    print(f"\nhostile config fuzz: {total} cases in {seconds:.0f} s ({dict(COUNTS)})")
