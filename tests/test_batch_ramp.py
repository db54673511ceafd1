"""training.batch_ramp and training.tokens_per_sample: step accounting against hand-counted examples,
invariants over random designs, back-compatibility, the live run following the ramp, refusals and
export warnings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import ConfigError, load_config, lr_curve
from schedules.design.plan import MAX_RAMP_EPOCHS

ROOT = Path(__file__).resolve().parents[1]
RAMP = [{"batch": 32, "until_samples": 256}, {"batch": 64, "until_samples": 512}]


def design(ramp=RAMP, **training):
    base = {"dataset_size": 1000, "micro_batch_size": 32, "accumulation_steps": 4, "epochs": 2}
    return {"training": {**base, **training, "batch_ramp": ramp}}


# --------------------------------------------------------------------------------------------------
# hand-counted examples


def test_worked_example_of_plan_docstring():
    """N=1000, b=32, A=4, W=1, 2 epochs; stages (32 until 256), (64 until 512).  By hand, with c the
    samples consumed before each step: epoch 0 (32 micro-batches): c = 0, 32, ..., 224 -> 8 steps of 1
    micro-batch; c = 256, 320, 384, 448 -> 4 steps of 2; c = 512 -> the full 4: micro-batches 16-19,
    20-23, 24-27, 28-31 (the last holds 3 x 32 + 8 = 104 samples).  Epoch 1: the regular 8 steps of 4."""
    p = load_config(design()).plan
    assert p.total_steps == 8 + 4 + 4 + 8 == 24
    assert p.micro_batches_array().tolist() == [1] * 8 + [2] * 4 + [4] * 4 + [4] * 8
    expected = (
        [32 * (k + 1) for k in range(8)]
        + [256 + 64 * (k + 1) for k in range(4)]
        + [640, 768, 896, 1000]
        + [1000 + 128 * (k + 1) for k in range(7)]
        + [2000]
    )
    assert p.samples_array().tolist() == expected
    assert p.batch_array().tolist() == [32] * 8 + [64] * 4 + [128, 128, 128, 104] + [128] * 7 + [104]
    assert p.epochs_array().tolist() == [0] * 16 + [1] * 8
    assert p.epoch_end_steps().tolist() == [15, 23]
    assert [p.is_epoch_end(k) for k in (14, 15, 16, 22, 23)] == [False, True, False, False, True]
    w = p.window(12)
    assert (w.epoch, w.step_in_epoch, w.first_micro_batch, w.micro_batches) == (0, 12, 16, 4)
    w = p.window(17)
    assert (w.epoch, w.step_in_epoch, w.first_micro_batch, w.samples, w.samples_through) == (
        1,
        1,
        4,
        128,
        1256,
    )
    assert p.ramp_steps == 12  # steps taken before 512 samples were consumed
    assert p.total_epochs == 2
    assert p.effective_batch == 128  # the batch the ramp grows to
    # fractional epochs: epoch 0 has 16 steps, epoch 1 has 8
    assert p.epoch_positions()[[0, 8, 15, 16, 20]].tolist() == [0.0, 0.5, 15 / 16, 1.0, 1.5]


def test_world_size_and_drop_last_by_hand():
    """N=100, b=8, W=2 (rounds of 16), A=2, drop_last, 2 epochs, one stage (16 until 48):
    L = floor(100 / 16) = 6 rounds, 96 samples per epoch.  Epoch 0: c = 0, 16, 32 -> 3 steps of 1
    round; c = 48 -> rounds 3-4, then round 5 alone (windows never span epochs).  Epoch 1: 3 steps."""
    p = load_config(
        {
            "training": {
                "dataset_size": 100,
                "micro_batch_size": 8,
                "world_size": 2,
                "accumulation_steps": 2,
                "drop_last": True,
                "epochs": 2,
                "batch_ramp": [{"batch": 16, "until_samples": 48}],
            }
        }
    ).plan
    assert p.total_steps == 5 + 3
    assert p.micro_batches_array().tolist() == [1, 1, 1, 2, 1, 2, 2, 2]
    assert p.samples_array().tolist() == [16, 32, 48, 80, 96, 128, 160, 192]


def test_max_steps_cuts_inside_the_ramp_and_continues_after_it():
    short = load_config(design(max_steps=10)).plan
    assert short.total_steps == 10 and short.micro_batches_array().tolist() == [1] * 8 + [2] * 2
    assert short.samples_array()[-1] == 384
    long = load_config(design(max_steps=40)).plan  # epochs repeat past `epochs`, as without a ramp
    assert long.total_steps == 40
    assert long.epochs_array().tolist() == [0] * 16 + [1] * 8 + [2] * 8 + [3] * 8
    assert long.samples_array()[-1] == 4000


def test_ramp_longer_than_one_epoch():
    """N=100, b=10, A=4 (40 per step), one stage (10 until 250): epochs 0 and 1 have 10 steps of one
    micro-batch (c < 250 before each), epoch 2 starts at c = 200: 5 steps of 1 (c = 200..240), then
    rounds 5-8 and round 9 alone; epoch 3 is regular: ceil(10 / 4) = 3 steps."""
    p = load_config(
        {
            "training": {
                "dataset_size": 100,
                "micro_batch_size": 10,
                "accumulation_steps": 4,
                "epochs": 4,
                "batch_ramp": [{"batch": 10, "until_samples": 250}],
            }
        }
    ).plan
    assert p.micro_batches_array().tolist() == [1] * 25 + [4, 1] + [4, 4, 2]
    assert p.epoch_end_steps().tolist() == [9, 19, 26, 29]
    assert p.total_steps == 30


# --------------------------------------------------------------------------------------------------
# invariants over random designs


@st.composite
def ramp_designs(draw):
    b = draw(st.integers(1, 16))
    w = draw(st.integers(1, 3))
    a = draw(st.integers(1, 8))
    n = draw(st.integers(b * w, 2000))
    drop_last = draw(st.booleans())
    stages, until = [], 0
    per = 1
    for _ in range(draw(st.integers(1, 3))):
        per = draw(st.integers(per, a))
        until += draw(st.integers(1, 3 * n))
        stages.append({"batch": per * b * w, "until_samples": until})
    training = {
        "dataset_size": n,
        "micro_batch_size": b,
        "world_size": w,
        "accumulation_steps": a,
        "drop_last": drop_last,
        "epochs": draw(st.integers(1, 5)),
        "batch_ramp": stages,
    }
    if draw(st.booleans()):
        training["max_steps"] = draw(st.integers(1, 400))
    return {"training": training}


@settings(max_examples=60, deadline=None)
@given(ramp_designs())
def test_every_window_follows_the_rules(data):
    cfg = load_config(data)
    p = cfg.plan
    t = cfg.training
    bw = t.micro_batch_size * t.world_size
    L = p.micro_batches_per_epoch
    micro = p.micro_batches_array()
    through = p.samples_array()
    epochs = p.epochs_array()
    assert len(micro) == len(through) == len(epochs) == p.total_steps
    consumed = 0
    for k in range(p.total_steps):
        win = p.window(k)
        assert (win.micro_batches, win.samples_through, win.epoch) == (micro[k], through[k], epochs[k])
        assert win.first_micro_batch + win.micro_batches <= L  # never spans an epoch
        assert win.samples_through - win.samples == consumed
        # the stage of the samples consumed before the step sets its micro-batches (fewer at an epoch end)
        stage = next((s for s in t.batch_ramp if consumed < s.until_samples), None)
        per = stage.batch // bw if stage is not None else t.accumulation_steps
        assert win.micro_batches == min(per, L - win.first_micro_batch)
        assert p.is_epoch_end(k) == (win.first_micro_batch + win.micro_batches == L)
        consumed = win.samples_through
    ends = p.epoch_end_steps()
    assert ends.tolist() == [k for k in range(p.total_steps) if p.is_epoch_end(k)]
    if t.max_steps is None:  # whole epochs
        assert through[-1] == t.epochs * p.samples_per_epoch
        assert len(ends) == t.epochs


@st.composite
def plain_trainings(draw):
    b = draw(st.integers(1, 64))
    w = draw(st.integers(1, 4))
    n = draw(st.integers(b * w, 5000))
    t = {
        "dataset_size": n,
        "micro_batch_size": b,
        "world_size": w,
        "accumulation_steps": draw(st.integers(1, 16)),
        "drop_last": draw(st.booleans()),
        "epochs": draw(st.integers(1, 6)),
    }
    if draw(st.booleans()):
        t["max_steps"] = draw(st.integers(1, 500))
    return t


@settings(max_examples=60, deadline=None)
@given(plain_trainings())
def test_designs_without_the_new_fields_are_unchanged(training):
    """Back-compatibility: a design without batch_ramp / tokens_per_sample writes no new key, and its
    accounting is CONTRACT.md section 2's closed form, row for row."""
    cfg = load_config({"training": training})
    assert "batch_ramp" not in cfg.to_dict()["training"]
    assert "tokens_per_sample" not in cfg.to_dict()["training"]
    explicit = load_config({"training": {**training, "batch_ramp": None, "tokens_per_sample": None}})
    assert explicit == cfg and explicit.to_json() == cfg.to_json()
    p = cfg.plan
    n, b, w, a = (
        training["dataset_size"],
        training["micro_batch_size"],
        training["world_size"],
        training["accumulation_steps"],
    )
    L = n // (b * w) if training["drop_last"] else math.ceil(n / (b * w))
    S = math.ceil(L / a)
    T = training.get("max_steps") or training["epochs"] * S
    spe = L * b * w if training["drop_last"] else n
    k = np.arange(T)
    e, s = np.divmod(k, S)
    assert p.total_steps == T
    assert p.epochs_array().tolist() == e.tolist()
    assert (
        p.samples_array().tolist() == (e * spe + np.minimum(np.minimum((s + 1) * a, L) * b * w, spe)).tolist()
    )
    assert p.micro_batches_array().tolist() == np.minimum(a, L - s * a).tolist()
    assert np.array_equal(p.epoch_positions(), k / S)
    assert list(lr_curve(cfg).columns[:4]) == ["step", "epoch", "samples", "lr"]


