"""The ``image-folder`` kind: a folder of image files and a CSV naming each file's label.

CSV columns: ``filename`` (relative to ``root``), ``label`` and optionally ``split``
(``train`` or ``test``). Without a split column a stratified test fraction is split off
with seed 0, as for idx data. Labels that all read as integers are kept as integers (so
``classes: [1, 3, 8]`` works as for MNIST), otherwise as text.

Every image is converted to one size (``image_size`` [H, W], default the first image's)
and to grayscale unless ``grayscale: false``, and stored as uint8, like MNIST.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from unlearnbench.data.download import md5sum
from unlearnbench.data.idx import local_file_entry
from unlearnbench.data.registry import DatasetRef, PreparedData
from unlearnbench.data.subsets import UnknownClassError, stratified_split

KIND = "image-folder"
USER_KIND = True  # a `datasets:` entry of the config may be of this kind
SETTINGS = frozenset(
    {
        "root",
        "labels_csv",
        "image_size",
        "grayscale",
        "test_fraction",
        "labels",
        "description",
        "stand_in",
        "stand_in_for",
    }
)
REQUIRED = frozenset({"root"})
FINGERPRINT = tuple(sorted(SETTINGS))
DEFAULT_LABELS_CSV = "labels.csv"
DEFAULT_TEST_FRACTION = 0.2
SPLITS = ("train", "test")


class LabelsCsvError(ValueError):
    """The label CSV is empty, lacks a column, or has a row that cannot be used."""


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Read the CSV and every image it names; split; encode labels."""
    settings = ref.settings
    root, csv_path = _paths(ref)
    rows = read_labels_csv(csv_path)
    labels = _typed_labels([row["label"] for row in rows])
    _check_allowed_labels(ref.name, csv_path, rows, labels, settings.get("labels"))

    grayscale = settings.get("grayscale", True)
    if not isinstance(grayscale, bool):
        raise ValueError(f"dataset {ref.name!r}: grayscale must be true or false, got {grayscale!r}")
    size = _image_size(ref.name, settings.get("image_size"))
    if size is None:  # the first image sets the size of all
        size = _read_image(root / rows[0]["filename"], rows[0]["line"], csv_path, grayscale, None).shape[:2]
    images = np.stack(
        [_read_image(root / row["filename"], row["line"], csv_path, grayscale, size) for row in rows]
    )
    images = images[:, None, :, :] if grayscale else images.transpose(0, 3, 1, 2)

    labels_array = np.empty(len(labels), dtype=object)
    labels_array[:] = labels
    if "split" in rows[0]:
        if "test_fraction" in settings:
            raise ValueError(
                f"dataset {ref.name!r}: test_fraction is meaningless when {csv_path} has a split column"
            )
        split = np.array([row["split"] for row in rows])
        for name in SPLITS:
            if not (split == name).any():
                raise LabelsCsvError(f"{csv_path}: the split column names no {name!r} row")
        train_idx, test_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
        source = f"image folder {root} with the splits of {csv_path.name}"
    else:
        fraction = settings.get("test_fraction", DEFAULT_TEST_FRACTION)
        train_idx, test_idx = stratified_split(
            [str(v) for v in labels], fraction, source=f"dataset {ref.name!r}"
        )
        source = f"image folder {root}, stratified test fraction {fraction} (seed 0)"

    channels = "grayscale" if grayscale else "RGB"
    return PreparedData.from_rows(
        images,
        labels_array,
        train_idx,
        test_idx,
        label_source=f"dataset {ref.name!r} ({csv_path})",
        description=settings.get("description")
        or f"{ref.name} (image folder, {size[0]}x{size[1]} {channels})",
        source=source,
        files={
            csv_path.name: local_file_entry(csv_path),
            "images": {
                "md5": images_digest(root, rows),
                "bytes": sum((root / row["filename"]).stat().st_size for row in rows),
                "count": len(rows),
                "url": root.as_uri(),
            },
        },
        stand_in=bool(settings.get("stand_in", False)),
        stand_in_for=settings.get("stand_in_for"),
    )


def source_digest(ref: DatasetRef) -> str:
    """One md5 over the CSV and every image it names: re-preparation is needed when it changes."""
    root, csv_path = _paths(ref)
    rows = read_labels_csv(csv_path)
    return hashlib.md5(
        f"{md5sum(csv_path)}:{images_digest(root, rows)}".encode(), usedforsecurity=False
    ).hexdigest()


