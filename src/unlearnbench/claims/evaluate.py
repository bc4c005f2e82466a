"""Judge every claim of ``config/claims.yaml`` on one profile's tables, and on the paper's own numbers.

A claim's predicate reads the tables it declared; before it runs, a missing table becomes
"not measured here: artifact not built in this profile", a missing quantity "not measured
here: <table> lacks <column>", and for a ``data: real`` claim the stand-in rows are left
out ("not measured here: stand-in data" when nothing else is left). ``data: any`` claims
are judged on stand-in rows too and say so ("holds (on stand-in data)").

Where the paper prints the numbers a predicate reads (``config/published.yaml``: Table 1
of each paper), the same predicate also runs on those numbers put into the table's shape,
so a reader sees whether the paper itself meets the pre-registered threshold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.claims.base import NOT_MEASURED, NotMeasured, Verdict, get_predicate
from unlearnbench.claims.quantities import as_bool
from unlearnbench.config import load_yaml

REQUIRED = ("id", "paper", "source", "artifact", "data", "predicate", "threshold")
DATA_KINDS = ("real", "any")
NOT_BUILT = "artifact not built in this profile"
STAND_IN_DATA = "stand-in data"


def load_claims(path: str | Path) -> list[dict[str, Any]]:
    """The claims of ``path``; a claim lacking a key, with an unknown ``data`` or a repeated id is an error naming it."""
    claims = (load_yaml(path) or {}).get("claims") or []
    seen: set[str] = set()
    for i, claim in enumerate(claims):
        missing = [k for k in REQUIRED if k not in claim]
        if missing:
            raise ValueError(f"{path}: claim {claim.get('id', i)} lacks {', '.join(missing)}")
        if claim["data"] not in DATA_KINDS:
            raise ValueError(
                f"{path}: claim {claim['id']}: data must be one of {DATA_KINDS}, got {claim['data']!r}"
            )
        if claim["id"] in seen:
            raise ValueError(f"{path}: claim {claim['id']} appears twice")
        seen.add(claim["id"])
    return claims


def _not_built(name: str) -> str:
    from unlearnbench.artifacts import artifact_names

    return (
        f"{NOT_BUILT} ({name})"
        if name in artifact_names()
        else f"{NOT_BUILT} (no artifact {name} exists yet)"
    )


def evaluate_claim(claim: Mapping[str, Any], tables: Mapping[str, pd.DataFrame]) -> Verdict:
    """The verdict of one claim on ``tables`` (artifact name -> aggregated table)."""
    predicate = get_predicate(claim["id"])
    used: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name, columns in predicate.reads.items():
        table = tables.get(name)
        if table is None:
            return Verdict.not_measured(_not_built(name))
        if "stand_in" not in table.columns:
            return Verdict.not_measured(
                f"{name} has no stand_in column (cannot tell real from stand-in data)"
            )
        stand_in = as_bool(table["stand_in"])
        if claim["data"] == "real" and stand_in.any():
            table = table[~stand_in.to_numpy()]
            if table.empty:
                return Verdict.not_measured(STAND_IN_DATA)
            notes.append(f"stand-in rows of {name} left out")
        missing = [c for c in columns if c not in table.columns or table[c].isna().all()]
        if missing:
            return Verdict.not_measured(f"{name} lacks {', '.join(missing)}")
        used[name] = table
    try:
        verdict = predicate(used, claim.get("threshold") or {})
    except NotMeasured as exc:
        return Verdict.not_measured(str(exc))
    if notes:
        verdict = Verdict(
            verdict.status,
            f"{verdict.measured} [{'; '.join(notes)}]",
            verdict.reason,
            verdict.stand_in,
            verdict.parts,
        )
    return verdict.on_stand_in(any(as_bool(t["stand_in"]).any() for t in used.values()))


def published_tables(published: Sequence[Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """The paper's own numbers in the shape of the artifact tables (``<metric>_mean`` per column and row).

    Only artifacts for which the paper prints at least one number get a table; ``method`` is
    the suite's method name of a row label (``L-CODEC + CIT`` -> ``lcodec-cit``), and a cell
    the paper marks N/A is ``applicable = False``.
    """
    cells: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for entry in published:
        row = cells.setdefault(entry["artifact"], {}).setdefault(
            (str(entry["column"]), str(entry["row"])),
            {
                "experiment": "paper",
                "column": entry["column"],
                "row": entry["row"],
                "stand_in": False,
                "applicable": True,
            },
        )
        value = entry.get("value")
        row[f"{entry['metric']}_mean"] = np.nan if value is None else float(value)
        if value is None and "N/A" in str(entry.get("note", "")):
            row["applicable"] = False
    tables = {}
    for artifact, rows in cells.items():
        frame = pd.DataFrame.from_records(list(rows.values()))
        means = [c for c in frame.columns if c.endswith("_mean")]
        if frame[means].isna().all().all():
            continue  # a figure whose numbers the paper does not print
        methods = {label: method for method, label in _row_labels(artifact).items()}
        frame["method"] = [methods.get(r, r) for r in frame["row"]]
        tables[artifact] = frame
    return tables


def _row_labels(artifact: str) -> dict[str, str]:
    from unlearnbench.artifacts import REGISTRY

    try:
        return dict(getattr(REGISTRY.module_of(artifact), "ROW_LABELS", {}))
    except KeyError:
        return {}


def evaluate_claims(
    claims: Sequence[Mapping[str, Any]],
    tables: Mapping[str, pd.DataFrame],
    paper_tables: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per claim: its verdict on ``tables`` and, where the paper prints the numbers, on ``paper_tables``."""
    rows = []
    for claim in claims:
        predicate = get_predicate(claim["id"])
        verdict = evaluate_claim(claim, tables)
        paper = None
        if paper_tables and set(predicate.reads) <= set(paper_tables):
            paper = evaluate_claim({**claim, "data": "real"}, paper_tables)
        rows.append(
            {
                "id": claim["id"],
                "paper": claim["paper"],
                "artifact": claim["artifact"],
                "data": claim["data"],
                "source": claim["source"],
                "predicate": claim["predicate"],
                "threshold": json.dumps(claim.get("threshold") or {}, sort_keys=True),
                "reads": "; ".join(f"{t}: {', '.join(c)}" for t, c in predicate.reads.items()),
                "reading": claim.get("reading", ""),
                "status": verdict.status,
                "verdict": verdict.label,
                "measured": verdict.measured,
                "reason": verdict.reason,
                "stand_in": verdict.stand_in,
                "paper_status": paper.status if paper else "",
                "paper_verdict": _paper_label(paper),
                "paper_measured": paper.measured if paper else "",
            }
        )
    return pd.DataFrame.from_records(rows)


def _paper_label(verdict: Verdict | None) -> str:
    if verdict is None:
        return "the paper prints no numbers for it"
    return f"not measurable: {verdict.reason}" if verdict.status == NOT_MEASURED else verdict.status
