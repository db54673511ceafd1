"""Real run logs: read a run's lr, training loss and validation loss, and use its validation loss
as the plateau metric of a design.

Accepted files (at most :data:`MAX_LOG_BYTES`):

- **CSV** with a step column and any of lr / loss / validation-loss columns, rows may be sparse (one
  metric per row): ``python -m schedules train`` output, Lightning ``CSVLogger``'s ``metrics.csv``,
  a W&B or HF export.  Column names are matched forgivingly (:data:`ALIASES`, case and separators
  ignored; Lightning's ``lr-AdamW`` / ``lr-AdamW/pg1`` names too).
- **JSON**: HF ``Trainer``'s ``trainer_state.json`` (its ``log_history``) or the list itself, or
  JSON Lines with one record per line.
- **TensorBoard event files** (``events.out.tfevents.*``), read with TensorBoard's own
  ``EventAccumulator``; tags such as ``train/learning_rate``, ``train/loss``, ``eval/loss``
  (HF's TensorBoardCallback) or ``lr-AdamW``, ``train_loss``, ``val_loss`` (Lightning).

**Steps.**  HF, Lightning and TensorBoard log ``step`` = optimizer steps *completed*; the lr they
log there is the lr the next step uses, i.e. row ``step`` of a design's curve, and an evaluation
logged at ``step`` ran after row ``step - 1``.  ``python -m schedules train`` writes row indices
(``step`` = the row, ``val_loss`` on the row after which it was computed); it is recognised by its
``window_samples`` / ``micro_batches`` columns; a trace (``python -m schedules trace``, its
``scheduler_steps`` / ``micro_batches`` columns) the same way, reading rank 0's steps.
:attr:`RunLog.convention` records which applies.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .build import load_config
from .design import ConfigError, PlateauConfig, Problem, ScheduleConfig
from .design.base import MAX_METRIC_VALUES

#: Largest log file accepted.
#: One limit, in decimal megabytes as the browser counts them (Streamlit's uploader refuses a file over
#: server.maxUploadSize = 16 "MB" = 16,000,000 bytes): the browser, the server and the library agree.
MAX_LOG_BYTES = 16_000_000
#: Most rows of a log: a CSV's lines after the header, a JSON log's records (counted before parsing, so
#: a file of 15 million empty lines is refused at once); also the most values of one series.
MAX_LOG_ROWS = 2_000_000
#: Longest text of one number (a step, lr or loss); a 5,000-digit step is refused naming its row.
MAX_NUMBER_CHARS = 64
#: Cells that mean "no value here" in a sparse log (pandas' missing-value words, without NaN: a logged
#: NaN is a value, dropped and counted).
NULL_WORDS = ["", "#N/A", "#N/A N/A", "#NA", "<NA>", "N/A", "NA", "NULL", "None", "n/a", "null"]
#: How a non-finite number is written in logs (counted as "inf or NaN" when dropped).
_NONFINITE_WORDS = {"nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}

Kind = Literal["lr", "loss", "val_loss"]
KINDS: tuple[Kind, ...] = ("lr", "loss", "val_loss")

#: Normalized names (lower case, separators -> "_") per kind, best first.
ALIASES: dict[str, tuple[str, ...]] = {
    "step": (
        "step",
        "global_step",
        "trainer_global_step",
        "_step",
        "steps",
        "iteration",
        "iter",
        "train_global_step",
    ),
    "lr": (
        "lr",
        "learning_rate",
        "train_learning_rate",
        "train_lr",
        "lr_default",
        "learningrate",
        "optimizer_lr",
    ),
    "loss": (
        "loss",
        "train_loss",
        "train_loss_step",
        "training_loss",
        "loss_step",
        "train_loss_epoch",
        "trainloss",
    ),
    "val_loss": (
        "val_loss",
        "eval_loss",
        "validation_loss",
        "valid_loss",
        "val_loss_epoch",
        "test_loss",
        "evalloss",
        "valloss",
    ),
}

#: The column of a multi-run CSV that names each row's run (the Live run's CSV).
SETTING_COLUMN = "setting"

EVENT_FILE = re.compile(r"events\.out\.tfevents")
TB_MAGIC_LEN = 12  # a TFRecord starts with an 8-byte length and a 4-byte masked CRC


@dataclass
class RunLog:
    """A run's series, each a DataFrame with columns ``step`` (int) and ``value`` (float), sorted."""

    source: str  # csv | json | tensorboard
    name: str
    series: dict[str, pd.DataFrame]
    columns: dict[str, str]  # kind -> the column / tag it came from
    convention: Literal["completed", "rows"] = "completed"
    notes: list[str] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return kind in self.series and len(self.series[kind]) > 0

    def rows(self, kind: str) -> pd.DataFrame:
        """A series with ``row``: the design-curve row each value belongs to.

        lr and training loss at ``step`` -> row ``step``; a validation loss -> the row after which
        the evaluation ran (``step - 1`` for completed-step logs)."""
        frame = self.series[kind].copy()
        shift = 1 if (kind == "val_loss" and self.convention == "completed") else 0
        frame["row"] = frame["step"] - shift
        return frame

    def summary(self) -> list[str]:
        out = [f"{self.name}: {self.source}"]
        for kind in KINDS:
            if self.has(kind):
                s = self.series[kind]
                out.append(
                    f"{kind} from '{self.columns[kind]}': {len(s)} values, steps {int(s.step.iloc[0])}..{int(s.step.iloc[-1])}"
                )
        return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_") or str(name)