def test_every_shipped_design_file_loads_byte_for_byte():
    """The JSON designs in docs/ (written before these fields) round-trip to the same text."""
    files = sorted(ROOT.glob("docs/**/*.json"))
    assert files
    for path in files:
        text = path.read_text()
        data = json.loads(text)
        if data.get("format") != "lr-schedule/v1":
            continue
        cfg = load_config(data)
        assert json.loads(cfg.to_json()) == data, path
        assert "batch_ramp" not in cfg.to_dict()["training"]


# --------------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(
    ("ramp", "line"),
    [
        (
            [{"batch": 48, "until_samples": 100}],
            "training.batch_ramp[0].batch: must be a multiple of micro_batch_size x world_size = 32",
        ),
        (
            [{"batch": 256, "until_samples": 100}],
            "training.batch_ramp[0].batch: must be <= the effective batch",
        ),
        (
            [{"batch": 64, "until_samples": 100}, {"batch": 32, "until_samples": 200}],
            "training.batch_ramp[1].batch: must be >= the previous stage's 64",
        ),
        (
            [{"batch": 32, "until_samples": 300}, {"batch": 64, "until_samples": 200}],
            "training.batch_ramp[1].until_samples: must be > the previous stage's 300",
        ),
        ([{"batch": 0, "until_samples": 10}], "training.batch_ramp[0].batch"),
        ([], "training.batch_ramp"),
    ],
)
def test_bad_stages_name_the_field(ramp, line):
    with pytest.raises(ConfigError) as exc:
        load_config(design(ramp))
    assert any(text.startswith(line) for text in exc.value.lines()), exc.value.lines()


