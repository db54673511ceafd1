"""Schedule-free optimizers in the Live run (issue 14): the live loop with ``schedule_free="AdamW"`` /
``"SGD"`` gives the losses of a loop written directly with the ``schedulefree`` package (same seed,
same data, same sample order), and records the package's own step size and averaging weight."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

schedulefree = pytest.importorskip("schedulefree")

from schedules import load_config  # noqa: E402
from schedules.design import ConfigError  # noqa: E402
from schedules.train.base import record_columns  # noqa: E402
from schedules.train.data import training_set, validation_set  # noqa: E402
from schedules.train.loop import train  # noqa: E402
from schedules.train.models import make_model  # noqa: E402
from schedules.train.runs import live_run_for  # noqa: E402
from schedules.train.schedule_free import snippet, trace  # noqa: E402

ADAMW = {
    "optimizer": {"name": "AdamW", "lr": 0.01, "kwargs": {"weight_decay": 0.01, "betas": [0.9, 0.99]}},
    # L = ceil(600 / 16) = 38 micro-batches per epoch, S = ceil(38 / 4) = 10 steps: windows of 4 x 16
    # samples, and a last one of 2 micro-batches (16 + 8 samples)
    "training": {"dataset_size": 600, "micro_batch_size": 16, "accumulation_steps": 4, "epochs": 2},
    "warmup": {"steps": 5},
    "decay": {"scheduler": "CosineAnnealingLR"},  # not used: schedule-free has no lr scheduler
}
SGD = {**ADAMW, "optimizer": {"name": "SGD", "lr": 0.2, "kwargs": {"momentum": 0.8}}}


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The live run's documented sample order: randperm from a generator seeded by (seed, epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.randperm(n, generator=torch.Generator().manual_seed(int(state)))


def reference_run(
    design: dict, kind: str, seed: int
) -> tuple[list[float], dict[int, float], torch.nn.Module]:
    """The loop as the schedulefree README writes it: optimizer.train() before training steps,
    optimizer.eval() before evaluating; accumulation with the loss summed over each window's samples."""
    t = design["training"]
    n, b, a = t["dataset_size"], t["micro_batch_size"], t["accumulation_steps"]
    train_set, val_set = training_set("vectors", n), validation_set("vectors")
    x, y = torch.from_numpy(train_set.x).double(), torch.from_numpy(train_set.y)
    vx, vy = torch.from_numpy(val_set.x).double(), torch.from_numpy(val_set.y)
    model = make_model("mlp", seed, dtype=torch.float64)
    opt = design["optimizer"]
    if kind == "AdamW":
        optimizer = schedulefree.AdamWScheduleFree(
            model.parameters(),
            lr=opt["lr"],
            warmup_steps=design["warmup"]["steps"],
            weight_decay=0.01,
            betas=(0.9, 0.99),
        )
    else:
        optimizer = schedulefree.SGDScheduleFree(
            model.parameters(), lr=opt["lr"], warmup_steps=design["warmup"]["steps"], momentum=0.8
        )
    losses: list[float] = []
    val: dict[int, float] = {}
    step = 0
    for epoch in range(t["epochs"]):
        order = epoch_order(seed, epoch, n)
        micro = [order[i : i + b] for i in range(0, n, b)]
        for w in range(0, len(micro), a):
            window = micro[w : w + a]
            samples = sum(len(idx) for idx in window)
            model.train()
            optimizer.train()
            total = 0.0
            for idx in window:
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx], reduction="sum")
                (loss / samples).backward()
                total += float(loss.detach())
            optimizer.step()
            optimizer.zero_grad()
            losses.append(total / samples)
            step += 1
        model.eval()
        optimizer.eval()  # evaluate the averaged iterate x
        with torch.no_grad():
            val[step - 1] = float(torch.nn.functional.cross_entropy(model(vx), vy, reduction="sum")) / len(vx)
    return losses, val, model


