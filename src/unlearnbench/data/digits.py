"""The ``digits`` kind: scikit-learn's bundled 8x8 handwritten digits, a stand-in for MNIST.

It ships inside scikit-learn, so the default (quick) profile runs with no download at all.
It is a stand-in, and every caption and table says so: numbers measured on it are not the
papers' MNIST numbers. The split is fixed (stratified 80/20, seed 0) so that every
machine trains on the same images.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.data.download import md5sum
from unlearnbench.data.registry import DatasetRef, PreparedData
from unlearnbench.data.subsets import stratified_split

KIND = "digits"
BUILTIN = "digits"
#: Class subsets usable by name ("138": the MNIST subset of the gradient-surgery paper).
BUILTIN_SUBSETS = {"digits138": (1, 3, 8)}
STAND_IN = True  # always: it stands in for MNIST
SETTINGS: frozenset[str] = frozenset()
REQUIRED: frozenset[str] = frozenset()
FINGERPRINT: tuple[str, ...] = ()
#: The labels every preparation yields, known before preparing (for validating `classes`).
LABELS: tuple[int, ...] = tuple(range(10))
TEST_FRACTION = 0.2
PIXEL_MAX = 16.0  # the UCI digits are counts of set pixels in 4x4 blocks: 0..16
UCI_URL = "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"
_BUNDLED_FILE = "digits.csv.gz"


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Scale to [0, 1], reshape to [N, 1, 8, 8] and split 80/20 stratified with seed 0."""
    # scikit-learn is imported only when preparing: loading prepared data must stay cheap.
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / PIXEL_MAX)[:, None, :, :]
    labels = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION, source="scikit-learn digits")
    return PreparedData.from_rows(
        images,
        labels,
        train_idx,
        test_idx,
        label_source="scikit-learn digits",
        description="scikit-learn digits 8x8",
        source=f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__}), stratified 80/20 split, seed 0",
        files=_bundled_file_entry(),
        stand_in=True,
        stand_in_for="MNIST",
    )


def _bundled_file_entry() -> dict[str, dict[str, Any]]:
    """Checksum of the data file inside scikit-learn, so a changed copy is visible in the manifest."""
    try:
        path = Path(str(resources.files("sklearn.datasets.data") / _BUNDLED_FILE))
    except (ModuleNotFoundError, TypeError):
        return {}
    if not path.is_file():
        return {}
    return {
        _BUNDLED_FILE: {"md5": md5sum(path), "bytes": path.stat().st_size, "url": UCI_URL, "path": str(path)}
    }
