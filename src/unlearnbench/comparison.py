"""Every published number beside the reproduced one, with the difference and a verdict.

Published values live in ``config/published.yaml``: one entry per number with its source
(table, row, column), the paper's std where given and a tolerance. A reproduced value is
looked up in the artifact's aggregated table by (column, row, metric). On stand-in data the
verdict is "stand-in data, not comparable"; wall times (hardware-dependent) carry no
tolerance and are reported without a verdict.

The report opens with the verdicts at a glance (published values within / outside
tolerance / not comparable / not judged; the papers' claims holding / failing / not
measured, see :mod:`unlearnbench.claims`) and ends with the claims section. The counts are
read back from the CSV files by :func:`counts_from_files`, so ``./dev run`` and the HTML
report print what the files say rather than recomputing it.
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
    return (
        float(first[f"{metric}_mean"]),
        (float(std) if pd.notna(std) else float("nan")),
        bool(first.get("stand_in", False)),
    )


def verdict(
    published: float | None, reproduced: float | None, tolerance: float | None, stand_in: bool
) -> str:
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
        rows.append(
            {
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
            }
        )
    return pd.DataFrame.from_records(rows)


#: Each published-value verdict in one of the four groups of the counts line.
PUBLISHED_GROUPS = {
    "within tolerance": "within tolerance",
    "outside tolerance": "outside tolerance",
    STAND_IN_VERDICT: "not comparable",
    "not reproduced in this profile": "not comparable",
    "no tolerance (hardware-dependent), not judged": "not judged",
    "not reported in the paper": "not judged",
}
PUBLISHED_GROUP_NOTES = {
    "not comparable": "stand-in data, or not reproduced in this profile",
    "not judged": "hardware-dependent times, or no number in the paper",
}


def published_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Published values per group (within / outside tolerance, not comparable, not judged)."""
    groups = (
        frame["verdict"].map(lambda v: PUBLISHED_GROUPS.get(v, v)) if len(frame) else pd.Series(dtype=str)
    )
    order = list(dict.fromkeys(PUBLISHED_GROUPS.values()))
    return {g: int((groups == g).sum()) for g in order + sorted(set(groups) - set(order))}


def claim_counts(claims: pd.DataFrame) -> dict[str, int]:
    """Claims holding (and how many of those on stand-in data), failing, not measured here."""
    from unlearnbench.claims import FAILS, HOLDS, NOT_MEASURED

    status = claims["status"] if len(claims) else pd.Series(dtype=str)
    stand_in = claims["stand_in"].astype(str).str.lower() == "true" if len(claims) else pd.Series(dtype=bool)
    return {
        "holding": int((status == HOLDS).sum()),
        "holding on stand-in data": int(((status == HOLDS) & stand_in).sum()),
        "failing": int((status == FAILS).sum()),
        "not measured here": int((status == NOT_MEASURED).sum()),
    }


def counts_line(frame: pd.DataFrame, claims: pd.DataFrame | None) -> str:
    """``published values: ...; claims: ...`` in one line (the end of ``./dev run``, the report caption)."""
    published = ", ".join(f"{n} {group}" for group, n in published_counts(frame).items())
    if claims is None:
        return f"published values: {published}; claims: not evaluated"
    c = claim_counts(claims)
    stand_in = f" ({c['holding on stand-in data']} on stand-in data)" if c["holding on stand-in data"] else ""
    return (
        f"published values: {published}; claims: {c['holding']} holding{stand_in}, {c['failing']} failing, "
        f"{c['not measured here']} not measured here"
    )


def counts_from_files(comparison_csv: str | Path, claims_csv: str | Path | None) -> str:
    """The counts line read from ``comparison.csv`` and ``claims.csv`` as written (nothing recomputed)."""
    frame = pd.read_csv(comparison_csv, keep_default_na=False)
    claims = (
        pd.read_csv(claims_csv, keep_default_na=False) if claims_csv and Path(claims_csv).exists() else None
    )
    return counts_line(frame, claims)


