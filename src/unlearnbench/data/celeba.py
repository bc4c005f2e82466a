"""The ``celeba`` kind: CelebA's aligned images with one binary attribute as the label (64x64 RGB).

Files (the official release, md5s as torchvision pins them):
``img_align_celeba.zip`` (or the already extracted folder ``img_align_celeba/``),
``list_attr_celeba.txt`` (40 attributes per image, -1/1) and ``list_eval_partition.txt``
(0 train, 1 validation, 2 test).

Where they come from, in order: the ``root`` folder of the config (for instance the
``celeba/`` folder that ``torchvision.datasets.CelebA(download=True)`` fills), then
``data/celeba/raw/``, then the ``urls`` of the config (a mirror of your own; md5-checked).
The official files live on Google Drive, which serves large files only through an
interactive confirmation page, so there is no automatic download of the originals: a user
places them by hand (the error names every missing file, its md5, its source and the folder).

Preparation, chosen as usual for 64x64 CelebA generative models (configurable):
- every image is centre-cropped to a ``crop`` x ``crop`` square (148, the face region of the
  178x218 aligned images) and resized to ``image_size`` (64) with PIL's bilinear filter
  (antialiased when shrinking), stored as uint8 [N, 3, 64, 64];
- the label is one attribute (``attribute``, default ``Male``): classes
  ``["not-male", "male"]``, so an experiment forgets the feature with ``forget_class: male``;
- the official training partition is the training split and the official test partition the
  test split; the validation partition is not used (no model selection happens here);
- ``limit`` keeps only the first N images of each split (file order), for smoke tests.

The whole training partition (162,770 images) takes 2 GB as uint8 and 8 GB once loaded as
float32, so the paper profile needs a machine with that much memory.

The reading functions (:func:`read_celeba` and its helpers) check the format, not the
md5s, so the quick profile's generated stand-in (:mod:`unlearnbench.data.celeba_standin`),
written in exactly this format, goes through the same code.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from unlearnbench.data.download import (
    DEFAULT_TIMEOUT_S,
    DatasetUnavailableError,
    fetch_file_from,
    md5sum,
    offline,
)
from unlearnbench.data.registry import DatasetRef, PreparedData

KIND = "celeba"
BUILTIN = "celeba"
USER_KIND = True  # a `datasets:` entry of the config may be of this kind
SETTINGS = frozenset({"root", "urls", "download", "timeout", "attribute", "image_size", "crop", "limit"})
REQUIRED: frozenset[str] = frozenset()
FINGERPRINT = ("attribute", "crop", "image_size", "limit")  # where the files came from does not matter

IMAGES_FOLDER = "img_align_celeba"
IMAGES_ZIP = "img_align_celeba.zip"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
#: md5s and Google Drive ids of the official files, as torchvision.datasets.CelebA pins them.
OFFICIAL_MD5: dict[str, str] = {
    IMAGES_ZIP: "00d2c5bc6d35e252742224ab0c1e8fcb",
    ATTRIBUTES_FILE: "75e246fa4810816ffd6ee81facbd244c",
    PARTITION_FILE: "d32c9cbf5e040fd4025c592c306e6668",
}
GOOGLE_DRIVE_IDS: dict[str, str] = {
    IMAGES_ZIP: "0B7EVK8r0v71pZjFTYXZWM3FlRnM",
    ATTRIBUTES_FILE: "0B7EVK8r0v71pblRyaVFSWGxPY0U",
    PARTITION_FILE: "0B7EVK8r0v71pY0NSMzRuSXJEVkk",
}
PROJECT_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
RAW_FOLDER = "raw"
DEFAULT_ATTRIBUTE = "Male"
DEFAULT_IMAGE_SIZE = 64
DEFAULT_CROP = 148
PARTITIONS = {0: "train", 1: "valid", 2: "test"}
USED_SPLITS = ("train", "test")


class CelebAFormatError(ValueError):
    """An attribute or partition file, or an image, does not follow CelebA's format."""


