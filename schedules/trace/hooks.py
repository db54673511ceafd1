"""The tracer inside one process: torch's own hooks, one row per optimizer step.

Installed right after the user's code has imported torch (by the injected ``sitecustomize``, see
:mod:`schedules.trace.inject`), or by :func:`schedules.trace` in a notebook.  It hooks torch itself,
not a framework, so a plain loop, HF ``Trainer``, accelerate, Lightning and DeepSpeed are traced
alike:

=======================================  ======================================================
hook                                     what it records
=======================================  ======================================================
``register_optimizer_step_pre_hook``     each param group's ``lr`` right before the step
``register_optimizer_step_post_hook``    the row: written once the step is done
``LRScheduler.step`` (every subclass)    scheduler steps since the previous optimizer step
``ReduceLROnPlateau.step``               plateau steps, counted on their own
``LRScheduler.__init__``                 the scheduler's class and constructor arguments
``load_state_dict`` (schedulers,         a restored state (resume), at the row it happened
optimizers)
``torch.amp.GradScaler.step``            a step the scaler skipped (inf/NaN gradients): a row
                                         with ``skipped`` 1 (the optimizer never stepped)
``torch.autograd.backward``              backward calls (micro-batches) since the previous step
``Optimizer.zero_grad``                  counted per optimizer (in the ``end`` event)
=======================================  ======================================================

**Which step a count belongs to.**  A row is written at the end of optimizer step ``k`` (after the
post hook).  ``scheduler_steps``: scheduler steps between the previous step's end and this step's
start (the ones that moved the lr this step uses); ``micro_batches``: backward calls between the
previous step's end and this step's end (Lightning's closure runs the last backward *inside*
``optimizer.step``).  Calls nested inside another traced call count once: a ``SequentialLR`` steps
its children, a subclass's ``step`` calls ``super().step()``, accelerate's ``AcceleratedOptimizer``
wraps the torch optimizer (an optimizer is known by its first param group's ``params`` list,
which the wrapper shares and ``load_state_dict`` keeps).  Steps taken while a scheduler is being constructed (torch's initial step) are not
counted: row 0's ``scheduler_steps`` is 0 in the canonical loop.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import sys
import time
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim import lr_scheduler as tls
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from .writer import PartWriter, describe

#: Framework modules: their order is the precedence of stacks (first found wins), and their presence
#: tells the stack before any optimizer step has shown whose code steps it (:data:`STACK_PACKAGES`).
STACK_MODULES = (
    ("lightning", ("lightning.pytorch.trainer.trainer", "pytorch_lightning.trainer.trainer")),
    ("hf", ("transformers.trainer",)),
    ("deepspeed", ("deepspeed.runtime.engine",)),
    ("accelerate", ("accelerate.accelerator",)),
)
#: The code that steps the optimizer tells the stack better than what is imported (a notebook may have
#: imported accelerate and still run a plain loop): the packages whose frames call ``optimizer.step``.
STACK_PACKAGES = {
    "lightning": ("lightning.", "pytorch_lightning."),
    "hf": ("transformers.",),
    "deepspeed": ("deepspeed.",),
    "accelerate": ("accelerate.",),
}
#: Optimizer steps whose callers are looked at (the first ones tell; the look costs a frame walk).
STACK_LOOKS = 8
#: Frames walked up from the optimizer's step per look.
STACK_FRAMES = 40
#: Rows between two looks for the rank while none is known (torch.distributed may start later).
RANK_LOOK_EVERY = 64
_MARK = "_lrs_traced"


class _Opt:
    """What the tracer keeps per optimizer (known by its first param group's ``params`` list)."""

    __slots__ = (
        "groups",
        "key",
        "index",
        "rows",
        "depth",
        "lrs",
        "sched",
        "plateau",
        "pre_sched",
        "pre_plateau",
        "last_sched",
        "last_plateau",
        "last_backward",
        "zero_grads",
    )

    def __init__(self, groups: list, key: Any, index: int, backward: int):
        self.groups = groups
        self.key = key  # kept alive, so its id is never reused while traced
        self.index = index
        self.rows = self.depth = self.sched = self.plateau = 0
        self.pre_sched = self.pre_plateau = self.last_sched = self.last_plateau = 0
        self.last_backward = backward
        self.lrs: list[float] = []
        self.zero_grads = 0


def stack_modules() -> list[str]:
    """The stacks whose modules this process has imported (see :data:`STACK_MODULES`)."""
    return [name for name, modules in STACK_MODULES if any(m in sys.modules for m in modules)]


def stacks_calling(frame: Any) -> set[str]:
    """The stacks (:data:`STACK_PACKAGES`) with code among ``frame`` and its callers."""
    found: set[str] = set()
    for _ in range(STACK_FRAMES):
        if frame is None:
            break
        module = frame.f_globals.get("__name__") or ""
        for name, prefixes in STACK_PACKAGES.items():
            if module.startswith(prefixes):
                found.add(name)
        frame = frame.f_back
    return found


class Tracer:
    """The hooks of one process, writing to one :class:`~schedules.trace.writer.PartWriter`."""

    def __init__(self, writer: PartWriter):
        self.writer = writer
        self.opts: dict[int, _Opt] = {}
        self.backward_calls = 0
        self.sched_depth = 0
        self.init_depth = 0
        self.rank: int | None = None
        self.rank_final = False
        self.rows = 0
        self.scheduler_steps: dict[int, int] = {}
        self._handles: list[Any] = []
        self._patches: list[tuple[Any, str, Any, bool]] = []  # (owner, name, original, had its own)
        self._installed = False
        self.stack_looks = 0
        self.stepped_by: set[str] = set()

    def stacks(self) -> list[str]:
        """The stacks of this process, in :data:`STACK_MODULES` order: those whose code stepped the
        optimizer; with no optimizer step seen yet, those imported."""
        if not self.stack_looks:
            return stack_modules()
        return [name for name, _ in STACK_MODULES if name in self.stepped_by]

    # -- bookkeeping ---------------------------------------------------------------------------
    def _opt(self, optimizer: Any) -> _Opt:
        groups = optimizer.param_groups
        # Known by its first group's params list: shared by a wrapper (accelerate's
        # AcceleratedOptimizer) and kept by load_state_dict, which replaces the groups themselves.
        key = groups[0]["params"] if groups else groups
        st = self.opts.get(id(key))
        if st is not None:
            st.groups = groups
        else:
            st = self.opts[id(key)] = _Opt(groups, key, len(self.opts), self.backward_calls)
            names = [g["name"] if isinstance(g.get("name"), str) else str(i) for i, g in enumerate(groups)]
            self.writer.event(
                {
                    "event": "optimizer",
                    "optimizer": st.index,
                    "class": type(optimizer).__qualname__,
                    "module": type(optimizer).__module__,
                    "groups": names,
                }
            )
        return st

    def _look_for_rank(self) -> None:
        rank, final = None, False
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank, final = dist.get_rank(), True
        else:
            for var in ("RANK", "LOCAL_RANK"):
                text = os.environ.get(var, "")
                if text.strip().isdigit():
                    rank, final = int(text), True
                    break
        if rank is not None and rank != self.rank:
            self.rank = rank
            self.writer.event({"event": "rank", "rank": rank})
        self.rank_final = final

    def _row(self, st: _Opt, skipped: int) -> None:
        if not self.rank_final and (self.rows < 2 or self.rows % RANK_LOOK_EVERY == 0):
            self._look_for_rank()
        if self.rows == 0:
            self.writer.event({"event": "stack", "modules": self.stacks()})
        self.writer.row(
            st.index,
            skipped,
            st.pre_sched - st.last_sched,
            st.pre_plateau - st.last_plateau,
            self.backward_calls - st.last_backward,
            st.lrs,
        )
        st.last_sched, st.last_plateau, st.last_backward = st.pre_sched, st.pre_plateau, self.backward_calls
        st.rows += 1
        self.rows += 1

    # -- hooks ---------------------------------------------------------------------------------
    def pre_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:  # noqa: ARG002
        if self.stack_looks < STACK_LOOKS:
            self.stack_looks += 1
            self.stepped_by |= stacks_calling(sys._getframe(1))
        st = self._opt(optimizer)
        if st.depth == 0:
            st.lrs = [float(g["lr"]) for g in st.groups]
            st.pre_sched, st.pre_plateau = st.sched, st.plateau
        st.depth += 1

    def post_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:  # noqa: ARG002
        st = self._opt(optimizer)
        st.depth = max(0, st.depth - 1)
        if st.depth == 0:
            self._row(st, 0)

    def scheduler_stepped(self, scheduler: Any) -> None:
        optimizer = getattr(scheduler, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "param_groups"):
            return
        st = self._opt(optimizer)
        if isinstance(scheduler, tls.ReduceLROnPlateau):
            st.plateau += 1
        else:
            st.sched += 1
        key = id(scheduler)
        self.scheduler_steps[key] = self.scheduler_steps.get(key, 0) + 1

    def scheduler_made(self, scheduler: Any, init: Any, args: tuple, kwargs: dict) -> None:
        try:
            bound = inspect.signature(init).bind_partial(scheduler, *args, **kwargs).arguments
        except (TypeError, ValueError):
            bound = {"args": list(args), **kwargs}
        arguments = {k: describe(v) for k, v in list(bound.items())[1:] if k != "optimizer"}
        optimizer = getattr(scheduler, "optimizer", None)
        st = self._opt(optimizer) if hasattr(optimizer, "param_groups") else None
        self.writer.event(
            {
                "event": "scheduler",
                "id": id(scheduler),
                "class": type(scheduler).__qualname__,
                "module": type(scheduler).__module__,
                "kwargs": arguments,
                "optimizer": st.index if st is not None else None,
                "row": st.rows if st is not None else self.rows,
                "lrs": [float(g["lr"]) for g in st.groups] if st is not None else [],
            }
        )

    def state_loaded(self, obj: Any) -> None:
        if isinstance(obj, Optimizer):
            st = self._opt(obj)
            self.writer.event({"event": "optimizer_state_loaded", "optimizer": st.index, "row": st.rows})
            return
        optimizer = getattr(obj, "optimizer", None)
        st = self._opt(optimizer) if hasattr(optimizer, "param_groups") else None
        self.writer.event(
            {
                "event": "scheduler_state_loaded",
                "id": id(obj),
                "class": type(obj).__qualname__,
                "optimizer": st.index if st is not None else None,
                "row": st.rows if st is not None else self.rows,
            }
        )

    # -- wrappers ------------------------------------------------------------------------------
    def _wrap_step(self, fn: Any) -> Any:
        tracer = self

        @functools.wraps(fn)
        def step(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
            if tracer.sched_depth or tracer.init_depth:
                return fn(scheduler, *args, **kwargs)
            tracer.sched_depth += 1
            try:
                return fn(scheduler, *args, **kwargs)
            finally:
                tracer.sched_depth -= 1
                tracer.scheduler_stepped(scheduler)

        setattr(step, _MARK, True)
        return step

    def _wrap_init(self, fn: Any) -> Any:
        tracer = self

        @functools.wraps(fn)
        def init(scheduler: Any, *args: Any, **kwargs: Any) -> None:
            if tracer.init_depth:
                fn(scheduler, *args, **kwargs)
                return
            tracer.init_depth += 1
            try:
                fn(scheduler, *args, **kwargs)
            finally:
                tracer.init_depth -= 1
            tracer.scheduler_made(scheduler, fn, args, kwargs)

        setattr(init, _MARK, True)
        return init

    def _wrap_load(self, fn: Any) -> Any:
        tracer = self

        @functools.wraps(fn)
        def load_state_dict(obj: Any, *args: Any, **kwargs: Any) -> Any:
            if tracer.init_depth or tracer.sched_depth:
                return fn(obj, *args, **kwargs)
            tracer.init_depth += 1  # a wrapper's load_state_dict loads its children's: count once
            try:
                out = fn(obj, *args, **kwargs)
            finally:
                tracer.init_depth -= 1
            tracer.state_loaded(obj)
            return out

        setattr(load_state_dict, _MARK, True)
        return load_state_dict

    def _patch(self, owner: Any, name: str, new: Any) -> None:
        had = name in owner.__dict__
        self._patches.append((owner, name, owner.__dict__.get(name), had))
        setattr(owner, name, new)

    def patch_scheduler_class(self, cls: type) -> None:
        """Wrap the ``step``, ``__init__`` and ``load_state_dict`` a scheduler class defines itself."""
        for name, wrap in (
            ("step", self._wrap_step),
            ("__init__", self._wrap_init),
            ("load_state_dict", self._wrap_load),
        ):
            fn = cls.__dict__.get(name)
            if callable(fn) and not getattr(fn, _MARK, False):
                self._patch(cls, name, wrap(fn))

    def install(self) -> Tracer:
        """Install every hook (see the module docstring); idempotent."""
        if self._installed:
            return self
        self._installed = True
        self._handles = [
            register_optimizer_step_pre_hook(self.pre_step),
            register_optimizer_step_post_hook(self.post_step),
        ]
        seen: set[type] = set()
        todo = [tls.LRScheduler, tls.ReduceLROnPlateau]
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            self.patch_scheduler_class(cls)
            todo.extend(cls.__subclasses__())
        tracer = self
        original_init_subclass = tls.LRScheduler.__dict__.get("__init_subclass__")

        def __init_subclass__(cls: type, **kwargs: Any) -> None:
            super(tls.LRScheduler, cls).__init_subclass__(**kwargs)
            tracer.patch_scheduler_class(cls)

        self._patches.append(
            (tls.LRScheduler, "__init_subclass__", original_init_subclass, original_init_subclass is not None)
        )
        tls.LRScheduler.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[method-assign,assignment]

        backward = torch.autograd.backward

        @functools.wraps(backward)
        def traced_backward(*args: Any, **kwargs: Any) -> Any:
            tracer.backward_calls += 1
            return backward(*args, **kwargs)

        self._patch(torch.autograd, "backward", traced_backward)

        zero_grad = Optimizer.zero_grad

        @functools.wraps(zero_grad)
        def traced_zero_grad(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            tracer._opt(optimizer).zero_grads += 1
            return zero_grad(optimizer, *args, **kwargs)

        self._patch(Optimizer, "zero_grad", traced_zero_grad)
        self._patch(Optimizer, "load_state_dict", self._wrap_load(Optimizer.load_state_dict))

        from torch.amp.grad_scaler import GradScaler

        scaler_step = GradScaler.step

        @functools.wraps(scaler_step)
        def traced_scaler_step(scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            st = tracer._opt(optimizer) if hasattr(optimizer, "param_groups") else None
            if st is None or st.depth:
                return scaler_step(scaler, optimizer, *args, **kwargs)
            before = st.rows
            lrs = [float(g["lr"]) for g in st.groups]
            sched, plateau = st.sched, st.plateau
            out = scaler_step(scaler, optimizer, *args, **kwargs)
            if st.rows == before and st.depth == 0:  # the optimizer never stepped: skipped
                st.lrs, st.pre_sched, st.pre_plateau = lrs, sched, plateau
                tracer._row(st, 1)
            return out

        self._patch(GradScaler, "step", traced_scaler_step)
        return self

    def uninstall(self) -> None:
        """Remove every hook and restore every patched attribute (the notebook API's exit)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for owner, name, original, had in reversed(self._patches):
            if had:
                setattr(owner, name, original)
            else:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
        self._patches = []
        self._installed = False

    def finish(self) -> None:
        """The ``end`` event: totals per scheduler and optimizer; then close the part."""
        if self.writer.fd is not None:
            self.writer.event(
                {
                    "event": "end",
                    "time": time.time(),
                    "backward_calls": self.backward_calls,
                    "scheduler_steps": {str(k): v for k, v in self.scheduler_steps.items()},
                    "zero_grads": {str(s.index): s.zero_grads for s in self.opts.values()},
                    # scheduler and plateau steps after each optimizer's last step (a resumed run's
                    # first row gets them: they happened between the two steps)
                    "pending": {
                        str(s.index): [s.sched - s.last_sched, s.plateau - s.last_plateau]
                        for s in self.opts.values()
                    },
                    "modules": self.stacks(),
                }
            )
        self.writer.close()

    def forked(self) -> None:
        """In a forked child: a fresh part and fresh counts (the parent keeps its own)."""
        self.writer = self.writer.forked()
        self.opts = {}
        self.backward_calls = self.rows = 0
        self.sched_depth = self.init_depth = 0
        self.rank, self.rank_final = None, False
        self.scheduler_steps = {}


#: The tracer of this process, once installed.
ACTIVE: Tracer | None = None


def install(directory: str) -> Tracer:
    """Hook torch in this process, writing a part into ``directory``; returns the tracer."""
    global ACTIVE
    if ACTIVE is not None:
        raise RuntimeError("this process is already traced (a trace command or a schedules.trace block)")
    ACTIVE = Tracer(PartWriter(directory)).install()
    return ACTIVE


def uninstall() -> None:
    global ACTIVE
    if ACTIVE is not None:
        ACTIVE.uninstall()
        ACTIVE.finish()
        ACTIVE = None


def _after_fork_in_child() -> None:
    if ACTIVE is not None:
        ACTIVE.forked()


def install_from_env() -> Tracer | None:
    """The injected tracer: hook torch when ``LRS_TRACE_DIR`` names a folder (else do nothing)."""
    from .names import ENV_DIR

    directory = os.environ.get(ENV_DIR)
    if not directory or ACTIVE is not None:
        return ACTIVE
    tracer = install(directory)
    atexit.register(tracer.finish)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    return tracer
