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
    files = [  # (label, widget key, file name, MIME type, icon, contents: made when clicked, help)
        (
            "Config JSON",
            "designer_download_json",
            f"{slug}.json",
            "application/json",
            ":material/download:",
            lambda: cfg.to_json() + "\n",
            "The lr-schedule/v1 config: import it here again, or load it in your training script.",
        ),
        (
            "Curve CSV",
            "designer_download_csv",
            f"{slug}.csv",
            "text/csv",
            ":material/download:",
            lambda: curve.frame.to_csv(index=False, lineterminator="\n"),
            "One row per optimizer step: step, epoch, samples, lr (and lr/<group> per group).",
        ),
        (
            "Loop: build_scheduler",
            "designer_download_snippet",
            "train_with_schedules.py",
            "text/x-python",
            ":material/code:",
            lambda: build_scheduler_snippet(cfg, f"{slug}.json"),
            "A training loop that loads the config JSON with schedules.build_scheduler.",
        ),
        (
            "Loop: plain torch",
            "designer_download_plain",
            "train_plain_torch.py",
            "text/x-python",
            ":material/code:",
            lambda: ui.cached_snippet(cfg.cache_key(), "plain_torch"),
            "A training loop with the torch schedulers spelled out (no dependency on this package).",
        ),
    ]
    row = st.container(horizontal=True)
    for label, key, file_name, mime, icon, data, help in files:
        row.download_button(
            label,
            data=data,
            file_name=file_name,
            mime=mime,
            on_click="ignore",
            icon=icon,
            key=key,
            width="stretch",
            help=help,
        )