def drive_url(filename: str) -> str:
    return f"https://drive.google.com/uc?id={GOOGLE_DRIVE_IDS[filename]}"


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Preprocessing:
    """How images and labels are derived from the files (the content-relevant settings)."""

    attribute: str = DEFAULT_ATTRIBUTE
    image_size: int = DEFAULT_IMAGE_SIZE
    crop: int | None = DEFAULT_CROP
    limit: int | None = None

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any]) -> Preprocessing:
        attribute = settings.get("attribute", DEFAULT_ATTRIBUTE)
        if not isinstance(attribute, str) or not attribute:
            raise ValueError(
                f"dataset {name!r}: attribute must be a CelebA attribute name, got {attribute!r}"
            )
        size = settings.get("image_size", DEFAULT_IMAGE_SIZE)
        crop = settings.get("crop", DEFAULT_CROP)
        limit = settings.get("limit")
        for key, value, optional in (
            ("image_size", size, False),
            ("crop", crop, True),
            ("limit", limit, True),
        ):
            if value is None and optional:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"dataset {name!r}: {key} must be a positive integer, got {value!r}")
        return cls(
            attribute, int(size), None if crop is None else int(crop), None if limit is None else int(limit)
        )

    def label_values(self) -> list[str]:
        feature = self.attribute.lower()
        return [f"not-{feature}", feature]


