"""Person re-identification data (L-CODEC Fig. 8/12) through torchreid's own dataset classes.

The paper profile reads Market-1501 (or MSMT17, PRID, GRID: any image dataset torchreid
registers) from ``<root>/<torchreid's dataset_dir>/``, parsed by torchreid itself
(``torchreid.reid.data.datasets``). torchreid would try to download a missing dataset;
this module refuses to and raises
:class:`~unlearnbench.data.download.DatasetUnavailableError` naming the folder it expects.

The quick profile's STAND-IN is written by :func:`write_market1501_standin` in
Market-1501's real layout: ``market1501/Market-1501-v15.09.15/`` with
``bounding_box_train/``, ``query/`` and ``bounding_box_test/``, JPEG files named
``0002_c1s1_000451_03.jpg`` (identity, camera, sequence, frame, box), training and test
identities disjoint, gallery distractors ``0000_*`` and junk ``-1_*`` as in the original,
so torchreid's ``Market1501`` class parses it unchanged. Each synthetic person is a
figure with identity-specific clothing colours and pattern, drawn with per-image pose
jitter and a camera-specific background and tint.

Images are loaded once, resized to the experiment's ``image_size`` and cached as uint8
(``prepared-<H>x<W>.pt`` beside the images); :func:`as_tensors` returns them normalised
with the ImageNet mean and standard deviation, as torchreid's transforms do.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearnbench.data.download import DatasetUnavailableError
from unlearnbench.storage import load_checkpoint, read_json, save_checkpoint, write_folder_once, write_json

STANDIN_FOLDER = "market1501-standin"
MARKET_SUBDIR = ("market1501", "Market-1501-v15.09.15")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLITS = ("train", "query", "gallery")


class ReidDataError(ValueError):
    """A re-ID setting is malformed (unknown dataset, bad size, no such identity)."""


@dataclass
class ReidItems:
    """torchreid's parse of one split: image paths, person ids and camera ids (sorted by path)."""

    paths: list[str]
    pids: np.ndarray
    camids: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class ReidData:
    train: ReidItems  # pids relabelled 0..num_train_pids-1 by torchreid
    query: ReidItems
    gallery: ReidItems
    num_train_pids: int
    name: str
    stand_in: bool
    description: str
    root: Path


# ---------------------------------------------------------------------------- the stand-in


def _person(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "upper": rng.integers(30, 226, size=3),
        "lower": rng.integers(30, 226, size=3),
        "skin": np.array([rng.integers(150, 230), rng.integers(110, 180), rng.integers(80, 150)]),
        "stripe": int(rng.integers(0, 3)),  # 0 none, 1 horizontal band, 2 vertical band
        "stripe_colour": rng.integers(0, 256, size=3),
        "bag": bool(rng.random() < 0.4),
        "width": float(rng.uniform(0.32, 0.46)),
    }


