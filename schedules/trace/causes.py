"""The cause codes a diagnosis names, what each means, and its fix as a code line per stack.

The codes are stable (scripts match on them); ``docs/diagnose.md`` lists them with examples.

=============================  ====================================================================
code                           what the run did
=============================  ====================================================================
``scheduler_per_micro_batch``  ``scheduler.step()`` after every micro-batch (factor: accumulation)
``scheduler_per_process``      stepped once per process on each optimizer step (accelerate's
                               ``AcceleratedScheduler`` with N processes; factor: N)
``scheduler_rate``             stepped a constant number of times per optimizer step that is neither
                               the accumulation nor the number of processes (factor: that number)
``wrong_total_steps``          the scheduler was built for another number of steps (factor: its
                               length / the run's optimizer steps), e.g. counted in micro-batches
``warmup_in_micro_batches``    the warmup length counted in micro-batches (factor: accumulation)
``scheduler_before_optimizer`` ``scheduler.step()`` before ``optimizer.step()``: every step uses
                               the next step's lr
``resume_reset``               a resumed run rebuilt the scheduler without its state: the schedule
                               restarted at the resume step
``resume_wrong_order``         a resumed run restored the optimizer, then built torch's schedulers
                               and loaded their state: the constructors' lr was used
``amp_skipped_steps``          ``GradScaler`` skipped steps (inf/NaN gradients) and the scheduler
                               was not stepped on them: the schedule lags by that many steps
``plateau_cadence``            ``ReduceLROnPlateau.step(metric)`` on another cadence than the
                               evaluations (e.g. every optimizer step)
``epoch_interval``             the scheduler stepped once per epoch (Lightning's default
                               ``interval: "epoch"``; factor: steps per epoch)
``run_length``                 the run took another number of optimizer steps than the design
``ranks_differ``               the ranks did not use the same lrs (a scheduler stepped on one rank)
``unexplained``                the lr differs and no model of a known mistake reproduces it
=============================  ====================================================================
"""

from __future__ import annotations

from typing import Any

#: code -> short title (the chart's marker label, the CLI's heading)
TITLES: dict[str, str] = {
    "scheduler_per_micro_batch": "scheduler stepped per micro-batch",
    "scheduler_per_process": "scheduler stepped once per process",
    "scheduler_rate": "scheduler stepped several times per optimizer step",
    "wrong_total_steps": "scheduler built for the wrong number of steps",
    "warmup_in_micro_batches": "warmup counted in micro-batches",
    "scheduler_before_optimizer": "scheduler stepped before optimizer.step()",
    "resume_reset": "schedule restarted at a resume",
    "resume_wrong_order": "resume restored in the wrong order",
    "amp_skipped_steps": "GradScaler skipped steps the scheduler then missed",
    "plateau_cadence": "ReduceLROnPlateau stepped on the wrong cadence",
    "epoch_interval": "scheduler stepped once per epoch",
    "run_length": "the run's length differs from the design's",
    "ranks_differ": "ranks used different lrs",
    "unexplained": "the lr differs (no known mistake reproduces it)",
}
CODES = tuple(TITLES)

#: Order among causes that explain a run equally well: the simplest, most common mistake first.
PRIOR = {code: i for i, code in enumerate(CODES)}


def _hf(ev: dict[str, Any]) -> dict[str, str]:
    t = ev.get("total_steps", "T")
    w = ev.get("warmup_steps", "W")
    return {
        "scheduler_per_micro_batch": "# Trainer steps the scheduler once per optimizer step: remove the lr_scheduler.step() from your callback or training_step",
        "scheduler_per_process": "# Trainer steps its scheduler once per optimizer step: build it with Trainer(..., optimizers=(optimizer, None))",
        "wrong_total_steps": f"lr_scheduler = get_scheduler(name, optimizer, num_warmup_steps={w}, num_training_steps={t})  # optimizer steps, or let Trainer build it: optimizers=(optimizer, None)",
        "warmup_in_micro_batches": f"TrainingArguments(warmup_steps={w})  # optimizer steps, not micro-batches (or warmup_ratio)",
        "amp_skipped_steps": "TrainingArguments(bf16=True)  # no loss scaling, no skipped steps (or accept the lag: Trainer skips the scheduler on skipped steps)",
        "plateau_cadence": 'TrainingArguments(lr_scheduler_type="reduce_lr_on_plateau", eval_strategy="steps", eval_steps=N)  # Trainer steps it at each evaluation',
        "resume_reset": "trainer.train(resume_from_checkpoint=True)  # restores optimizer, scheduler and step from the checkpoint",
    }


