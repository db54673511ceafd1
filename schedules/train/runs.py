"""The server's live runs: one dispatcher for every way a design trains, and the run manager.

:func:`start_training` is the one place that chooses how a setting trains: in this process
(:func:`schedules.train.loop.train`), as ``W`` real processes (:func:`schedules.train.distributed.
train_processes`), or with a schedule-free optimizer.  :class:`LiveRun` runs one or more trainings in a
background thread (the app's Live page), :func:`live_run_for` makes one from comparison settings.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..design import ConfigError, Problem, ScheduleConfig
from .base import (
    CLIENT_HEADER_ENV,
    CORRECT,
    DEFAULT_THREADS,
    IDLE_TIMEOUT_S,
    LIVE_RUN_SLOTS,
    LIVE_RUNS_PER_CLIENT,
    MAX_SERVER_RANKS,
    MAX_SERVER_RANKS_ENV,
    PER_PROCESS,
    RUNS_PER_CLIENT_ENV,
    SESSION_GONE_S,
    WATCH_S,
    Diverged,
    LiveRunError,
    lower_thread_priority,
    positive_setting,
    record_columns,
)
from .distributed import MAX_RANKS_ENV, DistributedTraining, max_ranks, select_backend, train_processes
from .loop import Training, train
from .settings import Setting, with_world_size

# --------------------------------------------------------------------------------------------------
# how a setting trains: the one dispatcher


def runs_as_processes(
    config: ScheduleConfig, device: str = "auto", env: dict[str, str] | None = None
) -> bool:
    """True when a live run of ``config`` starts real processes: ``1 < W <= max_ranks``.

    Above the cap the single-process run emulates the ranks (as before processes existed).
    """
    w = config.training.world_size
    if w <= 1:
        return False
    return w <= max_ranks(select_backend(device, w), env=env)


def start_training(
    config: ScheduleConfig,
    *,
    device: str = "auto",
    variant: str = CORRECT,
    schedule_free: str | None = None,
    world_size: int | None = None,
    say: Callable[[str], None] | None = None,
    processes: bool | None = None,
    **run: Any,
) -> Training | DistributedTraining:
    """The training of ``config``, in one process or as ranks; ``run``: the other arguments of
    :func:`~schedules.train.loop.train` (seed, max_steps, model, stop, dtype, threads).

    - ``schedule_free``: that schedule-free optimizer in one process (the world is emulated); a
      ``world_size`` request is refused (``ConfigError`` naming ``world_size``).
    - ``world_size`` (``train --world-size W``): the config with that world size; above
      :func:`~schedules.train.distributed.max_ranks` it is refused; ``W > 1`` runs ``W`` processes.
    - The per-process mistake always needs processes (``ConfigError`` when it cannot have them).
    - The design's own ``W > 1`` runs as processes within the cap, else it is emulated in one process
      (as before processes existed), with a note through ``say``.
    - ``processes=False``: a design's ``W > 1`` is emulated in one process (a live run whose budget of
      rank processes went to other settings, see :func:`live_run_for`), with a note through ``say``.
    """
    if schedule_free is not None:
        if world_size is not None:
            raise ConfigError(
                Problem(
                    "world_size",
                    "is not available with --schedule-free (its world is emulated in one process)",
                    world_size,
                )
            )
        return train(config, device=device, variant=variant, schedule_free=schedule_free, **run)
    if world_size is not None:
        cap = max_ranks(select_backend(device, max(1, world_size)))
        if not isinstance(world_size, int) or not 1 <= world_size <= cap:
            raise ConfigError(
                Problem(
                    "world_size",
                    f"must be an integer >= 1 and <= {cap} (one process per rank; {MAX_RANKS_ENV} sets the cap)",
                    world_size,
                )
            )
        config = with_world_size(config, world_size)
    w = config.training.world_size
    if variant == PER_PROCESS or (
        w > 1 and processes is not False and (world_size is not None or runs_as_processes(config, device))
    ):
        if say is not None:
            say(f"starting {w} processes (torch.distributed)")
        return train_processes(config, device=device, variant=variant, **run)
    if w > 1 and processes is False and say is not None:
        say(
            f"note: world_size {w} is emulated in one process: this live run's rank processes went to the "
            "settings listed before it"
        )
    elif w > 1 and say is not None:
        cap = max_ranks(select_backend(device, w))
        say(
            f"note: world_size {w} is over the cap of {cap} processes per run ({MAX_RANKS_ENV}): "
            f"the {w} ranks are emulated in one process"
        )
    return train(config, device=device, variant=variant, **run)


# --------------------------------------------------------------------------------------------------
# background runs (the app's Live page)

_SERVER_SLOTS = threading.BoundedSemaphore(LIVE_RUN_SLOTS)
#: owner (a browser's id, see the Live page) -> the run holding that owner's one slot.
_BY_OWNER: dict[str, LiveRun] = {}
#: Every run started and not yet ended (for the per-client and rank-process caps).
_ACTIVE: set[LiveRun] = set()
_OWNERS_LOCK = threading.Lock()
#: owner -> the last run it started (running or ended), so a reloaded page shows it again; at most
#: :data:`LAST_RUNS_KEPT` owners (the oldest go first), an ended run for :data:`LAST_RUN_KEPT_S` seconds.
_LAST_BY_OWNER: OrderedDict[str, LiveRun] = OrderedDict()
LAST_RUNS_KEPT = 8
LAST_RUN_KEPT_S = 1800.0


def client_key(headers: dict[str, str], address: str | None, env: dict[str, str] | None = None) -> str:
    """The key of the per-client cap: ``header:<value>`` of the request header named by
    :data:`~.base.CLIENT_HEADER_ENV` when it is set and the request has it (a header your reverse proxy
    sets, e.g. ``X-Real-IP``; of a list such as ``X-Forwarded-For`` the last entry, the one the proxy
    added; never name one a client can send to the server directly), else
    ``ip:<address>`` (``ip:local`` for loopback, which Streamlit reports as no address).  A browser's
    cookies play no part: another cookie jar is the same client."""
    name = (os.environ if env is None else env).get(CLIENT_HEADER_ENV, "").strip()
    if name:
        wanted = name.lower()
        for key, value in headers.items():
            if key.lower() == wanted and str(value).strip():
                return "header:" + str(value).split(",")[-1].strip()[:200]  # the entry the proxy added
    return f"ip:{address or 'local'}"


def runs_per_client(env: dict[str, str] | None = None) -> int:
    """Live runs one client may have going at once (:data:`~.base.LIVE_RUNS_PER_CLIENT`, or
    :data:`~.base.RUNS_PER_CLIENT_ENV`)."""
    return positive_setting(RUNS_PER_CLIENT_ENV, LIVE_RUNS_PER_CLIENT, env)


def server_ranks(env: dict[str, str] | None = None) -> int:
    """Rank processes all live runs may have at once (:data:`~.base.MAX_SERVER_RANKS`, or
    :data:`~.base.MAX_SERVER_RANKS_ENV`)."""
    return positive_setting(MAX_SERVER_RANKS_ENV, MAX_SERVER_RANKS, env)


def ranks_in_use() -> int:
    """Rank processes the server's live runs have now (started and not ended)."""
    with _OWNERS_LOCK:
        return sum(r.ranks for r in _ACTIVE)


