"""The artifact interface: one module per table or figure of a paper.

An artifact says which runs it needs (``runs``), how to turn their JSON files into one
table (``aggregate``) and how to draw that table (``draw``). Drawing never computes: it
reads the aggregated table (and, for image grids, the arrays a run saved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd


@dataclass(frozen=True)
class RunSpec:
    """One run: ``results/<profile>/runs/<experiment>/<method>/seed<seed>.json``."""

    experiment: str
    method: str
    seed: int

    def relative_path(self) -> str:
        return f"runs/{self.experiment}/{self.method}/seed{self.seed}.json"


class Artifact(Protocol):
    name: str  # e.g. "gs-table1"
    paper: str  # "gradient-surgery" or "l-codec"
    title: str  # what the paper calls it, e.g. "Table 1 (MNIST138 column)"

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        """Every run this artifact reads, for this profile's config (empty: not built here)."""

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        """Combine run JSON files into the artifact's table (mean, std and n over seeds)."""

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        """Draw the table to each path in ``outputs`` (a .pdf and a .png)."""

    def status(self, config: Mapping[str, Any]) -> str:
        """One line for ``unlearnbench artifacts``: built on this profile, stand-in, or why not."""
