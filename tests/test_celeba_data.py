"""The CelebA loader on tiny files in the official format, its errors, and the generated stand-in."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlearnbench.data import DatasetUnavailableError, celeba_standin, load_dataset, prepare_dataset, registry
from unlearnbench.data import celeba as celeba_mod
from unlearnbench.data.celeba import CelebAFormatError, Preprocessing, read_celeba
from unlearnbench.data.download import ChecksumMismatchError

# A 3-attribute excerpt is enough for the format: count line, names line (with the official
# trailing space), then rows aligned as in the release ("-1" and " 1" both two characters wide).
NAMES = ["Eyeglasses", "Male", "Smiling"]
# (file, Eyeglasses, Male, Smiling, partition)
ROWS = [
    ("000001.jpg", -1, -1, 1, 0),
    ("000002.jpg", -1, 1, 1, 0),
    ("000003.jpg", 1, 1, -1, 0),
    ("000004.jpg", -1, -1, -1, 0),
    ("000005.jpg", -1, 1, 1, 1),
    ("000006.jpg", 1, -1, 1, 2),
    ("000007.jpg", -1, 1, -1, 2),
]
WIDTH, HEIGHT, CROP = 36, 44, 24  # aligned CelebA is 178x218 with crop 148: the same geometry, smaller


def _colour(index: int) -> tuple[int, int, int]:
    return (20 * index, 255 - 20 * index, 100 + 10 * index)


def _write_image(path_or_handle, index: int) -> None:
    """The crop region carries the image's colour; the border outside it is black."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (0, 0, 0))
    left, top = (WIDTH - CROP) // 2, (HEIGHT - CROP) // 2
    image.paste(_colour(index), (left, top, left + CROP, top + CROP))
    image.save(path_or_handle, format="PNG")  # lossless, so colours can be checked exactly (name keeps .jpg)


