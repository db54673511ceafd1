"""Runs to fit on, and lr sequences to predict, from every format the studio reads.

A :class:`Run` is the lr of *every* optimizer step (row ``k`` = the lr step ``k`` used) plus the
training loss at some rows (the loss at row ``t`` is the loss after ``t`` optimizer steps: the
value a log writes at ``step = t``).  Sources:

- run logs (:func:`schedules.logs.read_log`): CSV ``step,lr,loss`` (``loss`` may be empty on
  unlogged steps), HF ``trainer_state.json``, JSON Lines, TensorBoard event files;
- a Live run's frame (``step, lr, loss`` columns; :func:`run_from_frame`);
- a log whose lr is not logged at every step, together with the design that produced it
  (``design=``): the lr then comes from :func:`schedules.lr_curve`.

A log whose lr starts at step 1 (HF logs after the first optimizer step) gets row 0 = row 1's lr,
and says so in :attr:`Run.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..design import ConfigError, Problem
from ..logs import RunLog, read_csv, read_log

#: Longest lr sequence accepted for a fit run or a prediction target (steps).
MAX_FORECAST_STEPS = 2_000_000


@dataclass
class Run:
    """An lr sequence with the loss logged at some of its rows."""

    name: str
    lr: np.ndarray
    loss_rows: np.ndarray
    loss: np.ndarray
    notes: list[str] = field(default_factory=list)
    #: The run's effective batch (samples per optimizer step) when known: from its design, or from a
    #: Live run's samples.  A law fitted at one batch does not transfer to another (validity.py).
    batch: int | None = None

    def __post_init__(self) -> None:
        self.lr = np.asarray(self.lr, dtype=np.float64)
        self.loss_rows = np.asarray(self.loss_rows, dtype=np.int64)
        self.loss = np.asarray(self.loss, dtype=np.float64)
        check_lr(self.lr, self.name)
        if len(self.loss_rows) != len(self.loss):
            raise ConfigError(
                Problem(f"{self.name}: loss", "needs one row per loss value", len(self.loss_rows))
            )
        keep = np.isfinite(self.loss)
        self.loss_rows, self.loss = self.loss_rows[keep], self.loss[keep]
        order = np.argsort(self.loss_rows, kind="stable")
        self.loss_rows, self.loss = self.loss_rows[order], self.loss[order]
        if len(self.loss) == 0:
            raise ConfigError(Problem(f"{self.name}: loss", "needs at least one logged loss value", 0))
        bad = self.loss <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(
                Problem(
                    f"{self.name}: loss",
                    f"must be > 0 at every logged step (the laws fit log loss); at step {int(self.loss_rows[i])}",
                    float(self.loss[i]),
                )
            )
        outside = (self.loss_rows < 0) | (self.loss_rows > len(self.lr))
        if outside.any():
            self.notes.append(
                f"{int(outside.sum())} loss value(s) at steps outside 0..{len(self.lr)} (the lr's steps) were left out"
            )
            self.loss_rows, self.loss = self.loss_rows[~outside], self.loss[~outside]
            if len(self.loss) == 0:
                raise ConfigError(
                    Problem(
                        f"{self.name}: loss",
                        f"needs loss values at steps 0..{len(self.lr)} (where the lr is known)",
                        "none there",
                    )
                )

    @property
    def steps(self) -> int:
        return len(self.lr)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (:func:`run_from_dict` reads it back)."""
        return {
            "name": self.name,
            "lr": self.lr.tolist(),
            "loss_rows": self.loss_rows.tolist(),
            "loss": self.loss.tolist(),
            "notes": list(self.notes),
            "batch": self.batch,
        }


def run_from_dict(data: dict[str, Any]) -> Run:
    return Run(
        data["name"],
        data["lr"],
        data["loss_rows"],
        data["loss"],
        list(data.get("notes", [])),
        data.get("batch"),
    )


def design_batch(design: Any) -> int | None:
    """The effective batch of a design (path, dict or config); None when there is none."""
    if design is None:
        return None
    from ..build import load_config

    return int(load_config(design).plan.effective_batch)


