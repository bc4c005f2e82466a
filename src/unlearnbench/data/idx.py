"""The idx file format (MNIST's), and the ``idx`` dataset kind for user data in that format.

An idx file is: two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian uint32, then the values big-endian in C order. Files may be gzipped (detected
from the content, not the name). The reader checks the header against the payload size, so
a truncated download or a file of the wrong kind fails with a message naming the file.

The writer exists for test fixtures and for stand-in datasets that later stages generate:
whatever they write is read back through exactly the path real user data takes.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearnbench.data.download import md5sum
from unlearnbench.data.registry import DatasetRef, PreparedData
from unlearnbench.data.subsets import encode_labels, stratified_split

#: idx type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """A file is not a valid idx file, or idx images and labels do not fit together."""


# ---------------------------------------------------------------------------- the format


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (plain or gzipped) into a native-endian numpy array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IdxFormatError(f"{path}: gzip data is damaged ({exc})") from exc
    if len(raw) < 4:
        raise IdxFormatError(f"{path}: {len(raw)} bytes is too short for an idx header")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise IdxFormatError(
            f"{path}: not an idx file (magic number {raw[:4].hex()} does not start with two zero bytes)"
        )
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IdxFormatError(f"{path}: unknown idx type code 0x{type_code:02X} (known: {known})")
    if ndim == 0:
        raise IdxFormatError(f"{path}: idx header declares 0 dimensions")
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise IdxFormatError(f"{path}: header declares {ndim} dimensions but the file ends inside the header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_bytes])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - header_bytes
    if payload != expected:
        problem = "truncated" if payload < expected else "followed by extra bytes"
        raise IdxFormatError(
            f"{path}: header declares shape {list(shape)} ({expected} data bytes) but the file holds "
            f"{payload} data bytes: it is {problem}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_bytes).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an idx file, gzipped when the name ends in ``.gz``.

    The gzip header carries no time stamp, so the same array always gives the same md5.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"idx cannot store dtype {array.dtype}; use one of {sorted(str(d) for d in codes)}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"idx needs 1 to 255 dimensions, got {array.ndim}")
    header = struct.pack(f">HBB{array.ndim}I", 0, codes[native], array.ndim, *array.shape)
    body = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with open(path, "wb") as handle, gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as gz:
            gz.write(body)
    else:
        path.write_bytes(body)
    return path


def read_idx_pair(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, C, H, W] and labels [N] from two idx files, checked against each other.

    Images are [N, H, W] (one channel, as MNIST) or [N, C, H, W]; they must be ``uint8``
    (0..255) or floating point in [0, 1] (returned as float32). Labels are 1-D integers.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim == 3:
        images = images[:, None, :, :]
    elif images.ndim != 4:
        raise IdxFormatError(
            f"{images_path}: images must have 3 dimensions [N, H, W] or 4 [N, C, H, W], got shape {list(images.shape)}"
        )
    if labels.ndim != 1:
        raise IdxFormatError(
            f"{labels_path}: labels must have 1 dimension [N], got shape {list(labels.shape)}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise IdxFormatError(f"{labels_path}: labels must be integers, got {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels"
        )
    if images.shape[0] == 0:
        raise IdxFormatError(f"{images_path}: holds no images")
    if images.dtype == np.uint8:
        return images, labels.astype(np.int64)
    if np.issubdtype(images.dtype, np.floating):
        if float(images.min()) < 0.0 or float(images.max()) > 1.0:
            raise IdxFormatError(f"{images_path}: floating-point images must lie in [0, 1]")
        return images.astype(np.float32), labels.astype(np.int64)
    raise IdxFormatError(
        f"{images_path}: images must be uint8 (0..255) or floating point in [0, 1], got {images.dtype}"
    )


# ---------------------------------------------------------------------------- the `idx` kind

KIND = "idx"
USER_KIND = True  # a `datasets:` entry of the config may be of this kind
#: Settings whose change means the prepared tensors must be rebuilt: all of them, so they are also the
#: accepted ones.
FINGERPRINT = (
    "train_images",
    "train_labels",
    "test_images",
    "test_labels",
    "test_fraction",
    "description",
    "stand_in",
    "stand_in_for",
)
SETTINGS = frozenset(FINGERPRINT)
REQUIRED = frozenset({"train_images", "train_labels"})
DEFAULT_TEST_FRACTION = 0.2


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Read the user's idx files; split off a stratified test set when none is given."""
    settings = ref.settings
    paths = {key: _user_file(ref.name, key, settings[key]) for key in ("train_images", "train_labels")}
    has_test = [key in settings and settings[key] is not None for key in ("test_images", "test_labels")]
    if any(has_test) and not all(has_test):
        raise ValueError(f"dataset {ref.name!r}: give both test_images and test_labels, or neither")
    if all(has_test):
        if "test_fraction" in settings:
            raise ValueError(f"dataset {ref.name!r}: test_fraction is meaningless when test files are given")
        paths.update(
            {key: _user_file(ref.name, key, settings[key]) for key in ("test_images", "test_labels")}
        )

    train_x, train_y = read_idx_pair(paths["train_images"], paths["train_labels"])
    if all(has_test):
        test_x, test_y = read_idx_pair(paths["test_images"], paths["test_labels"])
        if test_x.shape[1:] != train_x.shape[1:]:
            raise IdxFormatError(
                f"dataset {ref.name!r}: test images are {list(test_x.shape[1:])} but training images "
                f"{list(train_x.shape[1:])}"
            )
        source = "idx files"
    else:
        fraction = settings.get("test_fraction", DEFAULT_TEST_FRACTION)
        train_idx, test_idx = stratified_split(train_y, fraction, source=f"dataset {ref.name!r}")
        train_x, train_y, test_x, test_y = (
            train_x[train_idx],
            train_y[train_idx],
            train_x[test_idx],
            train_y[test_idx],
        )
        source = f"idx files, stratified test fraction {fraction} (seed 0)"
    if test_x.dtype != train_x.dtype:  # one split uint8, the other float: store both as float
        train_x, test_x = (_as_unit_float(x) for x in (train_x, test_x))

    values, train_codes, test_codes = encode_labels(train_y, test_y, source=f"dataset {ref.name!r}")
    _, c, h, w = train_x.shape
    return PreparedData(
        train_images=torch.from_numpy(np.ascontiguousarray(train_x)),
        train_labels=train_codes,
        test_images=torch.from_numpy(np.ascontiguousarray(test_x)),
        test_labels=test_codes,
        label_values=values,
        description=settings.get("description") or f"{ref.name} (idx, {c}x{h}x{w})",
        source=source,
        files={key: local_file_entry(path) for key, path in paths.items()},
        stand_in=bool(settings.get("stand_in", False)),
        stand_in_for=settings.get("stand_in_for"),
    )


def local_file_entry(path: Path) -> dict[str, Any]:
    """Manifest entry of a source file on this machine (absolute path, so re-checks find it)."""
    return {"md5": md5sum(path), "bytes": path.stat().st_size, "url": path.as_uri(), "path": str(path)}


def _user_file(dataset: str, key: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"dataset {dataset!r}: {key} must be a file path, got {value!r}")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        where = "" if path.parent.is_dir() else f"; its folder {path.parent} ({value!r} in the config) does not exist"
        raise FileNotFoundError(f"dataset {dataset!r}: {key} file {path} does not exist{where}")
    return path


def _as_unit_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
