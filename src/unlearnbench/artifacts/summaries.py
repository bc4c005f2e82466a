"""Reading run files and summarising them over seeds: the table side every artifact shares.

Also which runs an artifact reads (:func:`experiments_for`, :func:`run_grid`) and its status
line (:func:`status_line`), both put together once in :class:`KindArtifact`, so that an
artifact module states only what is its own.
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


class KindArtifact:
    """An artifact drawn from the experiments of one ``kind``: its runs are every method and seed of
    each block (:func:`run_grid`), its status line one :meth:`describe` per block (:func:`status_line`).

    A subclass sets ``name`` and ``kind`` and says :meth:`methods` (which runs of a block it
    reads) and :meth:`describe`; ``by_artifact_key`` reads only the blocks whose ``artifact`` key
    names this artifact (kinds that feed several figures), else every block of the kind.
    """

    name: str
    kind: str
    by_artifact_key = False

    def experiments(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return experiments_for(config, self.kind, self.name if self.by_artifact_key else None)

    def methods(self, settings: Mapping[str, Any]) -> Iterable[str]:
        """The run names (methods, method variants, ...) of one block that this artifact reads."""
        raise NotImplementedError

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        return run_grid(config, self.experiments(config), self.methods)

    def describe(self, name: str, settings: Mapping[str, Any], config: Mapping[str, Any]) -> str:
        """This block's part of the status line: its data (stand-in or not), size and methods."""
        raise NotImplementedError

    def status(self, config: Mapping[str, Any]) -> str:
        return status_line(self.experiments(config), lambda name, s: self.describe(name, s, config))


class CellTable(KindArtifact):
    """A :class:`KindArtifact` whose table is the mean, std and n over seeds of the cells its runs give.

    A subclass says what a run's cells are (:meth:`cells`, each built with :func:`cell_record`),
    which fields tell one cell from another (``keys``) and which are averaged (``metrics``), and
    may put the table in the paper's order (:meth:`order`, e.g. with :func:`sorted_by`).
    """

    keys: tuple[str, ...]
    metrics: tuple[str, ...]

    def cells(self, run: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        """The run's cells before averaging (with the seed among their fields)."""
        raise NotImplementedError

    def order(self, table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        """The table in the order it is shown (``frame``: the cells before averaging); as grouped by default."""
        return table

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        records = [cell for run in read_runs(run_files) for cell in self.cells(run)]
        if not records:
            raise ValueError(f"{self.name}: no {self.kind} cell to aggregate in {len(run_files)} run file(s)")
        frame = pd.DataFrame.from_records(records)
        return self.order(summarise(frame, self.keys, self.metrics), frame)


def sorted_by(table: pd.DataFrame, orders: Mapping[str, Sequence[Any] | None]) -> pd.DataFrame:
    """``table`` stably sorted by each column of ``orders`` in turn: by the position of its value in
    the given sequence (a value not in it after all that are), or by the value itself where None."""

    def rank(column: pd.Series) -> pd.Series:
        known = orders[str(column.name)]
        if known is None:
            return column
        known = list(known)
        return column.map(lambda value: known.index(value) if value in known else len(known))

    return table.sort_values(list(orders), key=rank, kind="stable").reset_index(drop=True)


def cell_record(run: Mapping[str, Any], column: str, row: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """One row before averaging of a table that the comparison report reads by ``column`` and ``row``:
    those two, the run's experiment, method and stand-in flag, then ``fields``."""
    return {
        "column": column,
        "row": row,
        "experiment": run["experiment"],
        "method": run["method"],
        "stand_in": bool(run.get("stand_in", False)),
        **fields,
    }


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
