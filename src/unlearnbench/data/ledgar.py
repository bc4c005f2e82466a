"""LEDGAR provisions (L-CODEC Fig. 7 right): the corpus, its 13-label subset and a stand-in.

Three sources, chosen by the experiment's ``data.source``:

- ``lex_glue``: LexGLUE's ``ledgar`` through Hugging Face ``datasets``
  (``load_dataset("lex_glue", "ledgar")``; train/validation/test as published, one label
  per provision). Offline, it must already be in the ``datasets`` cache; otherwise
  :class:`~unlearnbench.data.download.DatasetUnavailableError` names the dataset, the hub
  id, ``HF_DATASETS_OFFLINE`` and the cache folder.
- ``jsonl``: a LEDGAR corpus file in the original release's JSON-lines format, one
  ``{"provision": str, "label": [str, ...], "source": str}`` per line, split 70/10/20
  with ``random_state=42`` (two ``train_test_split`` calls, as the authors' scripts do).
- ``standin``: the same JSON-lines format, written by :func:`write_standin_corpus`, with
  13 LEDGAR label names and synthetic provisions built from label keywords and common
  contract words. It is a STAND-IN (offline quick profile), labelled so everywhere.

Every source is then reduced to its ``top_labels`` most frequent labels in the training
split ("prototypical" subset: 13 in the paper); labels outside it are dropped from each
provision and provisions left without a label are dropped. Targets are multi-hot vectors
(one-hot for single-label provisions), trained with class-weighted binary cross-entropy:
the weight of label ``j`` is ``n_train / (k * count_j)`` (the authors' ``DonData``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.data.download import DatasetUnavailableError
from unlearnbench.storage import read_json, write_json, write_text

HUB_ID = "lex_glue"
HUB_CONFIG = "ledgar"
SOURCES = ("standin", "jsonl", "lex_glue")
STANDIN_FOLDER = "ledgar-standin"
CORPUS_NAME = "corpus.jsonl"

#: The stand-in's labels, most to least frequent. The paper's two removal classes are the
#: highest ("Governing Laws") and lowest ("Terminations") support of the 13.
STANDIN_LABELS: tuple[str, ...] = (
    "Governing Laws",
    "Counterparts",
    "Notices",
    "Entire Agreements",
    "Severability",
    "Amendments",
    "Waivers",
    "Successors",
    "Expenses",
    "Survival",
    "Taxes",
    "Assignments",
    "Terminations",
)
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Governing Laws": (
        "governed",
        "construed",
        "laws",
        "state",
        "delaware",
        "conflict",
        "principles",
        "york",
    ),
    "Counterparts": (
        "counterparts",
        "executed",
        "original",
        "facsimile",
        "signature",
        "electronic",
        "instrument",
    ),
    "Notices": ("notices", "writing", "delivered", "mail", "address", "courier", "certified", "received"),
    "Entire Agreements": ("entire", "supersedes", "prior", "understandings", "negotiations", "oral", "whole"),
    "Severability": ("invalid", "unenforceable", "severable", "remaining", "provision", "illegal", "void"),
    "Amendments": ("amended", "modified", "amendment", "supplemented", "signed", "mutual", "modification"),
    "Waivers": ("waiver", "waive", "failure", "delay", "exercise", "remedy", "forbearance"),
    "Successors": ("successors", "assigns", "binding", "inure", "benefit", "heirs", "legal"),
    "Expenses": ("expenses", "costs", "fees", "attorneys", "incurred", "pay", "reimburse"),
    "Survival": ("survive", "survival", "expiration", "indemnification", "closing", "continue", "force"),
    "Taxes": ("taxes", "withholding", "tax", "deduct", "revenue", "federal", "income"),
    "Assignments": ("assign", "transfer", "consent", "delegate", "assignment", "prohibited", "affiliate"),
    "Terminations": ("terminate", "termination", "notice", "breach", "cure", "days", "effective"),
}
_COMMON = [
    "the",
    "this",
    "agreement",
    "party",
    "parties",
    "shall",
    "any",
    "all",
    "and",
    "or",
    "of",
    "to",
    "in",
    "by",
    "with",
    "such",
    "hereto",
    "hereunder",
    "hereof",
    "thereof",
    "company",
    "purchaser",
    "seller",
    "under",
    "provided",
    "that",
    "be",
    "may",
    "not",
    "other",
    "each",
    "section",
    "without",
    "prior",
    "written",
    "terms",
    "conditions",
    "respect",
    "including",
    "whether",
]


class LedgarError(ValueError):
    """A LEDGAR setting or file is malformed (unknown label, bad JSON line, empty subset)."""


@dataclass
class TextSplit:
    """Provisions and their multi-hot targets over the kept labels."""

    texts: list[str]
    targets: np.ndarray  # [N, k] float32 in {0, 1}

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class LedgarData:
    train: TextSplit
    dev: TextSplit
    test: TextSplit
    labels: list[str]
    stand_in: bool
    description: str
    source: str

    def class_weights(self) -> np.ndarray:
        return class_weights(self.train.targets)


# ---------------------------------------------------------------------------- the stand-in


def write_standin_corpus(
    path: str | os.PathLike[str],
    *,
    samples: int = 1200,
    seed: int = 0,
    multilabel_fraction: float = 0.05,
    decay: float = 0.85,
    words: tuple[int, int] = (18, 48),
    keyword_fraction: float = 0.3,
) -> Path:
    """Write a LEDGAR-like JSON-lines corpus (13 labels, frequencies decaying by ``decay``).

    Each provision mixes its label's keywords (``keyword_fraction`` of its words, some of
    them borrowed from another label so the task is not trivially separable) with common
    contract words; ``multilabel_fraction`` of the provisions carry a second label. The
    same arguments always write the same bytes.
    """
    if samples < 2 * len(STANDIN_LABELS):
        raise LedgarError(f"the stand-in needs at least {2 * len(STANDIN_LABELS)} samples, got {samples}")
    if not 0 <= multilabel_fraction < 1 or not 0 < decay <= 1 or not 0 < keyword_fraction < 1:
        raise LedgarError(
            "multilabel_fraction must lie in [0, 1), decay in (0, 1], keyword_fraction in (0, 1)"
        )
    rng = np.random.default_rng(seed)
    weights = decay ** np.arange(len(STANDIN_LABELS))
    first = rng.choice(len(STANDIN_LABELS), size=samples, p=weights / weights.sum())
    lines = []
    for i, label_index in enumerate(first):
        labels = [STANDIN_LABELS[label_index]]
        if rng.random() < multilabel_fraction:
            other = int(rng.integers(len(STANDIN_LABELS) - 1))
            labels.append(STANDIN_LABELS[other + (other >= label_index)])
        n_words = int(rng.integers(words[0], words[1] + 1))
        text = []
        for _ in range(n_words):
            if rng.random() < keyword_fraction:
                # Mostly the provision's own labels' keywords, sometimes another label's.
                owner = (
                    labels[int(rng.integers(len(labels)))]
                    if rng.random() < 0.8
                    else rng.choice(STANDIN_LABELS)
                )
                text.append(str(rng.choice(_KEYWORDS[str(owner)])))
            else:
                text.append(str(rng.choice(_COMMON)))
        provision = " ".join(text).capitalize() + "."
        lines.append(json.dumps({"provision": provision, "label": labels, "source": f"standin-{i:06d}"}))
    return write_text(path, "\n".join(lines) + "\n")


def standin_corpus(data_root: str | os.PathLike[str], settings: Mapping[str, Any] | None = None) -> Path:
    """The stand-in corpus under ``data_root/ledgar-standin/``, written once per settings.

    A ``manifest.json`` beside it records the generator settings and the file's md5; a
    changed setting or a damaged file rewrites it (atomically, so parallel jobs are safe).
    """
    options = dict(settings or {})
    folder = Path(data_root) / STANDIN_FOLDER
    corpus, manifest = folder / CORPUS_NAME, folder / "manifest.json"
    try:
        recorded = read_json(manifest)
        if recorded.get("settings") == options and _md5(corpus) == recorded.get("md5"):
            return corpus
    except (OSError, ValueError):
        pass
    write_standin_corpus(corpus, **options)
    write_json(
        manifest,
        {
            "dataset": STANDIN_FOLDER,
            "stand_in": True,
            "stand_in_for": "LEDGAR (LexGLUE ledgar), 13 most frequent labels",
            "format": "LEDGAR JSON lines: provision, label (list), source",
            "settings": options,
            "md5": _md5(corpus),
        },
    )
    return corpus


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- reading


def read_corpus(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """Provisions and label lists of a LEDGAR JSON-lines file."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text, label = record["provision"], record["label"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise LedgarError(
                    f"{path}:{number}: expected a JSON object with 'provision' and 'label' ({exc})"
                ) from None
            if isinstance(label, str):
                label = [label]
            if not isinstance(text, str) or not isinstance(label, list) or not label:
                raise LedgarError(
                    f"{path}:{number}: 'provision' must be a string and 'label' a non-empty list"
                )
            texts.append(text)
            labels.append([str(x) for x in label])
    if not texts:
        raise LedgarError(f"{path} holds no provision")
    return texts, labels


