"""The distributed live run: ``world_size`` ranks as real processes on ``torch.distributed``.

:func:`train_processes` returns a :class:`DistributedTraining`, an iterator of one
:class:`~schedules.train.base.StepRecord` per optimizer step, like :func:`schedules.train.loop.train`; iterating
it starts ``W`` worker processes (``spawn``), each running the loop below on its shard of the data,
and yields rank 0's records as they arrive over a pipe.  :class:`~schedules.train.runs.LiveRun` runs it in
its background thread like any other job (the app's Live page); ``python -m schedules train CONFIG
--world-size 2`` is the headless form.

**Backend** (:func:`select_backend`): NCCL when every rank has a CUDA device of its own (rank ``r``
uses ``cuda:r``), gloo on CPU.  ``--device cuda`` with fewer devices than ranks is refused.

**Data.** Every rank holds the whole seeded training set (:mod:`schedules.train.data`) and the epoch's
permutation from the single-process run (seeded by ``(seed, epoch)``).  A
``torch.utils.data.DistributedSampler(shuffle=False, drop_last=training.drop_last)`` over that order
gives rank ``r`` the permutation entries ``r, r + W, r + 2W, ...``, and its micro-batch ``m`` is the
sampler's ``m``-th batch of ``b`` (a ``BatchSampler`` with the same ``drop_last``).  So the union of
the ranks' micro-batch ``m`` is exactly the single-process micro-batch ``m`` of ``b * W`` samples
(permutation entries ``[m*b*W, (m+1)*b*W)``), and the sampler's batch count equals the design's
``L = ceil(N / (b * W))`` (``floor`` with ``drop_last``) per rank -- checked when a rank starts.
Without ``drop_last`` and with ``N`` not a multiple of ``W`` the sampler pads the last round with a
few repeated samples (on every rank the same number of samples); they are trained on, as in any DDP
run, but not counted in ``samples`` (CONTRACT.md section 2).

**The loop** on every rank (``variant="correct"``), optimizer step ``k``::

    for j, idx in enumerate(rank_micro_batches(window)):          # plan.window(k), <= A of them
        with ddp.no_sync() if j < last else nullcontext():         # all-reduce on the last one only
            (loss_sum(ddp(x[idx]), y[idx]) / rank_window_samples).backward()
    all_reduce([window loss sum, stop flag])                       # one small collective per step
    optimizer.step(); schedule.step(); optimizer.zero_grad()       # schedule from build_scheduler

DDP averages the ranks' gradients, so the step's gradient is the mean over the window's samples of
all ranks, as in the single-process run (where a micro-batch holds the ``b * W`` samples of all
ranks); with float64 the two agree to rounding.  ``loss`` is the all-reduced summed loss over the
samples processed; ``grad_norm`` is rank 0's (after the all-reduce every rank has the same
gradients).  The validation loss is computed on every rank (the same value everywhere, as every rank
feeds its own ``ReduceLROnPlateau``).

**Variants**: the single-process ones (:data:`schedules.train.base.VARIANTS`) plus
:data:`PER_PROCESS`, the accelerate-style bug: every rank calls ``scheduler.step()`` once per
process per optimizer step (``W`` times), so the schedule runs ``W`` times too fast: optimizer step
``k`` uses the curve's row ``W * k`` while ``W * k < T``.

**Stop.** The parent sends "stop" down every rank's pipe; each rank polls its pipe once per optimizer
step and the flag goes through the step's all-reduce, so all ranks end after the same step, without
taking the half-accumulated one.  Ranks still alive :data:`STOP_GRACE_S` after Stop (e.g. still
starting up) are terminated, then killed; a Stop while the ranks are being started starts no
further rank.  **A rank that dies** (killed, crashed, or raised) ends
the run: the others are terminated and iterating raises :class:`RankFailed` naming the rank and the
steps recorded; the records yielded before stay valid.  Workers die with their parent (Linux
``PR_SET_PDEATHSIG``) and notice a closed pipe, so no process is left behind.

**Caps**: :func:`max_ranks` ranks per run (CPU: :data:`DEFAULT_MAX_CPU_RANKS`, or the environment
variable :data:`MAX_RANKS_ENV`; CUDA: one rank per device), on top of the single-process caps of
:func:`schedules.train.base.check_live`.  A distributed run is one job of a :class:`~schedules.train.runs.LiveRun`,
so it takes one of the server's live-run slots.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from typing import Any

import pandas as pd
import torch

from ..build import LRSchedule, build_scheduler, load_config
from ..design import ConfigError, Plan, Problem, ScheduleConfig
from .base import (
    CORRECT,
    DEFAULT_THREADS,
    DEVICES,
    DIST_VARIANTS,
    PER_MICRO_BATCH,
    PER_PROCESS,
    Diverged,
    LiveRunError,
    ScheduleFailed,
    StepRecord,
    StopFlag,
    check_live,
    limit_threads,
    records_frame,
    stop_check,
)
from .loop import LiveSetup, StepLoop, checked_val_loss

#: Ranks one live run may start on a CPU-only machine unless :data:`MAX_RANKS_ENV` says otherwise.
DEFAULT_MAX_CPU_RANKS = 2
#: Environment variable with the most ranks per live run (a positive integer).
MAX_RANKS_ENV = "LR_STUDIO_MAX_RANKS"
#: Seconds the ranks get to end by themselves after Stop before they are terminated.
STOP_GRACE_S = 0.5
#: Seconds between SIGTERM and SIGKILL for a rank that does not end.
KILL_GRACE_S = 0.3
#: Seconds a collective may wait for a peer before torch.distributed gives up (a hung peer).
COLLECTIVE_TIMEOUT_S = 120.0
#: How often the parent checks the Stop flag while it waits for records.
POLL_S = 0.02


class RankFailed(LiveRunError):
    """A rank ended without finishing: ``rank 1 ended unexpectedly (killed by SIGKILL) ...``."""


# --------------------------------------------------------------------------------------------------
# backend, caps, settings


@dataclass(frozen=True)
class Backend:
    """The torch.distributed backend and the device type of every rank."""

    name: str  # "gloo" | "nccl"
    device: str  # "cpu" | "cuda"


def select_backend(
    device: str,
    world_size: int,
    *,
    cuda_available: bool | None = None,
    cuda_devices: int | None = None,
    nccl_available: bool | None = None,
) -> Backend:
    """NCCL on CUDA when every rank gets a device of its own, else gloo on CPU.

    ===========  =================================================  =====================
    ``device``   machine                                            backend
    ===========  =================================================  =====================
    ``cpu``      any                                                gloo, cpu
    ``auto``     CUDA with >= ``world_size`` devices, NCCL built    nccl, cuda
    ``auto``     otherwise                                          gloo, cpu
    ``cuda``     CUDA with >= ``world_size`` devices, NCCL built    nccl, cuda
    ``cuda``     otherwise                                          ConfigError
    ===========  =================================================  =====================
    """
    if device not in DEVICES:
        raise ConfigError(Problem("device", f"must be one of {', '.join(DEVICES)}", device))
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_devices is None:
        cuda_devices = torch.cuda.device_count() if cuda_available else 0
    if nccl_available is None:
        nccl_available = torch.distributed.is_available() and torch.distributed.is_nccl_available()
    nccl_fits = cuda_available and cuda_devices >= world_size and nccl_available
    if device == "cpu" or (device == "auto" and not nccl_fits):
        return Backend("gloo", "cpu")
    if nccl_fits:
        return Backend("nccl", "cuda")
    if not cuda_available:
        raise ConfigError(
            Problem(
                "device",
                "cuda was requested but torch.cuda.is_available() is False on this machine (use auto or cpu)",
                device,
            )
        )
    if not nccl_available:
        raise ConfigError(
            Problem(
                "device", "cuda with several ranks needs NCCL, which this torch build lacks (use cpu)", device
            )
        )
    raise ConfigError(
        Problem(
            "training.world_size",
            f"must be <= {cuda_devices} with device cuda: NCCL needs one CUDA device per rank and this "
            f"machine has {cuda_devices} (use device cpu for gloo)",
            world_size,
        )
    )


def max_ranks(backend: Backend, cuda_devices: int | None = None, env: dict[str, str] | None = None) -> int:
    """Most ranks one run may start: CPU :data:`DEFAULT_MAX_CPU_RANKS`, CUDA one per device.

    :data:`MAX_RANKS_ENV` (a positive integer) replaces the CPU default and caps the CUDA count.
    """
    env = os.environ if env is None else env
    raw = env.get(MAX_RANKS_ENV)
    configured: int | None = None
    if raw not in (None, ""):
        try:
            configured = int(raw)
        except ValueError:
            configured = 0
        if configured < 1:
            raise ConfigError(Problem(MAX_RANKS_ENV, "must be a positive integer (ranks per live run)", raw))
    if backend.device == "cuda":
        devices = torch.cuda.device_count() if cuda_devices is None else cuda_devices
        return min(devices, configured) if configured is not None else devices
    return configured if configured is not None else DEFAULT_MAX_CPU_RANKS


# --------------------------------------------------------------------------------------------------
# the worker (one per rank, in its own process)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a rank needs, picklable (the config travels as JSON)."""

    config_json: str
    steps: int
    seed: int
    model: str
    variant: str
    dtype: str
    backend: str
    device: str
    world_size: int
    store_path: str
    threads: int | None
    parent_pid: int
    timeout_s: float = COLLECTIVE_TIMEOUT_S


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when its parent (the forkserver, which ends with ours) ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:  # the run's process was gone before the signal was armed
        os._exit(1)
    except PermissionError:
        pass


