"""The ``identity-folders`` kind: face images sorted into one folder per identity, ``root/<identity>/*.jpg``.

This is how the VGGFace data of the L-CODEC paper (Sec. 7.3) exist on disk once
reconstructed from the public URL list (100 images per identity), and how any user's face
data can be given. Settings:

- ``root`` (required): the folder of identity folders;
- ``image_size`` ``[H, W]`` (default ``[224, 224]``, VGGFace's input) and ``resize``: when
  set, the shorter side is first scaled to ``resize`` pixels and the centre ``image_size``
  crop is kept (VGGFace evaluates 224 crops of 256 images); otherwise the whole image is
  scaled to ``image_size``. Images are assumed already cropped to the face (the VGGFace
  URL list comes with boxes; cropping is part of reconstructing the data set);
- ``identities`` (a list of names) and/or ``max_identities`` (the first N, in label order)
  select identities; ``images_per_identity`` keeps the first K images (sorted file names);
- ``identity_order``: a text file with one identity per line that fixes the label codes,
  e.g. VGGFace's ``names.txt`` (2622 names), so that code ``i`` is output ``i`` of the
  pretrained classifier. Every kept identity must be listed; listed identities without
  images keep their code (with no samples). Without it, codes follow the sorted names;
- ``test_fraction`` (default 0.2): per identity, a seeded (seed 0) shuffle puts that
  fraction of its images (at least one) in the test split, the rest in training.

Everything is stored as uint8 ``[N, 3, H, W]``. ``prepared.pt`` holds every image in
memory, so the paper profile keeps a subset of identities (``max_identities``): 2622 x 100
images at 224x224 would be ~39 GB.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from unlearnbench.data.download import md5sum
from unlearnbench.data.registry import DatasetRef, PreparedData

KIND = "identity-folders"
USER_KIND = True  # a `datasets:` entry of the config may be of this kind
SETTINGS = frozenset(
    {
        "root",
        "image_size",
        "resize",
        "identities",
        "max_identities",
        "images_per_identity",
        "identity_order",
        "test_fraction",
        "extensions",
        "description",
        "stand_in",
        "stand_in_for",
    }
)
REQUIRED = frozenset({"root"})
FINGERPRINT = tuple(sorted(SETTINGS))
DEFAULT_IMAGE_SIZE = (224, 224)
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLIT_SEED = 0


class IdentityFoldersError(ValueError):
    """The folder layout, an identity or a setting cannot be used (the message names which)."""


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Read every selected image, split each identity, encode identities as label codes."""
    return read_identity_folders(ref.name, ref.settings)


def read_identity_folders(name: str, settings: Mapping[str, Any]) -> PreparedData:
    """The :class:`PreparedData` of an identity-folder tree described by ``settings``."""
    root = _root(name, settings)
    label_values, selected = select_files(name, settings)
    size = _image_size(name, settings.get("image_size", DEFAULT_IMAGE_SIZE))
    resize = settings.get("resize")
    if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < max(size)):
        raise IdentityFoldersError(
            f"dataset {name!r}: resize must be an integer >= the crop size {max(size)}, got {resize!r}"
        )
    fraction = float(settings.get("test_fraction", DEFAULT_TEST_FRACTION))
    if not 0.0 < fraction < 1.0:
        raise IdentityFoldersError(
            f"dataset {name!r}: test_fraction must lie strictly between 0 and 1, got {fraction}"
        )

    code_of = {identity: code for code, identity in enumerate(label_values)}
    train_files: list[tuple[Path, int]] = []
    test_files: list[tuple[Path, int]] = []
    for identity, files in selected.items():
        if len(files) < 2:
            raise IdentityFoldersError(
                f"dataset {name!r}: identity {identity!r} has {len(files)} image(s) in {root / identity}; "
                "at least 2 are needed (one for training, one for testing). Exclude it with `identities:`."
            )
        order = np.random.default_rng([SPLIT_SEED, _stable_int(identity)]).permutation(len(files))
        n_test = min(len(files) - 1, max(1, round(fraction * len(files))))
        test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
        train_files += [(files[i], code_of[identity]) for i in train_idx]
        test_files += [(files[i], code_of[identity]) for i in test_idx]

    train_images, train_labels = _read_split(train_files, size, resize)
    test_images, test_labels = _read_split(test_files, size, resize)
    crop = f"shorter side {resize}, centre crop" if resize else "scaled to"
    files = {"images": {"md5": images_digest(root, selected), "bytes": sum(p.stat().st_size for fs in selected.values() for p in fs),
                        "count": sum(len(fs) for fs in selected.values()), "url": root.as_uri()}}  # fmt: skip
    order_file = _order_file(name, settings)
    if order_file is not None:
        files[order_file.name] = {"md5": md5sum(order_file), "bytes": order_file.stat().st_size,
                                  "url": order_file.as_uri(), "path": str(order_file)}  # fmt: skip
    return PreparedData(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        label_values=list(label_values),
        description=settings.get("description")
        or f"{name} ({len(selected)} identities, {size[0]}x{size[1]} RGB)",
        source=(
            f"identity folders {root} ({len(selected)} identities, {crop} {size[0]}x{size[1]}, "
            f"per-identity test fraction {fraction}, seed {SPLIT_SEED})"
        ),
        files=files,
        stand_in=bool(settings.get("stand_in", False)),
        stand_in_for=settings.get("stand_in_for"),
    )


