"""The identity-folders kind (root/<identity>/*.jpg, VGGFace's layout) and the generated faces stand-in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from unlearnbench.data import identity_folders as kind
from unlearnbench.data import identity_folders_standin as standin
from unlearnbench.data import is_stand_in, load_dataset, prepare_dataset, registry


def write_identities(root, counts, size=(40, 30), suffix=".png"):
    """``root/<identity>/<k>``: identity ``i`` has red 40 * i, image ``k`` green 10 * k, blue 200."""
    for i, (identity, count) in enumerate(counts.items()):
        (root / identity).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            pixels = np.zeros((size[0], size[1], 3), dtype=np.uint8)
            pixels[..., 0], pixels[..., 1], pixels[..., 2] = 40 * i, 10 * k, 200
            Image.fromarray(pixels).save(root / identity / f"{k:03d}{suffix}")


@pytest.fixture
def faces(tmp_path):
    root = tmp_path / "faces"
    write_identities(root, {"alice": 5, "bob": 4, "carol": 6})
    (root / "carol" / "notes.txt").write_text("not an image")
    return root


def test_every_identity_is_split_and_labelled(faces, tmp_path):
    config = {
        "mine": {
            "kind": "identity-folders",
            "root": str(faces),
            "image_size": [16, 16],
            "test_fraction": 0.25,
        }
    }
    prepare_dataset("mine", config, tmp_path / "data")
    splits = load_dataset("mine", config, tmp_path / "data")
    assert splits.classes == ["alice", "bob", "carol"] and splits.image_shape == (3, 16, 16)
    train_counts = torch.bincount(splits.train.tensors[1], minlength=3).tolist()
    test_counts = torch.bincount(splits.test.tensors[1], minlength=3).tolist()
    assert [a + b for a, b in zip(train_counts, test_counts)] == [5, 4, 6]  # the .txt file is not an image
    assert all(t >= 1 for t in test_counts) and all(t >= 1 for t in train_counts)
    # Labels follow the folders: red encodes the identity (uniform images survive resizing).
    red = (splits.train.tensors[0][:, 0, 8, 8] * 255).round()
    assert torch.equal(red, splits.train.tensors[1].double().float() * 40)
    assert not splits.stand_in and not is_stand_in("mine", config)


def test_split_is_reproducible_and_disjoint(faces):
    a = kind.read_identity_folders("x", {"root": str(faces), "image_size": [8, 8]})
    b = kind.read_identity_folders("x", {"root": str(faces), "image_size": [8, 8]})
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)

    # green encodes the image index: no image is in both splits of its identity
    def keys(images, labels):
        return {(int(y), int(round(float(x[1, 0, 0])))) for x, y in zip(images, labels)}

    assert keys(a.train_images, a.train_labels).isdisjoint(keys(a.test_images, a.test_labels))


def test_resize_then_centre_crop(tmp_path):
    root = tmp_path / "r"
    (root / "p").mkdir(parents=True)
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :10], pixels[:, 10:30], pixels[:, 30:] = 255, 120, 0  # bright left edge, dark right edge
    for k in range(2):
        Image.fromarray(pixels).save(root / "p" / f"{k}.png")
    data = kind.read_identity_folders("r", {"root": str(root), "image_size": [10, 10], "resize": 10})
    image = data.train_images[0]
    assert image.shape == (3, 10, 10)
    assert int(image[0].min()) >= 100 and int(image[0].max()) <= 140  # only the middle band is kept


def test_identity_order_fixes_codes_and_subsets(faces, tmp_path):
    order = tmp_path / "names.txt"
    order.write_text("zed\ncarol\nalice\nbob\n")
    data = kind.read_identity_folders(
        "o", {"root": str(faces), "image_size": [8, 8], "identity_order": str(order)}
    )
    assert data.label_values == ["zed", "carol", "alice", "bob"]  # codes = lines, e.g. VGGFace outputs
    assert set(data.train_labels.tolist()) == {1, 2, 3}
    first = kind.read_identity_folders("o", {"root": str(faces), "image_size": [8, 8], "identity_order": str(order),
                                             "max_identities": 1, "images_per_identity": 3})  # fmt: skip
    assert first.label_values == ["zed", "carol", "alice", "bob"]
    assert set(first.train_labels.tolist()) | set(first.test_labels.tolist()) == {1}
    assert len(first.train_labels) + len(first.test_labels) == 3
    chosen = kind.read_identity_folders(
        "c", {"root": str(faces), "image_size": [8, 8], "identities": ["bob", "alice"]}
    )
    assert chosen.label_values == ["alice", "bob"]


def test_errors_name_the_identity_or_file(faces, tmp_path):
    write_identities(faces, {"dave": 1})
    with pytest.raises(kind.IdentityFoldersError, match="'dave' has 1 image"):
        kind.read_identity_folders("e", {"root": str(faces)})
    order = tmp_path / "names.txt"
    order.write_text("alice\nbob\n")
    with pytest.raises(kind.IdentityFoldersError, match="not listed"):
        kind.read_identity_folders("e", {"root": str(faces), "identity_order": str(order)})
    with pytest.raises(kind.IdentityFoldersError, match="no folder"):
        kind.read_identity_folders("e", {"root": str(faces), "identities": ["eve"]})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        kind.read_identity_folders("e", {"root": str(tmp_path / "nowhere")})
    (faces / "bob" / "999.png").write_bytes(b"broken")
    with pytest.raises(kind.IdentityFoldersError, match="999.png"):
        kind.read_identity_folders("e", {"root": str(faces), "identities": ["alice", "bob"]})


def test_source_digest_tracks_image_content(faces):
    ref = registry.resolve_dataset("mine", {"mine": {"kind": "identity-folders", "root": str(faces)}})
    before = kind.source_digest(ref)
    write_identities(faces, {"alice": 5}, size=(40, 31))
    assert kind.source_digest(ref) != before


def test_faces_standin_is_jpeg_folders_read_by_the_real_loader(tmp_path):
    config = {"faces-standin": {"n_identities": 3, "images_per_identity": 5, "image_size": [32, 32]}}
    prepare_dataset("faces-standin", config, tmp_path / "data")
    root = tmp_path / "data" / "faces-standin" / standin.IMAGES_FOLDER
    assert sorted(p.name for p in root.iterdir()) == [standin.identity_name(i) for i in range(3)]
    assert all(len(list((root / d).glob("*.jpg"))) == 5 for d in (p.name for p in root.iterdir()))
    splits = load_dataset("faces-standin", config, tmp_path / "data")
    assert splits.stand_in and "stand-in for VGGFace" in splits.description
    assert splits.image_shape == (3, 32, 32) and len(splits.train) + len(splits.test) == 15
    # A smaller setting rewrites the folder: no identity of the earlier one lingers.
    config = {"faces-standin": {"n_identities": 2, "images_per_identity": 4, "image_size": [32, 32]}}
    prepare_dataset("faces-standin", config, tmp_path / "data")
    assert len(load_dataset("faces-standin", config, tmp_path / "data").classes) == 2


def test_standin_identities_differ_more_than_their_images():
    rng = np.random.default_rng(0)
    people = [standin._identity(np.random.default_rng([0, 1, i])) for i in range(2)]
    images = [
        [np.asarray(standin.draw_face(p, rng).resize((32, 32)), dtype=float) for _ in range(6)]
        for p in people
    ]
    within = np.mean([np.abs(a - b).mean() for imgs in images for a, b in zip(imgs[:-1], imgs[1:])])
    means = [np.mean(imgs, axis=0) for imgs in images]
    assert np.abs(means[0] - means[1]).mean() > 0.3 * within
    with pytest.raises(ValueError, match="n_identities"):
        standin.settings_of({"n_identities": 1})
