"""The cifar10 and cifar10-standin kinds on tiny files in the real CIFAR-10 python format, read by torchvision.

The batches are packed by hand here from the format's description (pickled dicts with
``data`` [n, 3072] uint8 holding the red, green and blue planes in turn), independently
of :func:`unlearnbench.data.cifar10.write_batches`, so loading them tests the suite
against the format rather than against its own writer.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnbench.data import (
    ChecksumMismatchError,
    DatasetUnavailableError,
    cifar10_standin,
    is_stand_in,
    load_dataset,
    prepare_dataset,
)
from unlearnbench.data import cifar10 as cifar_kind

BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
UNREACHABLE = "http://127.0.0.1:9/"


def image(label: int, index: int) -> np.ndarray:
    """[3, 32, 32]: red 20 * label, green index % 256, blue 255 - 20 * label."""
    out = np.empty((3, 32, 32), dtype=np.uint8)
    out[0], out[1], out[2] = 20 * label, index % 256, 255 - 20 * label
    return out


def batch_bytes(labels: list[int], start: int) -> bytes:
    data = np.stack([image(y, start + i).reshape(-1) for i, y in enumerate(labels)])
    body = {"batch_label": "fixture", "labels": labels, "data": data,
            "filenames": [f"img_{start + i}.png" for i in range(len(labels))]}  # fmt: skip
    return pickle.dumps(body, protocol=2)


def write_fake_cifar(folder: Path, per_batch: int = 4, n_test: int = 6) -> tuple[dict[str, str], dict]:
    """``folder/cifar-10-batches-py/`` with 5 x ``per_batch`` training and ``n_test`` test images."""
    target = folder / "cifar-10-batches-py"
    target.mkdir(parents=True, exist_ok=True)
    labels: dict[str, list[int]] = {"train": [], "test": []}
    for b, name in enumerate(BATCHES):
        ys = [(b * per_batch + i) % 10 for i in range(per_batch)]
        (target / name).write_bytes(batch_bytes(ys, b * per_batch))
        labels["train"] += ys
    labels["test"] = [(3 * i) % 10 for i in range(n_test)]
    (target / "test_batch").write_bytes(batch_bytes(labels["test"], 100))
    meta = {"num_cases_per_batch": per_batch, "label_names": CLASSES, "num_vis": 3072}
    (target / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    md5s = {
        n: hashlib.md5((target / n).read_bytes()).hexdigest()
        for n in (*BATCHES, "test_batch", "batches.meta")
    }
    return md5s, labels


def write_fake_archive(path: Path) -> tuple[str, dict[str, str], dict]:
    md5s, labels = write_fake_cifar(path.parent / "staging")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(path.parent / "staging" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return hashlib.md5(path.read_bytes()).hexdigest(), md5s, labels


@pytest.fixture
def fake_archive(tmp_path, monkeypatch):
    """A mirror folder holding a fake cifar-10-python.tar.gz; md5s pinned to it; no network."""
    mirror = tmp_path / "mirror"
    archive_md5, batch_md5, labels = write_fake_archive(mirror / cifar_kind.ARCHIVE_NAME)
    monkeypatch.setattr(cifar_kind, "ARCHIVE_MD5", archive_md5)
    monkeypatch.setattr(cifar_kind, "BATCH_MD5", batch_md5)
    monkeypatch.setattr(cifar_kind, "CIFAR10_URLS", [UNREACHABLE])
    return mirror, labels


def test_official_checksum_and_url_are_torchvisions():
    from torchvision.datasets import CIFAR10

    assert cifar_kind.ARCHIVE_MD5 == "c58f30108f718f92721af3b95e74349a" == CIFAR10.tgz_md5
    assert cifar_kind.CIFAR10_URLS[0] + cifar_kind.ARCHIVE_NAME == CIFAR10.url
    assert cifar_kind.BATCH_MD5 is None  # the real data are checked against torchvision's own batch md5s


def test_handwritten_batches_read_through_torchvision_keep_the_pixel_layout(tmp_path):
    md5s, labels = write_fake_cifar(tmp_path)
    out = cifar_kind.read_batches(tmp_path, md5s)
    assert out["classes"] == CLASSES
    assert out["train_images"].shape == (20, 3, 32, 32) and out["train_images"].dtype == torch.uint8
    assert out["train_labels"].tolist() == labels["train"]
    assert out["test_labels"].tolist() == labels["test"]
    for i, y in enumerate(labels["train"]):  # channel 0 is the red plane, as the format says
        assert torch.equal(out["train_images"][i], torch.from_numpy(image(y, i)))


def test_writer_round_trips_through_torchvision(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(12, 3, 32, 32), dtype=np.uint8)
    test = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    md5s = cifar_kind.write_batches(tmp_path, train, np.arange(12) % 10, test, [1, 2, 3])
    assert set(md5s) == {*BATCHES, "test_batch", "batches.meta"}
    out = cifar_kind.read_batches(tmp_path, md5s)
    assert torch.equal(out["train_images"], torch.from_numpy(train))
    assert torch.equal(out["test_images"], torch.from_numpy(test))
    assert out["train_labels"].tolist() == (np.arange(12) % 10).tolist()


def test_a_changed_batch_is_refused(tmp_path):
    md5s, _ = write_fake_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(cifar_kind.CifarFormatError, match="md5"):
        cifar_kind.read_batches(tmp_path, md5s)


def test_writer_rejects_bad_arrays(tmp_path):
    with pytest.raises(cifar_kind.CifarFormatError, match=r"uint8 \[N, 3, 32, 32\]"):
        cifar_kind.write_batches(
            tmp_path, np.zeros((10, 3, 28, 28), np.uint8), [0] * 10, np.zeros((1, 3, 32, 32), np.uint8), [0]
        )
    with pytest.raises(cifar_kind.CifarFormatError, match="0..9"):
        cifar_kind.write_batches(
            tmp_path, np.zeros((10, 3, 32, 32), np.uint8), [10] * 10, np.zeros((1, 3, 32, 32), np.uint8), [0]
        )


def test_prepare_from_a_mirror_verifies_extracts_and_loads(fake_archive, tmp_path):
    mirror, labels = fake_archive
    datasets = {"cifar10": {"mirror": str(mirror)}}
    manifest = prepare_dataset("cifar10", datasets, tmp_path / "data")
    assert (tmp_path / "data" / "cifar10" / "raw" / cifar_kind.ARCHIVE_NAME).is_file()
    splits = load_dataset("cifar10", datasets, tmp_path / "data")
    assert splits.classes == CLASSES and splits.image_shape == (3, 32, 32) and not splits.stand_in
    assert splits.train.tensors[1].tolist() == labels["train"]
    assert float(splits.train.tensors[0].max()) <= 1.0  # loaded as floats in [0, 1]
    assert manifest.read_text().count(cifar_kind.ARCHIVE_MD5) == 1
    assert not is_stand_in("cifar10")


def test_offline_error_names_file_url_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNBENCH_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError) as info:
        prepare_dataset("cifar10", None, tmp_path / "data")
    message = str(info.value)
    assert cifar_kind.ARCHIVE_NAME in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert str(tmp_path / "data" / "cifar10" / "raw") in message
    assert "c58f30108f718f92721af3b95e74349a" in message


def test_a_damaged_archive_in_the_raw_folder_is_refused(fake_archive, tmp_path):
    raw = tmp_path / "data" / "cifar10" / "raw"
    raw.mkdir(parents=True)
    (raw / cifar_kind.ARCHIVE_NAME).write_bytes(b"not an archive")
    with pytest.raises(ChecksumMismatchError, match=cifar_kind.ARCHIVE_NAME):
        prepare_dataset("cifar10", None, tmp_path / "data")


def test_standin_is_written_in_cifar_format_and_read_by_the_real_reader(tmp_path):
    settings = {"cifar10-standin": {"train_per_class": 3, "test_per_class": 2}}
    prepare_dataset("cifar10-standin", settings, tmp_path / "data")
    folder = tmp_path / "data" / "cifar10-standin" / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*BATCHES, "test_batch", "batches.meta"])
    splits = load_dataset("cifar10-standin", settings, tmp_path / "data")
    assert splits.stand_in and "stand-in for CIFAR-10" in splits.description
    assert is_stand_in("cifar10-standin", settings)
    assert len(splits.train) == 30 and len(splits.test) == 20
    assert torch.bincount(splits.train.tensors[1], minlength=10).tolist() == [3] * 10
    # Re-reading the files written on disk with torchvision gives back the prepared tensors.
    body = pickle.loads((folder / "data_batch_1").read_bytes(), encoding="latin1")
    assert body["data"].shape[1] == 3072 and len(body["labels"]) == body["data"].shape[0]


def test_standin_is_deterministic_and_classes_differ():
    a = cifar10_standin.generate(4, 2, seed=3)
    b = cifar10_standin.generate(4, 2, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    images, labels = a[0].astype(float), a[1]
    means = np.stack([images[labels == c].mean(axis=(0, 2, 3)) for c in range(10)])
    assert np.linalg.matrix_rank(means - means.mean(axis=0)) >= 2  # class colours are not all alike


def test_standin_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="train_per_class"):
        prepare_dataset("cifar10-standin", {"cifar10-standin": {"train_per_class": 0}}, tmp_path)
    with pytest.raises(ValueError, match="unknown settings"):
        prepare_dataset("cifar10-standin", {"cifar10-standin": {"n_train": 10}}, tmp_path)