def match_columns(names: list[str]) -> dict[str, str]:
    """``{kind: original name}`` for the step and each metric kind found in ``names``."""
    normalized = {}
    for n in names:
        normalized.setdefault(_norm(n), n)
    found: dict[str, str] = {}
    for kind, aliases in ALIASES.items():
        for alias in aliases:
            if alias in normalized:
                found[kind] = normalized[alias]
                break
    if "lr" not in found:
        # Lightning's LearningRateMonitor: "lr-AdamW", "lr-AdamW/pg1", "lr-SGD-momentum"...
        for n in names:
            if re.match(r"^(train[/_-])?lr[-_/]", str(n), re.IGNORECASE):
                found["lr"] = n
                break
    if "val_loss" not in found:
        for n in names:
            k = _norm(n)
            if k.startswith(("val_", "eval_", "valid_", "validation_")) and k.endswith("loss"):
                found["val_loss"] = n
                break
    return found


#: A cell that is a number (or inf / NaN), as text.
_NUMBER = r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)\s*"
#: Rows converted per call when a column holds text (each call holds the GIL; between them the server's
#: other threads, /_stcore/health among them, get it back).
_CHUNK_ROWS = 100_000


def _chunks(series: pd.Series) -> list[pd.Series]:
    return [series.iloc[i : i + _CHUNK_ROWS] for i in range(0, len(series), _CHUNK_ROWS)]


def _numbers(series: pd.Series) -> pd.Series:
    """The column as float64 (NaN where it is not a number); a text column in chunks (see _CHUNK_ROWS)."""
    if series.dtype.kind in "iuf":
        return series.astype(np.float64)
    if not len(series):
        return pd.Series(dtype=np.float64, index=series.index)
    parts = []
    for part in _chunks(series):
        # Only cells that look like numbers are converted: to_numeric spends microseconds on each cell
        # it cannot convert, and a hostile file is all such cells.
        looks = part.astype("string").str.fullmatch(_NUMBER, case=False).fillna(False).astype(bool)
        out = pd.Series(np.nan, index=part.index, dtype=np.float64)
        if looks.any():
            out[looks] = pd.to_numeric(part[looks], errors="coerce").astype(np.float64)
        parts.append(out)
        time.sleep(0)  # hand the GIL over between chunks
    return pd.concat(parts)


