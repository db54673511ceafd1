"""Live run: train a small model with the current design, watch loss and lr, run an LR range test.

A thin page over :mod:`schedules.train` and :mod:`schedules.train.range_test`.  Training runs in a
background thread (:class:`schedules.train.runs.LiveRun`, one per session, at most
``LIVE_RUN_SLOTS`` per server); a fragment polls its buffer a few times a second while it runs, so
the page never blocks and Stop (an event checked before every micro-batch) ends it at once.
The figures and tables are plain functions in :mod:`app.live_charts`.
"""

from __future__ import annotations

import hashlib

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import library, state, ui
from app.live_charts import (
    FINAL_LOSS,
    MAX_POINTS,
    STEPS_PER_S_HELP,
    noise_figure,
    range_figure,
    run_figures,
    schedule_free_figure,
    suggestions_table,
    summary_table,
)
from schedules.build import load_config, parse_config_json
from schedules.design import ConfigError, ScheduleConfig
from schedules.train.base import DEVICES, LIVE_RUN_SLOTS, MAX_LIVE_STEPS
from schedules.train.models import MODELS
from schedules.train.range_test import MAX_RANGE_STEPS, RULES, range_columns, suggest, sweep, with_lr
from schedules.train.runs import (
    LAST_RUN_KEPT_S,
    LiveRun,
    client_key,
    last_run_of,
    live_run_for,
    ranks_in_use,
    run_of,
    runs_per_client,
    server_ranks,
    xsrf_token,
)
from schedules.train.schedule_free import KINDS as SF_KINDS
from schedules.train.schedule_free import SOURCE as SF_SOURCE
from schedules.train.schedule_free import available as sf_available
from schedules.train.settings import comparison_settings, distributed_settings, other_split, split_label

# Session-state keys.  DESIGN_JSON / DESIGN_FROM_RANGE_TEST are shared with the designer.
DESIGN_JSON = state.DESIGN_JSON
DESIGN_FROM_RANGE_TEST = state.DESIGN_FROM_RANGE_TEST
RUN = "live_run"
RANGE_RUN = "live_range_run"
ERROR = "live_error"
RANGE_ERROR = "live_range_error"
APPLIED = "live_range_applied"
CSV_CACHE = "live_csv_cache"
#: The design length the steps cap was last set for (a new length resets the cap to it).
STEPS_FOR = "live_steps_for"
ADOPTED = "live_adopted"
#: The optimizer a run trains with: the design's (torch.optim + its scheduler) or a schedule-free one.
OPTIMIZER = "live_optimizer"
DESIGN_OPTIMIZER = "design"
OPTIMIZER_CHOICES = {DESIGN_OPTIMIZER: "The design's (torch.optim + scheduler)"} | {
    k: f"Schedule-free {k} (schedulefree.{v})" for k, v in SF_KINDS.items()
}

#: Seconds between chart updates while a run is going (2.5 a second).
POLL_S = 0.4
#: Points per trace while the charts redraw every POLL_S (a finished run draws MAX_POINTS): less work
#: for server and browser.
LIVE_POINTS = 400
LIVE_MODELS = ("mlp", "cnn", "linear")

#: The design used when the session has none yet (the designer normally provides one).
DEFAULT_DESIGN = {
    "name": "live demo: SGD, warmup + cosine",
    "optimizer": {"name": "SGD", "lr": 0.1, "kwargs": {"momentum": 0.9}},
    "training": {"dataset_size": 20000, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 3},
    "warmup": {"steps": 50, "start_factor": 0.0},
    "decay": {"scheduler": "CosineAnnealingLR", "kwargs": {}, "interval": "step"},
}


# --------------------------------------------------------------------------------------------------
# the design to run


def current_design() -> tuple[ScheduleConfig | None, str, list[str]]:
    """(config, where it came from, problems) from ``st.session_state[DESIGN_JSON]`` or the default."""
    raw = st.session_state.get(DESIGN_JSON)
    if not raw:
        return load_config(DEFAULT_DESIGN), "a demo design (the session has no design yet)", []
    try:
        return parse_config_json(raw), "the Designer's current design", []
    except ConfigError as exc:
        return None, "the Designer's current design", exc.lines()


