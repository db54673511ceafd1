"""A real accelerate loop on CPU (accelerate_design.json: 384 samples, 8 per process, 2 processes,
accumulation 2, 2 epochs = 24 optimizer steps, warmup 4 + cosine).

Run it with ``accelerate launch --cpu --num_processes 2 accelerate_loop.py`` or on its own with
``--spawn 2`` (torch.multiprocessing starts the 2 gloo ranks itself).  accelerate's
``AcceleratedScheduler`` steps the scheduler once per process on each optimizer step, so the
correct script builds it for ``num_training_steps * num_processes`` (and the warmup too), as
accelerate's documentation says.  ``--mistake per_process`` builds it for the optimizer steps alone:
the schedule runs 2x too fast.
"""

from __future__ import annotations

import argparse
import math
import os
import socket

import torch

DATASET, MICRO, ACCUM, EPOCHS, WARMUP = 384, 8, 2, 2, 4


def train(mistake: str) -> None:
    from accelerate import Accelerator
    from transformers import get_cosine_schedule_with_warmup

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUM)
    x = torch.randn(DATASET, 4)
    y = x.sum(dim=1, keepdim=True)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=MICRO)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    steps = math.ceil(len(loader) / ACCUM) * EPOCHS  # optimizer steps of each process: 24
    scale = 1 if mistake == "per_process" else accelerator.num_processes
    scheduler = get_cosine_schedule_with_warmup(optimizer, WARMUP * scale, steps * scale)
    scheduler = accelerator.prepare(scheduler)
    for _epoch in range(EPOCHS):
        for xb, yb in loader:
            with accelerator.accumulate(model):
                loss = torch.nn.functional.mse_loss(model(xb), yb)
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
    accelerator.end_training()


def _rank(rank: int, world: int, port: int, mistake: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    train(mistake)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mistake", default="none")
    p.add_argument("--spawn", type=int, default=0, help="start this many ranks with torch.multiprocessing")
    args = p.parse_args()
    if args.spawn:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        torch.multiprocessing.spawn(_rank, args=(args.spawn, port, args.mistake), nprocs=args.spawn)
    else:
        train(args.mistake)


if __name__ == "__main__":
    main()
