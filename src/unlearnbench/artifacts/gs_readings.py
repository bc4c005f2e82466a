"""Gradient-surgery paper: Table 1 (MNIST138) under every reading of ``config/readings.yaml``.

One row per (choice, reading): BEFORE / GRAD.ASCNT. / MOON / OURS / RETRAIN fratio, IS, FID
and time, the published values within / outside tolerance and the gs-table1 claims, the
default reading marked (see :mod:`unlearnbench.readings`). The FID-space readings read the
default block's runs, which record FID on penultimate features, logits and softmax.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.artifacts import gs_table1
from unlearnbench.readings import FID_SPACE_OF, ReadingsTable

SHOWN = ("fratio", "IS", "FID", "time")


def block_methods(settings: Mapping[str, Any]) -> list[str]:
    """A block's runs; a reading block skips BEFORE (the same model and evaluation as its default's)."""
    return [m for m in gs_table1.methods_of(settings) if not (settings.get("reading") and m == "before")]


def summary(table: pd.DataFrame) -> dict[str, float]:
    out = {}
    for label in gs_table1.ROW_LABELS.values():
        part = table[table["row"] == label]
        for metric in SHOWN:
            out[f"{label} {metric}"] = float(part[f"{metric}_mean"].iloc[0]) if len(part) else np.nan
    return out


def fid_in_space(table: pd.DataFrame, value: str) -> pd.DataFrame:
    """The table with FID taken from the space ``value`` (``classifier-logits``, ...) names."""
    space = f"FID_{FID_SPACE_OF[value]}"
    out = table.copy()
    for stat in ("mean", "std"):
        out[f"FID_{stat}"] = out.get(f"{space}_{stat}", np.nan)
    out["fid_features"] = value
    return out


ARTIFACT = ReadingsTable(
    name="gs-readings",
    paper="gradient-surgery",
    title="Gradient surgery, Table 1 (MNIST138) under each reading of the text",
    kind="generative-unlearning",
    base_of=lambda config, default: gs_table1.ARTIFACT,
    summary=summary,
    methods=block_methods,
    remap=fid_in_space,
    figure_columns=(
        "BEFORE fratio",
        "GRAD.ASCNT. fratio",
        "OURS fratio",
        "OURS IS",
        "OURS FID",
        "RETRAIN fratio",
    ),
)