def _series(frame: pd.DataFrame, step_col: str, col: str, what: str) -> tuple[pd.DataFrame, str | None]:
    """``(series, note)``: the column's values by step, and what was dropped and why (None: nothing).

    Empty cells are not values (sparse logs leave them empty).  Dropped and counted: inf or NaN values,
    text that is not a number, rows without a whole step in int64's range, and repeated steps (the last
    value logged at a step is kept).  A number written with more than :data:`MAX_NUMBER_CHARS`
    characters is refused (ConfigError naming its row and column)."""
    raw_steps, raw_values = frame[step_col], frame[col]
    for raw, name in ((raw_steps, step_col), (raw_values, col)):
        if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            lengths = raw.astype("string").str.len().fillna(0)
            if len(lengths) and int(lengths.max()) > MAX_NUMBER_CHARS:
                row = int(lengths.to_numpy().argmax())
                raise ConfigError(
                    Problem(
                        f"{what}: row {row + 1}, column '{name}'",
                        f"must be a number of at most {MAX_NUMBER_CHARS} characters; it has "
                        f"{int(lengths.iloc[row]):,}",
                        None,
                        has_value=False,
                    )
                )
    steps = _numbers(raw_steps)
    values = _numbers(raw_values)
    given = raw_values.notna()
    if raw_values.dtype == object or pd.api.types.is_string_dtype(raw_values.dtype):  # some text in it
        words = (
            pd.concat(
                [
                    part.astype("string").str.strip().str.lower().isin(_NONFINITE_WORDS).fillna(False)
                    for part in _chunks(raw_values)
                ]
            )
            if len(raw_values)
            else pd.Series(False, index=raw_values.index)
        )
        nonfinite = given & (words | np.isinf(values.fillna(0.0)))
    else:  # numbers only: a NaN is an empty cell (a CSV's logged NaN was read as inf)
        nonfinite = given & np.isinf(values.fillna(0.0))
    not_number = given & values.isna() & ~nonfinite
    numeric = values.notna() & np.isfinite(values.fillna(0.0))
    # A step must be a finite whole number in int64's range ("inf", "1e300" cannot be steps).
    good_step = steps.notna() & np.isfinite(steps.fillna(0.0)) & (steps.abs() < 2**53)
    good_step &= steps.fillna(0.0) == np.floor(steps.fillna(0.0))
    bad_step = numeric & ~good_step
    keep = numeric & good_step
    out = pd.DataFrame({"step": steps[keep].astype(np.int64), "value": values[keep].astype(np.float64)})
    out = out.sort_values("step", kind="stable")
    repeated = int(out.duplicated("step", keep="last").sum())
    out = out.drop_duplicates("step", keep="last").reset_index(drop=True)
    if len(out) > MAX_LOG_ROWS:
        raise ConfigError(
            Problem(f"{what} column '{col}'", f"must have at most {MAX_LOG_ROWS:,} values", len(out))
        )
    counts = {
        "inf or NaN": int(nonfinite.sum()),
        "not a number": int(not_number.sum()),
        "without a whole step": int(bad_step.sum()),
        "at a step logged again (the last value there is kept)": repeated,
    }
    dropped = {k: v for k, v in counts.items() if v}
    note = None
    if dropped:
        total = sum(dropped.values())
        note = f"column '{col}': {total:,} value{'s' if total != 1 else ''} dropped: " + ", ".join(
            f"{v:,} {k}" for k, v in dropped.items()
        )
    return out, note


def _from_frame(frame: pd.DataFrame, source: str, name: str) -> RunLog:
    names = [str(c) for c in frame.columns]
    found = match_columns(names)
    notes: list[str] = []
    if "step" not in found:
        if not any(k in found for k in KINDS):
            raise ConfigError(
                Problem(
                    name,
                    "needs a step column and at least one of lr, loss, val_loss "
                    f"(names like {', '.join(ALIASES['step'][:3])}; {', '.join(ALIASES['lr'][:2])}; "
                    f"{', '.join(ALIASES['loss'][:2])}; {', '.join(ALIASES['val_loss'][:2])})",
                    f"columns {names[:8]}",
                )
            )
        frame = frame.reset_index(drop=True)
        frame["__row__"] = np.arange(len(frame))
        found["step"] = "__row__"
        notes.append("no step column: the row number is used as the step")
    series: dict[str, pd.DataFrame] = {}
    columns: dict[str, str] = {}
    for kind in KINDS:
        if kind in found:
            s, dropped = _series(frame, found["step"], found[kind], name)
            if dropped:
                notes.append(dropped)
            if len(s):
                series[kind] = s
                columns[kind] = found[kind]
            else:
                notes.append(f"column '{found[kind]}' has no numeric values")
    if not series:
        raise ConfigError(
            Problem(
                name,
                "has no numeric lr, loss or validation-loss values "
                f"(recognised columns: {', '.join(f'{k}={v}' for k, v in found.items()) or 'none'})",
                f"columns {names[:8]}",
            )
        )
    normalized = {_norm(n) for n in names}
    # python -m schedules train output, or a trace (python -m schedules trace): steps are curve rows
    own = {"window_samples", "micro_batches"} <= normalized or {
        "scheduler_steps",
        "micro_batches",
    } <= normalized
    return RunLog(source, name, series, columns, "rows" if own else "completed", notes)


# --------------------------------------------------------------------------------------------------
# readers


