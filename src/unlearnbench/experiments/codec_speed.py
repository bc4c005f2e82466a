"""Experiment kind ``codec-speed``: L-CODEC paper, Fig. 3 / Fig. 9 (FOCI vs L-FOCI run time per CelebA attribute).

Each attribute of the CelebA attribute table in turn is the target Y and the other attributes
are the candidates; a run times FOCI (exact CODEC, ties broken at random) or L-FOCI (L-CODEC's
noise makes the binary data tie-free) for every target. The data are binary, which is exactly
the case where exact nearest neighbours must expand large tie sets.

Sources (``source`` in the experiment block):

* ``celeba``: ``list_attr_celeba.txt`` (202,599 rows, 40 attributes in {1, -1}), fetched with
  its md5 through :func:`unlearnbench.data.download.fetch_file` into ``<data_root>/celeba``;
* ``auto``: ``celeba`` when the file is already in ``<data_root>/celeba`` (md5-checked, never
  downloaded), else ``synthetic`` (the paper profile: a CPU run on the full-size table);
* ``synthetic``: a stand-in with the same shape statistics (the 40 CelebA attribute names,
  marginal frequencies close to CelebA's, correlation through a latent "sex" and "smile"
  factor plus random loadings), written in the real file format and read back through the
  same parser. Its runs are marked ``stand_in: true``.

Settings: ``n_rows`` (rows subsampled per run, seeded; null keeps all), ``attributes`` (null:
all 40; an int: the first k; a list: those names), ``repetitions`` (each target timed this many
times; the mean is reported), ``max_features`` (passed to FOCI; null: the stopping rule alone),
``jitter_y`` (L-FOCI also jitters the target, the literal eq. 8; see :mod:`unlearnbench.dependence.codec`),
``targets`` (null: every attribute is timed as the target; a list of names: only those, the
candidates still being all the other attributes).
Constant columns of a subsample are dropped (FOCI cannot standardise them) and listed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearnbench.dependence.foci import foci, lfoci
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json, write_text
from unlearnbench.timing import Stopwatch

KIND = "codec-speed"
METHODS = ("foci", "lfoci")
CELEBA_FILE = "list_attr_celeba.txt"
CELEBA_MD5 = "75e246fa4810816ffd6ee81facbd244c"  # the md5 torchvision pins for this file
CELEBA_URLS = (
    "https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pblRyaVFSWGxPY0U&export=download&confirm=t",
)
CELEBA_ROWS = 202599

# The 40 CelebA attributes in file order, with approximate positive frequencies (CelebA's
# published statistics, rounded); the stand-in matches these marginals, not the real rows.
CELEBA_ATTRIBUTES: tuple[tuple[str, float], ...] = (
    ("5_o_Clock_Shadow", 0.111),
    ("Arched_Eyebrows", 0.267),
    ("Attractive", 0.512),
    ("Bags_Under_Eyes", 0.205),
    ("Bald", 0.022),
    ("Bangs", 0.152),
    ("Big_Lips", 0.241),
    ("Big_Nose", 0.235),
    ("Black_Hair", 0.239),
    ("Blond_Hair", 0.148),
    ("Blurry", 0.051),
    ("Brown_Hair", 0.205),
    ("Bushy_Eyebrows", 0.142),
    ("Chubby", 0.058),
    ("Double_Chin", 0.047),
    ("Eyeglasses", 0.065),
    ("Goatee", 0.063),
    ("Gray_Hair", 0.042),
    ("Heavy_Makeup", 0.387),
    ("High_Cheekbones", 0.455),
    ("Male", 0.417),
    ("Mouth_Slightly_Open", 0.483),
    ("Mustache", 0.042),
    ("Narrow_Eyes", 0.115),
    ("No_Beard", 0.835),
    ("Oval_Face", 0.284),
    ("Pale_Skin", 0.043),
    ("Pointy_Nose", 0.277),
    ("Receding_Hairline", 0.080),
    ("Rosy_Cheeks", 0.066),
    ("Sideburns", 0.057),
    ("Smiling", 0.482),
    ("Straight_Hair", 0.208),
    ("Wavy_Hair", 0.320),
    ("Wearing_Earrings", 0.189),
    ("Wearing_Hat", 0.048),
    ("Wearing_Lipstick", 0.472),
    ("Wearing_Necklace", 0.123),
    ("Wearing_Necktie", 0.073),
    ("Young", 0.774),
)
_MALE = {
    "5_o_Clock_Shadow": 1.5,
    "Bald": 1.0,
    "Goatee": 1.5,
    "Male": 3.0,
    "Mustache": 1.5,
    "Sideburns": 1.5,
    "Wearing_Necktie": 1.0,
    "Bushy_Eyebrows": 0.7,
    "Big_Nose": 0.7,
    "Receding_Hairline": 0.5,
    "Gray_Hair": 0.5,
    "Double_Chin": 0.5,
    "Chubby": 0.5,
    "No_Beard": -1.5,
    "Heavy_Makeup": -2.0,
    "Wearing_Lipstick": -2.5,
    "Arched_Eyebrows": -1.0,
    "Wearing_Earrings": -1.0,
    "Wearing_Necklace": -0.7,
    "Attractive": -0.7,
    "Rosy_Cheeks": -0.5,
    "Blond_Hair": -0.7,
    "Wavy_Hair": -0.7,
    "Pointy_Nose": -0.5,
    "Young": -0.5,
}
_SMILE = {"Smiling": 2.5, "High_Cheekbones": 1.5, "Mouth_Slightly_Open": 1.0, "Rosy_Cheeks": 0.3}


@dataclass(frozen=True)
class AttributeTable:
    """``values`` ``(n, m)`` int8 in {-1, 1}; ``names`` the m attributes; ``files`` the image names."""

    names: list[str]
    files: list[str]
    values: np.ndarray


# --------------------------------------------------------------------------- the file format


def read_attribute_table(path: str | Path) -> AttributeTable:
    """Parse ``list_attr_celeba.txt``: a row count, the attribute names, then ``file v1 .. vm`` rows."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError(f"{path}: an attribute table needs a count line and a header line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise ValueError(f"{path}: first line must be the number of rows, got {lines[0][:40]!r}") from None
    names = lines[1].split()
    rows = lines[2:]
    if len(rows) != count:
        raise ValueError(f"{path}: header says {count} rows but the file has {len(rows)}")
    files: list[str] = []
    values = np.empty((count, len(names)), dtype=np.int8)
    for i, line in enumerate(rows):
        parts = line.split()
        if len(parts) != len(names) + 1:
            raise ValueError(f"{path}: row {i + 3} has {len(parts) - 1} values, expected {len(names)}")
        files.append(parts[0])
        try:
            values[i] = [int(v) for v in parts[1:]]
        except ValueError:
            raise ValueError(f"{path}: row {i + 3} has a non-integer value") from None
    bad = ~np.isin(values, (-1, 1))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{path}: row {row + 3} has values outside {{-1, 1}}")
    return AttributeTable(names=names, files=files, values=values)


