"""The live run's loop: train a small model on synthetic data with the designed schedule, step by step.

:func:`train` returns a :class:`Training`, an iterator of one :class:`StepRecord` per *optimizer*
step.  The scheduler comes from :func:`~schedules.build.build_scheduler`, so for the correct loop the
recorded ``lr`` column equals ``schedules.lr_curve(config)["lr"]`` exactly.  :class:`LiveRun` runs
one or more trainings in a background thread (the app's Live page), and ``python -m schedules train``
is the headless form (CONTRACT.md section 4).

**The loop** (``variant="correct"``), one iteration per optimizer step ``k``::

    window = plan.window(k)                       # micro-batch counts and samples (design/plan.py)
    for x, y in micro_batches(window):            # fewer than A at the end of an epoch
        (loss_sum(model(x), y) / window.samples).backward()
    lrs = [g["lr"] for g in optimizer.param_groups]   # recorded: the lr this step uses
    optimizer.step(); schedule.step(val_loss if schedule.needs_metric else None); optimizer.zero_grad()

- **Loss normalisation.** Each micro-batch's summed per-sample loss is divided by the *window's*
  sample count, so the accumulated gradient is the mean over the window's actual samples: a short
  last window is not under-weighted, and a 16x4 window equals a 64x1 batch up to float rounding.
  The recorded ``loss`` is the window's summed loss (accumulated in float64) over its samples.
- **Sample order.** One permutation of the training set per epoch, from a ``torch.Generator`` seeded
  with ``(seed, epoch)``; micro-batch ``m`` of an epoch takes permutation entries
  ``[m*b*W, (m+1)*b*W)``.  The samples of optimizer step ``k`` therefore do not depend on how a
  window is split into micro-batches: 64x1 and 16x4 see the same samples at every step.
- **World size.** ``W`` ranks are emulated in one process: a micro-batch holds ``b * W`` samples (the
  union of the ranks' micro-batches), and dividing by the window's samples gives the gradient that
  DDP's all-reduce mean gives when every rank holds the same number of samples.
  :mod:`schedules.train.distributed` runs the ranks as real processes instead (:func:`live_run_for` and
  the CLI do so whenever the world size is within its cap).
- **Param groups.** The model's layers are split into the config's groups (body layers in order,
  the last group is the head; see :mod:`schedules.train.models`).
- **Evaluation.** ``val_loss`` is the mean loss on the held-out split (:mod:`schedules.train.data`).  With
  a ``plateau`` section it is computed whenever ``schedule.needs_metric`` (every
  ``plateau.eval_every``) and is the metric ``ReduceLROnPlateau`` receives: the config's
  ``plateau.metric`` (values or synthetic model) is for the designer's curve and is not used here.
  Without a plateau it is computed at every epoch end.  It is also computed at the run's last step;
  other rows have NaN.
- **Divergence guard.** A non-finite training (or validation) loss ends the run by raising
  :class:`Diverged`, e.g. ``loss became nan at step 12 (lr 3.2): stopping; 12 steps recorded``; the
  records yielded before stay valid (the CLI writes them as a partial CSV).
- **Stop.** ``stop`` (a ``threading.Event`` or a callable returning true) is checked before every
  micro-batch; the run then ends without taking the half-accumulated step.

The variants (the classic scheduler mistakes) and the caps are in :mod:`schedules.train.base`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..build import LRSchedule, build_scheduler, load_config, quiet_scheduler_warnings
from ..design import Plan, ScheduleConfig, Window
from .base import (
    BEFORE_OPTIMIZER,
    CORRECT,
    DEFAULT_THREADS,
    DTYPES,
    PER_MICRO_BATCH,
    Diverged,
    ScheduleFailed,
    StepRecord,
    StopFlag,
    check_live,
    limit_threads,
    records_frame,
    resolve_device,
    stop_check,
)
from .data import training_set, validation_set
from .gns import WindowNoise
from .models import MODELS, make_model, param_groups


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])


# --------------------------------------------------------------------------------------------------
# the shared machinery (also used by the LR range test)


class LiveSetup:
    """Data, model, param groups and sample order of one live run (see the module docstring)."""

    def __init__(self, config: ScheduleConfig, plan: Plan, *, model: str, seed: int, device: str, dtype: str):
        spec = MODELS[model]
        self.config = config
        self.plan = plan
        self.spec = spec
        self.seed = seed
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype]
        train = training_set(spec.dataset, config.training.dataset_size)
        val = validation_set(spec.dataset)
        self.x, self.y = self._tensors(train.x, train.y)
        self.val_x, self.val_y = self._tensors(val.x, val.y)
        self.model = make_model(model, seed, dtype=self.dtype, device=device)
        self._params = list(self.model.parameters())
        self.groups = param_groups(self.model, len(config.optimizer.groups()))
        self.group_names = [g.name for g in config.optimizer.groups()]
        self._perm: torch.Tensor | None = None
        self._perm_epoch = -1

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.from_numpy(x).to(self.device, self.dtype)
        yt = torch.from_numpy(y).to(self.device)
        if yt.is_floating_point():
            yt = yt.to(self.dtype)
        return xt, yt

    def make_optimizer(self, lrs: list[float]) -> torch.optim.Optimizer:
        """The config's optimizer class over the param groups, with the given per-group lrs."""
        opt = self.config.optimizer
        cls = getattr(torch.optim, opt.name)
        groups = [{"params": ps, "lr": lr} for ps, lr in zip(self.groups, lrs, strict=True)]
        return cls(groups, lr=opt.lr, **opt.kwargs)

    def make_schedule_free(self, kind: str) -> tuple[torch.optim.Optimizer, list[str]]:
        """``schedulefree``'s optimizer of ``kind`` over the param groups at the design's per-group lrs,
        warming up over the design's warmup; and the design kwargs it does not take."""
        from . import schedule_free

        opt = self.config.optimizer
        kwargs, dropped = schedule_free.optimizer_kwargs(kind, opt.kwargs)
        groups = [{"params": ps, "lr": lr} for ps, lr in zip(self.groups, opt.base_lrs(), strict=True)]
        return schedule_free.make_optimizer(
            kind, groups, warmup_steps=self.plan.warmup_steps, kwargs=kwargs
        ), dropped

    def permutation(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch``: ``randperm`` from a generator seeded by ``(seed, epoch)``."""
        if epoch != self._perm_epoch:
            gen = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
            self._perm = torch.randperm(len(self.x), generator=gen).to(self.device)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def micro_batches(self, window: Window) -> Iterator[torch.Tensor]:
        """Index tensors of the window's micro-batches (``b * W`` samples each, the last maybe fewer)."""
        perm = self.permutation(window.epoch)
        plan = self.plan
        start = window.first_micro_batch * plan.round_size
        for m in range(window.first_micro_batch, window.first_micro_batch + window.micro_batches):
            size = plan.micro_batch_samples(m)
            yield perm[start : start + size]
            start += size

    def loss_sum(self, idx: torch.Tensor) -> torch.Tensor:
        """Summed per-sample training loss of the samples ``idx`` (with autograd)."""
        return self.spec.loss_sum(self.model(self.x[idx]), self.y[idx])

    def val_loss(self) -> float:
        """Mean loss over the held-out split."""
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(self.val_x), 4096):
                xs, ys = self.val_x[start : start + 4096], self.val_y[start : start + 4096]
                total += float(self.spec.loss_sum(self.model(xs), ys).double())
        return total / len(self.val_x)

    def grad_norm(self) -> float:
        """L2 norm of all gradients together (no clipping)."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads:
            return 0.0
        # One fused kernel for the per-tensor norms (torch >= 2.4; get_total_norm needs 2.6); on CPU the
        # few scalars are combined in Python (cheaper than two more kernels), on CUDA on the device
        # (one sync instead of one per tensor).
        norms = torch._foreach_norm(grads)
        if self.device.type == "cpu":
            return math.sqrt(math.fsum(float(n) ** 2 for n in norms))
        return float(torch.linalg.vector_norm(torch.stack(norms)))


# --------------------------------------------------------------------------------------------------
# train


def step_schedule_checked(
    schedule: LRSchedule, k: int, variant: str, metric: float | None, times: int = 1
) -> None:
    """Step ``schedule`` ``times`` times after optimizer step ``k`` (the live loop's and every rank's
    rule); a scheduler torch refuses to step ends the run with :class:`ScheduleFailed`."""
    try:
        for _ in range(times):
            if variant == CORRECT:
                schedule.step(metric)
            else:  # the variants step out of order on purpose: torch's warning about it is expected
                with quiet_scheduler_warnings():
                    schedule.step(metric)
    except (ValueError, ZeroDivisionError, OverflowError, RuntimeError) as exc:
        raise ScheduleFailed(
            f"torch refused to step the scheduler at optimizer step {k} "
            f"(scheduler step {schedule.steps_taken}): {exc}; {k} steps recorded",
            k,
        ) from None


def checked_val_loss(setup: LiveSetup, optimizer: torch.optim.Optimizer, k: int) -> float:
    """The validation loss after optimizer step ``k``; a non-finite one ends the run (:class:`Diverged`)."""
    val = setup.val_loss()
    if not math.isfinite(val):
        lr = optimizer.param_groups[0]["lr"]
        raise Diverged(
            f"validation loss became {val} at step {k} (lr {lr:.3g}): stopping; {k} steps recorded", k
        )
    return val


class StepLoop:
    """The end of one optimizer step, shared by the single-process loop (:class:`Training`) and every
    rank's loop (:class:`schedules.train.distributed.RankLoop`): one place for the canonical order.

    A loop sets ``plan``, ``variant``, ``optimizer``, ``schedule`` (None for schedule-free),
    ``group_names``, ``steps`` and ``eval_at_epoch_end``, accumulates a window's gradients its own way,
    then calls :meth:`finish_step`.  The hooks a loop may override: :meth:`_validate` (the validation
    loss), :meth:`_grad_norm`, :meth:`_schedule_times` (scheduler steps per call: ``W`` for the
    per-process mistake), :meth:`_before_optimizer_step` and :meth:`_after_optimizer_step` (extra
    record fields, e.g. the noise scale and the schedule-free weights).
    """

    plan: Plan
    variant: str
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule | None
    group_names: list[str]
    steps: int
    eval_at_epoch_end: bool

    def _validate(self, k: int) -> float:
        raise NotImplementedError

    def _grad_norm(self) -> float:
        raise NotImplementedError

    def _schedule_times(self) -> int:
        return 1

    def _before_optimizer_step(self, grad_norm: float, window: Window) -> dict[str, float]:
        return {}

    def _after_optimizer_step(self, lrs: dict[str, float]) -> dict[str, float]:
        return {}

    def _schedule_step(self, k: int, val: float) -> float:
        """``schedule.step()``, with the real validation loss when the plateau wants a metric."""
        if self.schedule is None:  # schedule-free: the optimizer warms up and averages itself
            return val
        needs_metric = self.schedule.needs_metric
        if needs_metric:
            val = self._validate(k)
        step_schedule_checked(
            self.schedule, k, self.variant, val if needs_metric else None, self._schedule_times()
        )
        return val

    def finish_step(self, k: int, window: Window, loss: float, val: float, started: float) -> StepRecord:
        """Step ``k``'s gradients are in (``loss``: the window's mean loss): record the lrs it uses, take
        the optimizer step, step the schedule (before or after it, per the variant), validate when due,
        zero the gradients; the step's :class:`StepRecord`.  A non-finite loss raises :class:`Diverged`.
        """
        optimizer, variant = self.optimizer, self.variant
        if variant == BEFORE_OPTIMIZER:
            val = self._schedule_step(k, val)
        groups = optimizer.param_groups
        lrs = {name: float(g["lr"]) for name, g in zip(self.group_names, groups, strict=True)}
        if not math.isfinite(loss):
            first = lrs[self.group_names[0]]
            raise Diverged(
                f"loss became {loss} at step {k} (lr {first:.3g}): stopping; {k} steps recorded", k
            )
        grad_norm = self._grad_norm()
        extra = self._before_optimizer_step(grad_norm, window)
        optimizer.step()
        extra.update(self._after_optimizer_step(lrs))
        if variant != BEFORE_OPTIMIZER:
            val = self._schedule_step(k, val)
        if math.isnan(val) and (
            k == self.steps - 1 or (self.eval_at_epoch_end and self.plan.is_epoch_end(k))
        ):
            val = self._validate(k)
        optimizer.zero_grad(set_to_none=True)
        return StepRecord(
            step=k,
            epoch=window.epoch,
            lrs=lrs,
            loss=loss,
            grad_norm=grad_norm,
            samples=window.samples_through,
            window_samples=window.samples,
            micro_batches=window.micro_batches,
            wall_time=time.perf_counter() - started,
            val_loss=val,
            **extra,
        )


class Training(StepLoop):
    """An iterator of :class:`StepRecord`, one per optimizer step (see the module docstring).

    Built by :func:`train`, which validates everything and builds the data, model, optimizer and
    schedule up front; iterating runs the loop (in whatever thread iterates).  Attributes:
    ``config``, ``plan``, ``steps`` (how many steps it will take unless stopped), ``device``,
    ``group_names``, ``optimizer``, ``schedule`` (the :class:`LRSchedule`: its ``evaluations``
    list what ReduceLROnPlateau received), ``stopped`` (true once it ended because of ``stop``).
    """

    def __init__(
        self,
        config: ScheduleConfig,
        *,
        steps: int,
        device: str,
        seed: int,
        model: str,
        variant: str,
        dtype: str,
        stop: StopFlag,
        threads: int | None,
        schedule_free: str | None = None,
    ):
        self.config = config
        self.plan = config.plan
        self.schedule_free = schedule_free
        self.steps = steps
        self.device = device
        self.seed = seed
        self.model_name = model
        self.variant = variant
        self.threads = threads
        self.setup = LiveSetup(config, self.plan, model=model, seed=seed, device=device, dtype=dtype)
        self.group_names = self.setup.group_names
        self.dropped_kwargs: list[str] = []  # design kwargs the schedule-free class does not take
        self.schedule: LRSchedule | None
        if schedule_free is None:
            self.optimizer = self.setup.make_optimizer(config.optimizer.base_lrs())
            self.schedule = build_scheduler(self.optimizer, config)
        else:
            self.optimizer, self.dropped_kwargs = self.setup.make_schedule_free(schedule_free)
            self.schedule = None  # no lr scheduler: the optimizer warms up and averages itself
        self.eval_at_epoch_end = config.plateau is None or self.schedule is None
        self.stopped = False
        self._stop = stop_check(stop)
        # Gradient noise scale from each accumulation window (schedules/train/gns.py); needs accumulation.
        self._noise = WindowNoise(self.setup._params) if self.plan.accumulation_steps > 1 else None
        self._sf_sum = 0.0
        self._gen = self._run()

    def __iter__(self) -> Training:
        return self

    def __next__(self) -> StepRecord:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def frame(self, records: list[StepRecord]) -> pd.DataFrame:
        return records_frame(records, self.group_names, self.schedule_free is not None)

    # -- the hooks of StepLoop ---------------------------------------------------------------------
    def _validate(self, k: int) -> float:
        if self.schedule_free is None:
            return checked_val_loss(self.setup, self.optimizer, k)
        self.optimizer.eval()  # schedule-free: evaluate the averaged iterate x ...
        try:
            return checked_val_loss(self.setup, self.optimizer, k)
        finally:
            self.optimizer.train()  # ... and take gradients at y again

    def _grad_norm(self) -> float:
        return self.setup.grad_norm()

    def _before_optimizer_step(self, grad_norm: float, window: Window) -> dict[str, float]:
        if self._noise is None:
            return {}
        return {"noise_scale": self._noise.end_window(grad_norm, window.samples)}

    def _after_optimizer_step(self, lrs: dict[str, float]) -> dict[str, float]:
        if self.schedule_free is None:
            return {}
        from .schedule_free import step_state  # the step size it used and its weight, from its state

        used, weight, averaging = step_state(self.optimizer, self._sf_sum)
        self._sf_sum += weight
        lrs.update(zip(self.group_names, used, strict=True))
        return {"sf_weight": weight, "sf_averaging": averaging}

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self) -> Iterator[StepRecord]:
        limit_threads(self.threads if self.setup.device.type == "cpu" else None)
        setup, plan, optimizer, variant = self.setup, self.plan, self.optimizer, self.variant
        stopped, noise, sf = self._stop, self._noise, self.schedule_free is not None
        t0 = time.perf_counter()
        for k in range(self.steps):
            window = plan.window(k)
            val = math.nan
            total = None
            if sf:
                setup.model.train()
                optimizer.train()  # schedule-free: parameters at y, where the gradient is taken
            for j, idx in enumerate(setup.micro_batches(window)):
                if stopped():
                    self.stopped = True
                    return
                loss_sum = setup.loss_sum(idx)
                (loss_sum / window.samples).backward()
                if noise is not None and window.micro_batches > 1:
                    noise.micro_batch(int(idx.shape[0]), window.samples, j == window.micro_batches - 1)
                part = loss_sum.detach()  # summed in float64 from the second micro-batch on
                total = part if total is None else total.double() + part
                if variant == PER_MICRO_BATCH and j < window.micro_batches - 1:
                    val = self._schedule_step(k, val)
            yield self.finish_step(k, window, float(total) / window.samples, val, t0)
        if sf:
            optimizer.eval()  # the run is over: the model holds x, the weights to evaluate and save


def train(
    config: ScheduleConfig | dict[str, Any] | str,
    *,
    device: str = "auto",
    seed: int = 0,
    max_steps: int | None = None,
    model: str = "mlp",
    variant: str = CORRECT,
    stop: StopFlag = None,
    dtype: str = "float32",
    threads: int | None = DEFAULT_THREADS,
    schedule_free: str | None = None,
) -> Training:
    """Train ``model`` on its synthetic dataset with ``config``'s optimizer, batches and schedule.

    Returns a :class:`Training`: iterate it for one :class:`StepRecord` per optimizer step.

    - ``device``: ``"auto"`` (CUDA when ``torch.cuda.is_available()``, else CPU), ``"cpu"``, ``"cuda"``.
    - ``seed``: model initialisation and sample order (the data itself is fixed).
    - ``max_steps``: run only the first ``max_steps`` steps of the *designed* schedule (the schedule is
      not shortened: the recorded lrs are the first rows of ``lr_curve(config)``).  The whole run may
      take at most :data:`MAX_LIVE_STEPS` steps.
    - ``model``: ``"mlp"``, ``"cnn"`` or ``"linear"`` (:mod:`schedules.train.models`).
    - ``variant``: ``"correct"`` or one of the scheduler mistakes (module docstring).
    - ``stop``: a ``threading.Event`` or a callable, checked before every micro-batch.
    - ``dtype``: ``"float32"``, or ``"float64"`` for step-by-step comparisons with no rounding noise.
    - ``threads``: torch CPU threads while the run iterates (``None``: unchanged).
    - ``schedule_free``: ``"AdamW"`` or ``"SGD"`` trains with ``schedulefree.AdamWScheduleFree`` /
      ``SGDScheduleFree`` instead (Defazio et al. 2024): the design's per-group lrs as peaks, its
      warmup length as the optimizer's ``warmup_steps``, no lr scheduler (the decay and plateau are
      not used).  ``optimizer.train()`` runs before every step's micro-batches, ``optimizer.eval()``
      around every validation (the loss of the averaged iterate ``x``) and at the end.  The ``lr``
      columns are the step size each step used (``scheduled_lr``); ``sf_weight`` / ``sf_averaging``
      the averaging weight ``w_k`` and ``c_k = w_k / sum(w)`` (:mod:`schedules.train.schedule_free`).

    Raises :class:`ConfigError` (naming the field) for invalid arguments or a run over the caps; while
    iterating, :class:`Diverged` for a non-finite loss and :class:`ScheduleFailed` when torch rejects a
    scheduler step (both :class:`LiveRunError`).

    >>> run = train({"optimizer": {"name": "SGD", "lr": 0.1},
    ...              "training": {"dataset_size": 640, "micro_batch_size": 16, "accumulation_steps": 4,
    ...                           "epochs": 1}}, device="cpu")
    >>> [round(r.lr, 3) for r in run]                       # doctest: +SKIP
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    """
    cfg = load_config(config)
    steps = check_live(
        cfg,
        max_steps=max_steps,
        model=model,
        variant=variant,
        dtype=dtype,
        seed=seed,
        schedule_free=schedule_free,
    )
    resolved = resolve_device(device)
    return Training(
        cfg,
        steps=steps,
        device=resolved,
        seed=seed,
        model=model,
        variant=variant,
        dtype=dtype,
        stop=stop,
        threads=threads,
        schedule_free=schedule_free,
    )