def _draw(
    person: Mapping[str, Any], camera: int, rng: np.random.Generator, size: tuple[int, int]
) -> np.ndarray:
    """One ``[H, W, 3]`` uint8 image of ``person`` seen by ``camera``."""
    h, w = size
    cam_rng = np.random.default_rng([camera, 99])
    background = cam_rng.integers(60, 200, size=3) + rng.normal(0, 12, size=(h, w, 3))
    img = np.broadcast_to(background, (h, w, 3)).astype(float).copy()
    tint = cam_rng.uniform(0.8, 1.2, size=3)
    cx = w / 2 + rng.normal(0, w * 0.06)
    top = h * 0.06 + rng.normal(0, h * 0.02)
    half = person["width"] * w / 2 * rng.uniform(0.9, 1.1)
    yy, xx = np.mgrid[0:h, 0:w]
    head_r = half * 0.55
    head = (yy - (top + head_r)) ** 2 + (xx - cx) ** 2 <= head_r**2
    torso = (yy >= top + 2 * head_r) & (yy < top + 2 * head_r + h * 0.36) & (np.abs(xx - cx) <= half)
    legs = (yy >= top + 2 * head_r + h * 0.36) & (yy < h * 0.97) & (np.abs(xx - cx) <= half * 0.8)
    img[head] = person["skin"]
    img[torso] = person["upper"]
    img[legs] = person["lower"]
    if person["stripe"] == 1:
        band = torso & (yy >= top + 2 * head_r + h * 0.12) & (yy < top + 2 * head_r + h * 0.2)
        img[band] = person["stripe_colour"]
    elif person["stripe"] == 2:
        img[torso & (np.abs(xx - cx) <= half * 0.25)] = person["stripe_colour"]
    if person["bag"]:
        bag = (
            (yy >= top + 2 * head_r + h * 0.1)
            & (yy < top + 2 * head_r + h * 0.3)
            & (xx >= cx + half)
            & (xx < cx + half * 1.5)
        )
        img[bag] = (40, 30, 20)
    img = img * tint * rng.uniform(0.8, 1.2) + rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_market1501_standin(
    root: str | os.PathLike[str],
    *,
    train_ids: int = 12,
    test_ids: int = 8,
    images_per_id: int = 8,
    cameras: int = 6,
    image_size: Sequence[int] = (128, 64),
    distractors: int = 4,
    junk: int = 2,
    seed: int = 0,
) -> Path:
    """Write a Market-1501-layout stand-in under ``root``; return the torchreid ``root``.

    Training identities and test identities are disjoint (odd and even 4-digit ids, as
    in Market-1501's split); each test identity has one query image from each of two
    cameras, its other images go to the gallery. Deterministic for given arguments.
    """
    from PIL import Image

    if train_ids < 2 or test_ids < 1 or images_per_id < 2 or not 2 <= cameras <= 6:
        raise ReidDataError("need >= 2 training ids, >= 1 test id, >= 2 images per id and 2..6 cameras")
    size = (int(image_size[0]), int(image_size[1]))
    rng = np.random.default_rng(seed)
    base = Path(root).joinpath(*MARKET_SUBDIR)
    folders = {name: base / name for name in ("bounding_box_train", "query", "bounding_box_test")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    frame = 0

    def save(folder: Path, pid: int, camera: int, image: np.ndarray) -> None:
        nonlocal frame
        frame += 1
        pid_text = f"{pid:04d}" if pid >= 0 else "-1"
        name = f"{pid_text}_c{camera}s{1 + frame % 5}_{frame * 25:06d}_{1 + frame % 3:02d}.jpg"
        Image.fromarray(image).save(folder / name, quality=95)

    def cams(n: int) -> np.ndarray:
        # Every identity is seen by at least two cameras (re-ID needs cross-camera matches).
        first = rng.choice(np.arange(1, cameras + 1), size=2, replace=False)
        rest = rng.integers(1, cameras + 1, size=n - 2)
        return np.concatenate([first, rest])

    for k in range(train_ids):
        pid, person = 2 * k + 1, _person(rng)
        for camera in cams(images_per_id):
            save(folders["bounding_box_train"], pid, int(camera), _draw(person, int(camera), rng, size))
    for k in range(test_ids):
        pid, person = 2 * k + 2, _person(rng)
        views = cams(images_per_id)
        for j, camera in enumerate(views):
            target = folders["query"] if j < 2 else folders["bounding_box_test"]
            save(target, pid, int(camera), _draw(person, int(camera), rng, size))
    for _ in range(distractors):
        camera = int(rng.integers(1, cameras + 1))
        save(folders["bounding_box_test"], 0, camera, _draw(_person(rng), camera, rng, size))
    for _ in range(junk):
        camera = int(rng.integers(1, cameras + 1))
        save(folders["bounding_box_test"], -1, camera, _draw(_person(rng), camera, rng, size))
    return Path(root)


def _current(root: Path, options: Mapping[str, Any]) -> bool:
    try:
        return (
            read_json(root / "manifest.json").get("settings") == dict(options)
            and root.joinpath(*MARKET_SUBDIR).is_dir()
        )
    except (OSError, ValueError):
        return False


def standin_root(data_root: str | os.PathLike[str], settings: Mapping[str, Any] | None = None) -> Path:
    """The stand-in's torchreid root under ``data_root``, written once per settings.

    Written to a temporary folder and renamed into place, so parallel jobs never see a
    half-written dataset; a ``manifest.json`` records the generator settings.
    """
    options = dict(settings or {})

    def write(tmp: Path) -> None:
        write_market1501_standin(tmp, **options)
        write_json(
            tmp / "manifest.json",
            {
                "dataset": STANDIN_FOLDER,
                "stand_in": True,
                "stand_in_for": "Market-1501",
                "format": "Market-1501 folders and file names (parsed by torchreid)",
                "settings": options,
            },
        )

    return write_folder_once(Path(data_root) / STANDIN_FOLDER, lambda root: _current(root, options), write)


# ---------------------------------------------------------------------------- torchreid parsing


def torchreid_dataset_class(name: str) -> Any:
    """torchreid's class for image dataset ``name`` (market1501, msmt17, prid, grid, ...)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchreid warns about its optional Cython evaluation
        from torchreid.reid.data import datasets as tr_datasets

    registry = {
        "market1501": tr_datasets.Market1501,
        "msmt17": tr_datasets.MSMT17,
        "prid": tr_datasets.PRID,
        "grid": tr_datasets.GRID,
        "cuhk03": tr_datasets.CUHK03,
        "dukemtmcreid": tr_datasets.DukeMTMCreID,
        "viper": tr_datasets.VIPeR,
    }
    if name not in registry:
        raise ReidDataError(
            f"unknown re-ID dataset {name!r}; torchreid image datasets here: {', '.join(registry)}"
        )
    return registry[name]


def parse_torchreid(
    name: str, root: str | os.PathLike[str], **kwargs: Any
) -> tuple[ReidItems, ReidItems, ReidItems, int]:
    """Parse ``root`` with torchreid's own class; never download."""
    cls = torchreid_dataset_class(name)
    folder = Path(root).resolve() / cls.dataset_dir
    if not folder.is_dir():
        raise DatasetUnavailableError(
            f"re-ID dataset {name!r} is not at {folder}: put the extracted dataset there (torchreid's layout, e.g. "
            f"{Path(*MARKET_SUBDIR)}/bounding_box_train for Market-1501). The suite does not download it."
        )
    dataset = cls(root=str(Path(root).resolve()), verbose=False, **kwargs)

    def items(data: Sequence[Sequence[Any]]) -> ReidItems:
        rows = sorted((str(r[0]), int(r[1]), int(r[2])) for r in data)
        return ReidItems(
            [r[0] for r in rows],
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.int64),
        )

    return items(dataset.train), items(dataset.query), items(dataset.gallery), int(dataset.num_train_pids)