def rank_positions(plan: Plan, rank: int) -> torch.Tensor:
    """Positions in the epoch's sample order that ``rank`` trains on, in order (module docstring).

    From ``DistributedSampler(shuffle=False, drop_last=plan.drop_last)``; its micro-batch ``m`` is
    entries ``[m*b, (m+1)*b)`` (``BatchSampler(sampler, b, drop_last)``).  Raises ``RuntimeError``
    if the sampler's batch count differs from the design's micro-batches per epoch.
    """
    from torch.utils.data import BatchSampler, DistributedSampler

    sampler = DistributedSampler(
        range(plan.dataset_size),
        num_replicas=plan.world_size,
        rank=rank,
        shuffle=False,
        drop_last=plan.drop_last,
    )
    batches = BatchSampler(sampler, plan.micro_batch_size, drop_last=plan.drop_last)
    if len(batches) != plan.micro_batches_per_epoch:
        raise RuntimeError(
            f"DistributedSampler gives rank {rank} {len(batches)} micro-batches per epoch, "
            f"the design's accounting {plan.micro_batches_per_epoch}"
        )
    return torch.tensor(list(sampler), dtype=torch.long)


class RankLoop(StepLoop):
    """The training loop of one rank (module docstring); :meth:`run` yields a record per step."""

    def __init__(self, spec: WorkerSpec, rank: int, stop_requested):
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        self.spec, self.rank, self.dist = spec, rank, dist
        self.config = config = load_config(spec.config_json)
        self.plan: Plan = config.plan
        self.variant = spec.variant
        self.steps = spec.steps
        self.stop_requested = stop_requested
        self.stopped = False
        device = f"cuda:{rank}" if spec.device == "cuda" else "cpu"
        if spec.device == "cuda":
            torch.cuda.set_device(rank)
        self.device = torch.device(device)
        self.setup = LiveSetup(
            config, self.plan, model=spec.model, seed=spec.seed, device=device, dtype=spec.dtype
        )
        self.group_names = self.setup.group_names
        ddp_kwargs: dict[str, Any] = {"device_ids": [rank]} if spec.device == "cuda" else {}
        self.ddp = DistributedDataParallel(self.setup.model, **ddp_kwargs)
        self.optimizer = self.setup.make_optimizer(config.optimizer.base_lrs())
        self.schedule: LRSchedule = build_scheduler(self.optimizer, config)
        self.eval_at_epoch_end = config.plateau is None
        self.positions = rank_positions(self.plan, rank).to(self.device)
        self._order_epoch, self._order = -1, self.positions

    def rank_order(self, epoch: int) -> torch.Tensor:
        """This rank's samples of ``epoch`` in order: the epoch permutation at the sampler's positions."""
        if epoch != self._order_epoch:
            self._order = self.setup.permutation(epoch)[self.positions]
            self._order_epoch = epoch
        return self._order

    # -- the hooks of StepLoop ---------------------------------------------------------------------
    def _schedule_times(self) -> int:
        return self.spec.world_size if self.variant == PER_PROCESS else 1

    def _validate(self, k: int) -> float:
        return checked_val_loss(self.setup, self.optimizer, k)

    def _grad_norm(self) -> float:  # after the all-reduce every rank holds the same gradients
        return self.setup.grad_norm() if self.rank == 0 else math.nan

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> Iterator[StepRecord]:
        plan, setup, ddp, variant = self.plan, self.setup, self.ddp, self.variant
        dist, world, b = self.dist, self.spec.world_size, plan.micro_batch_size
        loss_of = setup.spec.loss_sum
        x, y = setup.x, setup.y
        t0 = time.perf_counter()
        for k in range(self.steps):
            window = plan.window(k)
            order = self.rank_order(window.epoch)
            first, count = window.first_micro_batch, window.micro_batches
            parts = [order[m * b : (m + 1) * b] for m in range(first, first + count)]
            rank_samples = sum(len(p) for p in parts)
            val = math.nan
            total = torch.zeros((), dtype=torch.float64, device=self.device)
            for j, idx in enumerate(parts):
                sync = j == count - 1
                with contextlib.nullcontext() if sync else ddp.no_sync():
                    loss_sum = loss_of(ddp(x[idx]), y[idx])
                    (loss_sum / rank_samples).backward()
                total += loss_sum.detach().double()
                if variant == PER_MICRO_BATCH and not sync:
                    val = self._schedule_step(k, val)
            control = torch.stack([total, total.new_tensor(1.0 if self.stop_requested() else 0.0)])
            dist.all_reduce(control)
            loss_total, stop_votes = control.tolist()
            if stop_votes > 0:
                self.stopped = True
                return
            yield self.finish_step(k, window, loss_total / (rank_samples * world), val, t0)


