"""A real Lightning run on CPU (plain_design.json: 384 samples, batch 8, accumulate_grad_batches 4,
2 epochs = 24 optimizer steps, warmup 4 + cosine).

Correct: ``configure_optimizers`` returns the scheduler with ``"interval": "step"``.
``--mistake epoch_interval`` returns it bare, the way Lightning's own examples often do: Lightning's
default interval is ``"epoch"``, so a schedule counted in optimizer steps moves once per epoch.
"""

from __future__ import annotations

import argparse
import functools
import math

import lightning as L
import torch

DATASET, MICRO, ACCUM, EPOCHS, WARMUP = 384, 8, 4, 2, 4
TOTAL = math.ceil(math.ceil(DATASET / MICRO) / ACCUM) * EPOCHS  # 24


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return step / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))


class Regressor(L.LightningModule):
    def __init__(self, mistake: str) -> None:
        super().__init__()
        self.mistake = mistake
        self.linear = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.linear(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        schedule = functools.partial(warmup_cosine, warmup=WARMUP, total=TOTAL)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        if self.mistake == "epoch_interval":
            return [optimizer], [scheduler]
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mistake", default="none")
    args = p.parse_args()
    torch.manual_seed(0)
    x = torch.randn(DATASET, 4)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=EPOCHS,
        accumulate_grad_batches=ACCUM,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Regressor(args.mistake), torch.utils.data.DataLoader(data, batch_size=MICRO))


if __name__ == "__main__":
    main()
