"""The Export section's Download tab: the config, the curve and two training loops as files."""

from __future__ import annotations

import streamlit as st

from app import ui
from schedules.design import ScheduleConfig
from schedules.snippets import build_scheduler_snippet


def _slug(cfg: ScheduleConfig) -> str:
    return (
        "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in cfg.name.lower()).strip("-") or "design"
    )


def downloads(cfg: ScheduleConfig, curve) -> None:
    slug = _slug(cfg)
    row = st.container(horizontal=True)
    row.download_button(
        "Config JSON",
        data=lambda: cfg.to_json() + "\n",
        file_name=f"{slug}.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
        key="designer_download_json",
        width="stretch",
        help="The lr-schedule/v1 config: import it here again, or load it in your training script.",
    )
    row.download_button(
        "Curve CSV",
        data=lambda: curve.frame.to_csv(index=False, lineterminator="\n"),
        file_name=f"{slug}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="designer_download_csv",
        width="stretch",
        help="One row per optimizer step: step, epoch, samples, lr (and lr/<group> per group).",
    )
    row.download_button(
        "Loop: build_scheduler",
        data=lambda: build_scheduler_snippet(cfg, f"{slug}.json"),
        file_name="train_with_schedules.py",
        mime="text/x-python",
        on_click="ignore",
        icon=":material/code:",
        key="designer_download_snippet",
        width="stretch",
        help="A training loop that loads the config JSON with schedules.build_scheduler.",
    )
    row.download_button(
        "Loop: plain torch",
        data=lambda: ui.cached_snippet(cfg.cache_key(), "plain_torch"),
        file_name="train_plain_torch.py",
        mime="text/x-python",
        on_click="ignore",
        icon=":material/code:",
        key="designer_download_plain",
        width="stretch",
        help="A training loop with the torch schedulers spelled out (no dependency on this package).",
    )