# --------------------------------------------------------------------------------------------------
# callbacks (run before the page script, so the page draws the new state at once)


def browser_id() -> str | None:
    """Who owns a run: this browser (a hash of its ``_streamlit_xsrf`` cookie, which survives a page
    reload), else this Streamlit session.  One browser holds at most one live-run slot."""
    try:
        cookie = st.context.cookies.get("_streamlit_xsrf")
    except Exception:  # no request context (AppTest)
        cookie = None
    sid = _served_session_id()
    if sid is None:  # AppTest: no server session, no browser (its sessions share one id)
        return None
    if isinstance(cookie, str) and cookie:
        return "browser:" + hashlib.sha256(xsrf_token(cookie).encode()).hexdigest()[:24]
    return f"session:{sid}"


def _served_session_id() -> str | None:
    """This session's id when a real server runs it (None under AppTest)."""
    from streamlit import runtime

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    try:  # AppTest's runtime is a stand-in whose answers are not booleans
        return ctx.session_id if runtime.get_instance().is_active_session(ctx.session_id) is True else None
    except Exception:
        return None


def session_alive():
    """``alive()`` for :meth:`LiveRun.watch`: true while this Streamlit session is connected (None
    outside a server)."""
    from streamlit import runtime

    sid = _served_session_id()
    if sid is None:
        return None
    rt = runtime.get_instance()
    return lambda: rt.is_active_session(sid) is True


def adopt_orphans() -> None:
    """The run this browser started before a reload (its old session is gone) shows here again: a
    running one with its Stop button, tied to this session from now on; a finished one (at most
    ``LAST_RUN_KEPT_S`` ago) with its charts, table and CSV, when this session shows no run of its own."""
    owner = browser_id()
    run = run_of(owner)
    if run is not None:
        key = RUN if run.kind == "train" else RANGE_RUN
        if st.session_state.get(key) is not run:
            st.session_state[key] = run
            run.watch(session_alive())
            st.session_state[ADOPTED] = "running"
        return
    for kind, key in (("train", RUN), ("range", RANGE_RUN)):
        last = last_run_of(owner, kind)
        if last is not None and not isinstance(st.session_state.get(key), LiveRun):
            st.session_state[key] = last
            st.session_state[ADOPTED] = "finished"


def client_id() -> str | None:
    """Who counts as one client for the per-client cap (:func:`schedules.train.runs.client_key`): a
    header your proxy sets (``LR_STUDIO_CLIENT_HEADER``), else the connection's address; a new cookie
    or a private window is the same client.  None under AppTest (no server, no connection)."""
    if _served_session_id() is None:
        return None
    try:
        headers = dict(st.context.headers)
        address = st.context.ip_address
    except Exception:  # no request context
        return None
    return client_key(headers, address)


def _refused(run: LiveRun) -> list[str]:
    if run.refused == "owner":
        return [
            "This browser already has a live run going (started before a reload?): it is shown on this "
            "page; stop it first. One live run per browser."
        ]
    if run.refused == "client":
        return [
            f"Your address already has {runs_per_client()} live run(s) going (in another tab, browser or "
            "private window): stop it first, or wait for it to end."
        ]
    if run.refused == "ranks":
        return [
            f"The server's rank processes are in use by other live runs ({ranks_in_use()} of {server_ranks()}): "
            "try again in a minute, or untick the settings on real processes."
        ]
    return [f"The server is busy: it already runs {LIVE_RUN_SLOTS} live runs. Please try again in a minute."]


def _any_running() -> bool:
    return any(
        isinstance(st.session_state.get(k), LiveRun) and st.session_state[k].running for k in (RUN, RANGE_RUN)
    )


