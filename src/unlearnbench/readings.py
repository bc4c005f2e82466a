"""Readings tables: every reading of ``config/readings.yaml`` beside the default, with its verdicts.

Where a paper's text admits several readings, the list and the default were fixed before any
real-data run (``config/readings.yaml``). A profile runs an alternative reading as an extra
experiment block tagged ``reading: {of: <default block>, choice: <id>, id: <reading>}`` that
changes one setting of its default block. A readings table has one row per (choice, reading):
the numbers of the paper's artifact computed from that reading's runs, how many published
values land within / outside tolerance (:func:`unlearnbench.comparison.compare`) and the
verdict of every claim on that artifact (:func:`unlearnbench.claims.evaluate.evaluate_claim`),
the default marked, nothing dropped: a reading no block runs is a row saying why.

The artifact's own aggregation builds each reading's table (``gs-table1`` or a
sequential-removal figure), so a reading's numbers are computed exactly as the paper's table
is. A reading block runs only the methods its choice changes; the other rows (BEFORE, RETRAIN,
...) come from the default block's runs, which the choice does not affect. A choice marked
``reuses_default_runs`` (the FID space) reads the default block's runs, which record every space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unlearnbench.artifacts.base import RunSpec
from unlearnbench.artifacts.summaries import run_grid
from unlearnbench.config import load_yaml
from unlearnbench.experiments.base import check_reading_block, pretraining_owner

READINGS_FILE = "config/readings.yaml"
CLAIMS_FILE = "config/claims.yaml"
#: FID space of each ``evaluation.fid_features`` value (the metric-space readings).
FID_SPACE_OF = {
    "classifier": "penultimate",
    "classifier-logits": "logits",
    "classifier-probabilities": "probabilities",
}


def suite_file(path: str | Path) -> Path:
    """``path`` as given when it exists, else relative to this checkout (a workflow run with
    ``-d elsewhere`` still finds ``config/readings.yaml`` and ``config/claims.yaml``)."""
    given = Path(path)
    beside = Path(__file__).resolve().parents[2] / given
    return given if given.exists() or given.is_absolute() or not beside.exists() else beside


def load_readings(path: str | Path = READINGS_FILE) -> dict[str, Any]:
    """The readings file; a choice without ``id``, ``default`` or ``readings``, or whose default is
    not among its readings, is an error naming it."""
    data = load_yaml(suite_file(path)) or {}
    for paper, block in data.items():
        for choice in block.get("choices") or []:
            missing = [k for k in ("id", "default", "readings") if k not in choice]
            if missing:
                raise ValueError(f"{path}: {paper} choice {choice.get('id', '?')} lacks {', '.join(missing)}")
            if choice["default"] not in choice["readings"]:
                raise ValueError(
                    f"{path}: {paper}.{choice['id']}: default {choice['default']!r} is not a reading"
                )
    return data


def reading_blocks(config: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    """Blocks of ``kind`` that run a reading, each checked against its default block."""
    experiments = config.get("experiments") or {}
    found = {n: s for n, s in experiments.items() if s.get("kind") == kind and s.get("reading")}
    for name, settings in found.items():
        check_reading_block(name, settings, experiments)
    return found


def _experiment_of(path: Path) -> str:
    """``.../runs/<experiment>/<method>/seed<k>.json`` -> experiment."""
    return Path(path).parts[-3]


def configured_methods(settings: Mapping[str, Any]) -> list[str]:
    """A block's runs are the methods it configures (the default of :class:`ReadingsTable`)."""
    return list(settings["methods"])


