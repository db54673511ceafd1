"""A plain PyTorch loop with gradient accumulation and a warmup + cosine schedule.

384 samples, micro-batches of 8, accumulation 4, 2 epochs: 12 optimizer steps per epoch, 24 in all
(plain_design.json).  ``--mistake`` plants one classic mistake:

- ``per_micro_batch``: ``scheduler.step()`` after every micro-batch
- ``before_optimizer``: ``scheduler.step()`` before ``optimizer.step()``
- ``wrong_total``: the schedule sized in micro-batches (``len(loader) * epochs`` = 96 steps)
- ``warmup_micro``: the warmup counted in micro-batches (4 x 4 = 16 steps)
- ``amp_skipped``: GradScaler skips the first 3 steps (inf gradients) and the loop steps the
  scheduler only when the scaler did not skip (a common recipe)
- ``resume_reset``: with ``--resume``, the optimizer state is restored but the scheduler is rebuilt
  fresh (its state is never loaded)

``--amp`` runs the correct loop with a GradScaler that skips the first 3 steps and steps the
scheduler every time (the lr stays the design's).  ``--stop-at N --checkpoint F`` saves after N
optimizer steps and exits; ``--resume F`` continues from there.
"""

from __future__ import annotations

import argparse
import functools
import math

import torch

DATASET, MICRO, ACCUM, EPOCHS, WARMUP, LR = 384, 8, 4, 2, 4, 0.1
MICRO_PER_EPOCH = math.ceil(DATASET / MICRO)  # 48
TOTAL = math.ceil(MICRO_PER_EPOCH / ACCUM) * EPOCHS  # 24 optimizer steps


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return step / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mistake", default="none")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--stop-at", type=int, default=None)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--resume", default=None)
    args = p.parse_args()
    torch.manual_seed(0)
    x = torch.randn(DATASET, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=MICRO)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    total = len(loader) * EPOCHS if args.mistake == "wrong_total" else TOTAL
    warmup = WARMUP * ACCUM if args.mistake == "warmup_micro" else WARMUP
    schedule = functools.partial(warmup_cosine, warmup=warmup, total=total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    amp = args.amp or args.mistake == "amp_skipped"
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4, enabled=amp)
    step = 0
    if args.resume:
        state = torch.load(args.resume, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if args.mistake != "resume_reset":
            scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
    done = 0
    for _epoch in range(EPOCHS):
        for i, (xb, yb) in enumerate(loader):
            if done < step * ACCUM:  # a resumed run skips the micro-batches already trained on
                done += 1
                continue
            done += 1
            loss = torch.nn.functional.mse_loss(model(xb), yb) / ACCUM
            scaler.scale(loss).backward()
            if args.mistake == "per_micro_batch":
                scheduler.step()
            if (i + 1) % ACCUM != 0 and i + 1 != len(loader):
                continue
            if amp and step < 3:
                for param in model.parameters():
                    param.grad.fill_(float("inf"))  # an fp16 overflow: the scaler skips this step
            if args.mistake == "before_optimizer":
                scheduler.step()
            scale = scaler.get_scale()
            scaler.step(optimizer)
            scaler.update()
            if args.mistake == "amp_skipped":
                if scaler.get_scale() >= scale:  # the scaler did not skip
                    scheduler.step()
            elif args.mistake not in ("per_micro_batch", "before_optimizer"):
                scheduler.step()
            optimizer.zero_grad()
            step += 1
            if args.stop_at is not None and step == args.stop_at:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "step": step,
                    },
                    args.checkpoint,
                )
                return


if __name__ == "__main__":
    main()