def _start_training(config: ScheduleConfig) -> None:
    ss = st.session_state
    ss.pop(ERROR, None)
    if _any_running():
        return
    sf = ss.get(OPTIMIZER, DESIGN_OPTIMIZER)
    sf = None if sf == DESIGN_OPTIMIZER else sf
    settings, notes = comparison_settings(
        config,
        design=ss.get("live_design", True),
        same_batch_other_split=ss.get("live_other_split", True),
        per_micro_batch_bug=ss.get("live_bug_micro", True) and sf is None,
        before_optimizer_bug=ss.get("live_bug_before", False) and sf is None,
    )
    if sf is None:  # the scheduler bugs and the process settings need the design's scheduler
        more, more_notes = distributed_settings(
            config, pair=ss.get("live_dist_pair", False), per_process_bug=ss.get("live_bug_process", False)
        )
        settings, notes = settings + more, notes + more_notes
    if not settings:
        ss[ERROR] = ["settings: tick at least one setting to run", *notes]
        return
    try:
        run = live_run_for(
            settings,
            model=ss.get("live_model", "mlp"),
            device=ss.get("live_device", "auto"),
            seed=int(ss.get("live_seed", 0)),
            max_steps=int(ss.get("live_steps", min(config.plan.total_steps, MAX_LIVE_STEPS))),
            owner=browser_id(),
            schedule_free=sf,
            client=client_id(),
        )
    except ConfigError as exc:
        ss[ERROR] = exc.lines()
        return
    # saved to the Library as it records
    meta = {"model": ss.get("live_model", "mlp"), "seed": int(ss.get("live_seed", 0))}
    if sf is not None:
        meta["optimizer"] = f"schedulefree.{SF_KINDS[sf]}"
    run.sink = library.live_sink(config, meta)
    if not run.start():
        ss[ERROR] = _refused(run)
        return
    run.watch(session_alive())
    ss[RUN] = run


def _start_range(config: ScheduleConfig) -> None:
    ss = st.session_state
    ss.pop(RANGE_ERROR, None)
    ss.pop(APPLIED, None)
    if _any_running():
        return
    run = LiveRun(owner=browser_id(), kind="range", client=client_id())
    try:
        swept = sweep(
            config,
            min_lr=float(ss.get("range_min_lr", 1e-5)),
            max_lr=float(ss.get("range_max_lr", 10.0)),
            steps=int(ss.get("range_steps", 200)),
            model=ss.get("live_model", "mlp"),
            device=ss.get("live_device", "auto"),
            seed=int(ss.get("live_seed", 0)),
            stop=run.stop_event,
        )
    except ConfigError as exc:
        ss[RANGE_ERROR] = exc.lines()
        return
    run.add("range test", swept, swept.steps, range_columns(swept.group_names))
    if not run.start():
        ss[RANGE_ERROR] = _refused(run)
        return
    run.watch(session_alive())
    ss[RANGE_RUN] = run


def csv_bytes(run: LiveRun) -> bytes:
    """The finished run's CSV, built once per run (reruns of the page reuse it)."""
    cached = st.session_state.get(CSV_CACHE)
    if cached is None or cached[0] is not run:
        cached = (run, run.frame().to_csv(index=False).encode())
        st.session_state[CSV_CACHE] = cached
    return cached[1]


def _stop(key: str) -> None:
    run = st.session_state.get(key)
    if isinstance(run, LiveRun):
        run.stop()
        run.join(1.0)


def _use_lr(config: ScheduleConfig, name: str, lr: float) -> None:
    try:
        new = with_lr(config, lr)
    except ConfigError as exc:
        st.session_state[RANGE_ERROR] = exc.lines()
        return
    st.session_state[DESIGN_JSON] = new.to_json()
    st.session_state[DESIGN_FROM_RANGE_TEST] = True
    st.session_state[APPLIED] = f"The Designer's lr is now {new.optimizer.lr:g} (the {name} suggestion)."


# --------------------------------------------------------------------------------------------------
# views (fragments: they poll the background run while it is running)