def xsrf_token(cookie: str) -> str:
    """The token inside an ``_streamlit_xsrf`` cookie.  Version 2 cookies (``2|mask|masked|time``) are
    re-masked on every page load, so the raw value changes on a reload while the token does not."""
    parts = cookie.split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError:
            return cookie
        if mask:
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)).hex()
    return cookie


def run_of(owner: str | None) -> LiveRun | None:
    """The run that holds ``owner``'s slot (running, or started and not yet ended), if any."""
    if not owner:
        return None
    with _OWNERS_LOCK:
        run = _BY_OWNER.get(owner)
    return run if run is not None and run.running else None


def last_run_of(owner: str | None, kind: str | None = None) -> LiveRun | None:
    """The last run ``owner`` started (of ``kind`` when given): running, or ended at most
    :data:`LAST_RUN_KEPT_S` seconds ago; None otherwise.  A reloaded Live page shows it again."""
    if not owner:
        return None
    with _OWNERS_LOCK:
        run = _LAST_BY_OWNER.get(owner)
    if run is None or (kind is not None and run.kind != kind):
        return None
    if run.running:
        return run
    ended = run.ended_at
    if ended is None or time.perf_counter() - ended > LAST_RUN_KEPT_S:
        return None
    return run


@dataclass
class Job:
    """One iterator of records run by a :class:`LiveRun` (a :class:`Training` or a range-test sweep)."""

    label: str
    records: Iterator[Any]  # items with .to_row() -> dict
    total: int
    meta: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    outcome: str = "pending"  # pending | running | done | stopped | not run | diverged | failed
    message: str = ""
    rows: int = 0  # records taken so far
    #: Seconds the run spent taking this job's records (its own work: jobs take turns, one record each).
    busy: float = 0.0
    #: True when the records are computed in other processes (real ranks), whose own clock (the
    #: records' ``wall_time``) is the job's time; ``busy`` is then only the waiting for them.
    own_clock: bool = False
    ranks: int = 0  # rank processes this job starts (0: it trains in the run's thread)