def _worker(rank: int, spec: WorkerSpec, conn: Connection) -> None:
    """A rank's process: join the group, run :class:`RankLoop`, report over ``conn``, exit."""
    _die_with_parent(spec.parent_pid)
    stop = False

    def stop_requested() -> bool:
        nonlocal stop
        try:
            while not stop and conn.poll():
                stop = conn.recv() == "stop"
        except (EOFError, OSError):  # the parent is gone: stop too
            stop = True
        return stop

    try:
        import torch.distributed as dist

        limit_threads(spec.threads if spec.device == "cpu" else None)
        store = dist.FileStore(spec.store_path, spec.world_size)
        dist.init_process_group(
            spec.backend,
            store=store,
            rank=rank,
            world_size=spec.world_size,
            timeout=timedelta(seconds=spec.timeout_s),
        )
        loop = RankLoop(spec, rank, stop_requested)
        conn.send(("ready", time.time()))
        steps = 0
        for record in loop.run():
            steps += 1
            if rank == 0:
                conn.send(("record", record))
        conn.send(("end", "stopped" if loop.stopped else "done", "", steps))
        dist.destroy_process_group()
    except LiveRunError as exc:
        kind = "diverged" if isinstance(exc, Diverged) else "failed"
        with contextlib.suppress(Exception):
            conn.send(("end", kind, str(exc), exc.step))
    except BaseException as exc:  # reported to the parent, which ends the run with a message
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        os._exit(1)  # skip a teardown that may wait for a dead peer
    conn.close()


