"""Checks against the real MNIST test set mirrored in ../shared/data/mnist-t10k (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unlearnbench.data import DatasetUnavailableError, load_dataset, md5sum, prepare_dataset
from unlearnbench.data.mnist import MNIST_MD5

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"
IMAGES, LABELS = MIRROR / "t10k-images-idx3-ubyte.gz", MIRROR / "t10k-labels-idx1-ubyte.gz"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not (IMAGES.is_file() and LABELS.is_file()), reason=f"no MNIST mirror at {MIRROR}"),
]


def test_mirror_files_are_the_official_ones():
    assert md5sum(IMAGES) == MNIST_MD5[IMAGES.name] == "9fb629c4189551a2d022fa330f9573f3"
    assert md5sum(LABELS) == MNIST_MD5[LABELS.name] == "ec29112dd5afa0611ce80d1b7f02629c"


def test_t10k_through_the_idx_kind(tmp_path):
    config = {"mnist-t10k": {"kind": "idx", "train_images": str(IMAGES), "train_labels": str(LABELS)}}
    prepare_dataset("mnist-t10k", config, tmp_path)
    data = load_dataset("mnist-t10k", config, tmp_path)
    assert data.image_shape == (1, 28, 28) and data.classes == list(range(10))
    assert len(data.train) + len(data.test) == 10_000 and len(data.test) == 2_000
    counts = torch.bincount(data.train.tensors[1], minlength=10) + torch.bincount(
        data.test.tensors[1], minlength=10
    )
    assert int(counts.sum()) == 10_000
    # the published class counts of the MNIST test set
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    images = torch.cat([data.train.tensors[0], data.test.tensors[0]])
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0


def test_partial_mirror_for_the_mnist_kind(tmp_path):
    config = {"mnist": {"mirror": str(MIRROR), "download": False}}
    with pytest.raises(DatasetUnavailableError) as info:
        prepare_dataset("mnist138", config, tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "mnist" / "raw") in message
    assert sorted(p.name for p in (tmp_path / "mnist" / "raw").iterdir()) == [IMAGES.name, LABELS.name]