#: How a logged NaN is written in a CSV cell.
_NAN_CELLS = ("nan", "NaN", "NAN", "-nan", "-NaN", "+nan", "+NaN")


def _nan_as_inf(body: str, sep: str) -> str:
    """The CSV's rows with every NaN cell written "inf": parsed as NaN it would look like an empty cell,
    so it is counted with the infinities ("inf or NaN").  Plain ``str.replace`` calls (C, about 10 ms
    each on 16 MB), so the server's other threads are never held up by a regex over the whole file."""
    if "nan" not in body.lower():
        return body
    body = "\n" + body + "\n"
    for word in _NAN_CELLS:
        for before, after in ((sep, sep), (sep, "\n"), (sep, "\r\n"), ("\n", sep)):
            cell = f"{before}{word}{after}"
            while cell in body:  # twice for neighbours: ",nan,nan," shares a separator
                body = body.replace(cell, f"{before}inf{after}")
    return body[1:-1]


def _check_rows(rows: int, name: str, what: str) -> None:
    if rows > MAX_LOG_ROWS:
        raise ConfigError(Problem(name, f"must have at most {MAX_LOG_ROWS:,} {what}", f"{rows:,} {what}"))


def _delimiter(text: str) -> str:
    """The CSV's delimiter, sniffed from its first lines (``,`` when unclear)."""
    head = text[:65536]
    if "\n" in head and len(text) > len(head):
        head = head[: head.rindex("\n")]
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _parse_csv(data: bytes | str, name: str) -> pd.DataFrame:
    """The CSV as text cells (empty ones missing); its lines are counted first (:data:`MAX_LOG_ROWS`)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    _check_rows(lines - 1, name, "rows")
    sep = _delimiter(text)
    head, newline, body = text.partition("\n")
    text = head + newline + _nan_as_inf(body, sep)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            engine="c",
            keep_default_na=False,
            na_values=NULL_WORDS,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise ConfigError(
            Problem(name, f"must be a CSV file with a header row ({exc})", None, has_value=False)
        ) from None
    if frame.empty:
        raise ConfigError(Problem(name, "has a header but no rows", f"columns {list(frame.columns)[:8]}"))
    return frame


def _settings(frame: pd.DataFrame) -> list[str]:
    """The distinct values of a ``setting`` column (a Live run CSV holds one run per setting)."""
    if SETTING_COLUMN not in frame.columns:
        return []
    return list(dict.fromkeys(frame[SETTING_COLUMN].dropna().astype(str)))


def log_settings(data: bytes, name: str) -> list[str]:
    """The runs of a multi-run CSV (its ``setting`` column, in file order); ``[]`` for other logs."""
    lower = name.lower()
    if (
        not data
        or len(data) > MAX_LOG_BYTES
        or EVENT_FILE.search(lower)
        or _looks_binary(data)
        or lower.endswith((".json", ".jsonl", ".tfevents", ".pb"))
        or data.lstrip()[:1] in (b"{", b"[")
    ):
        return []
    try:
        return _settings(_parse_csv(data, name))
    except ConfigError:
        return []


def read_csv(data: bytes | str, name: str = "log.csv", setting: str | None = None) -> RunLog:
    """A CSV log.  A ``setting`` column with several values (the Live run's CSV: one run per setting)
    needs ``setting``, the run to read; without it the file is refused with the settings listed."""
    frame = _parse_csv(data, name)
    labels = _settings(frame)
    notes: list[str] = []
    if setting is not None and labels:
        if setting not in labels:
            raise ConfigError(Problem(f"{name}: setting", f"must be one of {', '.join(labels)}", setting))
        frame = frame[frame[SETTING_COLUMN].astype(str) == setting].reset_index(drop=True)
        notes.append(
            f"the run of setting '{setting}' ({labels.index(setting) + 1} of {len(labels)} in the file)"
        )
    elif len(labels) > 1:
        raise ConfigError(
            Problem(
                name,
                f"holds {len(labels)} runs, one per value of its 'setting' column (a Live run CSV): "
                f"choose one of {', '.join(labels)}",
                None,
                has_value=False,
            )
        )
    if "rank" in frame.columns and "scheduler_steps" in frame.columns:  # a trace: rank 0's steps
        ranks = sorted(pd.to_numeric(frame["rank"], errors="coerce").dropna().unique().tolist())
        if len(ranks) > 1:
            frame = frame[pd.to_numeric(frame["rank"], errors="coerce") == ranks[0]].reset_index(drop=True)
            notes.append(f"a trace of {len(ranks)} ranks: rank {int(ranks[0])}'s steps")
    log = _from_frame(frame, "csv", name)
    log.notes[:0] = notes
    return log


def _long_number(text: str) -> float | str:
    """A JSON number as a float, or its text when it is absurdly long (refused later by row and column)."""
    return float(text) if len(text) <= MAX_NUMBER_CHARS else text


#: JSON numbers as _series reads them: NaN and Infinity as their words (counted when dropped), a number
#: longer than MAX_NUMBER_CHARS as its text (refused naming its row), never a 5,000-digit int.
_JSON_NUMBERS: dict[str, Any] = {
    "parse_constant": str,
    "parse_int": lambda t: int(t) if len(t) <= MAX_NUMBER_CHARS else t,
    "parse_float": _long_number,
}


def read_json(data: bytes | str, name: str = "trainer_state.json") -> RunLog:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    # Every record is an object: more "{" than the row cap means too many records (counted unparsed).
    _check_rows(text.count("{"), name, "records")
    records: Any
    try:
        records = json.loads(text, **_JSON_NUMBERS)
    except RecursionError:
        raise ConfigError(
            Problem(name, "is nested too deeply to be a run log", None, has_value=False)
        ) from None
    except json.JSONDecodeError:
        try:
            records = [json.loads(line, **_JSON_NUMBERS) for line in text.splitlines() if line.strip()]
        except RecursionError:
            raise ConfigError(
                Problem(name, "is nested too deeply to be a run log", None, has_value=False)
            ) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(
                Problem(
                    name,
                    f"must be JSON or JSON Lines ({exc.msg} at line {exc.lineno})",
                    None,
                    has_value=False,
                )
            ) from None
    if isinstance(records, dict):
        if "log_history" in records:
            records = records["log_history"]
        else:
            raise ConfigError(
                Problem(
                    name,
                    "must be HF's trainer_state.json (a 'log_history' list) or a list of records",
                    f"keys {list(records)[:8]}",
                )
            )
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ConfigError(Problem(name, "must hold a list of records (objects)", type(records).__name__))
    if not records:
        raise ConfigError(Problem(name, "has no records", "[]"))
    frame = pd.DataFrame.from_records(records)
    return _from_frame(frame, "json", name)


def read_tensorboard(data: bytes, name: str = "events.out.tfevents") -> RunLog:
    """Scalars of a TensorBoard event file, via ``tensorboard``'s EventAccumulator."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:  # pragma: no cover - tensorboard is a requirement
        raise ConfigError(
            Problem(name, "needs the tensorboard package to be read", None, has_value=False)
        ) from None
    with tempfile.TemporaryDirectory(prefix="lr-studio-tb-") as tmp:
        path = os.path.join(tmp, "events.out.tfevents.upload")
        with open(path, "wb") as fh:
            fh.write(data)
        acc = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
        try:
            acc.Reload()
        except Exception as exc:  # a corrupt record: tensorboard raises several types
            raise ConfigError(
                Problem(
                    name,
                    f"is not a readable TensorBoard event file ({type(exc).__name__}: {exc})",
                    None,
                    has_value=False,
                )
            ) from None
        tags = acc.Tags()
        rows: list[dict[str, Any]] = []
        for tag in tags.get("scalars", []):
            for ev in acc.Scalars(tag):
                rows.append({"step": ev.step, "tag": tag, "value": ev.value})
        for tag in tags.get("tensors", []):
            for ev in acc.Tensors(tag):
                try:
                    from tensorboard.util import tensor_util

                    value = float(np.asarray(tensor_util.make_ndarray(ev.tensor_proto)).reshape(-1)[0])
                except Exception:  # noqa: BLE001 - non-scalar tensors are skipped
                    continue
                rows.append({"step": ev.step, "tag": tag, "value": value})
    if not rows:
        raise ConfigError(
            Problem(
                name,
                "has no scalar values (is it a TensorBoard event file with add_scalar data?)",
                None,
                has_value=False,
            )
        )
    long = pd.DataFrame(rows)
    wide = long.pivot_table(index="step", columns="tag", values="value", aggfunc="last").reset_index()
    wide.columns = [str(c) for c in wide.columns]
    log = _from_frame(wide, "tensorboard", name)
    return log


def check_log_size(data: bytes, name: str) -> None:
    """ConfigError naming the file when ``data`` is over :data:`MAX_LOG_BYTES`."""
    if len(data) > MAX_LOG_BYTES:
        raise ConfigError(
            Problem(
                name,
                f"must be at most {MAX_LOG_BYTES / 1e6:g} MB ({MAX_LOG_BYTES:,} bytes)",
                f"{len(data) / 1e6:.1f} MB",
            )
        )


def read_log(data: bytes, name: str, setting: str | None = None) -> RunLog:
    """Read an uploaded log file, choosing the reader by name and content.

    ``setting``: which run of a multi-run CSV to read (see :func:`read_csv` and :func:`log_settings`).
    """
    check_log_size(data, name)
    if not data:
        raise ConfigError(Problem(name, "is empty", "0 bytes"))
    lower = name.lower()
    if EVENT_FILE.search(lower) or lower.endswith((".tfevents", ".pb")) or _looks_binary(data):
        return read_tensorboard(data, name)
    if lower.endswith((".json", ".jsonl")) or data.lstrip()[:1] in (b"{", b"["):
        return read_json(data, name)
    return read_csv(data, name, setting)


def _looks_binary(data: bytes) -> bool:
    head = data[:512]
    return b"\x00" in head


# --------------------------------------------------------------------------------------------------
# overlay frame and plateau metric


def overlay_frame(log: RunLog, curve_frame: pd.DataFrame) -> pd.DataFrame:
    """The design's curve next to the log's values on the same rows: columns ``row``, ``step``
    (the log's), ``kind``, ``value``, ``design_lr`` (NaN past the design's end)."""
    parts = []
    lr = curve_frame["lr"].to_numpy()
    for kind in KINDS:
        if log.has(kind):
            f = log.rows(kind)
            idx = f["row"].to_numpy()
            inside = (idx >= 0) & (idx < len(lr))
            design = np.full(len(f), np.nan)
            design[inside] = lr[idx[inside]]
            parts.append(
                pd.DataFrame(
                    {"row": idx, "step": f["step"], "kind": kind, "value": f["value"], "design_lr": design}
                )
            )
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["row", "step", "kind", "value", "design_lr"])
    )


