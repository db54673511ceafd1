"""The live run: a small model trained on synthetic data with the designed schedule, step by step.

base (caps, variants, records) -> loop (one process) -> distributed (W processes) -> runs (the one
dispatcher and the server's run manager) -> cli (``python -m schedules train``); beside them the LR
range test, the synthetic data and models, the gradient noise scale and schedule-free optimizers.
"""