@pytest.mark.parametrize(("design", "kind"), [(ADAMW, "AdamW"), (SGD, "SGD")])
def test_live_run_equals_a_loop_written_with_schedulefree(design: dict, kind: str) -> None:
    training = train(design, device="cpu", dtype="float64", seed=3, schedule_free=kind)
    records = list(training)
    want_loss, want_val, want_model = reference_run(design, kind, seed=3)
    assert len(records) == len(want_loss) == 20
    np.testing.assert_allclose([r.loss for r in records], want_loss, rtol=1e-12, atol=0)
    got_val = {r.step: r.val_loss for r in records if not math.isnan(r.val_loss)}
    assert sorted(got_val) == [9, 19]  # the epoch ends
    np.testing.assert_allclose([got_val[k] for k in (9, 19)], [want_val[k] for k in (9, 19)], rtol=1e-12)
    # the run ends in eval mode: the model holds x, as the reference's does after its last evaluation
    for p, q in zip(training.setup.model.parameters(), want_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-15)
    # the step size and averaging are the package's: warmup 5 steps, then uniform averaging
    lr = design["optimizer"]["lr"]
    expected = trace(lr, 20, warmup_steps=5)
    np.testing.assert_allclose([r.lr for r in records], expected["lr"], rtol=1e-12)
    assert [r.lr for r in records][:6] == pytest.approx([lr * f for f in (0.2, 0.4, 0.6, 0.8, 1.0, 1.0)])
    np.testing.assert_allclose([r.sf_averaging for r in records], expected["averaging"], rtol=1e-9)
    np.testing.assert_allclose([r.sf_weight for r in records], expected["weight"], rtol=1e-9)
    # c_k after warmup: w = lr^2 per step, warmup weights (0.04 + 0.16 + 0.36 + 0.64 + 1) lr^2 = 2.2 lr^2
    assert records[7].sf_averaging == pytest.approx(1 / (2.2 + 3))


def test_frame_columns_and_groups() -> None:
    """Per-group lrs (lr_scale) become per-group peaks; the frame adds sf_weight / sf_averaging."""
    design = {
        **ADAMW,
        "optimizer": {
            **ADAMW["optimizer"],
            "param_groups": [{"name": "body", "lr_scale": 0.1}, {"name": "head"}],
        },
        "training": {**ADAMW["training"], "max_steps": 6},
    }
    training = train(design, device="cpu", schedule_free="AdamW")
    records = list(training)
    frame = training.frame(records)
    assert list(frame.columns) == record_columns(["body", "head"], schedule_free=True)
    assert record_columns(["body", "head"], schedule_free=True)[-2:] == ["sf_weight", "sf_averaging"]
    assert frame["lr/body"].tolist() == pytest.approx([0.0002, 0.0004, 0.0006, 0.0008, 0.001, 0.001])
    assert frame["lr/head"].tolist() == pytest.approx([0.002, 0.004, 0.006, 0.008, 0.01, 0.01])
    assert training.schedule is None
    assert training.optimizer.param_groups[0]["train_mode"] is False  # eval() at the end
    # a torch run keeps its columns
    plain = train(design, device="cpu")
    assert "sf_averaging" not in plain.frame(list(plain)).columns


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"schedule_free: must be one of AdamW, SGD"):
        train(ADAMW, device="cpu", schedule_free="Adam")
    with pytest.raises(ConfigError, match=r"variant: must be correct with a schedule-free optimizer"):
        train(ADAMW, device="cpu", schedule_free="AdamW", variant="scheduler_per_micro_batch")


def test_background_run_meta_and_columns() -> None:
    from schedules.train.settings import comparison_settings

    cfg = load_config({**ADAMW, "training": {**ADAMW["training"], "max_steps": 4}})
    settings, _ = comparison_settings(cfg, same_batch_other_split=True)
    run = live_run_for(
        settings, device="cpu", schedule_free="SGD", slots=__import__("threading").Semaphore(1)
    )
    assert run.start()
    assert run.join(120)
    frame = run.frame()
    assert set(frame["optimizer"]) == {"schedulefree.SGDScheduleFree"}
    assert set(frame["setting"]) == {"16x4 design", "64x1 same batch"}
    assert frame["sf_averaging"].notna().all() and len(frame) == 8