def select_files(name: str, settings: Mapping[str, Any]) -> tuple[list[str], dict[str, list[Path]]]:
    """Label values (identity names, in code order) and the image files of each kept identity."""
    root = _root(name, settings)
    extensions = tuple(e.lower() for e in settings.get("extensions", DEFAULT_EXTENSIONS))
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise IdentityFoldersError(
            f"dataset {name!r}: {root} holds no identity folder (expected root/<identity>/*.jpg)"
        )
    order_file = _order_file(name, settings)
    if order_file is not None:
        label_values = _read_order(order_file)
        listed = set(label_values)
        unlisted = [f for f in folders if f not in listed]
        if unlisted:
            raise IdentityFoldersError(
                f"dataset {name!r}: identity folder(s) {unlisted[:5]} of {root} are not listed in {order_file}"
            )
        candidates = [v for v in label_values if v in set(folders)]
    else:
        label_values, candidates = folders, folders
    wanted = settings.get("identities")
    if wanted is not None:
        if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Sequence) or not wanted:
            raise IdentityFoldersError(
                f"dataset {name!r}: identities must be a non-empty list of names, got {wanted!r}"
            )
        absent = [str(w) for w in wanted if str(w) not in set(folders)]
        if absent:
            raise IdentityFoldersError(f"dataset {name!r}: identities {absent} have no folder in {root}")
        keep = {str(w) for w in wanted}
        candidates = [c for c in candidates if c in keep]
    limit = settings.get("max_identities")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise IdentityFoldersError(
                f"dataset {name!r}: max_identities must be a positive integer, got {limit!r}"
            )
        candidates = candidates[:limit]
    per_identity = settings.get("images_per_identity")
    if per_identity is not None and (
        isinstance(per_identity, bool) or not isinstance(per_identity, int) or per_identity < 2
    ):
        raise IdentityFoldersError(
            f"dataset {name!r}: images_per_identity must be an integer >= 2, got {per_identity!r}"
        )
    selected: dict[str, list[Path]] = {}
    for identity in candidates:
        files = sorted(
            p for p in (root / identity).iterdir() if p.is_file() and p.suffix.lower() in extensions
        )
        selected[identity] = files[:per_identity] if per_identity is not None else files
    if order_file is None:
        label_values = list(candidates)  # codes 0..k-1 over the kept identities only
    return list(label_values), selected


def source_digest(ref: DatasetRef) -> str:
    """One md5 over every selected image (and the identity order file): re-prepare when it changes."""
    _, selected = select_files(ref.name, ref.settings)
    order_file = _order_file(ref.name, ref.settings)
    head = md5sum(order_file) if order_file is not None else ""
    root = _root(ref.name, ref.settings)
    return hashlib.md5(f"{head}:{images_digest(root, selected)}".encode(), usedforsecurity=False).hexdigest()


def images_digest(root: Path, selected: Mapping[str, Sequence[Path]]) -> str:
    """md5 over (identity/file name, file md5) of every selected image, in label order."""
    digest = hashlib.md5(usedforsecurity=False)
    for identity, files in selected.items():
        for path in files:
            digest.update(f"{identity}/{path.name}\0{md5sum(path)}\n".encode())
    return digest.hexdigest()


def load_image(path: Path, size: tuple[int, int], resize: int | None) -> np.ndarray:
    """uint8 ``[3, H, W]``: RGB, optionally shorter side to ``resize`` and centre crop, else scaled."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if resize is not None:
                scale = resize / min(image.width, image.height)
                width, height = (
                    max(size[1], round(image.width * scale)),
                    max(size[0], round(image.height * scale)),
                )
                image = image.resize((width, height), Image.Resampling.BILINEAR)
                left, top = (width - size[1]) // 2, (height - size[0]) // 2
                image = image.crop((left, top, left + size[1], top + size[0]))
            elif (image.height, image.width) != tuple(size):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    except (UnidentifiedImageError, OSError) as exc:
        raise IdentityFoldersError(f"cannot read image {path} ({exc})") from exc


def _read_split(files: Sequence[tuple[Path, int]], size: tuple[int, int], resize: int | None):
    images = np.empty((len(files), 3, size[0], size[1]), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    for i, (path, code) in enumerate(files):
        images[i] = load_image(path, size, resize)
        labels[i] = code
    return torch.from_numpy(images), torch.from_numpy(labels)


def _root(name: str, settings: Mapping[str, Any]) -> Path:
    value = settings.get("root")
    if not isinstance(value, (str, os.PathLike)):
        raise IdentityFoldersError(f"dataset {name!r}: root must be a folder path, got {value!r}")
    root = Path(value).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset {name!r}: identity folder root {root} does not exist")
    return root


def _order_file(name: str, settings: Mapping[str, Any]) -> Path | None:
    value = settings.get("identity_order")
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = _root(name, settings) / path
    if not path.is_file():
        raise FileNotFoundError(f"dataset {name!r}: identity order file {path} does not exist")
    return path.resolve()


def _read_order(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise IdentityFoldersError(f"identity order file {path} lists no identity")
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise IdentityFoldersError(f"identity order file {path} lists {duplicates[:5]} more than once")
    return names


def _image_size(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise IdentityFoldersError(
            f"dataset {name!r}: image_size must be [height, width] in pixels, got {value!r}"
        )
    return int(value[0]), int(value[1])


def _stable_int(text: str) -> int:
    """A per-identity seed that does not depend on Python's randomised ``hash``."""
    return int.from_bytes(hashlib.md5(text.encode(), usedforsecurity=False).digest()[:4], "little")