def _status_line(snap, unit: str = "steps") -> str:
    rate = f" · {snap.steps_per_second:,.0f} {unit}/s" if snap.elapsed > 0 and snap.done else ""
    current = ""
    if snap.status == "running" and len(snap.outcomes) > 1:
        current = f" · {len(snap.outcomes)} settings interleaved, one optimizer step each in turn"
    stopped = f" · ended {snap.stop_latency:.3f} s after Stop" if snap.stop_latency is not None else ""
    return f"**{snap.status}** · {snap.done:,} / {snap.total:,} {unit}{rate} · {snap.elapsed:.1f} s{current}{stopped}"


def _run_status(key: str, idle: str, was_running: bool, steps: str, help: str | None = None):
    """The top of a run's view, the same on both tabs: ``idle`` before any run; else the progress bar
    (``steps``: what it counts), the status line and the run's warnings.  Returns ``(run, snapshot)``,
    or None before any run."""
    run = st.session_state.get(key)
    if not isinstance(run, LiveRun):
        st.info(idle)
        return None
    snap = run.snapshot()
    if was_running and snap.status != "running":
        st.rerun()  # the run ended: redraw the whole page (buttons, download)
    st.progress(snap.progress, text=f"{snap.done:,} / {snap.total:,} {steps}")
    st.markdown(_status_line(snap), help=help)
    for line in snap.messages:
        st.warning(ui.md(line))
    return run, snap


def training_view(was_running: bool) -> None:
    shown = _run_status(
        RUN,
        "Press **Start** to train with the settings above; the charts update as it runs.",
        was_running,
        "optimizer steps",
        help="stopped: Stop was pressed (or nobody watched for 2 minutes)",
    )
    if shown is None:
        return
    run, snap = shown
    if snap.status == "stopped" and run.stop_reason != "stopped":
        st.info(ui.md(run.stop_reason))
    for note in run.notes:  # e.g. a setting's ranks emulated in one process
        st.caption(ui.md(note))
    loss_fig, lr_fig, loss_lr_fig = run_figures(snap.frames, LIVE_POINTS if was_running else MAX_POINTS)
    left, right = st.columns(2)
    left.plotly_chart(loss_fig, key="live_loss_chart")
    right.plotly_chart(lr_fig, key="live_lr_chart")
    left, right = st.columns(2)
    left.plotly_chart(loss_lr_fig, key="live_loss_lr_chart")
    right.dataframe(
        summary_table(run, snap.frames),
        hide_index=True,
        column_config={
            FINAL_LOSS: st.column_config.TextColumn(
                help="The raw training loss (not the moving average drawn), averaged over the last 5% of the "
                "steps; the Library's run comparison shows the same figure."
            ),
            "steps/s": st.column_config.TextColumn(help=STEPS_PER_S_HELP),
        },
    )
    noise = noise_figure(snap.frames, LIVE_POINTS if was_running else MAX_POINTS)
    if noise is not None:
        fig, sentence = noise
        left, right = st.columns(2)
        left.plotly_chart(fig, key="live_noise_chart")
        right.markdown(sentence)
        right.caption(
            "From each accumulation window: the per-micro-batch gradients (small batches) and their mean "
            "(the large batch) give tr(Sigma) and |G|^2; B_simple = tr(Sigma) / |G|^2, each smoothed by an EMA "
            "(beta 0.99). It approximates the critical batch size."
        )
    sf_fig = schedule_free_figure(snap.frames, LIVE_POINTS if was_running else MAX_POINTS)
    if sf_fig is not None:
        left, right = st.columns(2)
        left.plotly_chart(sf_fig, key="live_schedule_free_chart")
        right.markdown(
            "**Schedule-free** ("
            + SF_SOURCE
            + "): no lr scheduler. The step size warms up over the design's "
            "warmup and then stays at the peak; each step moves the averaged iterate x toward the new point z "
            "by c_k = w_k / sum(w) (about 1/k after warmup), which does the work of a decay."
        )
        right.caption(
            "Read from the optimizer's own state after every step (scheduled_lr, weight_sum). The loop calls "
            "optimizer.train() before each step's micro-batches and optimizer.eval() around every validation "
            "(the diamonds are the loss of x) and at the end."
        )