def write_celeba(root: Path, *, zipped: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [str(len(ROWS)), " ".join(NAMES) + " "]
    for name, *values, _ in ROWS:
        lines.append(name + "".join(f" {v:2d}" for v in values))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{name} {split}\n" for name, *_, split in ROWS))
    if zipped:
        with zipfile.ZipFile(root / "img_align_celeba.zip", "w") as archive:
            for i, (name, *_rest) in enumerate(ROWS):
                with archive.open(f"img_align_celeba/{name}", "w") as handle:
                    _write_image(handle, i)
    else:
        (root / "img_align_celeba").mkdir(exist_ok=True)
        for i, (name, *_rest) in enumerate(ROWS):
            _write_image(root / "img_align_celeba" / name, i)
    return root


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


OPTIONS = Preprocessing(attribute="Male", image_size=8, crop=CROP)


@pytest.mark.parametrize("zipped", [False, True])
def test_reader_splits_labels_crops_and_resizes(tmp_path, zipped):
    root = write_celeba(tmp_path, zipped=zipped)
    images = root / ("img_align_celeba.zip" if zipped else "img_align_celeba")
    out = read_celeba(root / "list_attr_celeba.txt", root / "list_eval_partition.txt", images, OPTIONS)
    train_x, train_y = out["train"]
    test_x, test_y = out["test"]
    assert train_x.shape == (4, 3, 8, 8) and train_x.dtype == torch.uint8
    assert test_x.shape == (2, 3, 8, 8)  # the validation image (partition 1) is not used
    assert train_y.tolist() == [0, 1, 1, 0] and test_y.tolist() == [0, 1]
    # the centre crop keeps exactly the coloured square: every output pixel has the image's colour
    for split_images, indices in ((train_x, [0, 1, 2, 3]), (test_x, [5, 6])):
        for img, i in zip(split_images, indices):
            expected = torch.tensor(_colour(i), dtype=torch.uint8)[:, None, None].expand(3, 8, 8)
            assert torch.equal(img, expected)


def test_reader_limit_and_attribute_choice(tmp_path):
    root = write_celeba(tmp_path)
    out = read_celeba(
        root / "list_attr_celeba.txt",
        root / "list_eval_partition.txt",
        root / "img_align_celeba",
        Preprocessing(attribute="Smiling", image_size=8, crop=CROP, limit=3),
    )
    assert out["train"][1].tolist() == [1, 1, 0] and out["test"][1].tolist() == [1, 0]
    assert Preprocessing(attribute="Smiling").label_values() == ["not-smiling", "smiling"]


def test_reader_errors_name_the_problem(tmp_path):
    root = write_celeba(tmp_path)
    attrs, part, imgs = (
        root / "list_attr_celeba.txt",
        root / "list_eval_partition.txt",
        root / "img_align_celeba",
    )
    with pytest.raises(CelebAFormatError, match="no attribute 'Bald'"):
        read_celeba(attrs, part, imgs, Preprocessing(attribute="Bald", image_size=8, crop=CROP))
    with pytest.raises(CelebAFormatError, match="smaller than the 40x40 centre crop"):
        read_celeba(attrs, part, imgs, Preprocessing(image_size=8, crop=40))
    text = attrs.read_text().splitlines()
    attrs.write_text("\n".join(["9", *text[1:]]) + "\n")
    with pytest.raises(CelebAFormatError, match="announces 9 images but 7 follow"):
        read_celeba(attrs, part, imgs, OPTIONS)
    attrs.write_text("\n".join([text[0], text[1], text[2].replace("-1", "0", 1), *text[3:]]) + "\n")
    with pytest.raises(CelebAFormatError, match="must be -1 or 1"):
        read_celeba(attrs, part, imgs, OPTIONS)
    write_celeba(root)
    (imgs / "000002.jpg").unlink()
    with pytest.raises(CelebAFormatError, match="000002.jpg"):
        read_celeba(attrs, part, imgs, OPTIONS)


@pytest.mark.parametrize("zipped", [False, True])
def test_prepare_verifies_md5s_and_loads_through_the_registry(tmp_path, monkeypatch, zipped):
    root = write_celeba(tmp_path / "official", zipped=zipped)
    md5s = {name: _md5(root / name) for name in ("list_attr_celeba.txt", "list_eval_partition.txt")}
    if zipped:
        md5s["img_align_celeba.zip"] = _md5(root / "img_align_celeba.zip")
    monkeypatch.setattr(celeba_mod, "OFFICIAL_MD5", {**celeba_mod.OFFICIAL_MD5, **md5s})
    config = {"celeba": {"root": str(root), "image_size": 8, "crop": CROP}}
    manifest = prepare_dataset("celeba", config, tmp_path / "data")
    assert manifest.exists()
    splits = load_dataset("celeba", config, tmp_path / "data")
    assert splits.classes == ["not-male", "male"]
    assert splits.image_shape == (3, 8, 8) and not splits.stand_in
    assert splits.train.tensors[1].tolist() == [0, 1, 1, 0]
    # a damaged annotation file is refused, never silently used
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    with pytest.raises(ChecksumMismatchError, match="list_eval_partition.txt"):
        celeba_mod.locate_sources(config["celeba"], tmp_path / "data" / "celeba" / "raw")


def test_missing_files_name_file_source_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNBENCH_OFFLINE", "1")
    raw = tmp_path / "data" / "celeba" / "raw"
    with pytest.raises(DatasetUnavailableError) as info:
        celeba_mod.locate_sources({}, raw)
    message = str(info.value)
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba.zip"):
        assert name in message and celeba_mod.OFFICIAL_MD5[name] in message
    assert "drive.google.com" in message and str(raw) in message and "by hand" in message


def test_standin_is_written_in_the_official_format_and_read_by_the_real_loader(tmp_path):
    config = {"celeba-standin": {"n_train": 24, "n_valid": 2, "n_test": 8, "seed": 3}}
    prepare_dataset("celeba-standin", config, tmp_path)
    raw = tmp_path / "celeba-standin" / "raw"
    lines = (raw / "list_attr_celeba.txt").read_text().splitlines()
    assert (
        lines[0] == "34"
        and lines[1].split() == celeba_standin.CELEBA_ATTRIBUTES
        and len(lines[1].split()) == 40
    )
    with Image.open(raw / "img_align_celeba" / "000001.jpg") as image:
        assert image.format == "JPEG" and image.size == (178, 218)
    # the real reader, called directly on the generated files, gives what the registry stored
    direct = read_celeba(
        raw / "list_attr_celeba.txt",
        raw / "list_eval_partition.txt",
        raw / "img_align_celeba",
        Preprocessing(),
    )
    splits = load_dataset("celeba-standin", config, tmp_path)
    assert splits.stand_in and "stand-in for CelebA" in splits.description
    assert splits.classes == ["not-male", "male"] and splits.image_shape == (3, 64, 64)
    assert torch.equal(splits.train.tensors[1], direct["train"][1])
    assert torch.equal((splits.train.tensors[0] * 255).round().to(torch.uint8), direct["train"][0])
    assert 0 < int(direct["train"][1].sum()) < 24
    assert registry.is_stand_in("celeba-standin", config)


def test_standin_male_faces_differ_in_shape():
    """Male faces are wider with short hair: the hair/face region at the sides below the eyes differs."""
    rng = np.random.default_rng(0)
    side = {True: [], False: []}
    for _ in range(60):
        image, attributes = celeba_standin.draw_face(rng, 0.5)
        pixels = np.asarray(image, dtype=np.float64)
        background = pixels[2, 2]
        band = pixels[140:180, 20:40]  # beside the lower face: long hair for women, background for men
        side[attributes["Male"] == 1].append(np.abs(band - background).mean())
    assert np.mean(side[False]) > 2 * np.mean(side[True])
