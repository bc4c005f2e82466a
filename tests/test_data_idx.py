"""The idx parser against hand-packed files, its writer by round trip, and the idx dataset kind."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from fixtures.writers import idx_bytes, write_idx_file

from unlearnbench.data import load_dataset, prepare_dataset
from unlearnbench.data.idx import IdxFormatError, read_idx, read_idx_pair, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("gz", [False, True])
def test_reader_decodes_hand_packed_files(tmp_path, dtype, gz):
    array = (
        (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
        if dtype != "uint8"
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    )
    path = write_idx_file(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32"])
def test_writer_round_trip_and_matches_format(tmp_path, dtype):
    rng = np.random.default_rng(0)
    array = (rng.random((5, 7)) * 100).astype(dtype)
    plain = write_idx(tmp_path / "x.idx", array)
    assert plain.read_bytes() == idx_bytes(array)  # byte-identical to the format's definition
    zipped = write_idx(tmp_path / "x.idx.gz", array)
    assert gzip.decompress(zipped.read_bytes()) == idx_bytes(array)
    np.testing.assert_array_equal(read_idx(zipped), array)
    # no time stamp in the gzip header: the same array always has the same md5
    assert write_idx(tmp_path / "y.idx.gz", array).read_bytes() == zipped.read_bytes()


def test_writer_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


def test_bad_magic_number(tmp_path):
    path = write_idx_file(tmp_path / "bad.idx", np.zeros((2, 2), np.uint8), magic_prefix=b"\x01\x00")
    with pytest.raises(IdxFormatError, match=r"bad\.idx.*not an idx file"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = write_idx_file(tmp_path / "bad.idx", np.zeros((2, 2), np.uint8), type_code=0x07)
    with pytest.raises(IdxFormatError, match="unknown idx type code 0x07"):
        read_idx(path)


def test_truncated_and_padded_files(tmp_path):
    data = idx_bytes(np.zeros((3, 4), np.uint8))
    (tmp_path / "short.idx").write_bytes(data[:-1])
    (tmp_path / "long.idx").write_bytes(data + b"\x00")
    (tmp_path / "header.idx").write_bytes(data[:6])
    with pytest.raises(IdxFormatError, match="truncated"):
        read_idx(tmp_path / "short.idx")
    with pytest.raises(IdxFormatError, match="extra bytes"):
        read_idx(tmp_path / "long.idx")
    with pytest.raises(IdxFormatError, match="inside the header"):
        read_idx(tmp_path / "header.idx")


def test_damaged_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((30, 30), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(IdxFormatError, match="gzip data is damaged"):
        read_idx(tmp_path / "cut.gz")


def test_pair_checks_count_dims_and_dtype(tmp_path):
    images = write_idx_file(tmp_path / "images.idx", np.zeros((4, 3, 3), np.uint8))
    labels3 = write_idx_file(tmp_path / "labels3.idx", np.zeros(3, np.uint8))
    labels2d = write_idx_file(tmp_path / "labels2d.idx", np.zeros((4, 1), np.uint8))
    float_labels = write_idx_file(tmp_path / "flabels.idx", np.zeros(4, np.float32))
    flat_images = write_idx_file(tmp_path / "flat.idx", np.zeros((4, 9), np.uint8))
    bright = write_idx_file(tmp_path / "bright.idx", np.full((4, 3, 3), 2.0, np.float32))
    labels = write_idx_file(tmp_path / "labels.idx", np.arange(4, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="4 images but .* 3 labels"):
        read_idx_pair(images, labels3)
    with pytest.raises(IdxFormatError, match="labels must have 1 dimension"):
        read_idx_pair(images, labels2d)
    with pytest.raises(IdxFormatError, match="labels must be integers"):
        read_idx_pair(images, float_labels)
    with pytest.raises(IdxFormatError, match="3 dimensions"):
        read_idx_pair(flat_images, labels)
    with pytest.raises(IdxFormatError, match=r"\[0, 1\]"):
        read_idx_pair(bright, labels)
    x, y = read_idx_pair(images, labels)
    assert x.shape == (4, 1, 3, 3) and y.dtype == np.int64


def _idx_dataset(tmp_path, n_per_class=10, classes=(2, 5, 7), test=False):
    labels = np.repeat(np.array(classes, dtype=np.uint8), n_per_class)
    images = (labels[:, None, None] * np.ones((1, 4, 6), np.uint8)).astype(np.uint8)  # pixel value = label
    entry = {
        "kind": "idx",
        "train_images": str(write_idx_file(tmp_path / "src" / "train-images.gz", images)),
        "train_labels": str(write_idx_file(tmp_path / "src" / "train-labels.gz", labels)),
    }
    if test:
        entry["test_images"] = str(write_idx_file(tmp_path / "src" / "test-images", images[::2]))
        entry["test_labels"] = str(write_idx_file(tmp_path / "src" / "test-labels", labels[::2]))
    return {"mine": entry}


def test_idx_kind_splits_stratified_and_keeps_pixels_with_labels(tmp_path):
    config = _idx_dataset(tmp_path)
    prepare_dataset("mine", config, tmp_path / "data")
    splits = load_dataset("mine", config, tmp_path / "data")
    assert splits.classes == [2, 5, 7] and splits.image_shape == (1, 4, 6) and not splits.stand_in
    assert len(splits.train) == 24 and len(splits.test) == 6
    assert torch.bincount(splits.test.tensors[1]).tolist() == [2, 2, 2]  # stratified 20 %
    for dataset in (splits.train, splits.test):
        images, labels = dataset.tensors
        original = torch.tensor(splits.classes)[labels].float() / 255.0
        assert torch.allclose(images.mean(dim=(1, 2, 3)), original)  # pixels still match their labels


def test_idx_kind_with_test_files_and_subset(tmp_path):
    config = _idx_dataset(tmp_path, test=True)
    prepare_dataset("mine", config, tmp_path / "data")
    splits = load_dataset("mine", config, tmp_path / "data", classes=[7, 2])
    assert splits.classes == [7, 2]
    assert len(splits.train) == 20 and len(splits.test) == 10
    images, labels = splits.train.tensors
    assert torch.allclose(images[labels == 0].max(), torch.tensor(7 / 255))


def test_idx_kind_test_labels_unseen_in_training(tmp_path):
    config = _idx_dataset(tmp_path, test=True)
    write_idx_file(tmp_path / "src" / "test-labels", np.full(15, 9, np.uint8))
    with pytest.raises(ValueError, match=r"label\(s\) \[9\] occur in the test split"):
        prepare_dataset("mine", config, tmp_path / "data")


def test_idx_kind_setting_errors(tmp_path):
    config = _idx_dataset(tmp_path)
    missing = {"mine": {**config["mine"], "train_labels": str(tmp_path / "nope.gz")}}
    with pytest.raises(FileNotFoundError, match="train_labels file .*nope.gz"):
        prepare_dataset("mine", missing, tmp_path / "data")
    half = {"mine": {**config["mine"], "test_images": config["mine"]["train_images"]}}
    with pytest.raises(ValueError, match="both test_images and test_labels"):
        prepare_dataset("mine", half, tmp_path / "data")
    few = {"mine": {**config["mine"], "test_fraction": 1.5}}
    with pytest.raises(ValueError, match="test_fraction"):
        prepare_dataset("mine", few, tmp_path / "data")