def load_reid(settings: Mapping[str, Any], data_root: str | os.PathLike[str]) -> ReidData:
    """The experiment's ``data`` block -> torchreid's parse of the stand-in or the real dataset."""
    source = settings.get("source", "standin")
    name = settings.get("dataset", "market1501")
    if source == "standin":
        if name != "market1501":
            raise ReidDataError(
                f"the stand-in is written in Market-1501's layout; dataset must be market1501, got {name!r}"
            )
        root = standin_root(data_root, settings.get("standin"))
        description = "synthetic persons in Market-1501 layout (STAND-IN for Market-1501)"
    elif source == "torchreid":
        root = Path(settings.get("root") or data_root)
        description = f"{name} (torchreid layout under {root})"
    else:
        raise ReidDataError(f"data.source must be standin or torchreid, got {source!r}")
    train, query, gallery, n_pids = parse_torchreid(name, root, **dict(settings.get("options") or {}))
    return ReidData(train, query, gallery, n_pids, name, source == "standin", description, Path(root))


# ---------------------------------------------------------------------------- images


def _read(paths: Sequence[str], size: tuple[int, int]) -> torch.Tensor:
    from PIL import Image

    out = torch.empty((len(paths), 3, size[0], size[1]), dtype=torch.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
        out[i] = torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1)
    return out


def image_tensors(data: ReidData, size: Sequence[int]) -> dict[str, torch.Tensor]:
    """uint8 ``[N, 3, H, W]`` images of every split, cached beside the dataset per size.

    The cache is keyed by the sorted file list and sizes, so a changed dataset rebuilds it.
    """
    hw = (int(size[0]), int(size[1]))
    if min(hw) <= 0:
        raise ReidDataError(f"image_size must be two positive integers, got {list(size)}")
    key = hashlib.md5()
    for split in SPLITS:
        for path in getattr(data, split).paths:
            key.update(f"{split}:{Path(path).name}:{Path(path).stat().st_size}\n".encode())
    digest = key.hexdigest()
    cache = data.root / f"prepared-{data.name}-{hw[0]}x{hw[1]}.pt"
    if cache.exists():
        try:
            body = load_checkpoint(cache)
            if body.get("digest") == digest:
                return {split: body[split] for split in SPLITS}
        except Exception:  # noqa: BLE001 - unreadable cache: rebuild
            pass
    tensors = {split: _read(getattr(data, split).paths, hw) for split in SPLITS}
    try:
        save_checkpoint(cache, {"digest": digest, **tensors})
    except OSError as exc:  # a read-only dataset folder: work without the cache
        print(f"note: could not cache resized images at {cache}: {exc}")
    return tensors


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float, ImageNet-normalised (torchreid's default transform)."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def denormalise(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalise`, clipped to [0, 1] (for display)."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images * std + mean).clamp(0.0, 1.0)
