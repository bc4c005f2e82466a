"""Reading run files and summarising them over seeds: the table side every artifact shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.storage import read_json

STAND_IN_NOTE = "STAND-IN DATA (not the paper's dataset; numbers are not comparable to the paper)"


def read_runs(run_files: Iterable[Path]) -> list[dict[str, Any]]:
    return [read_json(path) for path in run_files]


def summarise(frame: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, sample std and n of each metric over seeds, one row per ``keys`` combination."""
    grouped = frame.groupby(list(keys), sort=False)
    out = grouped[list(metrics)].agg(["mean", "std"])
    out.columns = [f"{metric}_{stat}" for metric, stat in out.columns]
    out["n_seeds"] = grouped.size()
    return out.reset_index()


def any_stand_in(table: pd.DataFrame) -> bool:
    return bool("stand_in" in table and table["stand_in"].astype(bool).any())


def title_with_data_note(title: str, table: pd.DataFrame) -> str:
    return f"{title}\n{STAND_IN_NOTE}" if any_stand_in(table) else title


def seeds(config: Mapping[str, Any]) -> list[int]:
    return [int(s) for s in config["seeds"]]


def configured_methods(settings: Mapping[str, Any], known: Sequence[str], kind: str) -> list[str]:
    """The methods an experiment block names (all ``known`` ones by default), in ``known`` order."""
    configured = settings.get("methods") or list(known)
    unknown = [m for m in configured if m not in known]
    if unknown:
        raise ValueError(f"unknown {kind} methods {unknown}; known: {list(known)}")
    return [m for m in known if m in configured]
