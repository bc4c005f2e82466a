"""Reading run files and summarising them over seeds: the table side every artifact shares.

Also which runs an artifact reads (:func:`experiments_for`, :func:`run_grid`) and its status
line (:func:`status_line`), so that an artifact module states only what is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.captions import with_hessian_note
from unlearnbench.storage import read_json

STAND_IN_NOTE = "STAND-IN DATA (not the paper's dataset; numbers are not comparable to the paper)"
NOT_CONFIGURED = "not configured in this profile"


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


def seeds_of(config: Mapping[str, Any], settings: Mapping[str, Any]) -> list[int]:
    """The experiment's own ``seeds`` when given (the paper averages Fig. 5 over 10, Fig. 6 over 8), else the profile's."""
    return [int(s) for s in (settings.get("seeds") or config["seeds"])]


def experiments_for(
    config: Mapping[str, Any], kind: str, artifact: str | None = None
) -> dict[str, Mapping[str, Any]]:
    """The experiment blocks of ``kind`` in config order; with ``artifact``, only those whose
    ``artifact`` key (a name or a list) names it (kinds that feed several figures say which)."""
    found = {}
    for name, block in (config.get("experiments") or {}).items():
        if block.get("kind") != kind:
            continue
        targets = block.get("artifact")
        targets = [targets] if isinstance(targets, str) else list(targets or [])
        if artifact is None or artifact in targets:
            found[name] = block
    return found


def run_grid(
    config: Mapping[str, Any],
    experiments: Mapping[str, Mapping[str, Any]],
    methods: Callable[[Mapping[str, Any]], Iterable[str]],
) -> list[RunSpec]:
    """Every (experiment, method, seed) run: ``methods(settings)`` of each block, its :func:`seeds_of`."""
    return [
        RunSpec(name, method, seed)
        for name, settings in experiments.items()
        for method in methods(settings)
        for seed in seeds_of(config, settings)
    ]


def status_line(
    experiments: Mapping[str, Mapping[str, Any]], describe: Callable[[str, Mapping[str, Any]], str]
) -> str:
    """``configured: <describe(block)>; ...`` (with the finite-difference Hessian note where a block
    uses it), or that the profile configures none: one line for ``unlearnbench artifacts`` and captions."""
    if not experiments:
        return NOT_CONFIGURED
    line = "configured: " + "; ".join(describe(name, settings) for name, settings in experiments.items())
    return with_hessian_note(line, experiments)


def configured_methods(known: Sequence[str], kind: str) -> Callable[[Mapping[str, Any]], list[str]]:
    """``methods(settings)`` for :func:`run_grid`: the methods a block names (all ``known`` ones by
    default), in ``known`` order (the paper's rows); a method not in ``known`` is an error naming it."""

    def methods(settings: Mapping[str, Any]) -> list[str]:
        configured = settings.get("methods") or list(known)
        unknown = [m for m in configured if m not in known]
        if unknown:
            raise ValueError(f"unknown {kind} methods {unknown}; known: {list(known)}")
        return [m for m in known if m in configured]

    return methods