def range_view(was_running: bool) -> None:
    shown = _run_status(
        RANGE_RUN,
        "The range test trains with the design's optimizer, batches and accumulation while the lr grows "
        "exponentially from min lr to max lr, then suggests an lr.",
        was_running,
        "sweep steps",
    )
    if shown is None:
        return
    run, snap = shown
    job = run.jobs[0]
    frame = snap.frames[job.label]
    suggestions, notes = ({}, [])
    if snap.status != "running" and not frame.empty:
        suggestions, notes = suggest(frame, job.total)
        reason = getattr(job.records, "stop_reason", "")
        if reason:
            st.caption(f"Sweep: {ui.md(reason)}.")
    st.plotly_chart(range_figure(frame, suggestions), key="range_chart")
    for note in notes:
        st.info(ui.md(note))


def range_suggestions(run: LiveRun, config: ScheduleConfig) -> None:
    """The suggestions of a finished sweep and the button that carries one into the Designer."""
    job = run.jobs[0]
    frame = run.snapshot().frames[job.label]
    if frame.empty:
        return
    suggestions, _ = suggest(frame, job.total)
    if not suggestions:
        return
    st.dataframe(suggestions_table(suggestions), hide_index=True)
    names = list(suggestions)
    c1, c2 = st.columns([2, 3])
    choice = c1.radio(
        "Suggestion to use",
        names,
        index=names.index("valley") if "valley" in names else 0,
        horizontal=True,
        key="range_choice",
        format_func=lambda n: f"{n} ({suggestions[n].lr:.3g})",
    )
    c2.button(
        "Use this lr in the Designer",
        key="range_use",
        type="primary",
        on_click=_use_lr,
        args=(config, choice, suggestions[choice].lr),
    )


def run_controls(
    prefix: str,
    run_key: str,
    error_key: str,
    start_label: str,
    start,
    config: ScheduleConfig,
    busy: bool,
    download_label: str,
    file_name: str,
) -> tuple[LiveRun | None, bool]:
    """The row under a tab's settings, the same for the training run and the range test: Start
    (``start(config)``), Stop, and the CSV of a finished run (widget keys ``<prefix>_start``,
    ``<prefix>_stop``, ``<prefix>_download``); then why the last Start failed (``error_key``).
    Returns the tab's run (``run_key``; None before any) and whether it is running."""
    run = st.session_state.get(run_key)
    running = isinstance(run, LiveRun) and run.running
    c1, c2, c3 = st.columns([1, 1, 4])
    c1.button(
        start_label, key=f"{prefix}_start", type="primary", disabled=busy, on_click=start, args=(config,)
    )
    c2.button("Stop", key=f"{prefix}_stop", disabled=not running, on_click=_stop, args=(run_key,))
    if isinstance(run, LiveRun) and not running and run.snapshot().done:
        c3.download_button(
            download_label,
            data=csv_bytes(run),
            file_name=file_name,
            mime="text/csv",
            key=f"{prefix}_download",
        )
    if st.session_state.get(error_key):
        st.error("\n\n".join(ui.md(line) for line in st.session_state[error_key]))
    return run if isinstance(run, LiveRun) else None, running


def steps_cut_note(cap: int, total: int) -> str:
    """Under the steps cap when it is shorter than the design: the run ends before the schedule does."""
    limit = f" (a live run takes at most {MAX_LIVE_STEPS:,})" if total > MAX_LIVE_STEPS else ""
    return (
        f"Runs {cap:,} of the design's {total:,} optimizer steps: the schedule is cut at step {cap:,}, "
        f"{cap / total:.0%} of the way{limit}."
    )


def scheduler_box(
    col, label: str, key: str, default: bool, no_sched: bool, disabled: bool, help: str
) -> None:
    """A setting that needs the design's lr scheduler.  Under a schedule-free optimizer it shows unticked
    and greyed, with why (a box of its own: the user's choice under ``key`` comes back afterwards)."""
    if no_sched:
        col.checkbox(
            label,
            value=False,
            key=f"{key}_schedule_free",
            disabled=True,
            help="Not with a schedule-free optimizer: it has no lr scheduler (and runs in one process). "
            + help,
        )
        return
    col.checkbox(label, value=default, key=key, disabled=disabled, help=help)


