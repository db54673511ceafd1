"""Named presets: Hugging Face transformers' named schedules and well-known recipes.

Every preset is built from real ``torch.optim.lr_scheduler`` classes through the normal config, so
applying one gives an ordinary, editable design.  :func:`apply_preset` keeps the current optimizer
and training sections and replaces warmup, decay and plateau (some recipes also set the optimizer or
epochs they were published with).  Each preset names its source and states where the torch
rendering differs from the published formula.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .build import load_config
from .command import EXIT_OK, command
from .design import ConfigError, PlateauConfig, Problem, ScheduleConfig
from .design.plan import accounting
from .design.wsd import hf_cosine_warmup_with_min_lr_section, hf_cosine_with_min_lr_section, hf_wsd_section

Overrides = dict[str, Any]


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    source: str  # one line: paper or library
    note: str  # how the torch rendering relates to the source
    make: Callable[[ScheduleConfig], Overrides]


def _total(config: ScheduleConfig) -> tuple[int, int]:
    _, steps_per_epoch, total = accounting(config.training)
    return steps_per_epoch, total


def _hf_warmup(config: ScheduleConfig) -> dict[str, Any]:
    return {"steps": None, "ratio": 0.05, "start_factor": 0.0}


def _linear(c: ScheduleConfig) -> Overrides:
    return {
        "warmup": _hf_warmup(c),
        "decay": {"scheduler": "LinearLR", "kwargs": {"start_factor": 1.0, "end_factor": 0.0}},
    }


def _cosine(c: ScheduleConfig) -> Overrides:
    return {"warmup": _hf_warmup(c), "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.0}}}


def _cosine_restarts(c: ScheduleConfig, cycles: int = 3) -> Overrides:
    _, total = _total(c)
    warmup = -(-total * 5 // 100)  # ceil(0.05 * total) without float error
    t0 = max(1, -(-(total - warmup) // cycles))  # ceil: no spurious restart at the very end
    return {
        "warmup": {"steps": warmup, "ratio": None, "start_factor": 0.0},
        "decay": {
            "scheduler": "CosineAnnealingWarmRestarts",
            "kwargs": {"T_0": t0, "T_mult": 1, "eta_min": 0.0},
        },
    }


def _polynomial(c: ScheduleConfig) -> Overrides:
    return {"warmup": _hf_warmup(c), "decay": {"scheduler": "PolynomialLR", "kwargs": {"power": 1.0}}}


def _constant_with_warmup(c: ScheduleConfig) -> Overrides:
    return {"warmup": _hf_warmup(c), "decay": None}


def _inverse_sqrt(c: ScheduleConfig) -> Overrides:
    return {
        "warmup": _hf_warmup(c),
        "decay": {
            "scheduler": "LambdaLR",
            "kwargs": {"lr_lambda": "1 / sqrt((step + max(warmup_steps, 1)) / max(warmup_steps, 1))"},
        },
    }


def _wsd(c: ScheduleConfig) -> Overrides:
    return {
        "warmup": _hf_warmup(c),
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.0}, "hold_ratio": 0.75},
    }


def _cosine_min_lr(c: ScheduleConfig) -> Overrides:
    return {
        "warmup": _hf_warmup(c),
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.1 * c.optimizer.lr}},
    }


def _plateau(c: ScheduleConfig) -> Overrides:
    _, total = _total(c)
    return {
        "warmup": None,
        "decay": None,
        "plateau": {
            **PlateauConfig().torch_kwargs(),  # torch's ReduceLROnPlateau defaults
            "eval_every": max(1, total // 60),
            "metric": {
                "synthetic": {
                    "start": 2.0,
                    "floor": 0.5,
                    "half_life": 6.0,
                    "plateau_from": 15,
                    "drift": 0.0,
                    "noise": 0.002,
                    "seed": 0,
                }
            },
        },
    }


def _imagenet_sgd(c: ScheduleConfig) -> Overrides:
    """The ImageNet ResNet setting both recipes share: SGD 0.1, momentum 0.9, wd 1e-4, 90 epochs."""
    return {
        "optimizer": {
            **c.optimizer.model_dump(mode="json"),
            "name": "SGD",
            "lr": 0.1,
            "kwargs": {"momentum": 0.9, "weight_decay": 1e-4},
        },
        "training": {**c.training.model_dump(mode="json"), "epochs": 90, "max_steps": None},
    }


def _goyal(c: ScheduleConfig) -> Overrides:
    steps_per_epoch, _ = _total(c)
    return {
        **_imagenet_sgd(c),
        "warmup": {"steps": 5 * steps_per_epoch, "ratio": None, "start_factor": 0.1},
        "decay": {
            "scheduler": "MultiStepLR",
            "kwargs": {"milestones": [25, 55, 75], "gamma": 0.1},
            "interval": "epoch",
        },
    }


def _resnet_step(c: ScheduleConfig) -> Overrides:
    return {
        **_imagenet_sgd(c),
        "warmup": None,
        "decay": {"scheduler": "StepLR", "kwargs": {"step_size": 30, "gamma": 0.1}, "interval": "epoch"},
    }


def _sgdr(c: ScheduleConfig) -> Overrides:
    steps_per_epoch, total = _total(c)
    return {
        "warmup": None,
        "decay": {
            "scheduler": "CosineAnnealingWarmRestarts",
            "kwargs": {"T_0": max(1, -(-total // 7)), "T_mult": 2, "eta_min": 0.0},  # ceil
        },
    }


def _one_cycle(c: ScheduleConfig) -> Overrides:
    return {
        "warmup": None,
        "decay": {
            "scheduler": "OneCycleLR",
            "kwargs": {
                "pct_start": 0.3,
                "anneal_strategy": "cos",
                "div_factor": 25.0,
                "final_div_factor": 1e4,
            },
        },
    }


def _gpt3(c: ScheduleConfig) -> Overrides:
    return {
        "optimizer": {
            **c.optimizer.model_dump(mode="json"),
            "name": "AdamW",
            "kwargs": {"betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1},
        },
        "warmup": {"steps": None, "ratio": 0.01, "start_factor": 0.0},
        "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {"eta_min": 0.1 * c.optimizer.lr}},
    }


def _wsd_shape(decay_type: str) -> Callable[[ScheduleConfig], Overrides]:
    def make(c: ScheduleConfig) -> Overrides:
        _, total = _total(c)
        warmup = -(-total * 5 // 100)  # ceil(0.05 * total), as the Trainer's warmup_ratio=0.05
        decay = -(-total * 20 // 100)  # ceil(0.2 * total)
        return {"wsd": hf_wsd_section(warmup, decay, total, decay_type=decay_type, min_lr_ratio=0.0)}

    return make


def _cosine_warmup_min_lr(c: ScheduleConfig) -> Overrides:
    _, total = _total(c)
    warmup = max(1, -(-total * 5 // 100))
    return {"wsd": hf_cosine_warmup_with_min_lr_section(warmup, total, 0.1)}


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "linear",
            "Linear decay with warmup",
            "transformers.get_linear_schedule_with_warmup (BERT, Devlin et al. 2019)",
            "LinearLR 1 -> 0 over the steps after warmup: identical to HF's lambda.",
            _linear,
        ),
        Preset(
            "d2z",
            "D2Z: linear decay to zero",
            "Bergsma et al. 2025, Straight to Zero: Why Linearly Decaying the Learning Rate to Zero Works Best for LLMs",
            "Linear warmup over the first 5% (the warmup here is the studio's; the paper's point is the decay), then "
            "LinearLR 1 -> 0 over the rest: the lr ends at 0, not at 10% of the peak (the 10x cosine it beats "
            "for AdamW LLM pre-training at compute-optimal and longer runs).",
            _linear,
        ),
        Preset(
            "cosine",
            "Cosine with warmup",
            "transformers.get_cosine_schedule_with_warmup (num_cycles=0.5)",
            "CosineAnnealingLR(T_max = steps after warmup, eta_min=0): identical to HF's lambda.",
            _cosine,
        ),
        Preset(
            "cosine_with_restarts",
            "Cosine with hard restarts",
            "transformers.get_cosine_with_hard_restarts_schedule_with_warmup (num_cycles=3)",
            "CosineAnnealingWarmRestarts(T_0 = ceil((steps after warmup) / 3)): identical when that divides evenly "
            "(torch cycles have whole-step lengths). T_0 is fixed when the preset is applied.",
            _cosine_restarts,
        ),
        Preset(
            "polynomial",
            "Polynomial decay with warmup",
            "transformers.get_polynomial_decay_schedule_with_warmup (power=1.0)",
            "PolynomialLR decays to 0; HF's default lr_end=1e-7 is not expressible by PolynomialLR "
            "(identical with lr_end=0).",
            _polynomial,
        ),
        Preset(
            "constant_with_warmup",
            "Constant with warmup",
            "transformers.get_constant_schedule_with_warmup",
            "Linear warmup from 0, then constant: identical to HF's lambda.",
            _constant_with_warmup,
        ),
        Preset(
            "inverse_sqrt",
            "Inverse square root",
            "transformers.get_inverse_sqrt_schedule (timescale = warmup steps; Vaswani et al. 2017)",
            "LambdaLR 1/sqrt((t + w) / w) after warmup: identical to HF's lambda.",
            _inverse_sqrt,
        ),
        Preset(
            "warmup_stable_decay",
            "Warmup-stable-decay (WSD)",
            "transformers.get_wsd_schedule (decay_type='cosine'; Hu et al. 2024, MiniCPM)",
            "Warmup 5%, hold 75%, CosineAnnealingLR over the last 20%: identical to HF's lambda.",
            _wsd,
        ),
        Preset(
            "cosine_with_min_lr",
            "Cosine to a minimum lr",
            "transformers.get_cosine_with_min_lr_schedule_with_warmup (min_lr_rate=0.1)",
            "CosineAnnealingLR(eta_min = 0.1 * lr): identical for one param group (eta_min is absolute "
            "in torch).",
            _cosine_min_lr,
        ),
        *(
            Preset(
                f"wsd_{shape}",
                f"WSD, {shape} cooldown",
                f"transformers.get_wsd_schedule (decay_type='{shape}'; Hagele et al. 2024 for 1-sqrt)",
                "Warmup 5% (linear from 0), stable, decay over the last 20% to 0: transformers' own lambda "
                "in one LambdaLR (the design's wsd section).",
                _wsd_shape(shape),
            )
            for shape in ("linear", "cosine", "1-sqrt")
        ),
        Preset(
            "cosine_warmup_with_min_lr",
            "Cosine to 10%, warmup counted from step 1",
            "transformers.get_cosine_with_min_lr_schedule_with_warmup_lr_rate (cosine_warmup_with_min_lr, "
            "min_lr_rate=0.1)",
            "Its warmup is (k + 1) / w and its decay counts from k + 1: a wsd section with w - 1 warmup steps "
            "from 1/w reproduces it exactly.",
            _cosine_warmup_min_lr,
        ),
        Preset(
            "reduce_lr_on_plateau",
            "Reduce on plateau",
            "transformers.get_reduce_on_plateau_schedule (torch ReduceLROnPlateau defaults)",
            "ReduceLROnPlateau with torch's defaults, fed a synthetic validation loss that stalls.",
            _plateau,
        ),
        Preset(
            "goyal_imagenet",
            "ImageNet in 1 hour (step decay, 5-epoch warmup)",
            "Goyal et al. 2017, Accurate, Large Minibatch SGD",
            "SGD 0.1 momentum 0.9; warmup 5 epochs from 0.1x; x0.1 at epochs 30, 60, 80 (MultiStepLR per epoch, "
            "counted from the end of warmup).",
            _goyal,
        ),
        Preset(
            "resnet_step",
            "ResNet step decay",
            "He et al. 2016, Deep Residual Learning (x0.1 every 30 epochs)",
            "StepLR(step_size=30 epochs, gamma=0.1) stepped per epoch.",
            _resnet_step,
        ),
        Preset(
            "sgdr",
            "SGDR: warm restarts",
            "Loshchilov & Hutter 2017, SGDR (T_mult=2)",
            "CosineAnnealingWarmRestarts(T_0 = ceil(total / 7), T_mult=2): three cycles of 1, 2, 4 parts.",
            _sgdr,
        ),
        Preset(
            "one_cycle",
            "One-cycle",
            "Smith & Topin 2019, Super-Convergence (torch OneCycleLR defaults)",
            "OneCycleLR(max_lr = lr, pct_start 0.3, cos, div 25, final_div 1e4) over all steps.",
            _one_cycle,
        ),
        Preset(
            "gpt3_cosine",
            "GPT-3 cosine to 10%",
            "Brown et al. 2020, Language Models are Few-Shot Learners",
            "AdamW betas (0.9, 0.95), wd 0.1; linear warmup 1%, CosineAnnealingLR to 10% of peak.",
            _gpt3,
        ),
    ]
}


def apply_preset(name: str, base: ScheduleConfig | dict[str, Any] | None = None) -> ScheduleConfig:
    """A new config: ``base`` (default: the default config) with preset ``name`` applied."""
    if name not in PRESETS and isinstance(name, str) and name.lower() in PRESETS:
        name = name.lower()  # "D2Z" as the paper writes it
    if name not in PRESETS:
        raise ConfigError(Problem("preset", f"must be one of {', '.join(PRESETS)}", name))
    cfg = load_config(base) if base is not None else ScheduleConfig()
    preset = PRESETS[name]
    data = cfg.to_dict()
    data.update({"warmup": None, "decay": None, "plateau": None})
    data.pop("wsd", None)
    data.update(preset.make(cfg))
    data["name"] = preset.title
    return load_config(data)


#: Appended to a preset's title once the design's schedule is no longer that preset's.
MODIFIED = " (modified)"


def name_for(config: ScheduleConfig) -> str:
    """The name ``config`` should carry: a preset's title (case ignored) stays while the design is that
    preset applied to its own optimizer and training sections, and becomes ``"<title> (modified)"``
    once a section the preset sets differs (e.g. the decay turned off); it loses the mark again when
    the design is the preset once more.  Any other name is returned unchanged.
    """
    name = config.name
    base = name[: -len(MODIFIED)] if name.endswith(MODIFIED) else name
    preset = next((p for p in PRESETS.values() if p.title.lower() == base.lower()), None)
    if preset is None:
        return name
    try:
        ref = apply_preset(preset.name, config)
    except ConfigError:
        return base + MODIFIED
    sections = {"warmup", "decay", "plateau", *preset.make(config)} | (
        {"wsd"} if "wsd" in ScheduleConfig.model_fields else set()
    )
    same = all(getattr(ref, s) == getattr(config, s) for s in sections if s != "name")
    return base if same else base + MODIFIED


def hf_design(
    kind: str, base: ScheduleConfig | dict[str, Any] | None = None, name: str | None = None, **kwargs: Any
) -> ScheduleConfig:
    """A design equal to a transformers schedule, called with transformers' own argument names.

    ``kind``: ``"wsd"`` (``get_wsd_schedule``: ``num_warmup_steps, num_decay_steps,
    num_training_steps, num_stable_steps, warmup_type, decay_type, min_lr_ratio``),
    ``"cosine_with_min_lr"`` or ``"cosine_warmup_with_min_lr"`` (``num_warmup_steps,
    num_training_steps, min_lr_rate``).  ``base`` keeps its optimizer and training sections.
    """
    makers = {
        "wsd": hf_wsd_section,
        "cosine_with_min_lr": hf_cosine_with_min_lr_section,
        "cosine_warmup_with_min_lr": hf_cosine_warmup_with_min_lr_section,
    }
    if kind not in makers:
        raise ConfigError(Problem("kind", f"must be one of {', '.join(makers)}", kind))
    cfg = load_config(base) if base is not None else ScheduleConfig()
    data = cfg.to_dict()
    data.update({"warmup": None, "decay": None, "plateau": None, "wsd": makers[kind](**kwargs)})
    data["name"] = name or f"transformers {kind}"
    return load_config(data)


def _presets_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="write this preset as a config (omit to list presets)")
    p.add_argument("--base", help="config whose optimizer and training sections the preset keeps")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")


@command("presets", "list the named presets, or write one as a config", _presets_args)
def cmd_presets(args: argparse.Namespace) -> int:
    if args.name is None:
        for p in PRESETS.values():
            print(f"{p.name:22} {p.title}  [{p.source}]")
        return EXIT_OK
    cfg = apply_preset(args.name, load_config(args.base) if args.base else None)
    text = cfg.to_json() + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def preset_catalog() -> list[dict[str, str]]:
    return [{"name": p.name, "title": p.title, "source": p.source, "note": p.note} for p in PRESETS.values()]


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(preset_catalog(), indent=2))
