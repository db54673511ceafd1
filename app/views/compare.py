"""Compare: overlay saved designs, accumulation settings of one design, the classic stepping mistakes
and the resume traps ("what your loop actually does") on a shared samples axis, with a table of
differences."""

from __future__ import annotations

import dataclasses

import streamlit as st

from app import charts, library, state, ui
from app.design_actions import design_actions
from schedules.build import load_config
from schedules.compare import (
    accumulation_variant,
    identical_curves,
    lr_per_sample,
    parameter_diff,
    same_lr_other_batch,
)
from schedules.design import ConfigError, ScheduleConfig, StackConfig
from schedules.mistakes import MISTAKES, RESUME_MISTAKES, default_resume_step
from schedules.presets import PRESETS, apply_preset
from schedules.rescale import RULES, Rescaled, peak_timescale, rescale_all, rule_for, timescale_frame
from schedules.stacks.options import STACK_LABELS

ss = st.session_state
CURRENT = "Current design"
PRESET_PREFIX = "Preset: "
ACCUMULATIONS = [1, 2, 4, 8, 16, 32, 64]
DASHES = {
    "per_micro_batch": "dash",
    "before_optimizer_step": "dot",
    "unadjusted_accumulation": "dashdot",
    "resume_fresh": "longdash",
    "resume_wrong_order": "longdashdot",
}
LOOP_KINDS = {**MISTAKES, **RESUME_MISTAKES}

K_DESIGNS = "compare_designs"
K_BASE = "compare_accumulation_base"
K_ACCS = "compare_accumulations"
K_KEEP = "compare_keep"
K_MISTAKES = "compare_mistakes"
K_STACKS = "compare_stacks"
STACK_DASHES = ["longdash", "dashdot", "dot", "dash", "longdashdot"]
K_TARGET = "compare_mistake_target"
K_RESUME_AT = "compare_resume_at"
K_X = "compare_x_axis"
K_LOG = "compare_log_y"
K_RS_ON = "compare_rescale_on"
K_RS_DESIGN = "compare_rescale_design"
K_RS_FOR = "compare_rescale_for"
K_RS_RULE = "compare_rescale_rule"
K_RS_EMA = "compare_rescale_ema"
K_RS = {
    "micro_batch_size": "compare_rescale_b",
    "accumulation_steps": "compare_rescale_a",
    "world_size": "compare_rescale_w",
}


def _sanitize(key: str, options: list, default: list | object) -> None:
    """Drop remembered selections that are no longer options (a design was renamed or removed)."""
    if key not in ss:
        ss[key] = default
        return
    value = ss[key]
    if isinstance(value, list):
        ss[key] = [v for v in value if v in options]
    elif value not in options:
        ss[key] = default


def design_sources() -> dict[str, ScheduleConfig]:
    current = state.current_config()
    out: dict[str, ScheduleConfig] = {CURRENT: current}
    for name, text in (ss.get(state.SAVED_DESIGNS) or {}).items():
        try:
            out[name] = load_config(text)
        except ConfigError:
            continue
    for name, text in library.designs_for_compare():  # the Library (workspace), newest first
        if name not in out and name != CURRENT and not name.startswith(PRESET_PREFIX):
            try:
                out[name] = load_config(text)
            except ConfigError:
                continue
    for name, preset in PRESETS.items():
        out[PRESET_PREFIX + preset.title] = (name, current)  # type: ignore[assignment]  # made on demand
    return out


def resolve(label: str, sources: dict) -> ScheduleConfig:
    value = sources[label]
    if isinstance(value, tuple):
        name, base = value
        return apply_preset(name, base)
    return value