# --------------------------------------------------------------------------------------------------
# the page

st.title("Live run")
adopt_orphans()
adopted = st.session_state.pop(ADOPTED, None)
if adopted == "running":
    st.info(
        "A live run this browser started before the page was reloaded is still going: it is shown below, "
        "and Stop ends it.",
        icon=":material/history:",
    )
elif adopted == "finished":
    st.info(
        "The last run this browser started before the page was reloaded has ended: its charts, table and "
        f"CSV are below (kept here for {LAST_RUN_KEPT_S / 60:.0f} minutes; live runs are also saved in the "
        "Library).",
        icon=":material/history:",
    )
config, source, problems = current_design()
if config is None:
    st.error("The design cannot be run:\n\n" + "\n".join(f"- {ui.md(p)}" for p in problems))
    st.stop()
plan = config.plan
t = config.training
st.caption(
    f"Training with {source}: **{ui.md(config.name)}** · {config.optimizer.name} lr {config.optimizer.lr:g} · "
    f"micro-batch x accumulation {split_label(t.micro_batch_size, t.accumulation_steps, t.world_size)} "
    f"(effective batch {plan.effective_batch}) · {t.dataset_size:,} synthetic samples · "
    f"{plan.total_steps:,} optimizer steps. Synthetic, seeded data; nothing is downloaded."
)
if st.session_state.get(DESIGN_FROM_RANGE_TEST):
    st.caption("The design's lr came from the range test below.")

c1, c2, c3 = st.columns(3)
c1.radio(
    "Model",
    LIVE_MODELS,
    format_func=lambda m: MODELS[m].title,
    horizontal=True,
    key="live_model",
    disabled=_any_running(),
    help="MLP: 32-64-64-10 on 10-class vectors; Small CNN: two 3x3 convolutions on 8x8 images; Least squares: "
    "a linear model whose SGD diverges above lr 1 (to see the divergence guard).",
)
c2.number_input(
    "Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="live_seed", disabled=_any_running()
)
c3.selectbox(
    "Device",
    DEVICES,
    key="live_device",
    help="auto: CUDA when torch.cuda.is_available(), else CPU",
    disabled=_any_running(),
)

train_tab, range_tab = st.tabs(["Training run", "LR range test"])