def images_digest(root: Path, rows: list[dict[str, Any]]) -> str:
    """md5 over (file name, file md5) of every listed image, in CSV order."""
    digest = hashlib.md5(usedforsecurity=False)
    for row in rows:
        path = root / row["filename"]
        if not path.is_file():
            raise FileNotFoundError(f"image {path} (line {row['line']} of the label CSV) does not exist")
        digest.update(f"{row['filename']}\0{md5sum(path)}\n".encode())
    return digest.hexdigest()


def read_labels_csv(csv_path: Path) -> list[dict[str, Any]]:
    """Rows ``{filename, label, [split], line}`` with whitespace stripped; errors name the line."""
    if not csv_path.is_file():
        raise FileNotFoundError(f"label CSV {csv_path} does not exist")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        if not header:
            raise LabelsCsvError(
                f"{csv_path} is empty: expected a header 'filename,label[,split]' and one row per image"
            )
        missing = [name for name in ("filename", "label") if name not in header]
        if missing:
            raise LabelsCsvError(
                f"{csv_path}: header {header} lacks column(s) {missing}; expected 'filename,label[,split]'"
            )
        reader.fieldnames = header
        has_split = "split" in header
        rows: list[dict[str, Any]] = []
        for row in reader:
            line = reader.line_num
            filename, label = (row.get("filename") or "").strip(), (row.get("label") or "").strip()
            if not filename:
                raise LabelsCsvError(f"{csv_path}, line {line}: empty filename")
            if not label:
                raise LabelsCsvError(f"{csv_path}, line {line}: empty label for {filename}")
            entry: dict[str, Any] = {"filename": filename, "label": label, "line": line}
            if has_split:
                split = (row.get("split") or "").strip().lower()
                if split not in SPLITS:
                    raise LabelsCsvError(
                        f"{csv_path}, line {line}: split {row.get('split')!r} is not 'train' or 'test'"
                    )
                entry["split"] = split
            rows.append(entry)
    if not rows:
        raise LabelsCsvError(f"{csv_path} has a header but no rows: it lists no images")
    return rows


def _paths(ref: DatasetRef) -> tuple[Path, Path]:
    value = ref.settings["root"]
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"dataset {ref.name!r}: root must be a folder path, got {value!r}")
    root = Path(value).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset {ref.name!r}: image folder {root} does not exist")
    csv_path = Path(ref.settings.get("labels_csv") or DEFAULT_LABELS_CSV).expanduser()
    return root, (csv_path if csv_path.is_absolute() else root / csv_path).resolve()


def _typed_labels(texts: list[str]) -> list[int | str]:
    try:
        return [int(text) for text in texts]
    except ValueError:
        return list(texts)


def _check_allowed_labels(
    name: str, csv_path: Path, rows: list[dict[str, Any]], labels: list[int | str], allowed: Any
) -> None:
    """With ``labels: [...]`` in the config, a CSV label outside that list is a typo, not a class."""
    if allowed is None:
        return
    if isinstance(allowed, (str, bytes)) or not isinstance(allowed, (list, tuple)):
        raise ValueError(f"dataset {name!r}: labels must be a list of label values, got {allowed!r}")
    allowed_text = {str(v) for v in allowed}
    for row, label in zip(rows, labels, strict=True):
        if str(label) not in allowed_text:
            raise UnknownClassError(
                f"{csv_path}, line {row['line']}: unknown label {label!r} for {row['filename']}; "
                f"allowed labels: {list(allowed)}"
            )


def _image_size(name: str, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = [value, value]
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ValueError(f"dataset {name!r}: image_size must be [height, width] in pixels, got {value!r}")
    return int(value[0]), int(value[1])


def _read_image(
    path: Path, line: int, csv_path: Path, grayscale: bool, size: tuple[int, int] | None
) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{csv_path}, line {line}: image {path} does not exist")
    try:
        with Image.open(path) as image:
            image = image.convert("L" if grayscale else "RGB")
            if size is not None and (image.height, image.width) != tuple(size):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{csv_path}, line {line}: cannot read image {path} ({exc})") from exc
