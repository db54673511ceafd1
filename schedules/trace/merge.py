"""Every process's part -> one trace: ``TRACE.csv`` and its sidecar ``TRACE.meta.json``.

The CSV has one row per optimizer step per rank::

    rank,step,lr,[lr/<group>...],scheduler_steps,micro_batches,skipped,plateau_steps

``step`` counts each rank's optimizer steps from 0 (the design curve's rows), ``lr`` is the first
param group's (``lr/<group>`` for every group when there are 2+), the counts are those of
:mod:`schedules.trace.hooks`.  A process that stepped several optimizers contributes the rows of its
*traced* optimizer: the first one a scheduler was built on (else the one that stepped most).  Several
processes with the same rank (a run resumed by a second process in the same command) follow each
other in start order; a process without a known rank (no ``RANK``, no ``torch.distributed``) is
rank 0 when it is the only one, else takes the next free rank in start order.

The sidecar (``"format": "lr-trace/v1"``) keeps what the CSV cannot: the command and its exit code,
the design given to ``trace --design``, the stack seen (``hf``, ``accelerate``, ``lightning``,
``deepspeed``, else ``plain``) and per rank and process the optimizer, every scheduler's class and
constructor arguments (with the row it was built at) and every ``load_state_dict`` (resumes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .names import TRACE_COLUMNS
from .writer import PART_SUFFIX

META_FORMAT = "lr-trace/v1"
COUNT_COLUMNS = TRACE_COLUMNS[3:]  # scheduler_steps, micro_batches, skipped, plateau_steps


class Part:
    """One process's part file, parsed."""

    def __init__(self, path: Path):
        self.path = path
        self.start: dict[str, Any] = {}
        self.rank: int | None = None
        self.rows: dict[int, list[tuple]] = {}  # optimizer index -> rows
        self.optimizers: dict[int, dict[str, Any]] = {}
        self.schedulers: list[dict[str, Any]] = []
        self.loaded: list[dict[str, Any]] = []
        self.modules: list[str] = []
        self.end: dict[str, Any] | None = None
        self._read()

    def _read(self) -> None:
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.startswith("R,"):
                    fields = line.split(",", 6)
                    if len(fields) != 7:
                        continue  # a line cut short by a killed process
                    try:
                        opt, skipped, sched, plateau, micro = (int(v) for v in fields[1:6])
                        lrs = tuple(float(v) for v in fields[6].split(";"))
                    except ValueError:
                        continue
                    self.rows.setdefault(opt, []).append((skipped, sched, plateau, micro, lrs))
                elif line.startswith("#"):
                    try:
                        event = json.loads(line[1:])
                    except ValueError:
                        continue
                    self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.start = event
        elif kind == "rank":
            self.rank = int(event["rank"])
        elif kind == "optimizer":
            self.optimizers[int(event["optimizer"])] = event
        elif kind == "scheduler":
            self.schedulers.append(event)
        elif kind in ("scheduler_state_loaded", "optimizer_state_loaded"):
            self.loaded.append(event)
        elif kind == "stack":
            self.modules = list(event.get("modules") or [])
        elif kind == "end":
            self.end = event
            self.modules = list(event.get("modules") or self.modules)

    @property
    def traced_optimizer(self) -> int | None:
        """The optimizer whose rows this part contributes (see the module docstring)."""
        for s in self.schedulers:
            if s.get("optimizer") in self.rows:
                return int(s["optimizer"])
        if not self.rows:
            return None
        return max(self.rows, key=lambda k: len(self.rows[k]))

    @property
    def time(self) -> float:
        return float(self.start.get("time", 0.0))

    @property
    def end_time(self) -> float:
        """When the process ended (its ``end`` event); never, as far as known, without one."""
        return float((self.end or {}).get("time", float("inf")))

    def env_rank(self) -> int | None:
        env = self.start.get("env") or {}
        for var in ("RANK", "LOCAL_RANK"):
            text = str(env.get(var, ""))
            if text.strip().isdigit():
                return int(text)
        return None


def read_parts(directory: str | os.PathLike[str]) -> list[Part]:
    """The parts in ``directory`` in start order."""
    parts = [Part(p) for p in sorted(Path(directory).glob(f"*{PART_SUFFIX}"))]
    return sorted(parts, key=lambda p: (p.time, p.path.name))


def _assign_ranks(parts: list[Part]) -> dict[int, list[Part]]:
    """Parts by rank.  A part's rank is the one it reported (``torch.distributed``, ``RANK``); parts
    without one that ran one after another (a run, then its resume) share a rank, concurrent ones
    take the lowest free rank, in start order."""
    stepping = [p for p in parts if p.traced_optimizer is not None]
    by_rank: dict[int, list[Part]] = {}
    unknown: list[Part] = []
    for p in stepping:
        rank = p.rank if p.rank is not None else p.env_rank()
        if rank is None:
            unknown.append(p)
        else:
            by_rank.setdefault(int(rank), []).append(p)
    busy_until: dict[int, float] = {}  # rank -> when its last part without a known rank ended
    for p in unknown:
        rank = 0
        while rank in by_rank and (rank not in busy_until or busy_until[rank] > p.time):
            rank += 1
        by_rank.setdefault(rank, []).append(p)
        busy_until[rank] = p.end_time
    for rank_parts in by_rank.values():
        rank_parts.sort(key=lambda p: (p.time, p.path.name))
    return dict(sorted(by_rank.items()))


