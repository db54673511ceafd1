"""Import / export: the current design as HF TrainingArguments, a Lightning configure_optimizers,
timm scheduler arguments or a DeepSpeed block, each with what the target cannot express; and HF
TrainingArguments or DeepSpeed JSON imported as the current design.  Logic: schedules.interop."""

from __future__ import annotations

import json

import streamlit as st

from app import caches, configs, state, ui
from schedules.design import ConfigError
from schedules.interop import TARGETS, build_scheduler_variant, from_deepspeed, from_hf
from schedules.report import overlay_figure

ss = st.session_state
K_SOURCE = "interop_import_source"
K_UPLOAD = "interop_import_upload"
K_TEXT = "interop_import_text"
K_DATASET = "interop_import_dataset_size"
K_WORLD = "interop_import_world_size"
K_TOTAL = "interop_import_total_steps"
K_EXACT = "interop_import_exact"
K_RESULT = "interop_import_result"
SOURCES = {"hf": "HF TrainingArguments JSON", "deepspeed": "DeepSpeed config / scheduler block"}


def export_section(config) -> None:
    curve = ui.curve_of(config)
    total = curve.plan.total_steps
    st.subheader("Export", anchor="export")
    st.caption(
        "Each export is checked by recomputing the curve the target will produce, with the target's "
        "own formulas and stepping rules, and comparing it with this design step by step."
    )
    tabs = st.tabs([t.title for t in TARGETS.values()])
    # Every export is checked against the whole curve: a bar above 200k steps while they compute.
    with ui.progress_bar(total, "the exports and their checks", "exports") as progress:
        results = {}
        for i, key in enumerate(TARGETS):
            try:
                results[key] = caches.cached_export(configs.key_of(config), key, curve)
            except (ConfigError, ValueError) as exc:
                results[key] = exc
            if progress is not None:
                progress(i + 1, len(TARGETS))
    for tab, (key, target) in zip(tabs, TARGETS.items(), strict=True):
        with tab:
            if isinstance(results[key], Exception):
                ui.show_problems(f"{target.title} could not be exported", [str(results[key])])
                continue
            payload, warnings = results[key]
            notes = [w for w in warnings if w.startswith("note:")]
            problems = [w for w in warnings if not w.startswith("note:")]
            exact = not any("different curve" in w for w in problems)
            if exact:
                st.success(
                    f"Exact: {target.title} gives this design's lr at all {total:,} optimizer steps.",
                    icon=":material/check_circle:",
                )
            if problems:
                ui.show_problems(
                    "What it cannot express" if not exact else "Worth knowing",
                    problems,
                    "warning",
                )
            for note in notes:
                st.caption(note[len("note:") :].strip())
            text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
            st.code(text, language=target.language)
            st.download_button(
                f"Download {target.filename}",
                text,
                file_name=target.filename,
                mime="text/x-python" if target.language == "python" else "application/json",
                key=f"interop_download_{key}",
                icon=":material/download:",
            )
            if not exact:
                theirs = caches.cached_target_curve(configs.key_of(config), key, json.dumps(payload))
                st.plotly_chart(
                    overlay_figure(curve, {target.short: theirs}),
                    key=f"interop_overlay_{key}",
                    config={"displaylogo": False},
                )
            if key == "lightning":
                with st.expander("Exact for any design: build_scheduler inside Lightning"):
                    st.code(build_scheduler_variant(config), language="python")


def import_section(config) -> None:
    st.subheader("Import", anchor="import")
    st.caption(
        "Bring a schedule you already use: the imported design reproduces what that framework "
        "schedules, step by step; it replaces the current design (the designer shows it next)."
    )
    source = st.radio(
        "What are you importing?", list(SOURCES), format_func=SOURCES.get, key=K_SOURCE, horizontal=True
    )
    upload = st.file_uploader(
        "JSON file (up to 1 MB)",
        key=K_UPLOAD,
        max_upload_size=1,
        help="TrainingArguments.to_json_string() output, or a ds_config.json (at most 1,000,000 bytes).",
    )
    text = st.text_area(
        "…or paste the JSON", key=K_TEXT, height=140, placeholder='{"lr_scheduler_type": "cosine", ...}'
    )
    plan = ui.curve_of(config).plan
    cols = st.columns(3)
    if source == "hf":
        dataset = cols[0].number_input(
            "Training samples (dataset size)",
            min_value=1,
            value=config.training.dataset_size,
            key=K_DATASET,
            help="TrainingArguments does not contain it; Trainer takes it from len(train_dataset).",
        )
        world = cols[1].number_input(
            "Processes (world size)", min_value=1, value=config.training.world_size, key=K_WORLD
        )
    else:
        total = cols[0].number_input(
            "Run length if the file has no total_num_steps",
            min_value=1,
            value=plan.total_steps,
            key=K_TOTAL,
            help="Optimizer steps. A block with total_num_steps (WarmupDecayLR, WarmupCosineLR) runs for that "
            "many steps; the others (WarmupLR, OneCycle, LRRangeTest) do not say how long the run is.",
        )
        exact = cols[1].toggle(
            "Exact (may use an lr_lambda expression)",
            value=True,
            key=K_EXACT,
            help="Off: the nearest warmup + decay made of torch scheduler classes, with how far it is.",
        )
    if st.button(
        "Import into the designer", type="primary", icon=":material/upload:", key="interop_import_button"
    ):
        if upload is not None and not upload.name.lower().endswith(".json"):
            st.error(
                f"{upload.name} was not imported: only JSON files are read here (HF "
                "TrainingArguments.to_json_string() output, or a DeepSpeed ds_config.json).",
                icon=":material/error:",
            )
            return
        data = upload.getvalue() if upload is not None else text.strip()
        if not data:
            st.error("Upload a JSON file or paste its text first.", icon=":material/error:")
            return
        try:
            if source == "hf":
                new, warnings = from_hf(data, dataset_size=int(dataset), world_size=int(world), base=config)
            else:
                new, warnings = from_deepspeed(
                    data, base=config, default_total_steps=int(total), exact=bool(exact)
                )
        except ConfigError as exc:
            ui.show_problems("This file could not be imported", exc)
            return
        state.set_design(new)
        ss[K_RESULT] = (new.name, warnings)
        state.add_notice("success", f"Imported {SOURCES[source]} as the design “{new.name}”.", warnings)
        st.rerun()
    result = ss.get(K_RESULT)
    if result is not None:
        name, warnings = result
        st.success(f"Imported “{name}”: it is the current design now.", icon=":material/check_circle:")
        if warnings:
            ui.show_problems("Import notes", warnings, "warning")
        st.page_link("views/designer/page.py", label="Open it in the designer", icon=":material/show_chart:")


config = state.current_config()
st.title("Import / export")
st.caption(f"Current design: **{config.name}**")
export_tab, import_tab = st.tabs(["Export", "Import"])
with export_tab:
    export_section(config)
with import_tab:
    import_section(config)