# --------------------------------------------------------------------------------------------------
# the parent: start the ranks, stream rank 0's records, stop, clean up


def _context() -> Any:
    """``forkserver`` with torch and this module preloaded, so a rank starts in a fraction of a second.

    Forking the run's own process is unsafe (the app's server has threads); ``spawn`` would import
    torch afresh in every rank (seconds each on a loaded machine).  The fork server is one helper
    process, started on the first distributed run and ended with the process that started it (like
    multiprocessing's resource tracker); every rank is forked from it, single-threaded.
    """
    methods = mp.get_all_start_methods()
    if "forkserver" not in methods:  # e.g. Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "torch.distributed", __name__])
    return ctx


def _first_line(message: str, limit: int = 200) -> str:
    line = message.strip().splitlines()[0] if message.strip() else message
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class DistributedTraining:
    """An iterator of :class:`StepRecord` (rank 0's), one per optimizer step, from ``W`` processes.

    Built by :func:`train_processes` (everything validated up front); the processes start on the
    first ``next()``.  Attributes as :class:`schedules.train.loop.Training` (``config``, ``plan``,
    ``steps``, ``device``, ``group_names``, ``stopped``) plus ``world_size``, ``backend`` and
    ``pids`` (the ranks' process ids once started).  ``close()`` ends the ranks.
    """

    def __init__(
        self,
        config: ScheduleConfig,
        *,
        steps: int,
        backend: Backend,
        seed: int,
        model: str,
        variant: str,
        dtype: str,
        stop: StopFlag,
        threads: int | None,
    ):
        self.config = config
        self.plan = config.plan
        self.steps = steps
        self.backend = backend
        self.device = backend.device
        self.world_size = config.training.world_size
        self.seed = seed
        self.model_name = model
        self.variant = variant
        self.dtype = dtype
        self.threads = threads
        self.group_names = [g.name for g in config.optimizer.groups()]
        self.stopped = False
        self.pids: list[int] = []
        self.exitcodes: list[int | None] = []
        self.started_at: float | None = None  # time.time() when the ranks were started
        self.ready_at: dict[int, float] = {}  # rank -> time.time() when it had joined and built its model
        self._stop = stop_check(stop)
        self._gen = self._run()

    def __iter__(self) -> DistributedTraining:
        return self

    def __next__(self) -> StepRecord:
        return next(self._gen)

    def close(self) -> None:
        """End the run now (the ranks are asked to stop, then terminated if need be)."""
        if self._gen.gi_frame is not None:  # not finished yet
            self.stopped = True
        self._gen.close()

    def frame(self, records: list[StepRecord]) -> pd.DataFrame:
        """Rank 0's records with a ``world_size`` column."""
        frame = records_frame(records, self.group_names)
        frame["world_size"] = self.world_size
        return frame

    def _spec(self, store_path: str) -> WorkerSpec:
        return WorkerSpec(
            config_json=self.config.to_json(),
            steps=self.steps,
            seed=self.seed,
            model=self.model_name,
            variant=self.variant,
            dtype=self.dtype,
            backend=self.backend.name,
            device=self.backend.device,
            world_size=self.world_size,
            store_path=store_path,
            threads=self.threads,
            parent_pid=os.getpid(),
        )

    def _run(self) -> Iterator[StepRecord]:
        ctx = _context()
        store_dir = tempfile.mkdtemp(prefix="lr-studio-ranks-")
        spec = self._spec(os.path.join(store_dir, "store"))
        procs: list[Any] = []
        conns: list[Connection] = []
        try:
            self.started_at = time.time()
            for rank in range(self.world_size):
                if self._stop():  # stopped while the ranks start (a closed tab): start no more of them
                    self.stopped = True
                    return
                ours, theirs = ctx.Pipe(duplex=True)
                proc = ctx.Process(
                    target=_worker, args=(rank, spec, theirs), name=f"lr-studio-rank-{rank}", daemon=True
                )
                proc.start()
                theirs.close()
                procs.append(proc)
                conns.append(ours)
            self.pids = [p.pid for p in procs]
            yield from self._stream(procs, conns)
        finally:  # also on close(): ask the ranks to stop, then make sure they are gone
            if any(p.is_alive() for p in procs):
                for c in conns:
                    with contextlib.suppress(OSError):
                        c.send("stop")
            _shutdown(procs)
            self.exitcodes = [p.exitcode for p in procs]
            for c in conns:
                c.close()
            shutil.rmtree(store_dir, ignore_errors=True)

    def _stream(self, procs: list[Any], conns: list[Connection]) -> Iterator[StepRecord]:
        rank_of = {id(c): r for r, c in enumerate(conns)}
        open_conns = list(conns)
        ended: dict[int, tuple[str, str, int]] = {}
        errors: dict[int, str] = {}
        vanished: list[int] = []  # ranks whose pipe closed without an "end"
        recorded = 0
        stop_deadline: float | None = None
        failure_deadline: float | None = None
        while open_conns:
            now = time.monotonic()
            if stop_deadline is None and self._stop():
                self.stopped = True
                stop_deadline = now + STOP_GRACE_S
                for c in open_conns:
                    with contextlib.suppress(OSError):
                        c.send("stop")
            if (stop_deadline is not None and now > stop_deadline) or (
                failure_deadline is not None and now > failure_deadline
            ):
                break
            for c in wait(open_conns, timeout=POLL_S):
                rank = rank_of[id(c)]
                try:
                    msg = c.recv()
                except (EOFError, OSError):
                    open_conns.remove(c)
                    if rank not in ended and rank not in errors:
                        vanished.append(rank)
                    continue
                if msg[0] == "record":
                    recorded += 1
                    yield msg[1]
                elif msg[0] == "ready":
                    self.ready_at[rank] = msg[1]
                elif msg[0] == "end":
                    ended[rank] = msg[1:]
                elif msg[0] == "error":
                    errors[rank] = _first_line(msg[1])
            bad = vanished or errors or any(e[0] in ("diverged", "failed") for e in ended.values())
            if bad and failure_deadline is None:  # let the other ranks report, briefly
                failure_deadline = time.monotonic() + STOP_GRACE_S
        if self.stopped:
            return
        _shutdown(procs)
        outcome0 = ended.get(0)
        if outcome0 is not None and outcome0[0] in ("diverged", "failed") and not vanished:
            cls = Diverged if outcome0[0] == "diverged" else ScheduleFailed
            raise cls(outcome0[1], outcome0[2])
        for _rank, (kind, message, step) in sorted(ended.items()):
            if kind in ("diverged", "failed"):
                raise (Diverged if kind == "diverged" else ScheduleFailed)(message, step)
        if vanished or errors:
            first = vanished[0] if vanished else min(errors)
            how = _how_it_ended(procs[first].exitcode)
            detail = f": {errors[first]}" if first in errors else ""
            others = [f"rank {r}: {m}" for r, m in sorted(errors.items()) if r != first]
            tail = f" ({'; '.join(others)})" if others else ""
            raise RankFailed(
                f"rank {first} of {self.world_size} ended unexpectedly ({how}{detail}) after {recorded} "
                f"optimizer steps: the run stopped{tail}; {recorded} steps recorded",
                recorded,
            )
        if recorded < self.steps and not all(e[0] == "stopped" for e in ended.values()):
            raise RankFailed(
                f"the ranks ended after {recorded} of {self.steps} steps; {recorded} steps recorded", recorded
            )


