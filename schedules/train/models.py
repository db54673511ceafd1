"""The small models of the live run, their seeded initialisation and their param groups.

==========  =============================================  ==========  ========  ==========
name        layers                                         dataset     loss      parameters
==========  =============================================  ==========  ========  ==========
``mlp``     Linear(32, 64) ReLU Linear(64, 64) ReLU        vectors     cross     6,922
            Linear(64, 10)                                             entropy
``cnn``     Conv(1, 8, 3) ReLU Conv(8, 16, 3) ReLU         images      cross     1,418
            global average pool, Linear(16, 10)                        entropy
``linear``  Linear(16, 1) (least squares)                  regression  squared   17
                                                                       error
==========  =============================================  ==========  ========  ==========

No batch norm and no dropout anywhere: a model's loss on a batch does not depend on how the batch is
split into micro-batches, which is what makes 64x1 and 16x4 runs comparable step by step.

**Initialisation** uses a private ``torch.Generator`` seeded with the run's seed (never the global
RNG, so concurrent runs in one server cannot disturb each other): every weight and bias is drawn
from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, torch's default bound for Linear and Conv layers.

**Param groups** (:func:`param_groups`): the model's layers are its *body* (every layer but the
last) and its *head* (the last layer).  With one config group it gets everything; with ``G > 1``
groups the last group is the head and the body's layers are split in order into ``G - 1``
contiguous, near-equal runs (``backbone``/``head`` for two groups).  With more body groups than
body layers, body layer ``i`` is group ``i`` and the groups after the last body layer get no
parameters; their lr is still scheduled and recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .data import NUM_CLASSES


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, NUM_CLASSES)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1), nn.Linear(16, NUM_CLASSES)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.layers[0](x))
        x = torch.relu(self.layers[1](x))
        return self.layers[2](x.mean(dim=(2, 3)))


class LinearRegression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(16, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[0](x).squeeze(-1)


def _cross_entropy_sum(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y, reduction="sum")


def _squared_error_sum(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out - y) ** 2).sum()


@dataclass(frozen=True)
class ModelSpec:
    """A model of the live run: how to build it, its dataset and its per-sample loss (summed)."""

    name: str
    title: str
    build: Callable[[], nn.Module]
    dataset: str
    loss_sum: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("mlp", "MLP", MLP, "vectors", _cross_entropy_sum),
    "cnn": ModelSpec("cnn", "Small CNN", SmallCNN, "images", _cross_entropy_sum),
    "linear": ModelSpec("linear", "Least squares", LinearRegression, "regression", _squared_error_sum),
}


def make_model(name: str, seed: int, *, dtype: torch.dtype = torch.float32, device: str = "cpu") -> nn.Module:
    """Build model ``name`` with weights drawn from a private generator seeded with ``seed``."""
    model = MODELS[name].build()
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for layer in model.layers:
            fan_in = layer.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            for p in (layer.weight, layer.bias):
                p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=gen))
    return model.to(device=device, dtype=dtype)


def param_groups(model: nn.Module, groups: int) -> list[list[nn.Parameter]]:
    """Split the model's parameters into ``groups`` lists (see the module docstring)."""
    layers = list(model.layers)
    if groups == 1:
        return [list(model.parameters())]
    body, head = layers[:-1], layers[-1]
    out: list[list[nn.Parameter]] = [[] for _ in range(groups)]
    out[-1] = list(head.parameters())
    n_body = groups - 1
    for i, layer in enumerate(body):
        # Body layer i goes to group floor(i * (G - 1) / len(body)) (contiguous runs), or to group i
        # when there are at least as many body groups as body layers.
        group = i if n_body >= len(body) else (i * n_body) // len(body)
        out[group].extend(layer.parameters())
    return out


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