def write_attribute_table(path: str | Path, table: AttributeTable) -> Path:
    """Write ``table`` in the ``list_attr_celeba.txt`` layout (atomically)."""
    lines = [str(table.values.shape[0]), " ".join(table.names)]
    for name, row in zip(table.files, table.values, strict=True):
        lines.append(name + " " + " ".join(f"{int(v):2d}" for v in row))
    return write_text(path, "\n".join(lines) + "\n")


def synthetic_attribute_table(n_rows: int, seed: int) -> AttributeTable:
    """The stand-in: 40 correlated binary attributes with CelebA's names and marginal frequencies."""
    if n_rows < 2:
        raise ValueError(f"n_rows must be at least 2, got {n_rows}")
    rng = np.random.default_rng(seed)
    names = [name for name, _ in CELEBA_ATTRIBUTES]
    freq = np.array([f for _, f in CELEBA_ATTRIBUTES])
    male, smile = rng.normal(size=(2, n_rows))
    loadings = rng.normal(scale=0.3, size=(3, len(names)))  # weak random structure on a third factor
    other = rng.normal(size=n_rows)
    latent = rng.normal(size=(n_rows, len(names)))
    latent += male[:, None] * np.array([_MALE.get(a, 0.0) for a in names])
    latent += smile[:, None] * np.array([_SMILE.get(a, 0.0) for a in names])
    latent += other[:, None] * loadings[0]
    cut = np.array([np.quantile(latent[:, j], 1.0 - f) for j, f in enumerate(freq)])
    values = np.where(latent > cut, 1, -1).astype(np.int8)
    files = [f"{i + 1:06d}.jpg" for i in range(n_rows)]
    return AttributeTable(names=names, files=files, values=values)


# --------------------------------------------------------------------------- the experiment kind


def datasets(settings: Mapping[str, Any]) -> list[str]:
    return []  # the attribute file is fetched (checksummed) by the run itself; the stand-in is generated


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return []


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    raise ValueError(f"experiment kind {KIND!r} has no pretrained models (asked for {ref.filename()})")