def _shutdown(procs: list[Any]) -> None:
    """Join the ranks; terminate (then kill) any still running. Never leaves a process behind."""
    deadline = time.monotonic() + KILL_GRACE_S
    for p in procs:
        if p.is_alive():
            p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + KILL_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(10.0)


def train_processes(
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
    env: dict[str, str] | None = None,
) -> DistributedTraining:
    """Train as :func:`schedules.train.loop.train` does, with ``training.world_size`` real processes.

    Raises :class:`ConfigError` naming the field for invalid arguments, a run over the caps, or
    ``training.world_size`` below 2 or above :func:`max_ranks`; while iterating, the errors of
    :func:`~schedules.train.loop.train` and :class:`RankFailed` when a rank dies.
    """
    cfg = load_config(config)
    w = cfg.training.world_size
    if variant not in DIST_VARIANTS:
        raise ConfigError(Problem("variant", f"must be one of {', '.join(DIST_VARIANTS)}", variant))
    steps = check_live(cfg, max_steps=max_steps, model=model, variant=CORRECT, dtype=dtype, seed=seed)
    backend = select_backend(device, w)
    cap = max_ranks(backend, env=env)
    if not 2 <= w <= cap:
        raise ConfigError(
            Problem(
                "training.world_size",
                f"must be >= 2 and <= {cap} for a live run with one process per rank on {backend.device} "
                f"({MAX_RANKS_ENV} sets the cap)",
                w,
            )
        )
    return DistributedTraining(
        cfg,
        steps=steps,
        backend=backend,
        seed=seed,
        model=model,
        variant=variant,
        dtype=dtype,
        stop=stop,
        threads=threads,
    )


__all__ = [
    "Backend",
    "DistributedTraining",
    "RankFailed",
    "RankLoop",
    "max_ranks",
    "select_backend",
    "train_processes",
]
