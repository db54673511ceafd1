"""Every export gives the optimizer the design's effective settings, or says which one differs and by
how much (issue 28, item 4).

Over random optimizer designs (every ``torch.optim`` class a design may name, random
``weight_decay``, ``betas``, ``eps``, ``momentum``, ``nesterov``, ``alpha``, ``centered``, ...; left-out
kwargs are the class's defaults: AdamW's ``weight_decay`` is 0.01), each export is fed to its real
library and the optimizer that library builds is read back, param group by param group:

- HF: ``TrainingArguments(**payload)`` -> ``Trainer.create_optimizer()`` (its decay / no-decay groups);
- DeepSpeed: ``deepspeed.initialize(config=<the export>)`` builds the optimizer from the block;
- Lightning: the exported ``configure_optimizers``, a real ``LightningModule``'s method;
- accelerate: the exported loop exec'd under a real ``Accelerator`` (its ``AcceleratedOptimizer``);
- both training-loop snippets, exec'd.

Each group's hyperparameters equal the design's (torch's own param-group values), or the export
warned naming that setting and both values.  timm is not installed here: its argument set is checked
against timm 1.0.31's rules as encoded, and against timm's own ``create_optimizer_v2`` wherever timm
is installed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules import load_config
from schedules.build import (
    IMPLEMENTATION_KEYS,
    optimizer_settings,
    supported_optimizers,
    torch_optimizer_settings,
)
from schedules.interop import TARGETS, to_deepspeed, to_hf, to_lightning, to_timm
from schedules.interop.common import DIFFERENT_OPTIMIZER, exact
from schedules.interop.timm import TIMM_HAS_MOMENTUM, TIMM_OPT
from schedules.snippets import build_scheduler_snippet, plain_torch_snippet

pytestmark = [pytest.mark.slow, pytest.mark.real]

EXAMPLES = 200
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

BETAS = st.sampled_from([[0.9, 0.999], [0.8, 0.95]])
EPS = st.sampled_from([1e-8, 1e-6])
WD = st.sampled_from([0.0, 1e-4, 0.1])

#: Keyword arguments worth varying for each class (each one drawn or left out).
KWARGS: dict[str, dict[str, Any]] = {
    "SGD": {"weight_decay": WD, "dampening": st.sampled_from([0.0, 0.1]), "maximize": st.just(True)},
    "Adam": {"betas": BETAS, "eps": EPS, "weight_decay": WD, "amsgrad": st.booleans()},
    "AdamW": {"betas": BETAS, "eps": EPS, "weight_decay": WD, "amsgrad": st.booleans()},
    "NAdam": {
        "betas": BETAS,
        "eps": EPS,
        "weight_decay": WD,
        "momentum_decay": st.sampled_from([0.004, 0.01]),
        "decoupled_weight_decay": st.booleans(),
    },
    "RAdam": {"betas": BETAS, "eps": EPS, "weight_decay": WD, "decoupled_weight_decay": st.booleans()},
    "Adamax": {"betas": BETAS, "eps": EPS, "weight_decay": WD},
    "Adadelta": {"rho": st.sampled_from([0.9, 0.95]), "eps": EPS, "weight_decay": WD},
    "Adagrad": {
        "lr_decay": st.sampled_from([0.0, 1e-3]),
        "eps": st.sampled_from([1e-10, 1e-8]),
        "initial_accumulator_value": st.sampled_from([0.0, 0.1]),
        "weight_decay": WD,
    },
    "RMSprop": {
        "alpha": st.sampled_from([0.99, 0.9]),
        "eps": EPS,
        "momentum": st.sampled_from([0.0, 0.5]),
        "centered": st.booleans(),
        "weight_decay": WD,
    },
    "ASGD": {
        "lambd": st.sampled_from([1e-4, 1e-3]),
        "alpha": st.sampled_from([0.75, 0.5]),
        "weight_decay": WD,
    },
    "Rprop": {
        "etas": st.sampled_from([[0.5, 1.2], [0.4, 1.3]]),
        "step_sizes": st.sampled_from([[1e-6, 50], [1e-5, 10]]),
    },
    "Adafactor": {"beta2_decay": st.sampled_from([-0.8, -0.5]), "weight_decay": WD},
}


@st.composite
def optimizer_designs(draw) -> dict:
    name = draw(st.sampled_from([n for n in supported_optimizers() if n in KWARGS]))
    kwargs = {k: draw(v) for k, v in KWARGS[name].items() if draw(st.booleans())}
    if name == "SGD" and draw(st.booleans()):
        kwargs["momentum"] = draw(st.sampled_from([0.5, 0.9]))
        if kwargs.get("dampening", 0.0) == 0.0 and draw(st.booleans()):
            kwargs["nesterov"] = True
    optimizer: dict[str, Any] = {"name": name, "lr": draw(st.sampled_from([1e-3, 0.1])), "kwargs": kwargs}
    if draw(st.integers(0, 3)) == 0:
        optimizer["param_groups"] = [{"name": "body", "lr_scale": 0.5}, {"name": "head", "lr_scale": 1.0}]
    return {
        "optimizer": optimizer,
        # tiny runs: 8 samples, micro-batch 2, 2 optimizer steps (the loops are executed)
        "training": {"dataset_size": 8, "micro_batch_size": 2, "max_steps": 2},
        "warmup": {"steps": 1},
        "decay": {"scheduler": "LinearLR"},
    }


def settings_of(group: dict[str, Any]) -> dict[str, Any]:
    """A param group's hyperparameters as the design states them (tuples as lists, no lr)."""
    out = {}
    for k, v in group.items():
        if k in IMPLEMENTATION_KEYS:
            continue
        out[k] = [x for x in v] if isinstance(v, tuple | list) else v
    return out


