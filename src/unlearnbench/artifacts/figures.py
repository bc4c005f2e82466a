"""Drawing figures: mean curves with their band, the title with profile, seed count and stand-in
note, then an atomic save.

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
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from unlearnbench.artifacts.summaries import title_with_data_note  # noqa: E402
from unlearnbench.storage import write_atomic  # noqa: E402


def save_figure(fig: plt.Figure, outputs: Sequence[Path]) -> None:
    """Save ``fig`` to every output path (format from the suffix), atomically, then close it."""
    for path in map(Path, outputs):
        fmt = path.suffix.lstrip(".")
        write_atomic(path, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight"))
    plt.close(fig)


def seed_count(table: pd.DataFrame) -> int:
    """The most seeds any row of an aggregated table averages (0 for an empty table)."""
    return int(table["n_seeds"].max()) if "n_seeds" in table and len(table) else 0


def figure_heading(title: str, config: Mapping[str, Any], *details: str) -> str:
    """``<title> (profile <profile>, <detail>, ...)``: where the figure's numbers come from."""
    return f"{title} (profile {config.get('profile', '?')}" + "".join(f", {d}" for d in details) + ")"


def finish_figure(
    fig: plt.Figure,
    heading: str,
    table: pd.DataFrame,
    outputs: Sequence[Path],
    rect: tuple[float, float, float, float] | None = None,
) -> None:
    """Title a figure (with the stand-in note when ``table`` is stand-in data), lay it out and save it."""
    fig.suptitle(title_with_data_note(heading, table), fontsize=9)
    fig.tight_layout(rect=rect)
    save_figure(fig, outputs)


def label_axis(
    ax: Axes,
    xlabel: str,
    ylabel: str,
    *,
    ylim: tuple[float, float] | None = None,
    log: bool = False,
    legend: float | None = None,
) -> None:
    """What every curve panel sets after its curves: axis labels, limits or log scale, a light grid
    and (``legend``: its font size) a legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if legend is not None:
        ax.legend(fontsize=legend)


def mean_curve(
    ax: Axes, x: Any, part: pd.DataFrame, metric: str, alpha: float, fmt: str = "", **style: Any
) -> Line2D:
    """``<metric>_mean`` of ``part`` against ``x`` with a band of one ``<metric>_std`` (none where the
    std is missing: a single seed), in the curve's colour."""
    y = part[f"{metric}_mean"].to_numpy(dtype=float)
    std = part[f"{metric}_std"].fillna(0.0).to_numpy(dtype=float)
    line = ax.plot(*((x, y, fmt) if fmt else (x, y)), marker="o", markersize=3, **style)[0]
    ax.fill_between(x, y - std, y + std, color=line.get_color(), alpha=alpha)
    return line
