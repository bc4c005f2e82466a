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
    """A checkpoint an experiment needs: ``models/<experiment>/<role>-seed<seed>.pt``.

    ``experiment`` names the block whose checkpoint it is when that is not the run's own block:
    a block that runs one reading of ``config/readings.yaml`` (``reading: {of: ...}``) changes
    only how unlearning or evaluation is done, so it reuses the models of the block it varies
    instead of pretraining identical copies (``pretraining_owner``).
    """

    role: str
    seed: int
    experiment: str | None = None

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
        owner = ref.experiment or pretraining_owner(self.settings) or self.experiment
        return self.results_dir / "models" / owner / ref.filename()


#: Keys a reading block may change without changing what is pretrained (checked by
#: :func:`check_reading_block`): how the methods unlearn, how runs are evaluated, which
#: artifact reads the runs, and the reading tag itself.
READING_KEYS = frozenset({"reading", "methods", "unlearning", "evaluation", "artifact"})


def pretraining_owner(settings: Mapping[str, Any]) -> str | None:
    """The block whose pretrained models a reading block reuses (``reading.of``); None otherwise."""
    return (settings.get("reading") or {}).get("of")


def check_reading_block(name: str, settings: Mapping[str, Any], experiments: Mapping[str, Any]) -> None:
    """A reading block must vary its ``of`` block only in :data:`READING_KEYS`, else sharing
    the pretrained models would be wrong; the error names the block and the keys."""
    owner = pretraining_owner(settings)
    if owner is None:
        return
    if owner not in experiments:
        raise ValueError(f"experiments.{name}.reading.of names {owner!r}, which is not an experiment of this profile")
    base = experiments[owner]
    changed = sorted(
        k for k in set(settings) | set(base) if k not in READING_KEYS and settings.get(k) != base.get(k)
    )
    if changed:
        raise ValueError(
            f"experiments.{name} is a reading of {owner} but changes {', '.join(changed)}; a reading block may "
            f"change only {', '.join(sorted(READING_KEYS))} (it reuses {owner}'s pretrained models)"
        )


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
