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
from typing import Any

import numpy as np
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    rank: int, world: int, port: int, stack: str, config_json: str, settings_json: str, out: Any
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

    from ..config import StackConfig, load_config
    from . import STACKS

    config = load_config(config_json)
    settings = StackConfig.model_validate_json(settings_json)
    module = STACKS[stack]
    try:
        if stack == "deepspeed":
            module.init_cpu_process_group()
            lrs = module.run_real(config, settings)
        elif stack in ("hf", "lightning"):
            with tempfile.TemporaryDirectory() as d:
                lrs = module.run_real(config, settings, d)
        else:
            lrs = module.run_real(config, settings)
        if rank == 0:
            out.put(lrs.tolist())
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def run_real_processes(
    stack: str, config: Any, settings: Any, processes: int = 2, timeout: float = 600
) -> np.ndarray:
    """Rank 0's lrs of the real ``stack`` run in ``processes`` processes (gloo, CPU)."""
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = free_port()
    context = mp.start_processes(
        _worker,
        args=(processes, port, stack, config.to_json(), settings.model_dump_json(), queue),
        nprocs=processes,
        join=False,
        start_method="spawn",
    )
    while not context.join(timeout=timeout):
        pass
    return np.asarray(queue.get(), dtype=np.float64)