def controls(sources: dict) -> dict:
    labels = list(sources)
    saved = [n for n in labels if n != CURRENT and not n.startswith(PRESET_PREFIX)]
    # Selected at first: the current design and those saved in this session (the Library may hold many).
    this_session = [n for n in (ss.get(state.SAVED_DESIGNS) or {}) if n in labels]
    _sanitize(K_DESIGNS, labels, [CURRENT, *this_session])
    with st.container(border=True):
        a, b, c = st.columns([1.3, 1.2, 1.2], gap="medium")
        with a:
            st.markdown("**Designs**")
            chosen = st.multiselect(
                "Designs to overlay",
                labels,
                key=K_DESIGNS,
                help="The current design, saved designs (the Library: saved on the Designer (Import, share & save → Save), kept across sessions), "
                "and presets applied to the current design's optimizer and training.",
                placeholder="Choose designs…",
            )
            if not saved:
                st.caption(
                    "Save designs on the Designer (*Import, share & save* → *Save*) to list them here."
                )
            x_axis = st.segmented_control(
                "x axis",
                ["samples", "step"],
                default="samples",
                required=True,
                key=K_X,
                format_func=lambda x: {"samples": "samples seen", "step": "optimizer steps"}[x],
            )
            log_y = st.toggle("log lr", key=K_LOG)
        with b:
            st.markdown("**Accumulation settings of one design**")
            bases = chosen or [CURRENT]
            _sanitize(K_BASE, bases, bases[0])
            st.selectbox(
                "Design", bases, key=K_BASE, help="The design whose gradient accumulation is varied."
            )
            _sanitize(K_ACCS, ACCUMULATIONS, [])
            st.multiselect(
                "Accumulation steps",
                ACCUMULATIONS,
                key=K_ACCS,
                placeholder="e.g. 1, 4, 16",
                help="Each value adds that design with training.accumulation_steps set to it.",
            )
            st.radio(
                "Keep",
                ["effective_batch", "micro_batch"],
                horizontal=True,
                key=K_KEEP,
                format_func=lambda k: {
                    "effective_batch": "effective batch",
                    "micro_batch": "micro-batch size",
                }[k],
                help="effective batch: micro-batch size = effective batch / accumulation (same optimization, less "
                "memory). micro-batch size: the effective batch grows, so there are fewer optimizer steps.",
            )
        with c:
            st.markdown("**What your loop actually does**")
            for kind, (label, explanation) in LOOP_KINDS.items():
                st.checkbox(label, key=f"{K_MISTAKES}.{kind}", help=explanation)
            st.multiselect(
                "Through stacks",
                list(STACK_LABELS),
                key=K_STACKS,
                format_func=STACK_LABELS.get,
                placeholder="e.g. accelerate, Lightning",
                help="What each framework does with the design (its 'stack' section's settings, e.g. the number "
                "of processes, with the framework replaced).",
            )
            target_slot = st.container()
    return {"chosen": chosen, "x_axis": x_axis or "samples", "log_y": log_y, "target_slot": target_slot}


def _resume_step(slot, config: ScheduleConfig) -> int | None:
    """The N widget of the resume traces, bounded by the chosen design's steps (None: too short)."""
    total = config.plan.total_steps
    if total < 2:
        slot.caption("A design of one optimizer step has no step to resume at.")
        return None
    value = ss.get(K_RESUME_AT)
    if not isinstance(value, int) or not 1 <= value <= total - 1:
        ss[K_RESUME_AT] = default_resume_step(config.plan)
    at = slot.number_input(
        "resumed at optimizer step N",
        min_value=1,
        max_value=total - 1,
        step=1,
        key=K_RESUME_AT,
        help="The run is saved after N optimizer steps and restarted in a new process (torch.save / "
        "torch.load of the real optimizer and schedulers). build_scheduler's schedule restores the lr "
        "itself, so with it both restore orders continue the curve exactly; the traces show the traps.",
    )
    return int(at)