def load_table(ctx: RunContext, seed: int) -> tuple[AttributeTable, bool]:
    """The attribute table of this run and whether it is the stand-in."""
    s = ctx.settings
    source = s.get("source", "celeba")
    if source == "auto":  # the real table if it is already here, else the labelled stand-in
        c = dict(s.get("celeba") or {})
        present = Path(ctx.data_root) / "celeba" / c.get("filename", CELEBA_FILE)
        source = "celeba" if present.is_file() else "synthetic"
        if source == "celeba":
            s = {**s, "celeba": {**c, "allow_download": False}}
    if source == "celeba":
        from unlearnbench.data.download import fetch_file

        c = dict(s.get("celeba") or {})
        path = fetch_file(
            c.get("filename", CELEBA_FILE),
            c.get("urls", list(CELEBA_URLS)),
            c.get("md5", CELEBA_MD5),
            Path(ctx.data_root) / "celeba",
            allow_download=bool(c.get("allow_download", True)),
        )
        return read_attribute_table(path), False
    if source == "synthetic":
        syn = dict(s.get("synthetic") or {})
        table = synthetic_attribute_table(int(syn.get("n_rows", 5000)), int(syn.get("seed", 0)))
        with tempfile.TemporaryDirectory() as tmp:  # the stand-in goes through the real parser
            return read_attribute_table(write_attribute_table(Path(tmp) / CELEBA_FILE, table)), True
    raise ValueError(f"unknown codec-speed source {source!r}; use 'celeba', 'synthetic' or 'auto'")


def subsample(table: AttributeTable, n_rows: int | None, attributes: Any, seed: int) -> AttributeTable:
    """Seeded row subsample and attribute choice (None: all; int: the first k; list: by name)."""
    names = list(table.names)
    if attributes is None:
        cols = list(range(len(names)))
    elif isinstance(attributes, int):
        if not 2 <= attributes <= len(names):
            raise ValueError(f"attributes must be between 2 and {len(names)}, got {attributes}")
        cols = list(range(attributes))
    else:
        missing = [a for a in attributes if a not in names]
        if missing:
            raise ValueError(f"unknown attributes {missing}; the table has {names}")
        cols = [names.index(a) for a in attributes]
    rows = np.arange(table.values.shape[0])
    if n_rows is not None and int(n_rows) < rows.size:
        rows = np.sort(np.random.default_rng(seed).choice(rows.size, int(n_rows), replace=False))
    return AttributeTable(
        names=[names[c] for c in cols],
        files=[table.files[r] for r in rows],
        values=table.values[np.ix_(rows, cols)],
    )


def time_selection(
    method: str,
    table: AttributeTable,
    *,
    seed: int,
    device: str,
    repetitions: int = 1,
    max_features: int | None = None,
    jitter_y: bool = False,
    targets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run ``method`` with each attribute (or each of ``targets``) as the target; seconds and selections.

    The candidates are always all the other attributes of ``table``; ``targets`` only limits
    which attributes are timed as the target (a smoke run: a few targets on the full table).
    """
    select = foci if method == "foci" else partial(lfoci, jitter_y=jitter_y)
    values = torch.as_tensor((table.values > 0).astype(np.float64), device=device)
    if targets is not None:
        unknown = [a for a in targets if a not in table.names]
        if unknown:
            raise ValueError(f"unknown targets {unknown}; the table has {table.names}")
    per: dict[str, Any] = {}
    for t, name in enumerate(table.names):
        if targets is not None and name not in targets:
            continue
        y = values[:, t]
        if bool((y == y[0]).all()):
            per[name] = {"skipped": "constant in this subsample"}
            continue
        others = [j for j in range(len(table.names)) if j != t]
        keep = [j for j in others if not bool((values[:, j] == values[0, j]).all())]
        dropped = [table.names[j] for j in others if j not in keep]
        limit = None if max_features is None else min(int(max_features), len(keep))
        seconds = []
        for _ in range(repetitions):
            with Stopwatch(device) as watch:
                result = select(y, values[:, keep], max_features=limit, seed=seed)
            seconds.append(watch.seconds)
        per[name] = {
            "seconds": float(np.mean(seconds)),
            "seconds_all": seconds,
            "selected": [table.names[keep[i]] for i in result.selected],
            "statistics": result.statistics,
            "dropped_constant": dropped,
        }
    timed = [v["seconds"] for v in per.values() if "seconds" in v]
    return {
        "per_attribute": per,
        "total_seconds": float(np.sum(timed)),
        "mean_seconds": float(np.mean(timed)),
    }


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    if method not in METHODS:
        raise ValueError(f"unknown codec-speed method {method!r}; known: {', '.join(METHODS)}")
    s = ctx.settings
    table, stand_in = load_table(ctx, seed)
    table = subsample(table, s.get("n_rows"), s.get("attributes"), seed)
    repetitions = int(s.get("repetitions", 1))
    if repetitions < 1:
        raise ValueError(f"repetitions must be at least 1, got {repetitions}")
    metrics = time_selection(
        method,
        table,
        seed=seed,
        device=ctx.device,
        repetitions=repetitions,
        max_features=s.get("max_features"),
        jitter_y=bool(s.get("jitter_y", False)),
        targets=s.get("targets"),
    )
    metrics["n_rows"] = int(table.values.shape[0])
    metrics["attributes"] = list(table.names)
    payload = {
        "experiment": ctx.experiment,
        "method": method,
        "seed": seed,
        "metrics": metrics,
        "stand_in": stand_in,
        "settings": dict(s),
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def attribute_names() -> Sequence[str]:
    return [name for name, _ in CELEBA_ATTRIBUTES]