#: A logged lr within this fraction of the design's peak lr counts as equal (float32 logs: ~1e-7).
MATCH_TOLERANCE = 1e-6

#: What an lr log one step off the design means.
SHIFT_MESSAGES = {
    1: "your log is one step ahead: scheduler.step() before optimizer.step(), or a logger that records "
    "the next lr",
    -1: "your log is one step behind: a logger that records the previous step's lr, or steps numbered "
    "from 1 where the design counts from 0",
}


def lr_agreement(log: RunLog, curve_frame: pd.DataFrame) -> dict[str, Any] | None:
    """How the logged lr compares with the design's at the logged rows (None without an lr).

    ``max_abs``: the largest ``|logged - design|``; ``max_peak_rel``: that over the design's peak lr
    (a relative error per row would divide by a design lr of 0 at a warmup's first row);
    ``matches``: ``max_peak_rel <= MATCH_TOLERANCE``; ``shift``: ``1`` when every logged lr is the
    design's *next* row (the log is one step ahead), ``-1`` when it is the previous row, else ``0``;
    ``message``: what a shift means (:data:`SHIFT_MESSAGES`), else ``""``.
    """
    if not log.has("lr"):
        return None
    f = overlay_frame(log, curve_frame)
    f = f[(f.kind == "lr") & f.design_lr.notna()]
    design = curve_frame["lr"].to_numpy(dtype=np.float64)
    peak = float(np.max(np.abs(design))) if len(design) else 0.0
    if f.empty:
        return {
            "rows": 0,
            "max_abs": math.nan,
            "max_peak_rel": math.nan,
            "peak": peak,
            "matches": False,
            "shift": 0,
            "message": "",
            "worst_row": None,
        }
    diff = (f.value - f.design_lr).abs().to_numpy()
    worst = int(diff.argmax())
    max_abs = float(diff[worst])
    scale = peak if peak > 0 else 1.0
    matches = max_abs / scale <= MATCH_TOLERANCE
    shift = 0
    if not matches:
        rows, values = f.row.to_numpy(), f.value.to_numpy()
        for k in (1, -1):
            inside = (rows + k >= 0) & (rows + k < len(design))
            if inside.sum() >= 2 and np.all(
                np.abs(values[inside] - design[rows[inside] + k]) / scale <= MATCH_TOLERANCE
            ):
                shift = k
                break
    return {
        "rows": len(f),
        "max_abs": max_abs,
        "max_peak_rel": max_abs / scale,
        "peak": peak,
        "matches": bool(matches),
        "shift": shift,
        "message": SHIFT_MESSAGES.get(shift, ""),
        "worst_row": int(f.row.iloc[worst]),
        "logged": float(f.value.iloc[worst]),
        "design": float(f.design_lr.iloc[worst]),
    }


