"""The image-folder kind on generated PNG files with a label CSV."""

from __future__ import annotations

import pytest
import torch
from fixtures.writers import write_image_folder

from unlearnbench.data import UnknownClassError, load_dataset, prepare_dataset
from unlearnbench.data.image_folder import LabelsCsvError
from unlearnbench.storage import read_json


def _level(class_index: torch.Tensor) -> torch.Tensor:
    """The gray level the fixture writer draws class ``i`` with (as a fraction of 255)."""
    return (40 * class_index + 20).float() / 255.0


def test_csv_with_split_column_and_integer_labels(tmp_path):
    labels = [3, 7, 3, 7, 3, 7, 9, 9]
    splits = ["train", "train", "train", "train", "test", "test", "train", "test"]
    write_image_folder(tmp_path / "imgs", labels, size=(6, 5), splits=splits)
    config = {"faces": {"kind": "image-folder", "root": str(tmp_path / "imgs")}}
    manifest = read_json(prepare_dataset("faces", config, tmp_path / "data"))
    assert manifest["n_train"] == 5 and manifest["n_test"] == 3 and manifest["image_shape"] == [1, 6, 5]
    assert manifest["files"]["images"]["count"] == 8 and "labels.csv" in manifest["files"]

    data = load_dataset("faces", config, tmp_path / "data")
    assert data.classes == [3, 7, 9] and data.image_shape == (1, 6, 5)
    for dataset in (data.train, data.test):
        images, labels = dataset.tensors
        assert torch.allclose(images.amax(dim=(1, 2, 3)), _level(labels))  # each image kept its label
    subset = load_dataset("faces", config, tmp_path / "data", classes=[9, 3])
    assert subset.classes == [9, 3] and len(subset.train) == 3 and len(subset.test) == 2


def test_text_labels_rgb_resize_and_stratified_split(tmp_path):
    labels = ["cat", "dog"] * 5
    write_image_folder(tmp_path / "imgs", labels, size=(9, 7), rgb=True, csv_name="meta.csv")
    config = {
        "pets": {
            "kind": "image-folder",
            "root": str(tmp_path / "imgs"),
            "labels_csv": "meta.csv",
            "grayscale": False,
            "image_size": [4, 3],
        }
    }
    prepare_dataset("pets", config, tmp_path / "data")
    data = load_dataset("pets", config, tmp_path / "data")
    assert data.classes == ["cat", "dog"] and data.image_shape == (3, 4, 3)
    assert len(data.train) == 8 and len(data.test) == 2
    assert sorted(data.test.tensors[1].tolist()) == [0, 1]
    images, labels = data.train.tensors
    assert torch.allclose(images[:, 0].amax(dim=(1, 2)), _level(labels))  # red channel carries the class
    assert float(images[:, 1:].abs().max()) == 0.0
    assert load_dataset("pets", config, tmp_path / "data", classes=["dog"]).classes == ["dog"]


def test_idempotent_until_an_image_changes(tmp_path):
    write_image_folder(tmp_path / "imgs", [0, 1] * 5)
    config = {"tiny": {"kind": "image-folder", "root": str(tmp_path / "imgs")}}
    prepare_dataset("tiny", config, tmp_path / "data")
    prepared = tmp_path / "data" / "tiny" / "prepared.pt"
    stamp = prepared.stat().st_mtime_ns
    prepare_dataset("tiny", config, tmp_path / "data")
    assert prepared.stat().st_mtime_ns == stamp
    write_image_folder(tmp_path / "imgs", [1, 0] * 5)  # same files, swapped contents
    prepare_dataset("tiny", config, tmp_path / "data")
    assert prepared.stat().st_mtime_ns != stamp


def test_missing_image_names_file_and_line(tmp_path):
    csv_path = write_image_folder(tmp_path / "imgs", [0, 1, 0, 1])
    (tmp_path / "imgs" / "img_002.png").unlink()
    config = {"x": {"kind": "image-folder", "root": str(tmp_path / "imgs")}}
    with pytest.raises(FileNotFoundError, match=r"img_002\.png.*line 4|line 4.*img_002\.png"):
        prepare_dataset("x", config, tmp_path / "data")
    assert csv_path.exists()


def test_unknown_label_value(tmp_path):
    write_image_folder(tmp_path / "imgs", ["a", "b", "a", "c"])
    config = {"x": {"kind": "image-folder", "root": str(tmp_path / "imgs"), "labels": ["a", "b"]}}
    with pytest.raises(UnknownClassError, match=r"line 5: unknown label 'c'"):
        prepare_dataset("x", config, tmp_path / "data")


def test_test_only_label_is_unknown(tmp_path):
    write_image_folder(tmp_path / "imgs", [0, 0, 1, 2], splits=["train", "test", "train", "test"])
    config = {"x": {"kind": "image-folder", "root": str(tmp_path / "imgs")}}
    with pytest.raises(
        UnknownClassError, match=r"\[2\] occur in the test split but not in the training split"
    ):
        prepare_dataset("x", config, tmp_path / "data")


def test_empty_and_malformed_csv(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, [0, 1])
    config = {"x": {"kind": "image-folder", "root": str(root)}}
    cases = {
        "": "is empty",
        "filename,label\n": "no rows",
        "file,label\nimg_000.png,0\n": r"lacks column\(s\) \['filename'\]",
        "filename,label\nimg_000.png,\n": "line 2: empty label",
        "filename,label,split\nimg_000.png,0,valid\n": "split 'valid' is not 'train' or 'test'",
        "filename,label,split\nimg_000.png,0,train\nimg_001.png,1,train\n": "names no 'test' row",
    }
    for text, message in cases.items():
        (root / "labels.csv").write_text(text)
        with pytest.raises(LabelsCsvError, match=message):
            prepare_dataset("x", config, tmp_path / "data")


def test_unreadable_image_and_bad_settings(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, [0, 1, 0, 1])
    (root / "img_001.png").write_bytes(b"not a png")
    config = {"x": {"kind": "image-folder", "root": str(root)}}
    with pytest.raises(ValueError, match=r"line 3: cannot read image .*img_001\.png"):
        prepare_dataset("x", config, tmp_path / "data")
    with pytest.raises(ValueError, match="image_size must be"):
        prepare_dataset("x", {"x": {**config["x"], "image_size": [0, 3]}}, tmp_path / "data")
    with pytest.raises(FileNotFoundError, match="image folder .* does not exist"):
        prepare_dataset(
            "x", {"x": {"kind": "image-folder", "root": str(tmp_path / "nope")}}, tmp_path / "data"
        )