def test_epoch_counted_lengths_are_refused_with_a_ramp():
    data = design()
    data["decay"] = {"scheduler": "StepLR", "kwargs": {"step_size": 1}, "interval": "epoch"}
    data["plateau"] = {"eval_every": "epoch"}
    with pytest.raises(ConfigError) as exc:
        load_config(data)
    lines = exc.value.lines()
    assert any(x.startswith("decay.interval: must be 'step' with training.batch_ramp") for x in lines)
    assert any(x.startswith("plateau.eval_every: must be a number of optimizer steps") for x in lines)


def test_a_ramp_over_too_many_epochs_is_refused_quickly():
    data = design([{"batch": 32, "until_samples": 10**12}], max_steps=100)
    data["training"]["dataset_size"] = 10
    data["training"]["micro_batch_size"] = 1
    data["training"]["batch_ramp"] = [{"batch": 1, "until_samples": 10**12}]
    with pytest.raises(ConfigError) as exc:
        load_config({**data, "training": {**data["training"], "max_steps": None, "epochs": 10**5}})
    assert exc.value.lines()[0].startswith(f"training.batch_ramp: must end within {MAX_RAMP_EPOCHS:,} epochs")
    # cut by max_steps, the same ramp is fine: only the steps that run are counted
    assert load_config(data).plan.total_steps == 100


