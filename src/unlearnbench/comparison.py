"""Every published number beside the reproduced one, with the difference and a verdict.

Published values live in ``config/published.yaml``: one entry per number with its source
(table, row, column), the paper's std where given and a tolerance. A reproduced value is
looked up in the artifact's aggregated table by (column, row, metric). On stand-in data the
verdict is "stand-in data, not comparable"; wall times (hardware-dependent) carry no
tolerance and are reported without a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.config import load_yaml

STAND_IN_VERDICT = "stand-in data, not comparable"


def load_published(path: str | Path) -> list[dict[str, Any]]:
    entries = load_yaml(path) or {}
    values = entries.get("values", [])
    required = {"artifact", "column", "row", "metric", "value", "source"}
    for i, entry in enumerate(values):
        missing = required - set(entry)
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {', '.join(sorted(missing))}")
    return values


def lookup(table: pd.DataFrame, column: str, row: str, metric: str) -> tuple[float, float, bool] | None:
    """(mean, std, stand_in) of ``metric`` in the table row matching (column, row), if any."""
    needed = {"column", "row", f"{metric}_mean"}
    if not needed <= set(table.columns):
        return None
    hit = table[(table["column"].astype(str) == str(column)) & (table["row"].astype(str) == str(row))]
    if hit.empty:
        return None
    first = hit.iloc[0]
    std = first.get(f"{metric}_std")
    return float(first[f"{metric}_mean"]), (float(std) if pd.notna(std) else float("nan")), bool(first.get("stand_in", False))


def verdict(published: float | None, reproduced: float | None, tolerance: float | None, stand_in: bool) -> str:
    if published is None:
        return "not reported in the paper"
    if reproduced is None:
        return "not reproduced in this profile"
    if stand_in:
        return STAND_IN_VERDICT
    if tolerance is None:
        return "no tolerance (hardware-dependent), not judged"
    return "within tolerance" if abs(reproduced - published) <= tolerance else "outside tolerance"


def compare(published: Sequence[Mapping[str, Any]], tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for entry in published:
        table = tables.get(entry["artifact"])
        found = lookup(table, entry["column"], entry["row"], entry["metric"]) if table is not None else None
        mean, std, stand_in = found if found else (None, None, False)
        value = entry["value"]
        rows.append({
            "artifact": entry["artifact"],
            "column": entry["column"],
            "row": entry["row"],
            "metric": entry["metric"],
            "published": value,
            "published_std": entry.get("std"),
            "reproduced": mean,
            "reproduced_std": std,
            "difference": (mean - value) if (mean is not None and value is not None) else None,
            "tolerance": entry.get("tolerance"),
            "stand_in": stand_in,
            "verdict": verdict(value, mean, entry.get("tolerance"), stand_in),
            "source": entry["source"],
            "note": entry.get("note", ""),
        })
    return pd.DataFrame.from_records(rows)


def to_markdown(frame: pd.DataFrame, profile: str) -> str:
    lines = [f"# Published vs reproduced ({profile} profile)", ""]
    if frame["stand_in"].any():
        lines += ["Rows marked *stand-in data, not comparable* were computed on stand-in data "
                  "(generated or bundled with a dependency), not on the paper's dataset.", ""]
    counts = frame["verdict"].value_counts()
    lines += ["Verdicts: " + ", ".join(f"{v}: {n}" for v, n in counts.items()), ""]
    for artifact, part in frame.groupby("artifact", sort=False):
        shown = part.drop(columns=["artifact"]).copy()
        for col in ("published", "published_std", "reproduced", "reproduced_std", "difference", "tolerance"):
            shown[col] = shown[col].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.4g}")
        lines += [f"## {artifact}", "", shown.to_markdown(index=False), ""]
    return "\n".join(lines)