def agreement_figure(agreement: dict[str, Any]) -> str:
    """The error figure behind :func:`lr_agreement`'s verdict, shown with it (a "matches" says how close):
    the largest ``|logged - design|`` and that as a fraction of the design's peak lr, over how many
    logged steps, e.g. ``"largest difference 2.2e-11 (7.3e-08 of the peak lr; match: <= 1e-06) over
    1,173 steps"``."""
    rel = agreement["max_peak_rel"]
    share = f"{rel:.2%}" if rel >= 1e-3 else f"{rel:.2g}"
    return (
        f"largest difference {agreement['max_abs']:.2g} ({share} of the peak lr; match: <= "
        f"{MATCH_TOLERANCE:g}) over {agreement['rows']:,} steps"
    )


def plateau_from_log(
    log: RunLog, config: ScheduleConfig | dict[str, Any] | str
) -> tuple[ScheduleConfig, list[str]]:
    """The design with ``plateau.metric.values`` = the log's validation losses and ``eval_every``
    = the log's evaluation interval (``"epoch"`` when it equals the design's steps per epoch).

    The i-th value is fed after optimizer step ``(i + 1) * eval_every`` (CONTRACT.md section 1),
    so the interval is read from the logged evaluation steps; irregular steps are reported.  A
    design without a plateau section gets ``ReduceLROnPlateau`` with torch's defaults.
    """
    cfg = load_config(config)
    if not log.has("val_loss"):
        raise ConfigError(
            Problem(
                log.name,
                "has no validation-loss values to use as the plateau metric "
                f"(looked for columns like {', '.join(ALIASES['val_loss'][:4])})",
                f"found {', '.join(log.columns.values()) or 'nothing'}",
            )
        )
    warnings: list[str] = []
    val = log.rows("val_loss")
    completed = (val["row"] + 1).to_numpy()  # optimizer steps done when each evaluation ran
    keep = completed >= 1
    if not keep.all():
        warnings.append(
            f"{int((~keep).sum())} validation value(s) before the first optimizer step were skipped"
        )
    completed = completed[keep]
    values = val["value"].to_numpy()[keep]
    if len(values) == 0:
        raise ConfigError(
            Problem(
                log.name, "has no validation values after the first optimizer step", None, has_value=False
            )
        )
    if len(values) > MAX_METRIC_VALUES:
        warnings.append(f"only the first {MAX_METRIC_VALUES} of {len(values)} validation values are used")
        values, completed = values[:MAX_METRIC_VALUES], completed[:MAX_METRIC_VALUES]
    if len(completed) > 1:
        diffs = np.diff(completed)
        every = int(np.median(diffs))
    else:
        every = int(completed[0])
    every = max(every, 1)
    expected = every * np.arange(1, len(completed) + 1)
    if not np.array_equal(expected, completed):
        bad = int(np.argmax(expected != completed))
        warnings.append(
            f"evaluations are not every {every} steps from the start (evaluation {bad} ran after step "
            f"{int(completed[bad])}, not {int(expected[bad])}): value i is used after step (i + 1) x {every}"
        )
    plan = cfg.plan
    eval_every: str | int = "epoch" if every == plan.steps_per_epoch and not plan.batch_ramp else every
    data = cfg.to_dict()
    plateau = data.get("plateau") or PlateauConfig().torch_kwargs()  # torch's defaults
    if data.get("plateau") is None:
        warnings.append(
            "the design had no plateau: added ReduceLROnPlateau with torch's defaults (factor 0.1, patience 10)"
        )
    plateau["metric"] = {"values": [float(v) for v in values], "synthetic": None}
    plateau["eval_every"] = eval_every
    data["plateau"] = plateau
    evals = len(plan.eval_steps(eval_every))
    if evals > len(values):
        warnings.append(
            f"the design evaluates {evals} times but the log has {len(values)} validation values: later evaluations get none"
        )
    return load_config(data), warnings