@pytest.mark.real
def test_cli_train_schedule_free(tmp_path) -> None:
    import json
    import subprocess
    import sys

    path = tmp_path / "d.json"
    path.write_text(json.dumps({**ADAMW, "training": {**ADAMW["training"], "max_steps": 7}}))
    out = tmp_path / "run.csv"
    cmd = [sys.executable, "-m", "schedules", "train", str(path), "-o", str(out), "--schedule-free", "AdamW"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import pandas as pd

    frame = pd.read_csv(out)
    assert frame["lr"].tolist() == pytest.approx([0.002, 0.004, 0.006, 0.008, 0.01, 0.01, 0.01])
    assert frame["sf_averaging"].iloc[0] == 1.0
    bad = subprocess.run([*cmd, "--world-size", "2"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "world_size" in bad.stderr and "Traceback" not in bad.stderr


def test_exported_snippet_runs_with_train_and_eval(tmp_path, monkeypatch, capsys) -> None:
    """The Designer's schedule-free loop runs as is (its placeholders are real): it trains, evaluates
    and saves the averaged iterate x (eval mode), not the point y where gradients were taken."""
    code = snippet("AdamW", 0.05, 10, 2, 60, micro_batch_size=16, kwargs={"weight_decay": 0.0})
    assert code.index("optimizer.train()") < code.index("optimizer.step()") < code.index("optimizer.eval()")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__snippet__"}
    exec(compile(code, "snippet", "exec"), namespace)
    optimizer, model = namespace["optimizer"], namespace["model"]
    group = optimizer.param_groups[0]
    assert group["k"] == 60 and group["train_mode"] is False and group["scheduled_lr"] == 0.05
    saved = torch.load(tmp_path / "model.pt")
    x = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(saved[k], x[k]) for k in x)
    optimizer.train()  # the parameters move to y: what was saved is not that
    assert not all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step")]
    evals = [float(line.split()[-1]) for line in lines]
    assert len(evals) == 3 and evals[-1] < 0.5 * evals[0]  # evaluated every 20 steps; it learns
    assert lines[0].startswith("step 20/60: training loss ")  # progress: the step's mean loss per sample
    assert "samples = sum(len(x) for x, _ in window)" in code and "/ samples" in code


def test_live_page_schedule_free_option() -> None:
    """The Live page's Optimizer radio: schedule-free AdamW trains both splits with it, the scheduler
    bugs are off, and the chart shows the step size (warmup over 5 steps) and c_k per setting."""
    import json
    from pathlib import Path

    from figure_json import array
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[1] / "app" / "main.py"
    at = AppTest.from_file(str(app), default_timeout=60)
    at.session_state["design_json"] = load_config(ADAMW).to_json()
    at.run()
    at.switch_page("views/live.py").run()
    assert at.radio(key="live_optimizer").value == "design"
    at.radio(key="live_optimizer").set_value("AdamW").run()
    # the scheduler bugs are greyed and unticked, and a line says why (not ticked-but-ignored boxes)
    for key in ("live_bug_micro", "live_bug_before", "live_bug_process", "live_dist_pair"):
        box = at.checkbox(key=f"{key}_schedule_free")
        assert box.disabled and box.value is False
        assert "Not with a schedule-free optimizer" in box.help
    assert any("Schedule-free has no lr scheduler" in c.value for c in at.caption)
    at.number_input(key="live_steps").set_value(12)
    at.button(key="live_start").click().run()
    run = at.session_state["live_run"]
    assert run.join(120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [j.label for j in run.jobs] == ["16x4 design", "64x1 same batch"]  # the bug setting is left out
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    [sf] = [s for s in specs if "Schedule-free" in s["layout"]["title"]["text"]]
    names = [d["name"] for d in sf["data"]]
    assert names == [
        "16x4 design: step size",
        "16x4 design: averaging weight c_k",
        "64x1 same batch: step size",
        "64x1 same batch: averaging weight c_k",
    ]
    want = trace(0.01, 12, warmup_steps=5)
    np.testing.assert_allclose(array(sf["data"][0]["y"]), want["lr"], rtol=1e-12)
    np.testing.assert_allclose(array(sf["data"][1]["y"]), want["averaging"], rtol=1e-9)
    assert any("Schedule-free" in m.value and "c_k = w_k / sum(w)" in m.value for m in at.markdown)
    assert set(run.frame()["optimizer"]) == {"schedulefree.AdamWScheduleFree"}
    # back to the design's optimizer: no schedule-free chart after the next run
    at.radio(key="live_optimizer").set_value("design").run()
    assert not at.checkbox(key="live_bug_micro").disabled and at.checkbox(key="live_bug_micro").value