def batch_assistant(configs: dict[str, ScheduleConfig], sources: dict) -> tuple[str, Rescaled] | None:
    """The scale-up calculator: a new effective batch -> the new design under each published rule, side by
    side (schedules.rescale); the chosen rule's design is overlaid on the chart."""
    with st.expander(
        "Scale-up calculator: the design for a new effective batch, under each rule",
        icon=":material/calculate:",
    ):
        on = st.toggle(
            "Propose designs for a new batch",
            key=K_RS_ON,
            help="Change micro-batch, accumulation or world size: each published rule proposes the new design "
            "(lr, and the optimizer settings it scales), every length counted in steps kept in samples.",
        )
        if not on:
            return None
        labels = list(configs) or [CURRENT]
        _sanitize(K_RS_DESIGN, labels, labels[0])
        label = st.selectbox("Design", labels, key=K_RS_DESIGN)
        cfg = configs.get(label) or resolve(label, sources)
        if ss.get(K_RS_FOR) != label:  # a new design: start from its own batch
            for name, k in K_RS.items():
                ss[k] = int(getattr(cfg.training, name))
            ss[K_RS_FOR] = label
        a, b, c, d, e = st.columns(5)
        a.number_input("Micro-batch size", min_value=1, max_value=10**6, step=1, key=K_RS["micro_batch_size"])
        b.number_input("Accumulation", min_value=1, max_value=10**5, step=1, key=K_RS["accumulation_steps"])
        c.number_input("World size", min_value=1, max_value=10**5, step=1, key=K_RS["world_size"])
        d.selectbox(
            "Rule drawn",
            ["auto", *RULES],
            key=K_RS_RULE,
            format_func=lambda r: "auto (by optimizer)" if r == "auto" else RULES[r].title,
            help="The rule whose design is drawn on the chart; the table below has every rule.",
        )
        e.number_input(
            "Model EMA momentum",
            min_value=0.0,
            max_value=0.999999999,
            value=0.999,
            step=0.0001,
            format="%.6g",
            key=K_RS_EMA,
            help="For the EMA rule (Busbridge et al. 2023): an EMA of the weights (Polyak averaging, a teacher) "
            "with this momentum becomes momentum ** kappa.",
        )
        batch = {n: int(ss[k]) for n, k in K_RS.items()}
        proposals = rescale_all(cfg, ema=float(ss.get(K_RS_EMA) or 0.999), **batch)
        rule = ss.get(K_RS_RULE) or "auto"
        chosen = rule_for(cfg.optimizer.name).name if rule == "auto" else rule
        result = proposals[chosen]
        if isinstance(result, ConfigError):
            ui.show_problems("No proposal:", result.lines(), "warning")
            return None
        m = st.columns(4)
        m[0].metric(
            "Effective batch", f"{result.new_batch:,}", f"x{result.kappa:g} (was {result.old_batch:,})"
        )
        m[1].metric("Peak lr", f"{result.new_lr:.3e}", f"was {result.old_lr:.3e}", delta_color="off")
        m[2].metric(
            "Warmup steps",
            f"{result.new_warmup_steps:,}",
            f"was {result.old_warmup_steps:,}",
            delta_color="off",
        )
        m[3].metric(
            "Warmup ends after",
            f"{result.new_warmup_samples:,} samples",
            f"was {result.old_warmup_samples:,}",
            delta_color="off",
        )
        r = result.rule
        st.caption(f"**{r.title}**. Source: {r.source}.  \n**Limits:** {r.limits}")
        for note in result.notes:
            st.caption(f"Note: {note}")
        rules_side_by_side(proposals, label)
        return label, result


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.6g}" for v in value) + "]"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _timescale_cell(p: Rescaled) -> str:
    old, new = peak_timescale(p.old), peak_timescale(p.new)
    return f"{old:.4g} -> {new:.4g}" if old is not None and new is not None else ""


