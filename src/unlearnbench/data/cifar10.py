"""The ``cifar10`` kind: the official ``cifar-10-python.tar.gz``, checksummed, read by torchvision.

Sources, in order: ``data/cifar10/raw/`` (verified), a configured ``mirror`` folder (copied
and verified), the official URL (downloaded and verified; skipped when ``download: false``
or ``UNLEARNBENCH_OFFLINE=1``). The archive md5 is the one torchvision pins, and the
extracted batches are read by ``torchvision.datasets.CIFAR10`` itself, which checks every
batch file against its own pinned md5s: the suite never re-implements the format reader.

The same module writes the format (:func:`write_batches`): the quick-profile stand-in
(:mod:`unlearnbench.data.cifar10_standin`) and the tests produce python pickle batches
exactly as the official archive lays them out, and read them back through the same
torchvision class (with the md5s of the files just written, see :func:`read_batches`).

``ARCHIVE_MD5``, ``CIFAR10_URLS`` and ``BATCH_MD5`` are module-level on purpose: tests
replace them to run the whole archive path on a tiny fake CIFAR-10 without any network.
"""

from __future__ import annotations

import pickle
import tarfile
from collections.abc import Mapping, Sequence
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
from unlearnbench.data.registry import DatasetRef, PreparedData

KIND = "cifar10"
BUILTIN = "cifar10"
SETTINGS = frozenset({"mirror", "urls", "download", "timeout"})
REQUIRED: frozenset[str] = frozenset()
FINGERPRINT: tuple[str, ...] = ()  # the md5s pin the content; where the archive came from does not matter

ARCHIVE_NAME = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_URLS: list[str] = ["https://www.cs.toronto.edu/~kriz/"]
#: None: trust torchvision's own pinned md5s of the extracted batch files (the real data).
#: Tests set it to the md5s of the fake batches they write.
BATCH_MD5: dict[str, str] | None = None
RAW_FOLDER = "raw"
BATCH_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
IMAGE_SHAPE = (3, 32, 32)
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class CifarFormatError(ValueError):
    """Batch files that torchvision cannot read as CIFAR-10, or arrays that cannot be written as it."""


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Obtain and verify the archive in ``folder/raw/``, extract it, read it with torchvision."""
    raw = folder / RAW_FOLDER
    archive, origin = obtain_archive(raw, ref.settings)
    extract_archive(archive, folder)
    return prepared(
        read_batches(folder, BATCH_MD5),
        description="CIFAR-10 32x32 RGB",
        source="official cifar-10-python.tar.gz (md5 as pinned by torchvision), read by torchvision.datasets.CIFAR10",
        files={
            ARCHIVE_NAME: {
                "md5": md5sum(archive),
                "bytes": archive.stat().st_size,
                "url": file_url(CIFAR10_URLS[0], ARCHIVE_NAME),  # canonical, wherever this copy came from
                "obtained_from": origin,
                "path": f"{RAW_FOLDER}/{ARCHIVE_NAME}",
            }
        },
        stand_in=False,
    )


def obtain_archive(raw: Path, settings: Mapping[str, Any]) -> tuple[Path, str]:
    """Make ``raw/cifar-10-python.tar.gz`` present and verified; return it and where it came from."""
    sources = FileSources.from_settings(settings, CIFAR10_URLS, "CIFAR-10")
    found = sources.present(ARCHIVE_NAME, ARCHIVE_MD5, raw)
    if found is not None:
        return found
    try:
        return sources.download(ARCHIVE_NAME, ARCHIVE_MD5, raw)
    except DatasetUnavailableError as exc:
        raise DatasetUnavailableError(
            f"the CIFAR-10 archive is missing {sources.where_looked(raw)}\n  - {exc}\n"
            f"Download {ARCHIVE_NAME} (md5 {ARCHIVE_MD5}) from {file_url(CIFAR10_URLS[0], ARCHIVE_NAME)} "
            f"and put it in the folder {raw}/ (data/cifar10/raw/ under the data root), or set "
            "`datasets: {cifar10: {mirror: <folder holding the archive>}}` in the config."
        ) from exc


def extract_archive(archive: Path, folder: Path) -> Path:
    """Extract the batch files into ``folder/cifar-10-batches-py/``; only regular files, no path escapes."""
    target = folder / BATCH_FOLDER
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise CifarFormatError(
                    f"{archive}: refusing the member {member.name!r} (path outside the folder)"
                )
            if member.isfile() or member.isdir():
                members.append(member)
        if not any(Path(m.name).parts[:1] == (BATCH_FOLDER,) for m in members):
            raise CifarFormatError(
                f"{archive} holds no {BATCH_FOLDER}/ folder: it is not the python CIFAR-10 archive"
            )
        tar.extractall(folder, members=members, filter="data")
    return target


def prepared(
    arrays: Mapping[str, Any],
    *,
    description: str,
    source: str,
    files: dict[str, dict[str, Any]],
    stand_in: bool,
    stand_in_for: str | None = None,
) -> PreparedData:
    """What :func:`read_batches` read, as the stored dataset: the official archive and the stand-in
    are read by the same torchvision class, so only their description and provenance differ."""
    return PreparedData(
        train_images=arrays["train_images"],
        train_labels=arrays["train_labels"],
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"],
        label_values=arrays["classes"],
        description=description,
        source=source,
        files=files,
        stand_in=stand_in,
        stand_in_for=stand_in_for,
    )


def read_batches(root: Path, md5s: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read ``root/cifar-10-batches-py`` with ``torchvision.datasets.CIFAR10``.

    ``md5s`` (file name -> md5) replaces torchvision's pinned checksums: a stand-in or a
    test fixture is verified against the md5s of the files it wrote. ``None`` keeps
    torchvision's, i.e. accepts only the official batches.
    Returns uint8 images ``[N, 3, 32, 32]``, int64 labels and the class names.
    """
    from torchvision.datasets import CIFAR10  # imported on use: torchvision costs ~1 s to import

    reader: type = CIFAR10
    if md5s is not None:
        missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH, META_FILE) if n not in md5s]
        if missing:
            raise ValueError(f"md5s must name every batch file; missing {missing}")
        reader = type(
            "PinnedCIFAR10",
            (CIFAR10,),
            {
                "train_list": [[n, md5s[n]] for n in TRAIN_BATCHES],
                "test_list": [[TEST_BATCH, md5s[TEST_BATCH]]],
                "meta": {**CIFAR10.meta, "md5": md5s[META_FILE]},
            },
        )
    out: dict[str, Any] = {}
    for split, train in (("train", True), ("test", False)):
        try:
            dataset = reader(root=str(root), train=train, download=False)
        except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
            raise CifarFormatError(
                f"torchvision cannot read the CIFAR-10 batches in {Path(root) / BATCH_FOLDER}: {exc}. "
                "A batch file is missing or its md5 differs from the pinned one; delete the folder to re-extract."
            ) from exc
        images = np.ascontiguousarray(np.asarray(dataset.data, dtype=np.uint8).transpose(0, 3, 1, 2))
        out[f"{split}_images"] = torch.from_numpy(images)
        out[f"{split}_labels"] = torch.as_tensor(np.asarray(dataset.targets, dtype=np.int64))
        out["classes"] = [str(c) for c in dataset.classes]
    k = len(out["classes"])
    for split in ("train", "test"):
        labels = out[f"{split}_labels"]
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
            raise CifarFormatError(
                f"{root}: {split} labels must lie in 0..{k - 1} (batches.meta names {k} classes)"
            )
    return out


