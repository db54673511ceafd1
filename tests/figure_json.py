"""Read Plotly figure JSON as the browser gets it (Plotly >= 6 packs numpy arrays as base64 ``bdata``)."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np


def array(value: Any) -> np.ndarray:
    """A trace attribute as a numpy array, whether a JSON list or a ``{"dtype", "bdata"}`` object."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            out = out.reshape([int(s) for s in str(value["shape"]).split(",")])
        return out
    return np.asarray(value)


def spec_of(figure_or_json: Any) -> dict[str, Any]:
    """The figure dict from a plotly Figure, its JSON text, or an AppTest ``plotly_chart`` element."""
    if hasattr(figure_or_json, "proto"):
        return json.loads(figure_or_json.proto.spec)
    if hasattr(figure_or_json, "to_json"):
        return json.loads(figure_or_json.to_json())
    if isinstance(figure_or_json, str):
        return json.loads(figure_or_json)
    return figure_or_json


def trace(spec: dict[str, Any], name: str) -> dict[str, Any]:
    for t in spec["data"]:
        if t.get("name") == name:
            return t
    raise KeyError(f"no trace named {name!r}; traces: {[t.get('name') for t in spec['data']]}")


def xy(spec: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    t = trace(spec, name)
    return array(t["x"]), array(t["y"])


def y_at(spec: dict[str, Any], name: str, x: float) -> float:
    """The trace's y at the point whose x equals ``x`` (exactly one such point)."""
    xs, ys = xy(spec, name)
    hits = np.flatnonzero(np.isclose(xs.astype(float), x, rtol=0, atol=1e-9))
    assert len(hits) == 1, f"{name}: {len(hits)} points at x={x}"
    return float(ys[hits[0]])