class ReadingsTable:
    """One readings artifact: ``base`` is the paper artifact whose aggregation makes each reading's
    table (``base_of(config, default block)``); ``methods(settings)`` names a block's runs (every
    seed of each); ``summary(table)`` picks the numbers shown; ``remap(table, value)`` turns the
    default runs' table into a ``reuses_default_runs`` reading's. ``paper`` is also the paper's
    key in ``config/readings.yaml``."""

    def __init__(
        self,
        name: str,
        paper: str,
        title: str,
        kind: str,
        base_of: Callable[[Mapping[str, Any], str], Any],
        summary: Callable[[pd.DataFrame], dict[str, float]],
        methods: Callable[[Mapping[str, Any]], Iterable[str]] = configured_methods,
        remap: Callable[[pd.DataFrame, str], pd.DataFrame] | None = None,
        figure_columns: Sequence[str] = (),
    ) -> None:
        self.figure_columns = list(figure_columns)
        self.name, self.paper, self.title, self.kind = name, paper, title, kind
        self.base_of, self.summary, self.methods, self.remap = base_of, summary, methods, remap

    def block_runs(self, config: Mapping[str, Any], name: str) -> list[RunSpec]:
        """Every run of one block: its :attr:`methods`, each with every seed."""
        return run_grid(config, {name: config["experiments"][name]}, self.methods)

    # ------------------------------------------------------------------ which runs

    def default_blocks(self, config: Mapping[str, Any]) -> list[str]:
        return list(dict.fromkeys(pretraining_owner(s) for s in reading_blocks(config, self.kind).values()))

    def runs(self, config: Mapping[str, Any]) -> list[RunSpec]:
        names = self.default_blocks(config) + list(reading_blocks(config, self.kind))
        return [spec for name in names for spec in self.block_runs(config, name)]

    # ------------------------------------------------------------------ the table

    def aggregate(self, run_files: Sequence[Path], config: Mapping[str, Any]) -> pd.DataFrame:
        files: dict[str, list[Path]] = {}
        for path in map(Path, run_files):
            files.setdefault(_experiment_of(path), []).append(path)
        choices = (load_readings(config.get("readings", READINGS_FILE)).get(self.paper) or {}).get(
            "choices", []
        )
        blocks = reading_blocks(config, self.kind)
        rows = []
        for default in self.default_blocks(config):
            for choice in choices:
                for reading_id, reading in choice["readings"].items():
                    row = {
                        "default_block": default,
                        "choice": choice["id"],
                        "reading": reading_id,
                        "default": reading_id == choice["default"],
                        "value": str(reading.get("value")),
                    }
                    rows.append(
                        {
                            **row,
                            **self._reading_row(default, choice, reading_id, reading, blocks, files, config),
                        }
                    )
        return pd.DataFrame.from_records(rows)

    def _reading_row(self, default, choice, reading_id, reading, blocks, files, config) -> dict[str, Any]:
        if reading.get("status") == "to-add":
            return {"status": "not run: its setting is not in the code yet (status: to-add)"}
        remap = None
        if reading_id == choice["default"]:
            names = [default]
        elif choice.get("reuses_default_runs"):
            names, remap = [default], reading.get("value")
        else:
            names = [
                n
                for n, s in blocks.items()
                if pretraining_owner(s) == default
                and s["reading"].get("choice") == choice["id"]
                and s["reading"].get("id") == reading_id
            ]
            if not names:
                return {"status": "not run: no experiment block of this profile runs it"}
            names.append(default)  # the rows the choice does not change
        own = files.get(names[0], [])
        if not own:
            return {"status": "not run: no run files (the block is configured but its runs are missing)"}
        # the methods the reading's block configures come from its runs only; the others from the default's
        own_methods = {spec.method for spec in self.block_runs(config, names[0])}
        chosen = own + [
            p for n in names[1:] for p in files.get(n, []) if Path(p).parts[-2] not in own_methods
        ]
        base = self.base_of(config, default)
        table = base.aggregate(chosen, config)
        # one reading = one experiment for the predicates, which compare rows within an experiment
        table["experiment"] = names[0]
        if remap is not None and self.remap is not None:
            table = self.remap(table, remap)
        return {
            "status": "run",
            "experiments": " + ".join(dict.fromkeys(names)),
            **self.summary(table),
            **judge(base.name, table, config),
        }

    def markdown(self, table: pd.DataFrame) -> str:
        shown = table.copy()
        shown["reading"] = [
            f"**{r}** (default)" if d else r for r, d in zip(shown["reading"], shown["default"])
        ]
        shown = shown.drop(columns=["default"])
        note = (
            "\n\nOne row per reading of `config/readings.yaml` (fixed before any real-data run), the default in bold; "
            "numbers are means over seeds. Rows a reading does not change come from the default block "
            "(`experiments`). Published values are judged against `config/published.yaml`, claims against "
            "`config/claims.yaml`, exactly as `comparison.md` judges the paper's artifact.\n"
        )
        return shown.to_markdown(index=False, floatfmt=".4g") + note

    def draw(self, table: pd.DataFrame, outputs: Sequence[Path], config: Mapping[str, Any]) -> None:
        from unlearnbench.artifacts.figures import plt, save_figure

        fixed = {"default", "within tolerance", "outside tolerance", "not comparable"}
        numeric = [c for c in self.figure_columns if c in table] or [
            c for c in table.columns if c not in fixed and pd.api.types.is_numeric_dtype(table[c])
        ][:6]
        shown = table[["choice", "reading", "status", *numeric]].copy()
        shown["reading"] = [f"{r} (default)" if d else r for r, d in zip(table["reading"], table["default"])]
        cells = [
            [f"{v:.4g}" if isinstance(v, float) else str(v)[:40] for v in row] for row in shown.to_numpy()
        ]
        fig, ax = plt.subplots(figsize=(2.0 * len(shown.columns), 0.4 * len(shown) + 1.2))
        ax.axis("off")
        ax.table(cellText=cells, colLabels=list(shown.columns), loc="center").auto_set_font_size(True)
        ax.set_title(f"{self.title} (profile {config.get('profile', '?')})", fontsize=9)
        save_figure(fig, outputs)

    def status(self, config: Mapping[str, Any]) -> str:
        blocks = reading_blocks(config, self.kind)
        if not blocks:
            return "not configured in this profile (no experiment block carries reading:)"
        return f"configured: {len(blocks)} reading blocks varying {', '.join(self.default_blocks(config))}"


def judge(artifact: str, table: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, Any]:
    """Published values within / outside tolerance and every claim's verdict on ``table``."""
    from unlearnbench.claims.evaluate import evaluate_claim, load_claims
    from unlearnbench.comparison import compare, load_published

    published = [e for e in load_published(suite_file(config["published"])) if e["artifact"] == artifact]
    frame = compare(published, {artifact: table}) if published else pd.DataFrame(columns=["verdict"])
    outside = frame[frame["verdict"] == "outside tolerance"] if len(frame) else frame
    claims = [
        c for c in load_claims(suite_file(config.get("claims", CLAIMS_FILE))) if c["artifact"] == artifact
    ]
    return {
        "within tolerance": int((frame["verdict"] == "within tolerance").sum()),
        "outside tolerance": int(len(outside)),
        "not comparable": int(
            frame["verdict"].isin(["stand-in data, not comparable", "not reproduced in this profile"]).sum()
        ),
        "outside": "; ".join(f"{r['row']} {r['metric']}" for _, r in outside.iterrows()),
        "claims": "; ".join(f"{c['id']}: {evaluate_claim(c, {artifact: table}).label}" for c in claims),
    }
