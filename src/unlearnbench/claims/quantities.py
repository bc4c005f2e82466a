"""The quantities claims.yaml defines once and several predicates read.

"mean" is a table's ``<metric>_mean`` (the mean over seeds); "drop" is start - value;
"supported removals" is the number of removals done before the score first falls more than
the stated drop below its value at removal 0 (all removals when it never does), read at the
table's checkpoints. Every helper raises :class:`NotMeasured` naming what the table lacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from unlearnbench.claims.base import FAILS, HOLDS, NotMeasured, Verdict

#: The paper's own unlearning method in the removal experiments; the claims are about it.
LCODEC = "lcodec"


def fmt(value: float) -> str:
    """Three significant digits: enough to check a verdict against its threshold by eye."""
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def as_bool(series: pd.Series) -> pd.Series:
    """A boolean column as written to CSV and read back (True/False, or the strings)."""
    if series.dtype == bool:
        return series
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])


def value_at(frame: pd.DataFrame, column: str, what: str) -> float:
    """The single value of ``column`` in ``frame`` (one row), or NotMeasured naming ``what``.

    Several rows would mean the table mixes parts the predicate did not separate: never pick one silently.
    """
    values = pd.to_numeric(frame[column], errors="coerce").dropna() if len(frame) else pd.Series(dtype=float)
    if values.empty:
        raise NotMeasured(f"no {what}")
    if len(values) > 1:
        raise NotMeasured(f"{len(values)} rows of {what} where one is expected")
    return float(values.iloc[0])


def rows_of(table: pd.DataFrame, column: str, value: object, what: str) -> pd.DataFrame:
    part = table[table[column].astype(str) == str(value)]
    if part.empty:
        raise NotMeasured(f"no {what} rows")
    return part


def curve(table: pd.DataFrame, metric: str, what: str) -> pd.DataFrame:
    """``removals`` and ``metric`` (a ``_mean`` column) sorted by removals, checkpoints without a value dropped.

    Two rows at one checkpoint would mean the part mixes runs: NotMeasured, never a silent pick.
    """
    frame = pd.DataFrame(
        {
            "removals": pd.to_numeric(table["removals"], errors="coerce"),
            "value": pd.to_numeric(table[metric], errors="coerce"),
        }
    ).dropna()
    if frame["removals"].duplicated().any():
        raise NotMeasured(f"several rows per checkpoint for {what}")
    frame = frame.sort_values("removals", kind="stable")
    if frame.empty:
        raise NotMeasured(f"no {metric} for {what}")
    return frame.reset_index(drop=True)


def start_value(points: pd.DataFrame, what: str) -> float:
    at_zero = points[points["removals"] == 0]
    if at_zero.empty:
        raise NotMeasured(f"no checkpoint at removal 0 for {what}")
    return float(at_zero["value"].iloc[0])


@dataclass(frozen=True)
class Support:
    start: float
    supported: int
    performed: int

    @property
    def all_supported(self) -> bool:
        return self.supported >= self.performed


def supported_removals(points: pd.DataFrame, max_drop: float, what: str) -> Support:
    """Removals done before the score first falls more than ``max_drop`` below its start."""
    start = start_value(points, what)
    later = points[points["removals"] > 0]
    if later.empty:
        raise NotMeasured(f"no checkpoint after removal 0 for {what}")
    supported = 0
    for removals, value in zip(later["removals"], later["value"], strict=True):
        if value < start - max_drop:
            return Support(start, supported, int(later["removals"].max()))
        supported = int(removals)
    return Support(start, supported, supported)


def drop_at_last(points: pd.DataFrame, what: str) -> tuple[float, float, int]:
    """(start, drop = start - value at the last checkpoint, last removals)."""
    start = start_value(points, what)
    last = points.iloc[-1]
    if last["removals"] <= 0:
        raise NotMeasured(f"no checkpoint after removal 0 for {what}")
    return start, start - float(last["value"]), int(last["removals"])


def window_mean(points: pd.DataFrame) -> float:
    """Mean over removals of a per-checkpoint window mean: each checkpoint weighs its window's removals."""
    points = points.sort_values("removals")
    edges = np.concatenate([[0.0], points["removals"].to_numpy(dtype=float)])
    weights = np.diff(edges)
    values = points["value"].to_numpy(dtype=float)
    keep = weights > 0
    if not keep.any():
        raise NotMeasured("no removal window")
    return float(np.average(values[keep], weights=weights[keep]))


Judge = Callable[[pd.DataFrame], tuple[bool, str]]


def judge_each(groups: Iterable[tuple[str, pd.DataFrame]], judge: Judge) -> Verdict:
    """Judge every part (a table column, an experiment, an epsilon); the claim holds when every measured part holds.

    Parts that cannot be judged are listed in the measured quantities; when no part can be
    judged the claim is not measured, with every part's reason.
    """
    parts: dict[str, str] = {}
    texts: list[str] = []
    missing: list[str] = []
    for label, frame in groups:
        try:
            ok, text = judge(frame)
        except NotMeasured as exc:
            missing.append(f"{label}: {exc}")
            continue
        parts[label] = HOLDS if ok else FAILS
        texts.append(f"{label}: {text} ({parts[label]})")
    if not parts:
        raise NotMeasured("; ".join(missing) or "no rows")
    texts += [f"{m} (not measured)" for m in missing]
    return Verdict.decide(all(v == HOLDS for v in parts.values()), "; ".join(texts), parts)


def grouped(table: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """``(label, rows)`` per combination of ``keys``, in table order; the label names the keys' values."""
    out = []
    for values, part in table.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        shown = [fmt(v) if isinstance(v, float) else str(v) for v in values]
        label = ", ".join(
            v if k in ("experiment", "column") else f"{k} {v}" for k, v in zip(keys, shown, strict=True)
        )
        out.append((label, part))
    return out
