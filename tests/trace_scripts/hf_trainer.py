"""A real transformers ``Trainer`` run on CPU (plain_design.json: 384 samples, batch 8 per device,
accumulation 4, 2 epochs = 24 optimizer steps, warmup 4 + cosine).

Correct: ``lr_scheduler_type="cosine", warmup_steps=4`` (Trainer builds and steps the scheduler).
``--mistake wrong_total`` plants the classic mistake of building the scheduler yourself from the
dataloader's length: ``get_cosine_schedule_with_warmup(optimizer, 4, len(loader) * epochs)`` counts
micro-batches (96), not optimizer steps (24).  ``--state FILE`` writes the Trainer's
``trainer_state.json`` (logging every step) for the log-only diagnosis.
"""

from __future__ import annotations

import argparse
import math
import tempfile

import torch
from transformers import Trainer, TrainingArguments, get_cosine_schedule_with_warmup

DATASET, MICRO, ACCUM, EPOCHS = 384, 8, 4, 2


class TinyRegressor(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.linear(x), labels)}


def collate(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([r[k] for r in rows]) for k in ("x", "labels")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mistake", default="none")
    p.add_argument("--state", default=None)
    args = p.parse_args()
    torch.manual_seed(0)
    x = torch.randn(DATASET, 4)
    data = [{"x": x[i], "labels": x[i].sum().reshape(1)} for i in range(DATASET)]
    model = TinyRegressor()
    optimizers = (None, None)
    if args.mistake == "wrong_total":
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        micro_batches = math.ceil(DATASET / MICRO)
        optimizers = (optimizer, get_cosine_schedule_with_warmup(optimizer, 4, micro_batches * EPOCHS))
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=out,
                per_device_train_batch_size=MICRO,
                gradient_accumulation_steps=ACCUM,
                num_train_epochs=EPOCHS,
                learning_rate=0.1,
                lr_scheduler_type="cosine",
                warmup_steps=4,
                max_grad_norm=0.0,
                report_to=[],
                save_strategy="no",
                logging_steps=1,
                use_cpu=True,
                disable_tqdm=True,
                seed=0,
            ),
            train_dataset=data,
            data_collator=collate,
            optimizers=optimizers,
        )
        trainer.train()
        if args.state:
            trainer.state.save_to_json(args.state)


if __name__ == "__main__":
    main()