with train_tab:
    busy = _any_running()
    a, b = st.columns([1, 3])
    # The cap starts at the design's length (all of it, up to the live run's limit) and follows the design
    # when its length changes; a cap the user typed for this length stays.
    full = min(plan.total_steps, MAX_LIVE_STEPS)
    if st.session_state.get(STEPS_FOR) != plan.total_steps:
        st.session_state[STEPS_FOR] = plan.total_steps
        if not busy:
            st.session_state["live_steps"] = full
    cap = a.number_input(
        "Steps (cap)",
        min_value=1,
        max_value=MAX_LIVE_STEPS,
        # also as the default: a browser that has not seen the widget shows the default, not the state
        value=int(st.session_state.get("live_steps") or full),
        step=100,
        key="live_steps",
        help=f"Runs the first N optimizer steps of the designed schedule (at most {MAX_LIVE_STEPS:,}); "
        "it starts at the design's length.",
        disabled=busy,
    )
    if cap is not None and cap < plan.total_steps:
        a.caption(f":orange[{steps_cut_note(int(cap), plan.total_steps)}]")
    alt = other_split(t.micro_batch_size, t.accumulation_steps)
    sf_ok = sf_available()
    a.radio(
        "Optimizer",
        list(OPTIMIZER_CHOICES) if sf_ok else [DESIGN_OPTIMIZER],
        format_func=OPTIMIZER_CHOICES.get,
        key=OPTIMIZER,
        disabled=busy,
        help=f"Schedule-free ({SF_SOURCE}): the design's lr (per group) and warmup length, no lr scheduler; "
        "the scheduler bugs and the process settings do not apply to it.",
    )
    no_sched = st.session_state.get(OPTIMIZER, DESIGN_OPTIMIZER) != DESIGN_OPTIMIZER
    with b:
        st.markdown("**Settings to run and overlay**")
        s1, s2 = st.columns(2)
        s1.checkbox("The design as is", value=True, key="live_design", disabled=busy)
        s1.checkbox(
            f"Same effective batch as {split_label(*alt)}" if alt else "Same effective batch, other split",
            value=alt is not None,
            key="live_other_split",
            disabled=busy or alt is None,
            help="Same effective batch, other micro-batch x accumulation: the losses should match step by step.",
        )
        scheduler_box(
            s2,
            "Bug: scheduler stepped per micro-batch",
            "live_bug_micro",
            True,
            no_sched,
            busy,
            "scheduler.step() after every micro-batch: the schedule runs accumulation_steps times too fast.",
        )
        odd = t.world_size == 1 and t.micro_batch_size % 2 == 1
        scheduler_box(
            s1,
            f"Same samples per step on {'1 process' if t.world_size > 1 else '2 processes'}",
            "live_dist_pair",
            False,
            no_sched,
            busy or odd,
            "W=2 x b x A against W=1 x 2b x A: real processes on torch.distributed (gloo on CPU, NCCL "
            "on CUDA), DDP with no_sync() between optimizer steps. The losses should match step by step.",
        )
        scheduler_box(
            s2,
            "Bug: scheduler stepped once per process",
            "live_bug_process",
            False,
            no_sched,
            busy or odd,
            "accelerate-style: every one of 2 processes steps the scheduler once per process per "
            "optimizer step, so the schedule runs 2x too fast (real processes).",
        )
        scheduler_box(
            s2,
            "Bug: scheduler stepped before optimizer",
            "live_bug_before",
            False,
            no_sched,
            busy,
            "scheduler.step() before optimizer.step(): the first lr is skipped.",
        )
        if no_sched:
            st.caption(
                "Schedule-free has no lr scheduler to step wrongly and runs in one process: the scheduler "
                "bugs and the process settings are off (they apply again with the design's optimizer)."
            )
    run, running = run_controls(
        "live", RUN, ERROR, "Start", _start_training, config, busy, "Download run as CSV", "live-run.csv"
    )
    if isinstance(run, LiveRun):
        library.show_sink_status(run)
    st.fragment(run_every=POLL_S if running else None)(training_view)(running)

with range_tab:
    busy = _any_running()
    r1, r2, r3 = st.columns(3)
    r1.number_input(
        "Min lr",
        min_value=1e-10,
        max_value=10.0,
        value=1e-5,
        format="%.1e",
        key="range_min_lr",
        disabled=busy,
    )
    r2.number_input(
        "Max lr",
        min_value=1e-10,
        max_value=10.0,
        value=10.0,
        format="%.1e",
        key="range_max_lr",
        disabled=busy,
    )
    r3.number_input(
        "Sweep steps",
        min_value=10,
        max_value=MAX_RANGE_STEPS,
        value=200,
        step=50,
        key="range_steps",
        disabled=busy,
    )
    st.caption(
        "Exponential sweep over optimizer steps (with the design's accumulation). The loss is smoothed with a "
        "bias-corrected moving average (beta 0.98); the sweep stops once it exceeds 4x its best. "
        f"Suggestions: **steepest**: {RULES['steepest']}; **valley**: {RULES['valley']}."
    )
    range_run, range_running = run_controls(
        "range",
        RANGE_RUN,
        RANGE_ERROR,
        "Start range test",
        _start_range,
        config,
        busy,
        "Download sweep as CSV",
        "lr-range-test.csv",
    )
    st.fragment(run_every=POLL_S if range_running else None)(range_view)(range_running)
    if isinstance(range_run, LiveRun) and not range_running:
        range_suggestions(range_run, config)
    if APPLIED in st.session_state:
        st.success(st.session_state[APPLIED])
