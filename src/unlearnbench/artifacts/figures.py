"""Saving figures: the title with profile, seed count and stand-in note, then an atomic save.

Matplotlib is switched to the non-interactive Agg backend here, before pyplot is imported,
so that drawing works on a machine without a display (CI, a SLURM node).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from unlearnbench.artifacts.summaries import title_with_data_note  # noqa: E402
from unlearnbench.storage import write_atomic  # noqa: E402


def save_figure(fig: plt.Figure, outputs: Sequence[Path]) -> None:
    """Save ``fig`` to every output path (format from the suffix), atomically, then close it."""
    for path in map(Path, outputs):
        fmt = path.suffix.lstrip(".")
        write_atomic(path, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight"))
    plt.close(fig)


def finish_figure(
    fig: plt.Figure, title: str, table: pd.DataFrame, config: Mapping[str, Any], outputs: Sequence[Path]
) -> None:
    """Title a figure with its profile, seed count and stand-in note, lay it out and save it."""
    n_seeds = int(table["n_seeds"].max()) if len(table) else 0
    fig.suptitle(
        title_with_data_note(f"{title} (profile {config.get('profile', '?')}, {n_seeds} seed(s))", table),
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, outputs)