def split_corpus(
    texts: Sequence[str],
    labels: Sequence[Sequence[str]],
    *,
    test_size: float = 0.2,
    dev_size: float = 0.1,
    seed: int = 42,
) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Train/dev/test as the authors split the JSON-lines corpus (test first, then dev from train)."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        list(texts), list(labels), test_size=test_size, random_state=seed
    )
    x_train, x_dev, y_train, y_dev = train_test_split(x_train, y_train, test_size=dev_size, random_state=seed)
    return {"train": (x_train, y_train), "dev": (x_dev, y_dev), "test": (x_test, y_test)}


def load_lexglue(cache_dir: str | None = None) -> dict[str, tuple[list[str], list[list[str]]]]:
    """LexGLUE ``ledgar`` (train / validation / test) as text and label-name lists."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise DatasetUnavailableError("LEDGAR needs the `datasets` package (pip install datasets)") from exc
    try:
        loaded = datasets.load_dataset(HUB_ID, HUB_CONFIG, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types when offline or uncached
        folder = cache_dir or os.environ.get("HF_DATASETS_CACHE") or "~/.cache/huggingface/datasets"
        raise DatasetUnavailableError(
            f"LEDGAR (LexGLUE) is not available: load_dataset({HUB_ID!r}, {HUB_CONFIG!r}) failed with "
            f"{type(exc).__name__}: {exc}. Download it once with network access (it is cached in {folder}), "
            "then runs work offline with HF_DATASETS_OFFLINE=1; or point data.cache_dir at a cache that holds it, "
            "or use data.source: jsonl with a LEDGAR corpus file."
        ) from exc
    names = loaded["train"].features["label"].names
    out = {}
    for ours, theirs in (("train", "train"), ("dev", "validation"), ("test", "test")):
        part = loaded[theirs]
        out[ours] = (list(part["text"]), [[names[i]] for i in part["label"]])
    return out


# ---------------------------------------------------------------------------- the 13-label subset


def top_labels(train_labels: Sequence[Sequence[str]], k: int) -> list[str]:
    """The ``k`` most frequent labels of the training split (ties broken by name)."""
    if k <= 0:
        raise LedgarError(f"top_labels must be positive, got {k}")
    counts = Counter(label for labels in train_labels for label in labels)
    if len(counts) < k:
        raise LedgarError(f"the training split has only {len(counts)} labels; top_labels asks for {k}")
    return [label for label, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]]


def multihot(labels: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    out = np.zeros((len(labels), len(names)), dtype=np.float32)
    for row, sample in enumerate(labels):
        for label in sample:
            out[row, index[label]] = 1.0
    return out


def restrict(texts: Sequence[str], labels: Sequence[Sequence[str]], names: Sequence[str]) -> TextSplit:
    """Keep only the labels ``names``; drop provisions left without one."""
    kept = set(names)
    pairs = [(t, [x for x in ls if x in kept]) for t, ls in zip(texts, labels)]
    pairs = [(t, ls) for t, ls in pairs if ls]
    return TextSplit([t for t, _ in pairs], multihot([ls for _, ls in pairs], names))


def class_weights(targets: np.ndarray) -> np.ndarray:
    """``n / (k * count_j)`` per label (balanced weights; the BCE ``pos_weight``)."""
    counts = targets.sum(axis=0)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise LedgarError(
            f"labels {missing} have no positive training sample: their class weight is undefined"
        )
    return (targets.shape[0] / (targets.shape[1] * counts)).astype(np.float32)


def load_ledgar(settings: Mapping[str, Any], data_root: str | os.PathLike[str]) -> LedgarData:
    """The experiment's ``data`` block -> splits over the ``top_labels`` most frequent labels."""
    source = settings.get("source", "standin")
    k = int(settings.get("top_labels", 13))
    if source == "standin":
        path = standin_corpus(data_root, settings.get("standin"))
        splits = split_corpus(*read_corpus(path))
        description = f"LEDGAR-like synthetic provisions ({path.name}), {k} labels (STAND-IN for LEDGAR)"
    elif source == "jsonl":
        if not settings.get("path"):
            raise LedgarError("data.source: jsonl needs data.path, a LEDGAR JSON-lines corpus")
        path = Path(settings["path"])
        if not path.exists():
            raise DatasetUnavailableError(f"LEDGAR corpus file {path} does not exist")
        splits = split_corpus(*read_corpus(path))
        description = f"LEDGAR corpus {path.name}, {k} most frequent labels"
    elif source == "lex_glue":
        splits = load_lexglue(settings.get("cache_dir"))
        description = f"LexGLUE ledgar ({HUB_ID}/{HUB_CONFIG}), {k} most frequent labels"
    else:
        raise LedgarError(f"data.source must be one of {', '.join(SOURCES)}; got {source!r}")
    names = top_labels(splits["train"][1], k)
    parts = {split: restrict(*splits[split], names) for split in ("train", "dev", "test")}
    for split, part in parts.items():
        if len(part) == 0:
            raise LedgarError(f"the {split} split has no provision with one of the kept labels")
    return LedgarData(
        train=parts["train"],
        dev=parts["dev"],
        test=parts["test"],
        labels=names,
        stand_in=source == "standin",
        description=description,
        source=source,
    )


def label_index(data: LedgarData, label: str) -> int:
    """Index of ``label`` among the kept labels, with an error that lists them."""
    if label not in data.labels:
        raise LedgarError(f"label {label!r} is not among the {len(data.labels)} kept labels: {data.labels}")
    return data.labels.index(label)
