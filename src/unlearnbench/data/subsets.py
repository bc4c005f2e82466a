"""Classes: encoding raw labels, stratified splits, and cutting a class subset out of a split.

Paper 1 trains on MNIST138 (digits 1, 3 and 8 only) and unlearns one of them, so a class
subset with labels remapped to 0..k-1 is something every dataset must support, built-in or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

SPLIT_SEED = 0


class UnknownClassError(ValueError):
    """A requested class does not exist in the data."""


def select_classes(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[int],
    *,
    what: str = "the data",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the samples whose label is in ``classes``; relabel ``classes[i]`` as ``i``.

    The order of ``classes`` defines the new labels, so ``[8, 1]`` maps 8 -> 0 and 1 -> 1.
    Every requested class must have at least one sample: an empty class would silently
    turn a "forget class 3" experiment into a no-op.
    """
    wanted = [int(c) for c in classes]
    if not wanted:
        raise ValueError("select_classes needs at least one class")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"classes {wanted} contain duplicates")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"labels must be 1-D with one entry per image, got {tuple(labels.shape)} for {images.shape[0]} images"
        )
    present = set(torch.unique(labels).tolist())
    absent = [c for c in wanted if c not in present]
    if absent:
        raise UnknownClassError(
            f"class(es) {absent} do not occur in {what}; classes present: {sorted(present)}"
        )
    remapped = torch.full_like(labels, -1, dtype=torch.int64)
    for index, value in enumerate(wanted):
        remapped[labels == value] = index
    keep = remapped >= 0
    return images[keep], remapped[keep]


def merge_class_requests(
    alias_classes: Sequence[int | str] | None,
    explicit: Sequence[int | str] | None,
    *,
    dataset: str,
) -> list[int | str] | None:
    """Combine an alias's classes (``mnist138``) with an experiment's explicit ``classes``.

    The explicit list wins but must stay inside the alias: asking ``mnist138`` for class 5
    is a configuration mistake, not a request for a different dataset.
    """
    if explicit is not None and (isinstance(explicit, (str, bytes)) or len(explicit) == 0):
        raise ValueError(f"classes for dataset {dataset!r} must be a non-empty list, got {explicit!r}")
    if explicit is None:
        return None if alias_classes is None else list(alias_classes)
    if alias_classes is not None:
        allowed = {str(c) for c in alias_classes}
        outside = [c for c in explicit if str(c) not in allowed]
        if outside:
            raise UnknownClassError(
                f"dataset {dataset!r} keeps only classes {list(alias_classes)}; {outside} are not among them"
            )
    return list(explicit)


def class_codes(
    requested: Sequence[int | str], label_values: Sequence[int | str], *, dataset: str
) -> list[int]:
    """Translate original labels (as written in a config) into the stored label codes.

    A YAML ``"3"`` and ``3`` name the same class when the labels are integers, so values are
    matched exactly first and then by their text.
    """
    by_text: dict[str, int] = {}
    for code, value in enumerate(label_values):
        by_text.setdefault(str(value), code)
    codes: list[int] = []
    for value in requested:
        code = next((i for i, v in enumerate(label_values) if v == value and type(v) is type(value)), None)
        if code is None:
            code = by_text.get(str(value))
        if code is None:
            raise UnknownClassError(
                f"dataset {dataset!r} has no class {value!r}; its classes are {list(label_values)}"
            )
        codes.append(code)
    if len(set(codes)) != len(codes):
        raise ValueError(f"classes {list(requested)} for dataset {dataset!r} contain duplicates")
    return codes


def encode_labels(
    train: Sequence[int | str] | np.ndarray, test: Sequence[int | str] | np.ndarray, *, source: str
) -> tuple[list[int | str], torch.Tensor, torch.Tensor]:
    """Sorted distinct training labels, and both splits as int64 codes into them.

    A test label that never occurs in training cannot be learned, so it is an error
    that names the label and the source rather than a silent extra class.
    """
    train_values = _python_values(train)
    test_values = _python_values(test)
    values = sorted(set(train_values), key=_sort_key)
    index = {v: i for i, v in enumerate(values)}
    unseen = sorted({v for v in test_values if v not in index}, key=_sort_key)
    if unseen:
        raise UnknownClassError(
            f"{source}: label(s) {unseen} occur in the test split but not in the training split "
            f"(training labels: {values})"
        )
    as_codes = [
        torch.tensor([index[v] for v in split], dtype=torch.int64) for split in (train_values, test_values)
    ]
    return values, as_codes[0], as_codes[1]


def stratified_split(
    labels: Sequence[int | str] | np.ndarray, test_fraction: float, *, source: str, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices, stratified by label, fixed by ``seed`` (scikit-learn's splitter).

    Indices come back sorted so that the stored order follows the source files.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"{source}: test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    # Imported here: scikit-learn's model_selection costs ~1-3 s to import, paid by every
    # workflow job otherwise, while only preparation splits data.
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    indices = np.arange(labels.shape[0])
    try:
        train_idx, test_idx = train_test_split(
            indices, test_size=float(test_fraction), random_state=seed, stratify=labels
        )
    except ValueError as exc:
        raise ValueError(
            f"{source}: cannot split {labels.shape[0]} samples into a stratified test fraction of "
            f"{test_fraction} ({exc}). Provide explicit test files or more samples per class."
        ) from exc
    return np.sort(train_idx), np.sort(test_idx)


def _python_values(values: Sequence[int | str] | np.ndarray) -> list[int | str]:
    """Plain ``int``/``str`` values, so they survive JSON and ``torch.load(weights_only=True)``."""
    out: list[int | str] = []
    for v in np.asarray(values).tolist() if isinstance(values, np.ndarray) else values:
        if isinstance(v, (bool, np.bool_)):
            raise ValueError(f"boolean label {v!r}: labels must be integers or text")
        out.append(int(v) if isinstance(v, (int, np.integer)) else str(v))
    return out


def _sort_key(value: int | str) -> tuple[int, int | str]:
    return (0, value) if isinstance(value, int) else (1, str(value))