def side_by_side_table(proposals: dict) -> dict[str, list[str]]:
    """Rows of the side-by-side table: one column per rule (its title), one row per quantity."""
    rows = [
        "peak lr",
        "optimizer kwargs changed",
        "model EMA momentum",
        "AdamW timescale at the peak (epochs)",
        "warmup steps",
        "warmup ends after",
    ]
    table: dict[str, list[str]] = {"quantity": rows}
    for name, p in proposals.items():
        title = RULES[name].title
        if isinstance(p, ConfigError):
            table[title] = ["does not apply: " + "; ".join(p.lines())] + [""] * (len(rows) - 1)
            continue
        changed = "; ".join(f"{k} {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in p.kwargs_changed.items()) or "none"
        table[title] = [
            f"{p.old_lr:.4g} -> {p.new_lr:.4g}",
            changed,
            f"{p.ema[0]:.6g} -> {p.ema[1]:.6g}" if p.ema else "",
            _timescale_cell(p),
            f"{p.old_warmup_steps:,} -> {p.new_warmup_steps:,}",
            f"{p.old_warmup_samples:,} -> {p.new_warmup_samples:,} samples",
        ]
    return table


def rules_side_by_side(proposals: dict, label: str) -> None:
    """Every rule's design side by side, one tab each with its Open / Save / Download, and AdamW's
    timescale over the schedule."""
    st.markdown("**Every rule, side by side**")
    st.dataframe(side_by_side_table(proposals), hide_index=True, key="compare_rescale_table")
    names = list(proposals)
    for name, tab in zip(names, st.tabs([RULES[n].title for n in names]), strict=True):
        p = proposals[name]
        with tab:
            if isinstance(p, ConfigError):
                ui.show_problems(f"The {name} rule does not apply to this design:", p.lines(), "info")
                continue
            st.caption(f"{RULES[name].source}. {RULES[name].limits}")
            st.text(f"Design: {p.new.name}")  # the user's design name: plain text
            design_actions(p.new, f"compare_rescale_{name}", "Compare's scale-up calculator")
    ts = proposals.get("timescale")
    if isinstance(ts, Rescaled):
        frame = timescale_frame(ts)
        if len(frame):
            st.plotly_chart(
                charts.timescale_figure(frame, label),
                key="compare_timescale_chart",
                config={"displaylogo": False},
            )
            st.caption(
                "AdamW's timescale tau = 1 / (lr x weight_decay) in epochs (x batch / dataset size) at every "
                "step of the old design and of the timescale rule's design (Wang & Aitchison 2025): the rule "
                "keeps it where the lr is at its peak; the warmup and decay follow the schedule."
            )


def dashed_duplicates(series: list[charts.Series], groups: list[list[str]]) -> list[charts.Series]:
    """``series`` with the second and later curves of each identical group dashed (a solid one over a
    solid one hides the first), so every curve shows."""
    later = {name: i for group in groups for i, name in enumerate(group) if i}
    dashes = ["dash", "dot", "dashdot", "longdash"]
    return [
        dataclasses.replace(s, dash=dashes[(later[s.name] - 1) % len(dashes)])
        if s.name in later and s.dash == "solid"
        else s
        for s in series
    ]


def _ask_assistant(source: str, target: ScheduleConfig) -> None:
    """The hint's button: the scale-up calculator on, for ``source``, at ``target``'s batch."""
    ss[K_RS_ON] = True
    ss[K_RS_DESIGN] = ss[K_RS_FOR] = source
    for name, k in K_RS.items():
        ss[k] = int(getattr(target.training, name))


def batch_hint(figures: dict[str, tuple[float, int]], configs: dict[str, ScheduleConfig]) -> None:
    """When two compared designs differ in effective batch but share their peak lr (``optimizer.lr``,
    ``figures``: label -> (lr, effective batch)): say so, and offer the scale-up calculator (set up for
    that change)."""
    pairs = same_lr_other_batch(figures)
    if not pairs:
        return
    a, b = pairs[0]
    (lr, small), (_, large) = figures[a], figures[b]
    more = f" ({len(pairs) - 1} more pair{'s' if len(pairs) > 2 else ''} like it)" if len(pairs) > 1 else ""
    st.info(
        f"*{ui.md(a)}* and *{ui.md(b)}* have different effective batches ({small:,} and {large:,}) but "
        f"the same peak lr ({lr:.3g}){more}: the lr usually changes with the batch (linear rule for SGD, "
        "square root for Adam). The scale-up calculator proposes the new design under each rule.",
        icon=":material/calculate:",
    )
    st.button(
        f"Open the scale-up calculator: {a} at batch {large:,}",
        key="compare_ask_assistant",
        icon=":material/calculate:",
        on_click=_ask_assistant,
        args=(a, configs[b]),
    )


def main() -> None:
    st.title("Compare", anchor=False)
    if (st.session_state.get(K_X) or "samples") == "samples":
        axis = (
            "Curves share one x axis, **samples seen**, so designs with different batch sizes or accumulation "
            "line up by how much data they have consumed."
        )
    else:
        axis = (
            "Curves share one x axis, **optimizer steps**: designs with a different effective batch take a "
            "different number of steps for the same data (switch to samples seen to line them up by data)."
        )
    st.caption(f"{axis} Each curve is the lr of the design's first param group.")
    sources = design_sources()
    opts = controls(sources)
    configs: dict[str, ScheduleConfig] = {}
    problems: list[str] = []
    for label in opts["chosen"]:
        try:
            configs[label] = resolve(label, sources)
        except ConfigError as exc:
            problems += [f"{label}: {line}" for line in exc.lines()]
    base_label = ss.get(K_BASE)
    accs = sorted(ss.get(K_ACCS) or [])
    if accs and base_label in configs:
        base = configs[base_label]
        for a in accs:
            label = f"{base_label} · A={a}"
            try:
                cfg = accumulation_variant(base, a, ss.get(K_KEEP) or "effective_batch")
            except ConfigError as exc:
                problems += [f"{label}: {line}" for line in exc.lines()]
                continue
            configs[f"{label} (b={cfg.training.micro_batch_size})"] = cfg
    proposal = batch_assistant(configs, sources)
    if proposal is not None:
        label, result = proposal
        configs[f"{label} · batch {result.new_batch} ({result.rule.name} rule)"] = result.new
    if problems:
        ui.show_problems("Some curves could not be made:", problems, "warning")
    if not configs:
        st.info("Choose at least one design above.", icon=":material/info:")
        return

    kinds = [k for k in LOOP_KINDS if ss.get(f"{K_MISTAKES}.{k}")]
    stacks = list(ss.get(K_STACKS) or [])
    target = None
    resume_at: int | None = None
    if kinds or stacks:
        labels = list(configs)
        default = max(labels, key=lambda n: configs[n].training.accumulation_steps)
        _sanitize(K_TARGET, labels, default)
        target = opts["target_slot"].selectbox(
            "for the design",
            labels,
            key=K_TARGET,
            help="The mistakes matter with gradient accumulation > 1 (the default is the design with the most "
            "accumulation).",
        )
        if configs[target].training.accumulation_steps == 1 and any(k in MISTAKES for k in kinds):
            opts["target_slot"].caption(
                "With accumulation 1, stepping per micro-batch and the unadjusted lengths are the same as the "
                "correct loop: only *before optimizer.step()* differs."
            )
        if any(k in RESUME_MISTAKES for k in kinds):
            resume_at = _resume_step(opts["target_slot"], configs[target])
            if resume_at is None:
                kinds = [k for k in kinds if k not in RESUME_MISTAKES]

    series: list[charts.Series] = []
    notes: list[str] = []
    diagnoses: list[tuple[str, bool, str, str | None]] = []
    for i, (label, cfg) in enumerate(configs.items()):
        color = charts.COLORS[i % len(charts.COLORS)]
        try:
            curve = ui.curve_of(cfg)
        except ConfigError as exc:
            notes += [f"{label}: {line}" for line in exc.lines()]
            continue
        series.append(charts.Series(label, curve.frame[["step", "samples", "lr"]], color=color, group=label))
        if label == target:
            for kind in kinds:
                if kind in RESUME_MISTAKES:
                    frame = ui.cached_mistake(cfg.cache_key(), kind, resume_at)
                    name = f"{label}: {RESUME_MISTAKES[kind][0]} at step {resume_at}"
                else:
                    frame = ui.cached_mistake(cfg.cache_key(), kind)
                    name = f"{label}: {MISTAKES[kind][0]}"
                series.append(charts.Series(name, frame, color=color, dash=DASHES[kind], group=label))
                if frame.attrs.get("note"):
                    notes.append(f"{name}: {frame.attrs['note']}")
            for j, stack in enumerate(stacks):
                settings = (cfg.stack or StackConfig()).model_copy(update={"name": stack})
                try:
                    run = ui.stack_of(cfg, settings)
                except ConfigError as exc:
                    notes += [f"{label} through {STACK_LABELS[stack]}: {line}" for line in exc.lines()]
                    continue
                name = f"{label}: what {run.label} does"
                frame = run.frame[["step", "samples", "lr"]]
                dash = STACK_DASHES[j % len(STACK_DASHES)]
                series.append(charts.Series(name, frame, color=color, dash=dash, group=label))
                diagnoses.append(
                    (run.label, run.matches, run.diagnosis, run.fix.description if run.fix else None)
                )
    if notes:
        ui.show_problems("", notes, "warning")
    same = identical_curves({s.name: s.frame for s in series}, opts["x_axis"])
    series = dashed_duplicates(series, same)
    fig = charts.compare_figure(series, x_axis=opts["x_axis"], log_y=opts["log_y"])
    st.plotly_chart(fig, key="compare_chart", config={"displaylogo": False})
    for group in same:
        st.info(
            "Identical curves, drawn on top of each other (the later ones dashed so each shows): "
            + " = ".join(f"*{ui.md(name)}*" for name in group),
            icon=":material/join:",
        )
    for stack_label, matches, diagnosis, fix in diagnoses:
        line = f"**{stack_label}**: {diagnosis}" + (f" — fix (verified): {fix}" if fix else "")
        (st.success if matches else st.warning)(line)

    st.subheader("What differs", anchor=False)
    if len(configs) > 1:
        diff = parameter_diff(configs)
        if len(diff):
            st.dataframe(diff, hide_index=True, width="stretch")
        else:
            st.caption("The compared designs have identical parameters.")
    else:
        st.caption("Add a second design or an accumulation setting to see the parameter differences.")
    rows = []
    for label, cfg in configs.items():
        try:
            s = ui.curve_of(cfg).summary()
        except ConfigError:
            continue
        rows.append(
            {
                "design": label,
                "total steps": s["total_steps"],
                "warmup steps": s["warmup_steps"],
                "steps/epoch": s["steps_per_epoch"],
                "effective batch": s["effective_batch"],
                "samples": s["samples"],
                "peak lr": s["peak_lr"],
                "peak lr / sample": lr_per_sample(s["peak_lr"], s["effective_batch"]),
                "final lr": s["final_lr"],
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "peak lr": st.column_config.NumberColumn(format="%.3e"),
            "peak lr / sample": st.column_config.NumberColumn(
                format="%.3e",
                help="Peak lr / effective batch: equal across batch sizes under the linear scaling rule (SGD, "
                "Goyal et al. 2017); Adam's square-root rule lowers it as the batch grows.",
            ),
            "final lr": st.column_config.NumberColumn(format="%.3e"),
        },
    )
    batch_hint(
        {label: (cfg.optimizer.lr, cfg.plan.effective_batch) for label, cfg in configs.items()}, configs
    )


main()