def _group_names(parts: list[Part]) -> list[str]:
    names: list[str] = []
    for p in parts:
        opt = p.traced_optimizer
        event = p.optimizers.get(opt, {}) if opt is not None else {}
        groups = list(event.get("groups") or [])
        if len(groups) > len(names):
            names = groups
    return names


def merge_parts(parts: list[Part]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The trace frame (see the module docstring) and, per rank, what its processes saw."""
    by_rank = _assign_ranks(parts)
    names = _group_names([p for ps in by_rank.values() for p in ps])
    n_groups = max(1, len(names))
    blocks: list[pd.DataFrame] = []
    ranks: list[dict[str, Any]] = []
    for rank, rank_parts in by_rank.items():
        offset = 0
        processes = []
        carry = (0, 0)  # the previous process's scheduler and plateau steps after its last row
        for p in rank_parts:
            opt = p.traced_optimizer
            rows = list(p.rows.get(opt, [])) if opt is not None else []
            if rows and carry != (0, 0):
                skipped, sched, plateau, micro, lrs = rows[0]
                rows[0] = (skipped, sched + carry[0], plateau + carry[1], micro, lrs)
            pending = ((p.end or {}).get("pending") or {}).get(str(opt), [0, 0])
            carry = (int(pending[0]), int(pending[1])) if len(pending) == 2 else (0, 0)
            n = len(rows)
            lrs = np.full((n, n_groups), np.nan)
            for i, row in enumerate(rows):
                values = row[4][:n_groups]
                lrs[i, : len(values)] = values
            counts = np.array([r[:4] for r in rows], dtype=np.int64).reshape(n, 4)
            data: dict[str, Any] = {"rank": np.full(n, rank, dtype=np.int64), "step": offset + np.arange(n)}
            data["lr"] = lrs[:, 0]
            if n_groups > 1:
                for g, name in enumerate(names):
                    data[f"lr/{name}"] = lrs[:, g]
            data["scheduler_steps"] = counts[:, 1]
            data["micro_batches"] = counts[:, 3]
            data["skipped"] = counts[:, 0]
            data["plateau_steps"] = counts[:, 2]
            blocks.append(pd.DataFrame(data))
            processes.append(
                {
                    "pid": p.start.get("pid"),
                    "argv": p.start.get("argv", []),
                    "first_step": offset,
                    "rows": n,
                    "optimizer": p.optimizers.get(opt, {}) if opt is not None else {},
                    "optimizers": len(p.rows),
                    "schedulers": [
                        {**s, "step": offset + int(s.get("row", 0))}
                        for s in p.schedulers
                        if s.get("optimizer") in (opt, None)
                    ],
                    "state_loaded": [
                        {**e, "step": offset + int(e.get("row", 0))}
                        for e in p.loaded
                        if e.get("optimizer") in (opt, None)
                    ],
                    "modules": p.modules,
                    "trailing": {"scheduler_steps": carry[0], "plateau_steps": carry[1]},
                    "backward_calls": (p.end or {}).get("backward_calls"),
                    "finished": p.end is not None,
                }
            )
            offset += n
        ranks.append({"rank": rank, "rows": offset, "processes": processes})
    columns = ["rank", "step", "lr"] + ([f"lr/{n}" for n in names] if n_groups > 1 else [])
    columns += list(COUNT_COLUMNS)
    frame = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=columns)
    return frame[columns], ranks


def stack_of(ranks: list[dict[str, Any]]) -> str:
    """The stack the traced processes used: the first of hooks.STACK_MODULES seen, else ``plain``."""
    for r in ranks:
        for p in r["processes"]:
            if p["modules"]:
                return str(p["modules"][0])
    return "plain"


def merge_directory(
    directory: str | os.PathLike[str],
    *,
    command: list[str] | None = None,
    exit_code: int | None = None,
    design: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read every part in ``directory``: the trace frame and the sidecar's content."""
    parts = read_parts(directory)
    frame, ranks = merge_parts(parts)
    meta = {
        "format": META_FORMAT,
        "columns": list(frame.columns),
        "command": list(command or []),
        "exit_code": exit_code,
        "processes": len(parts),
        "ranks": ranks,
        "stack": stack_of(ranks),
        "design": json.loads(design) if design else None,
    }
    return frame, meta


def write_trace(frame: pd.DataFrame, meta: dict[str, Any], path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``TRACE.csv`` (floats exact) and ``TRACE.meta.json``; returns both paths."""
    from .names import meta_path

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, lineterminator="\n")
    side = Path(meta_path(out))
    side.write_text(json.dumps(meta, indent=1, default=str) + "\n", encoding="utf-8")
    return out, side