def write_batches(
    root: Path,
    train_images: np.ndarray,
    train_labels: Sequence[int] | np.ndarray,
    test_images: np.ndarray,
    test_labels: Sequence[int] | np.ndarray,
    label_names: Sequence[str] = LABEL_NAMES,
) -> dict[str, str]:
    """Write ``root/cifar-10-batches-py/`` in the official python format; return each file's md5.

    Images are uint8 ``[N, 3, 32, 32]``. Like the official archive, each batch is a pickled
    dict with ``batch_label``, ``labels``, ``data`` (uint8 ``[n, 3072]``: the red plane, then
    green, then blue, each row-major) and ``filenames``; the training set is split into five
    ``data_batch_*`` files and ``batches.meta`` names the classes.
    """
    train_images = _checked_images(train_images, "train")
    test_images = _checked_images(test_images, "test")
    train_labels = _checked_labels(train_labels, train_images.shape[0], len(label_names), "train")
    test_labels = _checked_labels(test_labels, test_images.shape[0], len(label_names), "test")
    if train_images.shape[0] < len(TRAIN_BATCHES):
        raise CifarFormatError(
            f"the training set needs at least {len(TRAIN_BATCHES)} images (one per batch file)"
        )
    folder = Path(root) / BATCH_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.arange(train_images.shape[0]), len(TRAIN_BATCHES))
    parts = [
        (name, idx, f"training batch {i + 1} of 5")
        for i, (name, idx) in enumerate(zip(TRAIN_BATCHES, chunks))
    ]
    md5s: dict[str, str] = {}
    for name, idx, label in parts:
        md5s[name] = _write_batch(folder / name, train_images[idx], train_labels[idx], label, name)
    md5s[TEST_BATCH] = _write_batch(
        folder / TEST_BATCH, test_images, test_labels, "testing batch 1 of 1", TEST_BATCH
    )
    meta = {
        "num_cases_per_batch": int(len(chunks[0])),
        "label_names": [str(n) for n in label_names],
        "num_vis": int(np.prod(IMAGE_SHAPE)),
    }
    md5s[META_FILE] = _pickle(folder / META_FILE, meta)
    return md5s


def _write_batch(path: Path, images: np.ndarray, labels: np.ndarray, batch_label: str, stem: str) -> str:
    body = {
        "batch_label": batch_label,
        "labels": [int(v) for v in labels],
        "data": images.reshape(images.shape[0], -1),
        "filenames": [f"{stem}_{i:05d}.png" for i in range(images.shape[0])],
    }
    return _pickle(path, body)


def _pickle(path: Path, body: Mapping[str, Any]) -> str:
    # Protocol 2, like the official (Python 2) files; torchvision reads them with encoding="latin1".
    with open(path, "wb") as handle:
        pickle.dump(dict(body), handle, protocol=2)
    return md5sum(path)


def _checked_images(images: np.ndarray, split: str) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise CifarFormatError(
            f"{split} images must be uint8 [N, 3, 32, 32] to be written as CIFAR-10, got {images.dtype} {images.shape}"
        )
    return np.ascontiguousarray(images)


def _checked_labels(labels: Sequence[int] | np.ndarray, n: int, k: int, split: str) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != n:
        raise CifarFormatError(f"{split}: {labels.shape[0]} labels for {n} images")
    if n and (labels.min() < 0 or labels.max() >= k):
        raise CifarFormatError(f"{split} labels must lie in 0..{k - 1}")
    return labels
