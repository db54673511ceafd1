"""Synthetic, seeded datasets for the live run: generated in memory, never downloaded.

Every dataset is a pure function of its kind and size, drawn from ``numpy.random.default_rng`` with
the fixed :data:`DATA_SEED`, so it "ships with the code": the same numbers on every machine and in
every run.  The run's own ``seed`` changes the model's initialisation and the sample order, never the
data.  Sample ``i`` of a training set does not depend on the set's size (a bigger ``dataset_size``
only appends samples), and the validation split is a separate stream of :data:`VAL_SIZE` samples.

==========  ============================  ======================================================
kind        inputs                        targets
==========  ============================  ======================================================
vectors     32 features, N(0, 1)          10 classes: argmax of a fixed random tanh teacher's
                                          logits plus Gumbel noise (about 20% label noise), so
                                          the loss has a floor well above 0
images      1 x 8 x 8 images              10 classes: a smooth class template, circularly
                                          shifted by a random offset, plus N(0, 0.8) noise
regression  16 features, N(0, 1)          ``x . w* + N(0, 0.1)``, ``||w*|| = 1``; with the mean
                                          squared error the Hessian is ``2 I``, so plain SGD is
                                          stable for lr < 1 and fastest near lr 0.5
==========  ============================  ======================================================
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: Fixed seed of every synthetic dataset (the data is part of the code, not of the run).
DATA_SEED = 20_240_611
#: Samples in the held-out validation split (a separate stream, independent of the training size).
VAL_SIZE = 2048
#: Classes of the classification datasets.
NUM_CLASSES = 10

_KIND_IDS = {"vectors": 1, "images": 2, "regression": 3}
_TRAIN, _VAL = 0, 1


@dataclass(frozen=True)
class Dataset:
    """Inputs and targets of one split as numpy arrays (float32 inputs)."""

    kind: str
    x: np.ndarray
    y: np.ndarray  # int64 class labels, or float32 regression targets

    @property
    def task(self) -> str:
        return "regression" if self.kind == "regression" else "classification"

    def __len__(self) -> int:
        return len(self.x)


def _rng(kind: str, *stream: int) -> np.random.Generator:
    return np.random.default_rng([DATA_SEED, _KIND_IDS[kind], *stream])


@functools.lru_cache(maxsize=1)
def _teacher() -> tuple[np.ndarray, np.ndarray]:
    rng = _rng("vectors", 99)
    w1 = rng.standard_normal((32, 64)) / np.sqrt(32) * 2.0
    w2 = rng.standard_normal((64, NUM_CLASSES)) / np.sqrt(64) * 4.0
    return w1, w2


@functools.lru_cache(maxsize=1)
def _templates() -> np.ndarray:
    rng = _rng("images", 99)
    raw = rng.standard_normal((NUM_CLASSES, 8, 8))
    smooth = sum(np.roll(raw, (dy, dx), axis=(1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    smooth = smooth - smooth.mean(axis=(1, 2), keepdims=True)
    return smooth / smooth.std(axis=(1, 2), keepdims=True)


@functools.lru_cache(maxsize=1)
def _true_weights() -> np.ndarray:
    w = _rng("regression", 99).standard_normal(16)
    return w / np.linalg.norm(w)


def _vectors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, 32))
    w1, w2 = _teacher()
    logits = np.tanh(x @ w1) @ w2 + rng.gumbel(size=(n, NUM_CLASSES))
    return x.astype(np.float32), logits.argmax(axis=1).astype(np.int64)


def _images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, NUM_CLASSES, size=n)
    shifts = rng.integers(0, 8, size=(n, 2))
    noise = rng.standard_normal((n, 8, 8)) * 0.8
    templates = _templates()
    rows = (np.arange(8)[None, :, None] - shifts[:, 0, None, None]) % 8
    cols = (np.arange(8)[None, None, :] - shifts[:, 1, None, None]) % 8
    x = templates[labels[:, None, None], rows, cols] + noise
    return x[:, None, :, :].astype(np.float32), labels.astype(np.int64)


def _regression(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, 16))
    y = x @ _true_weights() + 0.1 * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32)


_MAKERS = {"vectors": _vectors, "images": _images, "regression": _regression}
#: Samples generated per block: sample ``i`` is the same whatever the dataset size.
_BLOCK = 4096


def _generate(kind: str, split: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for block in range(-(-n // _BLOCK)):
        size = min(_BLOCK, n - block * _BLOCK)
        x, y = _MAKERS[kind](_rng(kind, split, block), _BLOCK)
        xs.append(x[:size])
        ys.append(y[:size])
    return np.concatenate(xs), np.concatenate(ys)


@functools.lru_cache(maxsize=6)
def training_set(kind: str, size: int) -> Dataset:
    """The first ``size`` samples of the ``kind`` training stream (cached; treat as read-only)."""
    if kind not in _MAKERS:
        raise ValueError(f"dataset kind must be one of {', '.join(_MAKERS)}, got {kind!r}")
    x, y = _generate(kind, _TRAIN, size)
    return Dataset(kind, x, y)


@functools.lru_cache(maxsize=3)
def validation_set(kind: str) -> Dataset:
    """The held-out validation split of ``kind`` (:data:`VAL_SIZE` samples, its own stream)."""
    if kind not in _MAKERS:
        raise ValueError(f"dataset kind must be one of {', '.join(_MAKERS)}, got {kind!r}")
    x, y = _generate(kind, _VAL, VAL_SIZE)
    return Dataset(kind, x, y)
