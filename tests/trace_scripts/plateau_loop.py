"""A plain loop with a linear warmup and ``ReduceLROnPlateau`` (plateau_design.json): 12 optimizer
steps per epoch, 3 epochs, the validation loss (1.0 each time here) fed once per epoch.

``--mistake every_step`` plants the classic cadence mistake: ``plateau.step(loss)`` after every
optimizer step, so ``patience=2`` counts optimizer steps, not evaluations.
"""

from __future__ import annotations

import argparse

import torch

DATASET, MICRO, ACCUM, EPOCHS = 384, 8, 4, 3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mistake", default="none")
    args = p.parse_args()
    torch.manual_seed(0)
    x = torch.randn(DATASET, 4)
    y = x.sum(dim=1, keepdim=True)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=MICRO)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=4)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)
    for _epoch in range(EPOCHS):
        for i, (xb, yb) in enumerate(loader):
            (torch.nn.functional.mse_loss(model(xb), yb) / ACCUM).backward()
            if (i + 1) % ACCUM == 0 or i + 1 == len(loader):
                optimizer.step()
                warmup.step()
                optimizer.zero_grad()
                if args.mistake == "every_step":
                    plateau.step(1.0)
        if args.mistake != "every_step":
            plateau.step(1.0)  # the epoch's validation loss


if __name__ == "__main__":
    main()
