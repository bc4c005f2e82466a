"""The mnist kind on a tiny fake MNIST in the real gzipped idx format (mirror, raw folder, HTTP)."""

from __future__ import annotations

import pytest
import torch
from fixtures.writers import MNIST_NAMES, serve_folder, write_fake_mnist

from unlearnbench.data import (
    ChecksumMismatchError,
    DatasetUnavailableError,
    load_dataset,
    prepare_dataset,
)
from unlearnbench.data import mnist as mnist_kind
from unlearnbench.storage import read_json

UNREACHABLE = "http://127.0.0.1:9/"


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A mirror folder with a 60/20-image fake MNIST; the md5 table pinned to its files; no network."""
    mirror = tmp_path / "mirror"
    md5s = write_fake_mnist(mirror, n_train=60, n_test=20)
    monkeypatch.setattr(mnist_kind, "MNIST_MD5", md5s)
    monkeypatch.setattr(mnist_kind, "MNIST_URLS", [UNREACHABLE])
    return mirror, md5s


def test_official_checksums_are_the_torchvision_ones():
    assert mnist_kind.MNIST_MD5 == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    assert mnist_kind.MNIST_URLS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


def test_prepare_from_mirror_then_load_mnist138(tmp_path, fake_mnist):
    mirror, md5s = fake_mnist
    config = {"mnist": {"mirror": str(mirror)}}
    root = tmp_path / "data"
    manifest_path = prepare_dataset("mnist138", config, root)
    assert manifest_path == root / "mnist" / "manifest.json"
    manifest = read_json(manifest_path)
    assert manifest["dataset"] == "mnist" and manifest["kind"] == "mnist" and manifest["stand_in"] is False
    assert manifest["n_train"] == 60 and manifest["n_test"] == 20 and manifest["image_shape"] == [1, 28, 28]
    assert manifest["classes"] == list(range(10))
    for name, md5 in md5s.items():
        entry = manifest["files"][name]
        assert entry["md5"] == md5 and entry["bytes"] == (root / "mnist" / "raw" / name).stat().st_size
        assert entry["url"] == UNREACHABLE + name and entry["obtained_from"] == str(mirror / name)

    splits = load_dataset("mnist138", config, root)
    assert splits.classes == [1, 3, 8] and splits.image_shape == (1, 28, 28) and not splits.stand_in
    assert splits.description == "MNIST 28x28, classes 1, 3, 8"
    images, labels = splits.train.tensors
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert len(splits.train) == 18 and len(splits.test) == 6  # 6 and 2 of each digit
    assert sorted(labels.unique().tolist()) == [0, 1, 2]
    # fake images encode their digit in brightness (20 * digit + 30 + noise 0..4)
    digit = torch.tensor([1, 3, 8])[labels]
    mean = images.mean(dim=(1, 2, 3)) * 255
    assert torch.all((mean >= 20 * digit + 30) & (mean <= 20 * digit + 34))


def test_prepare_is_idempotent_and_notices_changes(tmp_path, fake_mnist):
    mirror, _ = fake_mnist
    config = {"mnist": {"mirror": str(mirror)}}
    root = tmp_path / "data"
    prepare_dataset("mnist", config, root)
    prepared = root / "mnist" / "prepared.pt"
    stamp = prepared.stat().st_mtime_ns
    prepare_dataset("mnist", config, root)  # the raw folder now serves; nothing is rewritten
    prepare_dataset("mnist", {"mnist": {"download": False}}, root)
    assert prepared.stat().st_mtime_ns == stamp
    prepared.write_bytes(b"damaged")
    prepare_dataset("mnist", config, root)  # the prepared file's md5 no longer matches: rebuilt
    assert load_dataset("mnist", config, root).classes == list(range(10))


def test_partial_mirror_names_every_missing_file(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    test_only = [MNIST_NAMES["test_images"], MNIST_NAMES["test_labels"]]
    md5s = write_fake_mnist(mirror, only=test_only)
    table = {**md5s, MNIST_NAMES["train_images"]: "0" * 32, MNIST_NAMES["train_labels"]: "1" * 32}
    monkeypatch.setattr(mnist_kind, "MNIST_MD5", table)
    monkeypatch.setattr(mnist_kind, "MNIST_URLS", [UNREACHABLE])
    root = tmp_path / "data"
    with pytest.raises(DatasetUnavailableError) as info:
        prepare_dataset("mnist", {"mnist": {"mirror": str(mirror)}}, root)
    message = str(info.value)
    assert "2 MNIST file(s) are missing" in message
    for name in (MNIST_NAMES["train_images"], MNIST_NAMES["train_labels"]):
        assert name in message and UNREACHABLE + name in message and table[name] in message
    assert str(root / "mnist" / "raw") in message and "data/mnist/raw/" in message
    # the files the mirror did have were copied and verified; nothing was prepared
    assert sorted(p.name for p in (root / "mnist" / "raw").iterdir()) == sorted(test_only)
    assert not (root / "mnist" / "manifest.json").exists()


def test_offline_switch_disables_downloads(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setenv("UNLEARNBENCH_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match="Downloads are disabled"):
        prepare_dataset("mnist", None, tmp_path / "data")


def test_damaged_raw_file_is_a_checksum_error(tmp_path, fake_mnist):
    mirror, _ = fake_mnist
    raw = tmp_path / "data" / "mnist" / "raw"
    raw.mkdir(parents=True)
    (raw / MNIST_NAMES["train_labels"]).write_bytes(b"not the file")
    with pytest.raises(ChecksumMismatchError, match=MNIST_NAMES["train_labels"]):
        prepare_dataset("mnist", {"mnist": {"mirror": str(mirror)}}, tmp_path / "data")


def test_download_from_http_mirror(tmp_path, fake_mnist):
    mirror, md5s = fake_mnist
    with serve_folder(mirror) as base:
        config = {"mnist": {"urls": [UNREACHABLE, base], "timeout": 5}}
        manifest = read_json(prepare_dataset("mnist", config, tmp_path / "data"))
    assert {name: entry["md5"] for name, entry in manifest["files"].items()} == md5s
    assert all(entry["obtained_from"] == base + name for name, entry in manifest["files"].items())


def test_http_mirror_serving_wrong_bytes(tmp_path, fake_mnist, monkeypatch):
    mirror, md5s = fake_mnist
    monkeypatch.setattr(mnist_kind, "MNIST_MD5", {**md5s, MNIST_NAMES["test_labels"]: "f" * 32})
    with serve_folder(mirror) as base, pytest.raises(ChecksumMismatchError, match=MNIST_NAMES["test_labels"]):
        prepare_dataset("mnist", {"mnist": {"urls": [base]}}, tmp_path / "data")
    assert not (tmp_path / "data" / "mnist" / "raw" / MNIST_NAMES["test_labels"]).exists()


def test_load_before_prepare_names_the_command_and_the_manifest(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist138", None, tmp_path / "data")
    message = str(info.value)
    assert (
        "unlearnbench prepare-data" in message
        and str(tmp_path / "data" / "mnist" / "manifest.json") in message
    )