def show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "(" + ", ".join(show(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return a == b


def check(target: str, cfg, cls: str, groups: list[dict[str, Any]], warnings: list[str]) -> None:
    """Each built param group has the design's settings, or a warning names the setting and both
    values (or the class); a warning-free export is "Exact" and has every setting right."""
    want = optimizer_settings(cfg)
    name = cfg.optimizer.name
    stated = [w for w in warnings if DIFFERENT_OPTIMIZER in w]
    adam_without_decay = {cls, name} <= {"Adam", "AdamW"} and not want.get("weight_decay")
    if cls != name and not adam_without_decay:
        assert any(f"torch.optim.{cls} instead of the design's torch.optim.{name}" in w for w in stated), (
            target,
            warnings,
        )
        return
    wrong = []
    for i, group in enumerate(groups):
        got = settings_of(group)
        # HF's second group: the biases and normalization weights (Trainer.create_optimizer), whose
        # weight_decay alone differs from the first group's
        exempt = " for biases and normalization weights" if target == "HF" and i == 1 else ""
        for key, value in want.items():
            where = exempt if key == "weight_decay" else ""
            if key == "decoupled_weight_decay" and adam_without_decay:
                continue  # Adam and AdamW without weight decay are the same update
            if not same(value, got.get(key)):
                wrong.append((key, got.get(key), value))
                said = f"{key} {show(got.get(key))} instead of the design's {show(value)}{where}"
                assert any(
                    w.endswith(said) or f"{said}:" in w or (where and f"{said} (" in w) for w in stated
                ), (
                    target,
                    key,
                    got.get(key),
                    value,
                    warnings,
                )
    if not wrong:
        assert not stated, (target, warnings)
    assert exact([w for w in warnings if "gives a different curve" not in w]) == (not stated)


class _Module(torch.nn.Module):
    """Weights, biases and a LayerNorm: HF's decay and no-decay groups both get parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.out = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(self.lin(x)))


def hf_groups(payload: dict, output_dir: str) -> tuple[str, list[dict[str, Any]]]:
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(output_dir=output_dir, report_to=[], use_cpu=True, **payload)
    opt = Trainer(model=_Module(), args=args).create_optimizer()
    return type(opt).__name__, [g for g in opt.param_groups if g["params"]]


@pytest.fixture(scope="module")
def deepspeed_group():
    """A one-process gloo group for deepspeed.initialize in this process (torn down after the module)."""
    deepspeed = pytest.importorskip("deepspeed")
    from schedules.stacks.deepspeed import init_cpu_process_group
    from schedules.stacks.distributed import free_port

    keys = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(free_port()),
        RANK="0",
        WORLD_SIZE="1",
        LOCAL_RANK="0",
        LOCAL_WORLD_SIZE="1",
    )
    init_cpu_process_group()
    yield deepspeed
    torch.distributed.destroy_process_group()
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def deepspeed_groups(deepspeed, payload: dict) -> tuple[str, list[dict[str, Any]]]:
    model = _Module()
    config = {
        k: payload[k] for k in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "optimizer")
    }
    config["steps_per_print"] = 10**9
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
    return type(engine.optimizer).__name__, engine.optimizer.param_groups


def lightning_groups(cfg, code: str) -> tuple[str, list[dict[str, Any]]]:
    import lightning as L

    namespace: dict[str, Any] = {}
    exec(compile(code, "<configure_optimizers>", "exec"), namespace)  # noqa: S102 (our own export)
    names = [g.name for g in cfg.optimizer.groups()]

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _Module()
            if len(names) > 1:
                for name in names:
                    self.add_module(name, torch.nn.Linear(2, 2))

        configure_optimizers = namespace["configure_optimizers"]

    result = Module().configure_optimizers()
    opt = result["optimizer"] if isinstance(result, dict) else result[0][0]
    return type(opt).__name__, opt.param_groups


def accelerate_groups(cfg) -> tuple[str, list[dict[str, Any]]]:
    from accelerate.state import AcceleratorState, GradientState

    from schedules.stacks.exports import to_accelerate

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "lr-schedule.json"
        path.write_text(cfg.to_json(), encoding="utf-8")
        code, _ = to_accelerate(cfg, path=str(path))
        namespace: dict[str, Any] = {}
        before = os.environ.get("ACCELERATE_USE_CPU")
        os.environ["ACCELERATE_USE_CPU"] = "true"
        try:
            exec(compile(code, "<exported accelerate loop>", "exec"), namespace)  # noqa: S102
        finally:
            if before is None:
                del os.environ["ACCELERATE_USE_CPU"]
            else:
                os.environ["ACCELERATE_USE_CPU"] = before
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    opt = namespace["optimizer"].optimizer  # the AcceleratedOptimizer's torch optimizer
    return type(opt).__name__, opt.param_groups


def snippet_groups(cfg, kind: str) -> tuple[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "lr-schedule.json"
        path.write_text(cfg.to_json(), encoding="utf-8")
        code = plain_torch_snippet(cfg) if kind == "plain" else build_scheduler_snippet(cfg, str(path))
        namespace: dict[str, Any] = {}
        exec(compile(code, f"<{kind} snippet>", "exec"), namespace)  # noqa: S102 (our own export)
    opt = namespace["optimizer"]
    return type(opt).__name__, opt.param_groups


@PROPERTY
@given(raw=optimizer_designs())
def test_every_export_builds_the_designs_optimizer_or_warns(
    raw: dict, deepspeed_group, tmp_path_factory
) -> None:
    cfg = load_config(raw)
    payload, warnings = to_hf(cfg)
    cls, groups = hf_groups(payload, str(tmp_path_factory.mktemp("hf")))
    check("HF", cfg, cls, groups, warnings)
    payload, warnings = to_deepspeed(cfg)
    check("DeepSpeed", cfg, *deepspeed_groups(deepspeed_group, payload), warnings)
    code, warnings = to_lightning(cfg)
    check("Lightning", cfg, *lightning_groups(cfg, code), warnings)
    code, warnings = TARGETS["accelerate"].export(cfg)
    check("accelerate", cfg, *accelerate_groups(cfg), warnings)
    for kind in ("plain", "build_scheduler"):
        check(kind, cfg, *snippet_groups(cfg, kind), [])
    # timm (not installed): the create_optimizer_v2 arguments, read by timm 1.0.31's rules
    payload, warnings = to_timm(cfg)
    args = payload.get("create_optimizer_v2")
    if args is None:
        assert cfg.optimizer.name not in TIMM_OPT
        assert any(DIFFERENT_OPTIMIZER in w for w in warnings)
        return
    if importlib.util.find_spec("timm") is not None:  # timm's own factory, where it is installed
        from timm.optim import create_optimizer_v2

        built = create_optimizer_v2(_Module(), **args)
        check("timm", cfg, type(built).__name__, built.param_groups, warnings)
    check("timm", cfg, TIMM_CLASS[args["opt"]], [timm_built(args)], warnings)


#: timm 1.0.31's registry entries for the torch classes (timm/optim/_optim_factory.py).
TIMM_CLASS = {
    "sgd": "SGD",
    "momentum": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "NAdam",
    "radam": "RAdam",
    "adamax": "Adamax",
    "adadelta": "Adadelta",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
}
TIMM_DEFAULTS = {
    "sgd": {"nesterov": True},
    "momentum": {"nesterov": False},
    "rmsprop": {"alpha": 0.9},
    "adagrad": {"eps": 1e-8},
}


def timm_built(args: dict[str, Any]) -> dict[str, Any]:
    """The param group ``create_optimizer_v2(params, **args)`` builds by timm 1.0.31's rules:
    ``weight_decay`` default 0, the opt's defaults under the given kwargs, ``momentum=0.9`` for opts
    with momentum unless given, no ``eps``/``betas`` for opts without them."""
    opt = args["opt"]
    kwargs = {k: v for k, v in args.items() if k not in ("opt", "lr", "filter_bias_and_bn")}
    kwargs.setdefault("weight_decay", 0.0)
    for k, v in TIMM_DEFAULTS.get(opt, {}).items():
        kwargs.setdefault(k, v)
    if opt in TIMM_HAS_MOMENTUM:
        kwargs.setdefault("momentum", 0.9)
    if opt in ("sgd", "momentum"):
        kwargs.pop("eps", None)
    if opt not in ("adam", "adamw", "nadam", "radam", "adamax"):
        kwargs.pop("betas", None)
    group = dict(torch_optimizer_settings(TIMM_CLASS[opt], kwargs))
    assert args.get("filter_bias_and_bn") is False  # weight decay on every parameter, as the design's
    return group


def test_the_issue_case_adamw_defaults_reach_hf_or_are_stated(tmp_path) -> None:
    """torch AdamW's weight_decay is 0.01, TrainingArguments' 0.0: the HF export of an AdamW design
    with empty kwargs writes weight_decay 0.01 and says Trainer exempts biases and norms from it."""
    cfg = load_config({"optimizer": {"name": "AdamW", "lr": 1e-3}, "training": {"dataset_size": 64}})
    payload, warnings = to_hf(cfg)
    assert (
        payload["weight_decay"] == 0.01 and payload["adam_beta2"] == 0.999 and payload["adam_epsilon"] == 1e-8
    )
    cls, groups = hf_groups(payload, str(tmp_path))
    assert cls == "AdamW" and sorted(g["weight_decay"] for g in groups) == [0.0, 0.01]
    assert any(
        "weight_decay 0 instead of the design's 0.01 for biases and normalization weights" in w
        for w in warnings
    )
    assert not exact(warnings)
    # an AdamW design without weight decay is exact, optimizer included
    payload, warnings = to_hf(
        {**cfg.to_dict(), "optimizer": {"name": "AdamW", "lr": 1e-3, "kwargs": {"weight_decay": 0.0}}}
    )
    assert not any(DIFFERENT_OPTIMIZER in w for w in warnings)
    assert np.isclose(payload["weight_decay"], 0.0)
