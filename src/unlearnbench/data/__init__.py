"""Datasets: resolve a name, prepare it once on disk (checksummed), load train/test splits.

    from unlearnbench.data import prepare_dataset, load_dataset
    prepare_dataset("digits138", None, "data")          # writes data/digits/{prepared.pt,manifest.json}
    splits = load_dataset("digits138", None, "data")    # classes [1, 3, 8] as labels 0..2

Built-in: ``digits`` (scikit-learn, offline, a stand-in for MNIST), ``mnist`` (official
files, md5-checked) and the aliases ``digits138`` / ``mnist138``. User data: config
entries of kind ``idx`` or ``image-folder``; see :mod:`unlearnbench.data.registry`.
"""

from unlearnbench.data.download import ChecksumMismatchError, DatasetUnavailableError, fetch_file, md5sum
from unlearnbench.data.registry import (
    DatasetNotPreparedError,
    DatasetRef,
    DatasetSplits,
    PreparedData,
    dataset_base,
    is_stand_in,
    known_datasets,
    load_dataset,
    prepare_dataset,
    resolve_dataset,
)
from unlearnbench.data.subsets import UnknownClassError, select_classes

__all__ = [
    "ChecksumMismatchError",
    "DatasetNotPreparedError",
    "DatasetRef",
    "DatasetSplits",
    "DatasetUnavailableError",
    "PreparedData",
    "UnknownClassError",
    "dataset_base",
    "fetch_file",
    "is_stand_in",
    "known_datasets",
    "load_dataset",
    "md5sum",
    "prepare_dataset",
    "resolve_dataset",
    "select_classes",
]
