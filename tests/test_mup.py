"""Per-group ``width_mult`` for muP-style transfer (issue 14): a matrix-like group's lr is divided by
its width multiplier, as ``mup.MuAdam`` does (Yang et al. 2021, Tensor Programs V)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from designer_app import open_sections
from figure_json import spec_of, y_at
from streamlit.testing.v1 import AppTest

import schedules
from app import state
from schedules.design import ConfigError

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")

DESIGN = {
    "name": "mup",
    "optimizer": {
        "name": "AdamW",
        "lr": 1e-3,
        "param_groups": [
            {"name": "hidden", "lr_scale": 1.0, "width_mult": 4.0},
            {"name": "vector", "lr_scale": 1.0},
        ],
    },
    "training": {"dataset_size": 100, "micro_batch_size": 10, "epochs": 3},
    "warmup": {"steps": 5},
    "decay": {"scheduler": "CosineAnnealingLR"},
}


def test_matrix_like_group_lr_is_divided_by_width_mult() -> None:
    """MuAdam: a matrix-like group with width_mult 4 runs at lr / 4 at every step (base 1e-3 -> 2.5e-4)."""
    cfg = schedules.load_config(DESIGN)
    assert cfg.optimizer.base_lrs() == [pytest.approx(2.5e-4, rel=1e-15), 1e-3]
    frame = schedules.lr_curve(cfg)
    hidden, vector = frame["lr/hidden"].to_numpy(), frame["lr/vector"].to_numpy()
    np.testing.assert_allclose(hidden, vector / 4, rtol=1e-12, atol=1e-20)
    assert hidden[5] == pytest.approx(2.5e-4) and vector[5] == pytest.approx(1e-3)
    # With lr_scale too: lr * lr_scale / width_mult.
    two = schedules.load_config(
        {
            **DESIGN,
            "optimizer": {
                **DESIGN["optimizer"],
                "param_groups": [{"name": "h", "lr_scale": 0.5, "width_mult": 8.0}],
            },
        }
    )
    assert two.optimizer.base_lrs() == [pytest.approx(1e-3 * 0.5 / 8)]


def test_json_round_trip_and_old_files_unchanged() -> None:
    cfg = schedules.load_config(DESIGN)
    assert schedules.load_config(cfg.to_json()).cache_key() == cfg.cache_key()
    groups = cfg.to_dict()["optimizer"]["param_groups"]
    assert groups[0]["width_mult"] == 4.0 and "width_mult" not in groups[1]
    with pytest.raises(ConfigError, match=r"optimizer.param_groups\[0\].width_mult: must be a number > 0"):
        schedules.load_config(
            {**DESIGN, "optimizer": {**DESIGN["optimizer"], "param_groups": [{"name": "h", "width_mult": 0}]}}
        )


def test_live_run_uses_the_divided_lr() -> None:
    from schedules.train.loop import train

    run = train({**DESIGN, "training": {**DESIGN["training"], "max_steps": 8}}, model="mlp", device="cpu")
    rows = list(run)
    assert rows[6].lrs["hidden"] == pytest.approx(rows[6].lrs["vector"] / 4, rel=1e-12)


def test_designer_width_mult_control_gives_one_trace_per_group() -> None:
    design = {
        **DESIGN,
        "optimizer": {**DESIGN["optimizer"], "param_groups": [{"name": "hidden"}, {"name": "vector"}]},
    }
    at = AppTest.from_file(MAIN, default_timeout=60)
    open_sections(at)
    at.session_state[state.DESIGN_JSON] = schedules.load_config(design).to_json()
    at.run()
    assert at.number_input(key=state.group_key(0, "width_mult")).value is None
    at.number_input(key=state.group_key(0, "width_mult")).set_value(4.0).run()
    assert not at.exception, [e.value for e in at.exception]
    cfg = schedules.load_config(at.session_state[state.DESIGN_JSON])
    assert (
        cfg.optimizer.param_groups[0].width_mult == 4.0 and cfg.optimizer.param_groups[1].width_mult is None
    )
    spec = spec_of(at.get("plotly_chart")[0])
    assert y_at(spec, "lr/hidden", 5) == pytest.approx(2.5e-4)
    assert y_at(spec, "lr/vector", 5) == pytest.approx(1e-3)


def test_width_mult_equals_mup_muadam_per_group_lrs() -> None:
    """The real ``mup.MuAdam`` on a model 4x as wide as its base: the hidden (matrix-like, both dims
    scale) weight runs at lr / 4, input weight, biases and the readout (vector-like) at lr. The design
    with ``width_mult`` 4 on the hidden group gives the same lrs at every step when its scheduler is
    stepped on MuAdam's own optimizer."""
    mup = pytest.importorskip("mup")
    import torch

    def net(width: int) -> torch.nn.Sequential:
        return torch.nn.Sequential(
            torch.nn.Linear(8, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
            mup.MuReadout(width, 3),
        )  # fmt: skip

    torch.manual_seed(0)
    model = net(64)
    mup.set_base_shapes(model, net(16), delta=net(32))
    opt = mup.MuAdam(model.parameters(), lr=1e-3)
    hidden = model[2].weight
    assert hidden.infshape.width_mult() == 4.0
    [matrix] = [g for g in opt.param_groups if any(p is hidden for p in g["params"])]
    [vector] = [g for g in opt.param_groups if g is not matrix]
    assert len(matrix["params"]) == 1 and len(vector["params"]) == 5  # the other weights and the biases
    cfg = schedules.load_config(DESIGN)
    assert [matrix["lr"], vector["lr"]] == [pytest.approx(lr, rel=1e-15) for lr in cfg.optimizer.base_lrs()]

    opt.param_groups[:] = [matrix, vector]  # the design's group order: hidden, vector
    sched = schedules.build_scheduler(opt, cfg)
    seen = []
    for _ in range(len(schedules.lr_curve(cfg))):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    frame = schedules.lr_curve(cfg)
    np.testing.assert_allclose(
        np.array(seen), frame[["lr/hidden", "lr/vector"]].to_numpy(), rtol=1e-12, atol=0
    )