@dataclass
class Snapshot:
    """A consistent copy of a :class:`LiveRun`'s state for drawing."""

    status: str  # ready | busy | running | done | stopped
    done: int
    total: int
    current: str | None
    elapsed: float
    frames: dict[str, pd.DataFrame]
    outcomes: dict[str, str]
    messages: list[str]
    stop_latency: float | None = None  # seconds from stop() to the thread's end

    @property
    def progress(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def steps_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


class LiveRun:
    """Jobs run interleaved in a daemon thread, one record of each in turn (round robin per optimizer
    step); records land in a thread-safe buffer.

    ``start()`` takes one of the server's :data:`LIVE_RUN_SLOTS` (a module-level semaphore shared by
    every session in the process); when none is free, when the run's ``owner`` (a browser) or
    ``client`` (its address, :func:`runs_per_client`) already has a run going, or when its rank
    processes would take the server over :func:`server_ranks`, it returns ``False``, starts nothing,
    and the status is ``"busy"`` (``refused`` says which).  ``stop()`` sets the event every job checks
    before each micro-batch, so the thread ends within one micro-batch.  ``snapshot()`` copies the
    buffer (and counts as someone watching: a run nobody has looked at for ``idle_timeout`` seconds
    stops itself).  A watchdog thread checks that and the session (:meth:`watch`) every
    :data:`~.base.WATCH_S` seconds, also while a job is starting its ranks.  A job that diverges ends
    with its message and the others go on.  When the run ends, a job that never took a step (the run
    was stopped first) is ``"not run"``.
    """

    def __init__(
        self,
        *,
        slots: threading.Semaphore | None = None,
        idle_timeout: float = IDLE_TIMEOUT_S,
        owner: str | None = None,
        kind: str = "train",
        client: str | None = None,
    ):
        self.owner = owner
        self.client = client
        self.kind = kind  # "train" | "range": which part of the Live page shows it
        #: What the run's making said (a setting's ranks emulated in one process, ...).
        self.notes: list[str] = []
        self._alive: Callable[[], bool] | None = None
        self._gone_since: float | None = None
        self.refused = ""  # why start() returned False: "server" | "owner" | "client" | "ranks"
        self.stop_event = threading.Event()
        self.jobs: list[Job] = []
        self._slots = slots if slots is not None else _SERVER_SLOTS
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._columns: dict[str, dict[str, list[Any]]] = {}
        self._done = 0
        self._current: str | None = None
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._finished: float | None = None
        self._stop_requested: float | None = None
        self._busy = False
        self._last_seen = time.monotonic()
        self.stop_reason = ""
        #: Optional recorder, set before start(): ``sink.start(job)``, ``sink.row(job, row)`` for every
        #: row, ``sink.end(job)`` once the outcome is set; it must not raise (schedules.workspace.sink).
        self.sink: Any = None

    def add(
        self,
        label: str,
        records: Iterator[Any],
        total: int,
        columns: list[str],
        meta: dict[str, Any] | None = None,
        ranks: int = 0,
    ) -> Job:
        if self._thread is not None:
            raise RuntimeError("cannot add a job to a run that has started")
        if any(j.label == label for j in self.jobs):
            raise ValueError(f"job labels must be unique, got {label!r} twice")
        job = Job(label, records, total, dict(meta or {}), list(columns), ranks=ranks)
        self.jobs.append(job)
        self._columns[label] = {c: [] for c in columns}
        return job

    # -- control -----------------------------------------------------------------------------------
    @property
    def ranks(self) -> int:
        """Rank processes the run's jobs start (0: it trains in its own thread only)."""
        return sum(j.ranks for j in self.jobs)

    def start(self) -> bool:
        """Take a slot and run; ``False`` (status "busy", ``refused`` says why, nothing started) when
        this run's ``owner`` (``"owner"``) or ``client`` (``"client"``) already has a run going, when
        its rank processes would take the server over :func:`server_ranks` (``"ranks"``), or when the
        server's slots are all taken (``"server"``).  Every cap is checked before any process starts."""
        if self._thread is not None:
            raise RuntimeError("a LiveRun starts once")
        per_client, rank_cap = runs_per_client(), server_ranks()
        with _OWNERS_LOCK:
            if self.owner:
                held = _BY_OWNER.get(self.owner)
                if held is not None and held is not self and held._holds_slot():
                    self._busy, self.refused = True, "owner"
                    return False
            if self.client and sum(1 for r in _ACTIVE if r.client == self.client) >= per_client:
                self._busy, self.refused = True, "client"
                return False
            if self.ranks and sum(r.ranks for r in _ACTIVE) + self.ranks > rank_cap:
                self._busy, self.refused = True, "ranks"
                return False
            if not self._slots.acquire(blocking=False):
                self._busy, self.refused = True, "server"
                return False
            if self.owner:
                _BY_OWNER[self.owner] = self
                _LAST_BY_OWNER[self.owner] = self
                _LAST_BY_OWNER.move_to_end(self.owner)
                while len(_LAST_BY_OWNER) > LAST_RUNS_KEPT:
                    _LAST_BY_OWNER.popitem(last=False)
            _ACTIVE.add(self)
            self._started = time.perf_counter()
            self._last_seen = time.monotonic()
            self._thread = threading.Thread(target=self._work, name="live-run", daemon=True)
            self._thread.start()
            threading.Thread(target=self._watchdog, name="live-run-watch", daemon=True).start()
        return True

    def _watchdog(self) -> None:
        """Stop the run when nobody watched it for ``idle_timeout`` s or its session has ended, checked
        every :data:`~.base.WATCH_S` s whatever the jobs are doing (a job starting its ranks takes no
        step for seconds; before, the check ran only after a step)."""
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(WATCH_S)
            if self.stop_event.is_set() or not thread.is_alive():
                continue
            if time.monotonic() - self._last_seen > self._idle_timeout:
                self.stop(f"stopped: nobody watched the run for {self._idle_timeout:.0f} s")
            elif self._session_gone():
                self.stop("stopped: its browser session ended")

    def _holds_slot(self) -> bool:
        return self._thread is not None and self._finished is None

    def watch(self, alive: Callable[[], bool] | None) -> None:
        """Tie the run to a browser session: ``alive()`` false for :data:`SESSION_GONE_S` seconds in a
        row (the session ended) stops the run and frees its slot.  Calling it again (a reloaded page
        adopting the run) moves the tie to the new session."""
        self._alive = alive
        self._gone_since = None

    def _session_gone(self) -> bool:
        alive = self._alive
        if alive is None:
            return False
        try:
            ok = bool(alive())
        except Exception:
            ok = False
        now = time.monotonic()
        if ok:
            self._gone_since = None
            return False
        if self._gone_since is None:
            self._gone_since = now
        return now - self._gone_since >= SESSION_GONE_S

    def stop(self, reason: str = "stopped") -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self._stop_requested = time.perf_counter()
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; true when it has ended (or never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def ended_at(self) -> float | None:
        """``time.perf_counter()`` when the run's thread ended (None while it runs or before it starts)."""
        return self._finished

    @property
    def total(self) -> int:
        return sum(j.total for j in self.jobs)

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        """Round robin: one record (one optimizer step) of every unfinished job in turn.

        All settings' curves grow together, so a comparison is readable after a few seconds, and a
        Stop leaves every started setting with about the same number of steps.  Each job's records do
        not depend on the interleaving (its model, optimizer, schedule and sample order are its own).
        """
        lower_thread_priority()
        try:
            active = list(self.jobs)
            while active and not self.stop_event.is_set():
                for job in list(active):
                    if self.stop_event.is_set():
                        break
                    if not self._step_job(job):
                        active.remove(job)
        finally:
            stopped = self.stop_event.is_set()
            with self._lock:
                for job in self.jobs:
                    if job.outcome in ("pending", "running") and job.rows == 0 and stopped:
                        job.outcome = "not run"
                    elif job.outcome == "running":
                        job.outcome = "stopped" if stopped else "done"
            if self.sink is not None:  # jobs cut short by Stop (ended jobs were told already)
                for job in self.jobs:
                    self.sink.end(job)
            for job in self.jobs:  # release what an unfinished generator holds
                close = getattr(job.records, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - a failing close must not hide the run's result
                        pass
            with _OWNERS_LOCK:
                with self._lock:
                    self._finished = time.perf_counter()
                    self._current = None
                if self.owner and _BY_OWNER.get(self.owner) is self:
                    del _BY_OWNER[self.owner]
                _ACTIVE.discard(self)
                self._slots.release()

    def _step_job(self, job: Job) -> bool:
        """Take one record of ``job``; false once the job has ended (done, stopped, diverged, failed)."""
        cols = self._columns[job.label]
        with self._lock:
            self._current = job.label
            starting = job.outcome == "pending"
            if starting:
                job.outcome = "running"
        if starting and self.sink is not None:
            self.sink.start(job)
        began = time.perf_counter()
        try:
            record = next(job.records)
        except StopIteration:
            outcome, message = ("stopped" if self.stop_event.is_set() else "done"), ""
        except LiveRunError as exc:
            outcome, message = "diverged" if isinstance(exc, Diverged) else "failed", str(exc)
        except Exception as exc:  # shown on the page, never as a traceback
            outcome, message = "failed", f"{type(exc).__name__}: {exc}"
        else:
            row = record.to_row()
            with self._lock:
                for c, values in cols.items():
                    values.append(row.get(c, math.nan))
                job.rows += 1
                job.busy += time.perf_counter() - began
                self._done += 1
            if self.sink is not None:
                self.sink.row(job, row)
            return True
        with self._lock:
            if outcome == "stopped" and job.rows == 0:
                outcome = "not run"  # stopped before its first step
            job.outcome, job.message = outcome, message
        if self.sink is not None:
            self.sink.end(job)
        return False

    # -- reading -----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        self._last_seen = time.monotonic()
        with self._lock:
            frames = {
                label: pd.DataFrame({c: list(v) for c, v in cols.items()})
                for label, cols in self._columns.items()
            }
            done, current = self._done, self._current
            outcomes = {j.label: j.outcome for j in self.jobs}
            messages = [f"{j.label}: {j.message}" for j in self.jobs if j.message]
        if self._busy:
            status = "busy"
        elif self._thread is None:
            status = "ready"
        elif self._thread.is_alive():
            status = "running"
        else:
            status = "stopped" if self.stop_event.is_set() else "done"
        if self._thread is None:
            elapsed = 0.0
        else:
            elapsed = (self._finished or time.perf_counter()) - self._started
        latency = None
        if self._stop_requested is not None and self._finished is not None:
            latency = max(0.0, self._finished - self._stop_requested)
        return Snapshot(status, done, self.total, current, elapsed, frames, outcomes, messages, latency)

    def frame(self) -> pd.DataFrame:
        """All jobs' rows in one frame, with ``setting`` and each job's meta columns first (for CSV).

        Jobs without rows (not run) add nothing, so integer columns stay integers in a stopped run's CSV.
        """
        snap = self.snapshot()
        parts = []
        for job in self.jobs:
            f = snap.frames[job.label]
            if f.empty:
                continue
            front = pd.DataFrame(
                {"setting": [job.label] * len(f), **{k: [v] * len(f) for k, v in job.meta.items()}}
            )
            parts.append(pd.concat([front, f.reset_index(drop=True)], axis=1))
        if not parts:
            meta = [k for job in self.jobs for k in job.meta]
            cols = [c for job in self.jobs for c in job.columns]
            return pd.DataFrame(columns=list(dict.fromkeys(["setting", *meta, *cols])))
        return pd.concat(parts, ignore_index=True)


def live_run_for(
    settings: list[Setting],
    *,
    model: str = "mlp",
    device: str = "auto",
    seed: int = 0,
    max_steps: int | None = None,
    dtype: str = "float32",
    threads: int | None = DEFAULT_THREADS,
    slots: threading.Semaphore | None = None,
    idle_timeout: float = IDLE_TIMEOUT_S,
    owner: str | None = None,
    schedule_free: str | None = None,
    client: str | None = None,
) -> LiveRun:
    """A :class:`LiveRun` with one training job per setting (validated now: ConfigError on problems).

    ``schedule_free``: every setting trains with that schedule-free optimizer (see :func:`train`; the
    world is then emulated in one process).

    **Rank processes** are counted, not settings: settings that are about processes
    (``needs_processes``, the per-process bug) get theirs (refused with a ConfigError naming
    ``settings`` when together they need more than :func:`server_ranks`); a design's ``W > 1`` (the
    other settings) runs as ``W`` processes while those settings together stay within
    :func:`~.distributed.max_ranks`, else its ranks are emulated in one process (a note in
    ``run.notes``).  So one run starts at most ``max_ranks`` processes for its designs plus those of its
    process settings; :meth:`LiveRun.start` checks the server's total before any starts."""
    run = LiveRun(slots=slots, idle_timeout=idle_timeout, owner=owner, client=client)
    plan = _process_plan(settings, device, schedule_free)
    for s, processes in zip(settings, plan, strict=True):
        training = start_training(
            s.config,
            device=device,
            variant=s.variant,
            schedule_free=schedule_free,
            seed=seed,
            max_steps=max_steps,
            model=model,
            stop=run.stop_event,
            dtype=dtype,
            threads=threads,
            processes=processes,
            say=lambda line, label=s.label: run.notes.append(f"{label}: {line}"),
        )
        b, a = s.split
        meta = {
            "variant": s.variant,
            "micro_batch_size": b,
            "accumulation_steps": a,
            "world_size": s.config.training.world_size,
        }
        if schedule_free is not None:
            from .schedule_free import KINDS

            meta["optimizer"] = f"schedulefree.{KINDS[schedule_free]}"
        job = run.add(
            s.label,
            training,
            training.steps,
            record_columns(training.group_names, schedule_free is not None),
            meta,
            ranks=training.world_size if isinstance(training, DistributedTraining) else 0,
        )
        job.own_clock = isinstance(training, DistributedTraining)  # real ranks: their own clock
    return run


def _process_plan(settings: list[Setting], device: str, schedule_free: str | None) -> list[bool | None]:
    """Per setting: True (processes), False (ranks emulated in one process) or None (one process
    anyway); see :func:`live_run_for`.  ConfigError when the settings that need processes need more
    than one run may start."""
    if schedule_free is not None:
        return [None] * len(settings)
    needed = [s.needs_processes or s.variant == PER_PROCESS for s in settings]
    try:
        room = max_ranks(select_backend(device, 2))
    except ConfigError:  # e.g. device cuda with one GPU: no run of this machine has rank processes
        if any(needed):
            raise
        room = 0
    required = sum(s.config.training.world_size for s, need in zip(settings, needed, strict=True) if need)
    cap = server_ranks()
    if required > cap:
        raise ConfigError(
            Problem(
                "settings",
                f"the settings on real processes need {required} rank processes together; the server runs at "
                f"most {cap} ({MAX_SERVER_RANKS_ENV} sets the cap): tick fewer of them",
                [s.label for s, need in zip(settings, needed, strict=True) if need],
            )
        )
    plan: list[bool | None] = []
    for s, need in zip(settings, needed, strict=True):
        w = s.config.training.world_size
        if need:
            plan.append(True)
        elif w > 1 and w <= room and runs_as_processes(s.config, device):
            plan.append(True)
            room -= w
        else:
            plan.append(False if w > 1 else None)
    return plan