def check_lr(lr: np.ndarray, name: str) -> None:
    if len(lr) < 2:
        raise ConfigError(Problem(f"{name}: lr", "needs the lr of at least 2 optimizer steps", len(lr)))
    if len(lr) > MAX_FORECAST_STEPS:
        raise ConfigError(
            Problem(f"{name}: lr", f"must have at most {MAX_FORECAST_STEPS} optimizer steps", len(lr))
        )
    bad = ~np.isfinite(lr) | (lr < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(Problem(f"{name}: lr", f"must be finite and >= 0; at step {i}", float(lr[i])))
    if not (lr > 0).any():
        raise ConfigError(Problem(f"{name}: lr", "must be > 0 at some step", 0.0))


def _design_lr(design: Any, name: str) -> np.ndarray:
    from ..build import load_config
    from ..curve import lr_curve

    config = load_config(design)
    return lr_curve(config)["lr"].to_numpy(dtype=np.float64)


def lr_from_log(log: RunLog, name: str, design: Any = None) -> tuple[np.ndarray, list[str]]:
    """The lr of every optimizer step from a log (or from ``design`` when the log lacks some)."""
    notes: list[str] = []
    if log.has("lr"):
        s = log.series["lr"]
        steps = s["step"].to_numpy()
        values = s["value"].to_numpy(dtype=np.float64)
        first = int(steps[0])
        contiguous = np.array_equal(steps, np.arange(first, first + len(steps)))
        if contiguous and first in (0, 1):
            if first == 1:
                values = np.concatenate([[values[0]], values])
                notes.append("the lr starts at step 1: row 0 uses step 1's lr")
            return values, notes
        missing = "step 0" if first > 1 else _first_gap(steps)
        what = f"the log has the lr at {len(steps)} steps between {first} and {int(steps[-1])} (first missing: {missing})"
    else:
        what = "the log has no lr column"
    if design is not None:
        lr = _design_lr(design, name)
        notes.append(f"lr from the design ({len(lr)} steps): {what}")
        return lr, notes
    raise ConfigError(
        Problem(
            name,
            "needs the lr of every optimizer step (steps 0..N-1), or the design that produced the run; "
            + what,
            None,
            has_value=False,
        )
    )


def _first_gap(steps: np.ndarray) -> str:
    gaps = np.flatnonzero(np.diff(steps) != 1)
    return f"step {int(steps[gaps[0]]) + 1}" if len(gaps) else "none"


def run_from_log(log: RunLog, design: Any = None, name: str | None = None) -> Run:
    name = name or log.name
    lr, notes = lr_from_log(log, name, design)
    if not log.has("loss"):
        raise ConfigError(
            Problem(
                name,
                "needs training-loss values to fit on (a loss / train_loss column)",
                None,
                has_value=False,
            )
        )
    s = log.series["loss"]
    return Run(
        name, lr, s["step"].to_numpy(), s["value"].to_numpy(), notes + list(log.notes), design_batch(design)
    )


def run_from_file(path: str | Path, design: Any = None) -> Run:
    """A run from a log file (any format :func:`schedules.logs.read_log` reads)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            Problem(str(path), f"must be a readable file ({exc.strerror})", None, has_value=False)
        ) from None
    return run_from_log(read_log(data, p.name), design)


def run_from_frame(frame: pd.DataFrame, name: str) -> Run:
    """A run from a frame with ``step``, ``lr`` and ``loss`` columns (a Live run's setting); its batch
    is the most common ``window_samples`` (a Live run records it) when the frame has them."""
    run = run_from_log(read_csv(frame.to_csv(index=False), name), name=name)
    if "window_samples" in frame.columns and len(frame):
        run.batch = int(frame["window_samples"].mode().iloc[0])
    return run


def target_lr(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(steps, lr, notes)`` of a prediction target: a design JSON or a CSV with ``step,lr``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            Problem(str(path), f"must be a readable file ({exc.strerror})", None, has_value=False)
        ) from None
    if p.suffix.lower() == ".json" or data.lstrip()[:1] == b"{":
        from ..build import load_config
        from ..curve import lr_curve

        frame = lr_curve(load_config(str(p)))
        lr = frame["lr"].to_numpy(dtype=np.float64)
        check_lr(lr, p.name)
        return frame["step"].to_numpy(dtype=np.int64), lr, []
    log = read_log(data, p.name)
    if not log.has("lr"):
        raise ConfigError(
            Problem(
                p.name,
                "needs an lr column (step,lr: the lr of every optimizer step)",
                list(log.columns.values()),
            )
        )
    s = log.series["lr"]
    steps = s["step"].to_numpy(dtype=np.int64)
    first = int(steps[0])
    if first != 0 or not np.array_equal(steps, np.arange(len(steps))):
        raise ConfigError(
            Problem(
                p.name,
                "needs the lr of every optimizer step, steps 0..N-1 in order; "
                f"first missing: {'step 0' if first != 0 else _first_gap(steps)}",
                f"steps {first}..{int(steps[-1])}",
            )
        )
    lr = s["value"].to_numpy(dtype=np.float64)
    check_lr(lr, p.name)
    return steps, lr, []