# --------------------------------------------------------------------------------------------------
# curve, tokens, exports, stacks


def test_tokens_column_and_summary():
    cfg = load_config({**design(), "training": {**design()["training"], "tokens_per_sample": 512}})
    frame = lr_curve(cfg)
    assert list(frame.columns[:5]) == ["step", "epoch", "samples", "tokens", "lr"]
    assert (frame["tokens"] == frame["samples"] * 512).all()
    assert frame["tokens"].iloc[-1] == 2000 * 512
    from schedules.curve import compute_curve

    curve = compute_curve(cfg)
    _, note = curve.summary_figures()
    assert "1,024,000 tokens" in note and "batch ramp 32 -> 128 over the first 512 samples (12 steps)" in note
    assert any(e.kind == "ramp_end" and e.step == 12 for e in curve.events)
    assert [e.step for e in curve.events if e.kind == "epoch"] == [16]


def test_exports_warn_and_framework_stacks_refuse():
    from schedules.interop.deepspeed_export import to_deepspeed
    from schedules.interop.hf_export import to_hf
    from schedules.interop.lightning import to_lightning
    from schedules.interop.timm import to_timm
    from schedules.stacks import stack_curve

    cfg = load_config({**design(), "decay": {"scheduler": "CosineAnnealingLR"}})
    for export, target in (
        (to_hf, "HF"),
        (to_deepspeed, "DeepSpeed"),
        (to_lightning, "Lightning"),
        (to_timm, "timm"),
    ):
        _, warnings = export(cfg)
        ramp = [w for w in warnings if "training.batch_ramp" in w]
        assert len(ramp) == 1 and ramp[0].startswith(
            f"{target} cannot express: training.batch_ramp=[32 until 256"
        )
        assert "counts the design's 24 optimizer steps (max_steps), the first 12 of them" in ramp[0]
    with pytest.raises(ConfigError) as exc:
        stack_curve(cfg, {"name": "hf"})
    assert exc.value.lines()[0].startswith("stack.name: must be plain with training.batch_ramp")
    assert stack_curve(cfg, {"name": "plain"}).matches
    # without a ramp: no such warning
    _, warnings = to_hf(
        load_config({**cfg.to_dict(), "training": {**cfg.to_dict()["training"], "batch_ramp": None}})
    )
    assert not any("batch_ramp" in w for w in warnings)


# --------------------------------------------------------------------------------------------------
# the live run follows the ramp