# ---------------------------------------------------------------------------- kind interface


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Locate (md5-verified) or fetch the official files, then read, crop and resize every image."""
    options = Preprocessing.from_settings(ref.name, ref.settings)
    sources = locate_sources(ref.settings, folder / RAW_FOLDER)
    arrays = read_celeba(sources.attributes, sources.partition, sources.images, options)
    return prepared(
        arrays,
        options,
        images="CelebA aligned",
        source=f"official CelebA files ({sources.images.name}; md5 as pinned by torchvision), "
        "official train/test partitions",
        files=sources.manifest_entries(),
        stand_in=False,
    )


def source_digest(ref: DatasetRef) -> str | None:
    """For an extracted image folder: md5 over the names and sizes of its files (cheap for 200k files).

    A zip is md5-checked through its manifest entry instead; when nothing is found yet this
    returns ``None`` and :func:`prepare` reports what is missing.
    """
    for candidate in _candidate_folders(ref.settings, None):
        images = candidate / IMAGES_FOLDER
        if images.is_dir():
            return folder_digest(images)
    return None


def prepared(
    arrays: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    options: Preprocessing,
    *,
    images: str,
    source: str,
    files: dict[str, dict[str, Any]],
    stand_in: bool,
    stand_in_for: str | None = None,
) -> PreparedData:
    """What :func:`read_celeba` read, as the stored dataset: the official files and the stand-in are
    read by the same loader, so only where they came from (``images`` names them) differs."""
    return PreparedData(
        train_images=arrays["train"][0],
        train_labels=arrays["train"][1],
        test_images=arrays["test"][0],
        test_labels=arrays["test"][1],
        label_values=options.label_values(),
        description=describe(images, options),
        source=source,
        files=files,
        stand_in=stand_in,
        stand_in_for=stand_in_for,
    )


def describe(prefix: str, options: Preprocessing) -> str:
    crop = f"centre crop {options.crop}" if options.crop else "largest centred square"
    limit = f", first {options.limit} images per split" if options.limit else ""
    return f"{prefix} {options.image_size}x{options.image_size} RGB ({crop}; label: attribute {options.attribute}{limit})"


def folder_digest(folder: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    entries = sorted((entry.name, entry.stat().st_size) for entry in os.scandir(folder) if entry.is_file())
    for name, size in entries:
        digest.update(f"{name}\0{size}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- locating the files


@dataclass
class CelebASources:
    attributes: Path
    partition: Path
    images: Path  # the extracted folder or the zip
    origins: dict[str, str]

    def manifest_entries(self) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for path in (self.attributes, self.partition):
            entries[path.name] = _file_entry(path, self.origins.get(path.name))
        if self.images.is_dir():
            entries[IMAGES_FOLDER] = {
                "md5": folder_digest(self.images),
                "digest_of": "file names and sizes",
                "count": sum(1 for _ in os.scandir(self.images)),
                "url": drive_url(IMAGES_ZIP),
                "obtained_from": str(self.images),
            }
        else:
            entries[self.images.name] = _file_entry(self.images, self.origins.get(self.images.name))
        return entries


def _file_entry(path: Path, origin: str | None) -> dict[str, Any]:
    url = drive_url(path.name) if path.name in GOOGLE_DRIVE_IDS else path.as_uri()
    return {
        "md5": md5sum(path),
        "bytes": path.stat().st_size,
        "url": url,
        "obtained_from": origin or str(path),
        "path": str(path.resolve()),
    }


def _candidate_folders(settings: Mapping[str, Any], raw: Path | None) -> list[Path]:
    folders = []
    if settings.get("root"):
        folders.append(Path(settings["root"]).expanduser().resolve())
    if raw is not None:
        folders.append(raw)
    return folders


def locate_sources(settings: Mapping[str, Any], raw: Path) -> CelebASources:
    """Find each official file in ``root`` or ``raw``, verify its md5, or fetch it from ``urls``.

    Every file is attempted before failing, so one error names all that are missing.
    """
    root = Path(settings["root"]).expanduser().resolve() if settings.get("root") else None
    if root is not None and not root.is_dir():
        raise DatasetUnavailableError(f"the configured CelebA root folder {root} does not exist")
    folders = _candidate_folders(settings, raw)
    urls = settings.get("urls") or []
    urls = [urls] if isinstance(urls, str) else list(urls)
    allow_download = bool(settings.get("download", True)) and not offline()
    timeout = float(settings.get("timeout", DEFAULT_TIMEOUT_S))

    found: dict[str, Path] = {}
    origins: dict[str, str] = {}
    missing: list[str] = []
    for name in (ATTRIBUTES_FILE, PARTITION_FILE, IMAGES_ZIP):
        if name == IMAGES_ZIP:
            extracted = next((f / IMAGES_FOLDER for f in folders if (f / IMAGES_FOLDER).is_dir()), None)
            if extracted is not None:
                found[name] = extracted
                continue
        local = next((f for f in folders if (f / name).is_file()), None)
        try:
            if local is not None:  # verified in place, never copied (the zip is 1.4 GB)
                path, origins[name] = fetch_file_from(name, [], OFFICIAL_MD5[name], local)
            else:
                path, origins[name] = fetch_file_from(
                    name, urls, OFFICIAL_MD5[name], raw, allow_download=allow_download, timeout=timeout
                )
            found[name] = path
        except DatasetUnavailableError:
            what = f"{name} (or the extracted folder {IMAGES_FOLDER}/)" if name == IMAGES_ZIP else name
            missing.append(f"  - {what}, md5 {OFFICIAL_MD5[name]}, from {drive_url(name)}")
    if missing:
        looked = " and ".join(f"{f}/" for f in folders)
        tried = f" Tried the configured urls {urls}." if urls and allow_download else ""
        raise DatasetUnavailableError(
            f"{len(missing)} CelebA file(s) are missing (looked in {looked}).{tried}\n"
            + "\n".join(missing)
            + f"\nThe official files are on Google Drive (linked from {PROJECT_PAGE}: 'Align&Cropped Images' and "
            "'Anno'/'Eval'), which has no direct download for them: download each file by hand and put it in the "
            f"folder {raw}/, or set `datasets: {{celeba: {{root: <folder holding them>}}}}` in the config (e.g. the "
            "celeba/ folder that torchvision.datasets.CelebA(download=True) fills), or `urls:` a mirror of your own."
        )
    return CelebASources(found[ATTRIBUTES_FILE], found[PARTITION_FILE], found[IMAGES_ZIP], origins)


# ---------------------------------------------------------------------------- reading the format


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """``list_attr_celeba.txt``: image count, attribute names, then ``name v1 ... vK`` with v in {-1, 1}."""
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [parts for parts in lines if parts]
    if len(lines) < 2:
        raise CelebAFormatError(
            f"{path}: expected a count line, an attribute-name line and one line per image"
        )
    try:
        count = int(lines[0][0])
    except ValueError:
        raise CelebAFormatError(
            f"{path}, line 1: expected the number of images, got {' '.join(lines[0])!r}"
        ) from None
    names = lines[1]
    rows = lines[2:]
    if count != len(rows):
        raise CelebAFormatError(f"{path}: line 1 announces {count} images but {len(rows)} follow")
    filenames, values = [], np.empty((len(rows), len(names)), dtype=np.int8)
    for i, parts in enumerate(rows):
        if len(parts) != len(names) + 1:
            raise CelebAFormatError(
                f"{path}, line {i + 3}: expected a file name and {len(names)} values, got {len(parts) - 1} values"
            )
        try:
            row = [int(v) for v in parts[1:]]
        except ValueError:
            raise CelebAFormatError(f"{path}, line {i + 3}: attribute values must be -1 or 1") from None
        if any(v not in (-1, 1) for v in row):
            raise CelebAFormatError(
                f"{path}, line {i + 3}: attribute values must be -1 or 1, got {sorted(set(row))}"
            )
        filenames.append(parts[0])
        values[i] = row
    return names, filenames, values


def read_partition(path: Path) -> dict[str, str]:
    """``list_eval_partition.txt``: ``name split`` per line, split 0 (train), 1 (valid) or 2 (test)."""
    partition: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in {"0", "1", "2"}:
            raise CelebAFormatError(f"{path}, line {number}: expected '<image name> <0|1|2>', got {line!r}")
        partition[parts[0]] = PARTITIONS[int(parts[1])]
    if not partition:
        raise CelebAFormatError(f"{path} lists no images")
    return partition


@contextmanager
def _image_opener(images: Path) -> Iterator[Any]:
    """``open(name)`` for image names, from the extracted folder or straight from the zip."""
    if images.is_dir():

        def open_dir(name: str) -> IO[bytes]:
            return open(images / name, "rb")

        yield open_dir
        return
    with zipfile.ZipFile(images) as archive:
        members = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}

        def open_zip(name: str) -> IO[bytes]:
            if name not in members:
                raise FileNotFoundError(f"{images} has no image {name}")
            return archive.open(members[name])

        yield open_zip


def load_image(handle: IO[bytes], name: str, options: Preprocessing) -> np.ndarray:
    """Centre-crop to a square and resize; uint8 [3, S, S]."""
    try:
        with Image.open(handle) as image:
            image = image.convert("RGB")
            width, height = image.size
            side = options.crop or min(width, height)
            if side > min(width, height):
                raise CelebAFormatError(
                    f"image {name} is {width}x{height}, smaller than the {side}x{side} centre crop; "
                    "set a smaller `crop` (or null for the largest square)"
                )
            left, top = int(round((width - side) / 2)), int(round((height - side) / 2))
            image = image.crop((left, top, left + side, top + side))
            if side != options.image_size:
                image = image.resize((options.image_size, options.image_size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    except (UnidentifiedImageError, OSError) as exc:
        raise CelebAFormatError(f"cannot read image {name} ({exc})") from exc


def read_celeba(
    attributes: Path, partition: Path, images: Path, options: Preprocessing
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train and test splits as (uint8 images [N, 3, S, S], int64 labels in {0, 1})."""
    names, filenames, values = read_attributes(attributes)
    if options.attribute not in names:
        raise CelebAFormatError(
            f"{attributes}: no attribute {options.attribute!r}; attributes: {', '.join(names)}"
        )
    column = values[:, names.index(options.attribute)]
    label_of = dict(zip(filenames, ((column + 1) // 2).astype(np.int64)))
    splits = read_partition(partition)
    unlabelled = [name for name in splits if name not in label_of]
    if unlabelled:
        raise CelebAFormatError(
            f"{partition} lists {len(unlabelled)} image(s) that {attributes.name} does not, e.g. {unlabelled[0]}"
        )
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    with _image_opener(images) as open_image:
        for split in USED_SPLITS:
            chosen = [name for name in splits if splits[name] == split][: options.limit]
            if not chosen:
                raise CelebAFormatError(f"{partition}: the {split} partition is empty")
            array = np.empty((len(chosen), 3, options.image_size, options.image_size), dtype=np.uint8)
            for i, name in enumerate(chosen):
                try:
                    with open_image(name) as handle:
                        array[i] = load_image(handle, name, options)
                except FileNotFoundError as exc:
                    raise CelebAFormatError(
                        f"image {name} (listed in {partition.name}) is missing: {exc}"
                    ) from exc
            labels = torch.tensor([label_of[name] for name in chosen], dtype=torch.int64)
            out[split] = (torch.from_numpy(array), labels)
    present = torch.unique(out["train"][1]).tolist()
    if present != [0, 1]:
        raise CelebAFormatError(
            f"the training split has only label(s) {present} for attribute {options.attribute}: both are needed"
        )
    return out