def _cell(value: Any) -> str:
    """Text safe inside a markdown table cell."""
    return (
        ""
        if value is None or (isinstance(value, float) and pd.isna(value))
        else str(value).replace("|", "\\|").replace("\n", " ")
    )


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def at_a_glance(frame: pd.DataFrame, claims: pd.DataFrame | None) -> list[str]:
    """The block that opens the report: both sets of counts."""
    counts = published_counts(frame)
    published = ", ".join(
        f"{n} {g}" + (f" ({PUBLISHED_GROUP_NOTES[g]})" if g in PUBLISHED_GROUP_NOTES else "")
        for g, n in counts.items()
    )
    lines = ["## Verdicts at a glance", "", f"- **Published values** ({len(frame)}): {published}"]
    if claims is not None:
        c = claim_counts(claims)
        lines.append(
            f"- **Claims of the papers** ({len(claims)}, config/claims.yaml): {c['holding']} holding "
            f"({c['holding on stand-in data']} of them on stand-in data), {c['failing']} failing, "
            f"{c['not measured here']} not measured here"
        )
    return lines + ["", f"`{counts_line(frame, claims)}`", ""]


def claims_markdown(claims: pd.DataFrame) -> list[str]:
    """One row per claim: id, paper, source, predicate, verdict, measured quantities, the paper's own numbers."""
    lines = [
        "## Claims",
        "",
        "Every claim of `config/claims.yaml`, pre-registered before any real-data result (its thresholds are "
        "never tuned after a result is seen; a failing claim is reported as failing), judged from the "
        "aggregated tables: *holds*, *fails* or *not measured here* with the reason. Claims about the "
        "papers' data are not measured on stand-in data; claims about speed or mechanics (`data: any`) are "
        "judged on it and say so. *Paper's own numbers*: the same predicate on the numbers the paper prints.",
        "",
    ]
    shown = pd.DataFrame(
        {
            "id": claims["id"].map(_cell),
            "paper": claims["paper"].map(_cell),
            "source": claims["source"].map(lambda s: _cell(_short(str(s)))),
            "predicate": claims["predicate"].map(_cell),
            "verdict": claims["verdict"].map(_cell),
            "measured": claims["measured"].map(_cell),
            "paper's own numbers": [
                _cell(f"{v}: {m}" if m else v)
                for v, m in zip(claims["paper_verdict"], claims["paper_measured"], strict=True)
            ],
        }
    )
    lines += [shown.to_markdown(index=False), "", "What each predicate reads (table: columns), and how:", ""]
    readings = claims["reading"] if "reading" in claims else [""] * len(claims)
    lines += [
        f"- `{i}`: {_cell(r)}" + (f"; {_cell(how)}" if how else "")
        for i, r, how in zip(claims["id"], claims["reads"], readings, strict=True)
    ]
    return lines + [""]


def to_markdown(frame: pd.DataFrame, profile: str, claims: pd.DataFrame | None = None) -> str:
    lines = [f"# Published vs reproduced ({profile} profile)", ""]
    lines += at_a_glance(frame, claims)
    lines += ["## Published values", ""]
    if frame["stand_in"].any():
        lines += [
            "Rows marked *stand-in data, not comparable* were computed on stand-in data "
            "(generated or bundled with a dependency), not on the paper's dataset.",
            "",
        ]
    counts = frame["verdict"].value_counts()
    lines += ["Verdicts: " + ", ".join(f"{v}: {n}" for v, n in counts.items()), ""]
    for artifact, part in frame.groupby("artifact", sort=False):
        shown = part.drop(columns=["artifact"]).copy()
        for col in ("published", "published_std", "reproduced", "reproduced_std", "difference", "tolerance"):
            shown[col] = shown[col].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.4g}")
        lines += [f"### {artifact}", "", shown.to_markdown(index=False), ""]
    if claims is not None:
        lines += claims_markdown(claims)
    return "\n".join(lines)
