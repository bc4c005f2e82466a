"""The digits stand-in: offline, fixed stratified split, class subsets remapped to 0..k-1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from unlearnbench.data import load_dataset, prepare_dataset
from unlearnbench.storage import read_json


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("digits138", None, root)  # prepares the whole base, data/digits/
    return root


def test_digits138_keeps_classes_1_3_8_as_labels_0_1_2(data_root):
    splits = load_dataset("digits138", None, data_root)
    assert splits.name == "digits138" and splits.classes == [1, 3, 8]
    assert splits.image_shape == (1, 8, 8) and splits.stand_in
    assert splits.description == "scikit-learn digits 8x8, classes 1, 3, 8 (stand-in for MNIST138)"
    reference = load_digits()
    for dataset in (splits.train, splits.test):
        images, labels = dataset.tensors
        assert images.dtype == torch.float32 and images.shape[1:] == (1, 8, 8)
        assert float(images.min()) == 0.0 and float(images.max()) == 1.0
        assert sorted(labels.unique().tolist()) == [0, 1, 2]
    total = {c: int((reference.target == c).sum()) for c in (1, 3, 8)}
    counts = torch.bincount(splits.train.tensors[1]) + torch.bincount(splits.test.tensors[1])
    assert counts.tolist() == [total[1], total[3], total[8]]


def test_images_are_the_scikit_learn_images_with_their_labels(data_root):
    splits = load_dataset("digits", None, data_root)
    reference = load_digits()
    pixels = {
        tuple(img.ravel()): int(t) for img, t in zip(reference.images / 16.0, reference.target, strict=True)
    }
    for dataset in (splits.train, splits.test):
        images, labels = dataset.tensors
        for image, label in zip(images.double().numpy(), labels.tolist(), strict=True):
            assert pixels[tuple(image.ravel())] == splits.classes[label]


def test_split_is_stratified_80_20_and_disjoint(data_root):
    manifest = read_json(data_root / "digits" / "manifest.json")
    assert manifest["n_train"] + manifest["n_test"] == 1797 and manifest["n_test"] == 360
    train, test = (np.array(manifest["class_counts"][s]) for s in ("train", "test"))
    assert np.all(np.abs(test / (train + test) - 0.2) < 0.02)
    splits = load_dataset("digits", None, data_root)
    train_rows = {tuple(x.ravel().tolist()) for x in splits.train.tensors[0]}
    test_rows = [tuple(x.ravel().tolist()) for x in splits.test.tensors[0]]
    # scikit-learn digits has a handful of exact duplicate images; the split is by sample, so allow those
    assert sum(row in train_rows for row in test_rows) < 5


def test_split_is_the_same_on_every_preparation(data_root, tmp_path):
    prepare_dataset("digits", None, tmp_path)
    again = load_dataset("digits", None, tmp_path)
    first = load_dataset("digits", None, data_root)
    assert torch.equal(again.train.tensors[0], first.train.tensors[0])
    assert torch.equal(again.test.tensors[1], first.test.tensors[1])


def test_explicit_classes_order_defines_labels(data_root):
    splits = load_dataset("digits", None, data_root, classes=[8, 1])
    assert splits.classes == [8, 1]
    assert splits.description == "scikit-learn digits 8x8, classes 8, 1 (stand-in for MNIST81)"
    reference = load_digits()
    assert int((splits.train.tensors[1] == 0).sum() + (splits.test.tensors[1] == 0).sum()) == int(
        (reference.target == 8).sum()
    )


def test_alias_rejects_classes_outside_it(data_root):
    with pytest.raises(ValueError, match=r"keeps only classes \[1, 3, 8\]; \[5\]"):
        load_dataset("digits138", None, data_root, classes=[1, 5])
    # a YAML "3" names the integer class 3
    assert load_dataset("digits138", None, data_root, classes=["3"]).classes == [3]
