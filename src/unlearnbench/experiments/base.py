"""Experiment kinds: how to pretrain the models of an experiment and how to execute one run.

An *experiment* is a named block of the config (``experiments: {name: {kind: ..., ...}}``).
Its ``kind`` selects a module here that knows which datasets and checkpoints a run needs and
how to produce them. The Snakefile stays generic: it asks the kind for inputs and calls
``unlearnbench pretrain`` / ``unlearnbench run`` with explicit paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelRef:
    """A checkpoint an experiment needs: ``models/<experiment>/<role>-seed<seed>.pt``."""

    role: str
    seed: int

    def filename(self) -> str:
        return f"{self.role}-seed{self.seed}.pt"


@dataclass
class RunContext:
    """What the CLI hands to a kind: resolved paths and the run's identity.

    ``settings`` is the experiment's config block; ``config`` the whole validated config
    (some kinds need global keys such as ``datasets`` or ``data_root``).
    """

    experiment: str
    settings: Mapping[str, Any]
    config: Mapping[str, Any]
    results_dir: Path  # results/<profile>
    data_root: Path
    device: str  # resolved: "cpu" or "cuda[:k]"
    threads: int = 1

    def model_path(self, ref: ModelRef) -> Path:
        return self.results_dir / "models" / self.experiment / ref.filename()


class ExperimentKind(Protocol):
    """Module-level functions every ``unlearnbench.experiments.<kind>`` module provides."""

    def datasets(self, settings: Mapping[str, Any]) -> list[str]:
        """Dataset names whose ``data/<base>/manifest.json`` must exist before anything runs."""

    def pretrained(self, settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
        """Checkpoints the run (method, seed) reads."""

    def pretrain(self, ctx: RunContext, ref: ModelRef, output: Path) -> None:
        """Train the model ``ref`` and write its checkpoint to ``output`` (atomically)."""

    def run(self, ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
        """Execute one run, write ``output`` (JSON, atomically, with provenance) and return its payload."""
