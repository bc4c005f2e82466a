"""The ``mnist`` kind: the four official MNIST files, checksummed, then parsed as idx.

Sources, in order: ``data/mnist/raw/`` (verified), a configured ``mirror`` folder (copied
and verified), the official URLs (downloaded and verified; skipped when ``download: false``
or ``UNLEARNBENCH_OFFLINE=1``). The md5s are the ones torchvision pins, so a file that
passes here is byte-identical to what torchvision would use.

``MNIST_MD5`` and ``MNIST_URLS`` are module-level on purpose: tests replace them to exercise
the whole path on a tiny fake MNIST without any network access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearnbench.data.download import (
    DatasetUnavailableError,
    FileSources,
    file_url,
    md5sum,
)
from unlearnbench.data.idx import IdxFormatError, read_idx_pair
from unlearnbench.data.registry import DatasetRef, PreparedData
from unlearnbench.data.subsets import encode_labels

KIND = "mnist"
BUILTIN = "mnist"
#: Class subsets usable by name ("138": the MNIST subset of the gradient-surgery paper).
BUILTIN_SUBSETS = {"mnist138": (1, 3, 8)}
SETTINGS = frozenset({"mirror", "urls", "download", "timeout"})
REQUIRED: frozenset[str] = frozenset()
FINGERPRINT: tuple[str, ...] = ()  # the md5s pin the content; where the files came from does not matter
#: The labels every preparation yields, known before preparing (for validating `classes`).
LABELS: tuple[int, ...] = tuple(range(10))

MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_URLS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
RAW_FOLDER = "raw"


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Obtain and verify the four files in ``folder/raw/``, then parse them."""
    raw = folder / RAW_FOLDER
    obtained = obtain_raw_files(raw, ref.settings)
    arrays = {}
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        images, labels = read_idx_pair(raw / images_name, raw / labels_name)
        if images.dtype != np.uint8:
            raise IdxFormatError(f"{raw / images_name}: MNIST images must be uint8, got {images.dtype}")
        arrays[split] = (images, labels)
    values, train_codes, test_codes = encode_labels(arrays["train"][1], arrays["test"][1], source="MNIST")
    _, c, h, w = arrays["train"][0].shape
    files = {
        name: {
            "md5": md5sum(raw / name),
            "bytes": (raw / name).stat().st_size,
            "url": file_url(MNIST_URLS[0], name),  # the canonical source, wherever this copy came from
            "obtained_from": obtained[name],
            "path": f"{RAW_FOLDER}/{name}",
        }
        for name in MNIST_MD5
    }
    return PreparedData(
        train_images=torch.from_numpy(np.ascontiguousarray(arrays["train"][0])),
        train_labels=train_codes,
        test_images=torch.from_numpy(np.ascontiguousarray(arrays["test"][0])),
        test_labels=test_codes,
        label_values=values,
        description=f"MNIST {h}x{w}" if c == 1 else f"MNIST {c}x{h}x{w}",
        source="official MNIST files (md5 as pinned by torchvision)",
        files=files,
        stand_in=False,
    )


def obtain_raw_files(raw: Path, settings: dict[str, Any]) -> dict[str, str]:
    """Make every MNIST file present and verified in ``raw``; return where each came from.

    All four files are attempted before failing, so one error names every missing file.
    """
    sources = FileSources.from_settings(settings, MNIST_URLS, "MNIST")
    obtained: dict[str, str] = {}
    missing: list[str] = []
    for name, md5 in MNIST_MD5.items():
        found = sources.present(name, md5, raw)
        if found is not None:
            obtained[name] = found[1]
            continue
        try:
            _, obtained[name] = sources.download(name, md5, raw)
        except DatasetUnavailableError as exc:
            missing.append(f"  - {exc}")
    if missing:
        raise DatasetUnavailableError(
            f"{len(missing)} MNIST file(s) are missing {sources.where_looked(raw)}\n"
            + "\n".join(missing)
            + f"\nDownload each file and put it in the folder {raw}/ (data/mnist/raw/ under the data root), "
            "or set `datasets: {mnist: {mirror: <folder holding the four files>}}` in the config."
        )
    return obtained
