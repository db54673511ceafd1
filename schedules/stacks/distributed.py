"""Run a stack's real library in ``processes`` real processes (``torch.distributed``, gloo on CPU).

:func:`run_real_processes` spawns the processes with the environment ``torch.distributed`` reads
(``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); each rank runs the
stack's ``run_real`` and rank 0's recorded lrs come back.  This is how the tests confirm the
single-process rule for ``num_processes > 1`` (accelerate's N scheduler steps per optimizer step).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from typing import Any

import numpy as np
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    rank: int,
    world: int,
    port: int,
    stack: str,
    jobs: list[tuple[str, str]],
    out: Any,
    runner: str | None = None,
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
    )
    import torch.distributed as dist

    from ..build import load_config
    from ..design import StackConfig
    from . import STACKS

    module = STACKS[stack]
    run = None
    if runner is not None:
        import importlib

        module_name, _, function = runner.partition(":")
        run = getattr(importlib.import_module(module_name), function)
    results = []
    try:
        if stack == "deepspeed":
            module.init_cpu_process_group()
        for config_json, settings_json in jobs:
            config = load_config(config_json)
            settings = StackConfig.model_validate_json(settings_json)
            if run is not None:
                lrs = run(config, settings)
            elif stack in ("hf", "lightning"):
                with tempfile.TemporaryDirectory() as d:
                    lrs = module.run_real(config, settings, d)
            else:
                lrs = module.run_real(config, settings)
            results.append(lrs.tolist())
        if rank == 0:
            out.put(results)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def run_real_processes(
    stack: str,
    jobs: list[tuple[Any, Any]],
    processes: int = 2,
    timeout: float = 600,
    runner: str | None = None,
) -> list[np.ndarray]:
    """Rank 0's lrs of the real ``stack`` run in ``processes`` processes (gloo, CPU), one array per
    ``(config, settings)`` job (all jobs run in the same processes, one after the other).

    ``runner``: ``"module:function"`` called as ``function(config, settings)`` on every rank instead of
    the stack's ``run_real`` (e.g. the export runs in tests/stack_export_runs.py)."""
    queue = mp.get_context("spawn").SimpleQueue()
    port = free_port()
    context = mp.start_processes(
        _worker,
        args=(processes, port, stack, [(c.to_json(), s.model_dump_json()) for c, s in jobs], queue, runner),
        nprocs=processes,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + timeout
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for proc in context.processes:
                proc.kill()
            raise TimeoutError(f"the {processes}-process {stack} run did not finish in {timeout:g} s")
    return [np.asarray(lrs, dtype=np.float64).reshape(len(lrs), -1) for lrs in queue.get()]