def _accelerate(ev: dict[str, Any]) -> dict[str, str]:
    n = ev.get("processes", ev.get("factor", "N"))
    t = ev.get("total_steps", "T")
    w = ev.get("warmup_steps", "W")
    return {
        "scheduler_per_micro_batch": "accelerator = Accelerator(gradient_accumulation_steps=A, step_scheduler_with_optimizer=True)  # and step inside accelerator.accumulate(model)",
        "scheduler_per_process": f"scheduler = get_scheduler(name, optimizer, num_warmup_steps={w} * accelerator.num_processes, num_training_steps={t} * accelerator.num_processes)  # AcceleratedScheduler steps it {n}x per optimizer step",
        "wrong_total_steps": f"num_training_steps = math.ceil(len(train_dataloader) / accelerator.gradient_accumulation_steps) * num_epochs  # = {t}, after accelerator.prepare",
    }


def _lightning(ev: dict[str, Any]) -> dict[str, str]:
    return {
        "epoch_interval": 'return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}',
        "scheduler_per_micro_batch": 'return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}  # and no scheduler.step() in training_step',
        "wrong_total_steps": "num_training_steps = self.trainer.estimated_stepping_batches  # optimizer steps, accumulation and devices included",
        "plateau_cadence": 'return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss", "interval": "epoch"}}',
        "resume_reset": 'trainer.fit(model, ckpt_path="last")  # restores the schedulers\' state too',
    }


def _plain(ev: dict[str, Any]) -> dict[str, str]:
    a = ev.get("accumulation", ev.get("factor", "A"))
    t = ev.get("total_steps", "T")
    w = ev.get("warmup_steps", "W")
    r = ev.get("resume_step", "N")
    every = ev.get("eval_every", "eval_every")
    return {
        "scheduler_per_micro_batch": f"if (i + 1) % {a} == 0: optimizer.step(); scheduler.step(); optimizer.zero_grad()  # once per optimizer step",
        "scheduler_per_process": "scheduler.step()  # once per optimizer step on each rank, with a schedule built for the optimizer steps",
        "scheduler_rate": "scheduler.step()  # exactly once per optimizer step, after optimizer.step()",
        "wrong_total_steps": f"total_steps = math.ceil(len(train_loader) / accumulation_steps) * epochs  # = {t} optimizer steps, not micro-batches",
        "warmup_in_micro_batches": f"warmup_steps = {w}  # optimizer steps: math.ceil(warmup_ratio * total_steps), not micro-batches",
        "scheduler_before_optimizer": "optimizer.step()\nscheduler.step()  # after the optimizer, never before",
        "resume_reset": f'scheduler.load_state_dict(checkpoint["scheduler"])  # after building it; the schedule restarted at step {r}',
        "resume_wrong_order": 'scheduler = make_scheduler(optimizer); optimizer.load_state_dict(checkpoint["optimizer"]); scheduler.load_state_dict(checkpoint["scheduler"])  # build first',
        "amp_skipped_steps": "scheduler.step()  # after every scaler.step(optimizer), also when the scaler skipped the update",
        "plateau_cadence": f"if (step + 1) % {every} == 0: plateau.step(val_loss)  # once per evaluation, with the validation metric",
        "epoch_interval": "scheduler.step()  # inside the batch loop, after optimizer.step(): the design counts optimizer steps",
        "run_length": f"max_steps = {t}  # stop after the design's optimizer steps",
        "ranks_differ": "scheduler.step()  # on every rank, not only on the main process",
        "unexplained": "python -m schedules trace --design design.json -- python train.py  # a trace names the stepping",
    }


STACK_FIXES = {
    "hf": _hf,
    "accelerate": _accelerate,
    "lightning": _lightning,
    "deepspeed": _hf,
    "plain": _plain,
}


def fix_line(code: str, stack: str, evidence: dict[str, Any]) -> str:
    """The fix of ``code`` as a code line for ``stack`` (the plain loop's when the stack has none)."""
    own = STACK_FIXES.get(stack, _plain)(evidence)
    return own.get(code) or _plain(evidence).get(code, "")
