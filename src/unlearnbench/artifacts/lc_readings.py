"""L-CODEC paper: the MNIST removal curves under every reading of ``config/readings.yaml``.

One row per (choice, reading) (Hessian: exact vs finite differences; noise: the paper's
formula vs the authors' code), with each method's values at the last checkpoint (validation
accuracy, residual gradient norm, removed sample's gradient norm, noise sigma, seconds per
removal) and the claims on the varied block's figure, the default marked (see
:mod:`unlearnbench.readings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from unlearnbench.readings import ReadingsTable

SHOWN = (
    "test_accuracy",
    "residual_accuracy",
    "residual_gradient_norm_data",
    "sample_gradient_norm_after",
    "noise_sigma",
    "seconds_per_removal",
)


def base_of(config: Mapping[str, Any], default: str) -> Any:
    """The figure of the varied block (its first ``artifact``), whose aggregation and claims apply."""
    from unlearnbench.artifacts import get_artifact

    names = config["experiments"][default]["artifact"]
    return get_artifact(names if isinstance(names, str) else names[0])


def summary(table: pd.DataFrame) -> dict[str, float]:
    """Each method's means at the last checkpoint (the curves' end points)."""
    out: dict[str, float] = {"removals": float(table["removals"].max())}
    for method, part in table.groupby("method", sort=False):
        last = part[part["removals"] == part["removals"].max()].iloc[0]
        for metric in SHOWN:
            value = last.get(f"{metric}_mean", np.nan)
            if pd.notna(value):
                out[f"{method} {metric}"] = float(value)
    return out


ARTIFACT = ReadingsTable(
    name="lc-readings",
    paper="l-codec",
    title="L-CODEC, MNIST removal curves under each reading of the text (end points)",
    kind="sequential-removal",
    base_of=base_of,
    summary=summary,
)