LIVE = {
    "optimizer": {"name": "SGD", "lr": 0.05},
    "training": {
        "dataset_size": 640,
        "micro_batch_size": 16,
        "accumulation_steps": 4,
        "epochs": 2,
        "batch_ramp": [{"batch": 16, "until_samples": 64}, {"batch": 32, "until_samples": 192}],
    },
    "warmup": {"steps": 3},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def test_live_run_rows_follow_the_ramp():
    """By hand: 40 micro-batches per epoch.  Epoch 0: c = 0, 16, 32, 48 -> 4 steps of 1; c = 64, 96,
    128, 160 -> 4 steps of 2; c = 192 -> the 28 micro-batches left in 7 steps of 4: 15 steps.  Epoch 1:
    ceil(40 / 4) = 10.  T = 25 rows."""
    from schedules.train.loop import train

    cfg = load_config(LIVE)
    assert cfg.plan.total_steps == 25
    run = train(cfg, device="cpu", seed=0)
    frame = run.frame(list(run))
    assert len(frame) == 25
    assert frame["micro_batches"].tolist() == [1] * 4 + [2] * 4 + [4] * 7 + [4] * 10
    assert frame["samples"].tolist() == cfg.plan.samples_array().tolist()
    assert frame["samples"].iloc[14] == 640 and frame["samples"].iloc[-1] == 1280
    assert np.array_equal(frame["lr"].to_numpy(), lr_curve(cfg)["lr"].to_numpy())


@pytest.mark.real
def test_distributed_live_run_follows_the_ramp():
    """Two real processes (gloo): the same windows as the single-process run, hand-counted above with
    rounds of 16 x 2 = 32 samples."""
    from schedules.train.distributed import train_processes

    data = json.loads(json.dumps(LIVE))
    data["training"].update(
        micro_batch_size=8,
        world_size=2,
        batch_ramp=[{"batch": 16, "until_samples": 64}, {"batch": 32, "until_samples": 192}],
    )
    cfg = load_config(data)
    run = train_processes(cfg, device="cpu", seed=0)
    frame = run.frame(list(run))
    assert len(frame) == 25
    assert frame["micro_batches"].tolist() == [1] * 4 + [2] * 4 + [4] * 7 + [4] * 10
    assert frame["samples"].tolist() == cfg.plan.samples_array().tolist()


# --------------------------------------------------------------------------------------------------
# the Designer: the ramp and tokens per sample as widgets, a tokens axis; nothing lost


def test_designer_edits_the_ramp_and_draws_a_tokens_axis() -> None:
    from designer_app import open_sections, summary_html
    from figure_json import spec_of, xy
    from streamlit.testing.v1 import AppTest

    from app import state

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    open_sections(at, "data")
    data = {**design(), "name": "ramped", "training": {**design()["training"], "tokens_per_sample": 512}}
    at.session_state[state.DESIGN_JSON] = load_config(data).to_json()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    ramp = at.text_input(key=state.key("training.batch_ramp"))
    assert ramp.value == "32:256, 64:512"
    assert at.number_input(key=state.key("training.tokens_per_sample")).value == 512
    # the design is kept as it came (no field lost on the way through the widgets)
    assert (
        load_config(at.session_state[state.DESIGN_JSON]).training.batch_ramp
        == load_config(data).training.batch_ramp
    )
    assert "batch ramp 32 -&gt; 128 over the first 512 samples (12 steps)" in summary_html(at)
    at.segmented_control(key="designer_x_axis").set_value("tokens").run()
    assert not at.exception
    spec = spec_of(at.get("plotly_chart")[0])
    assert spec["layout"]["xaxis"]["title"]["text"] == "tokens seen"
    x, _ = xy(spec, "lr")
    assert x.max() == 2000 * 512 and x.min() == 32 * 512  # samples through each step x 512 tokens
    # a new ramp by text; a bad one names the field
    ramp.set_value("64:512").run()
    assert load_config(at.session_state[state.DESIGN_JSON]).plan.micro_batches_array()[:8].tolist() == [2] * 8
    at.text_input(key=state.key("training.batch_ramp")).set_value("64 until 512").run()
    assert not at.exception
    # shown as text (app/text.md): a zero-width space after a ":" before a word, which the page shows as nothing
    errors = " ".join(e.value for e in at.error).replace("\u200b", "")
    assert "training.batch_ramp[0]" in errors and "must be batch:until_samples" in errors
    at.text_input(key=state.key("training.batch_ramp")).set_value("").run()
    assert load_config(at.session_state[state.DESIGN_JSON]).training.batch_ramp is None
