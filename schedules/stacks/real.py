"""The tiny model, data and lr recorder that the real-library runs share (CPU, seconds).

Used by each stack's ``run_real`` (and so by the tests that compare the studio's answer with the
library): a model with one small parameter per config param group, the configured torch optimizer
on them, and a synthetic dataset of ``training.dataset_size`` rows.  The lrs recorded are
``optimizer.param_groups[g]["lr"]`` read right before each real ``optimizer.step()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..design import ScheduleConfig

FEATURES = 4


class TinyModel(nn.Module):
    """``y = x . w_0 + sum(b_1 .. b_g)``: one parameter per param group, a real loss and gradients."""

    def __init__(self, groups: int):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(FEATURES, generator=gen) * 0.1)]
            + [nn.Parameter(torch.zeros(1)) for _ in range(groups - 1)]
        )

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        out = x @ self.weights[0]
        for p in list(self.weights)[1:]:
            out = out + p.sum()
        return out

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        pred = self.predict(x)
        if labels is None:
            return pred
        return {"loss": nn.functional.mse_loss(pred, labels), "logits": pred}


def tiny_model_and_optimizer(config: ScheduleConfig) -> tuple[TinyModel, torch.optim.Optimizer]:
    groups = config.optimizer.groups()
    model = TinyModel(len(groups))
    cls = getattr(torch.optim, config.optimizer.name)
    params = [
        {"params": [p], "lr": lr} for p, lr in zip(model.weights, config.optimizer.base_lrs(), strict=True)
    ]
    return model, cls(params, lr=config.optimizer.lr, **config.optimizer.kwargs)


class _DictRows(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def tiny_dataset(config: ScheduleConfig, as_dicts: bool = False) -> torch.utils.data.Dataset:
    """``dataset_size`` synthetic rows (seeded): ``x`` of 4 features, ``y`` a noisy linear target."""
    n = config.training.dataset_size
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, FEATURES, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=gen)
    if as_dicts:
        return _DictRows(x, y)
    return torch.utils.data.TensorDataset(x, y)


class LrRecorder:
    """Reads every group's lr; call :meth:`read` right before each real ``optimizer.step()``."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.rows: list[list[float]] = []

    def read(self) -> None:
        self.rows.append([float(g["lr"]) for g in self.optimizer.param_groups])

    def array(self) -> np.ndarray:
        return np.asarray(self.rows, dtype=np.float64).reshape(len(self.rows), -1)


def amp_scaler() -> Any:
    """The ``torch.amp.GradScaler`` an fp16 run uses, on CPU (initial scale 2**16, halved on overflow)."""
    return torch.amp.GradScaler("cpu")


def overflow(model: nn.Module) -> None:
    """Make this optimizer step an fp16 overflow: an inf in a gradient, as a too-high loss scale gives.

    ``GradScaler.step`` then finds it (``found_inf``), skips ``optimizer.step()`` and ``update()``
    halves the scale (torch/amp/grad_scaler.py)."""
    p = next(q for q in model.parameters() if q.grad is not None)
    with torch.no_grad():
        p.grad.view(-1)[0] = float("inf")


def design_metric(config: ScheduleConfig) -> Any:
    """The design's plateau metric as a validation loop reports it: one value per call (evaluation
    0, 1, ...); 1.0 when the design has no plateau."""
    import itertools

    from ..build import MetricFeed

    if config.plateau is None:
        return lambda: 1.0
    feed = MetricFeed(config.plateau.metric)
    counter = itertools.count()
    return lambda: float(feed(next(counter)))
