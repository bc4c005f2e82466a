"""Market-1501 stand-in: written in the real layout and parsed by torchreid's own Market1501 class."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from unlearnbench.data.download import DatasetUnavailableError
from unlearnbench.data.market1501 import (
    MARKET_SUBDIR,
    ReidDataError,
    denormalise,
    image_tensors,
    load_reid,
    normalise,
    parse_torchreid,
    standin_root,
    write_market1501_standin,
)

NAME = re.compile(r"^(-1|\d{4})_c[1-6]s\d_\d{6}_\d{2}\.jpg$")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("reid")
    write_market1501_standin(
        root, train_ids=4, test_ids=3, images_per_id=4, image_size=(32, 16), distractors=2, junk=1
    )
    return root


def test_layout_and_file_names_follow_market1501(standin):
    base = standin.joinpath(*MARKET_SUBDIR)
    names = {
        folder: sorted(p.name for p in (base / folder).iterdir())
        for folder in ("bounding_box_train", "query", "bounding_box_test")
    }
    assert all(NAME.match(n) for files in names.values() for n in files)
    assert len(names["bounding_box_train"]) == 16 and len(names["query"]) == 6
    assert sum(n.startswith("-1_") for n in names["bounding_box_test"]) == 1
    assert sum(n.startswith("0000_") for n in names["bounding_box_test"]) == 2


def test_torchreid_market1501_class_parses_the_standin(standin):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchreid.reid.data.datasets import Market1501

    dataset = Market1501(root=str(standin), verbose=False)  # torchreid's class, unchanged
    assert len(dataset.train) == 16 and dataset.num_train_pids == 4
    assert (
        len(dataset.query) == 6 and len(dataset.gallery) == 3 * 2 + 2
    )  # junk (-1) dropped, distractors (0) kept
    train, query, gallery, n_pids = parse_torchreid("market1501", standin)
    assert n_pids == 4 and sorted(set(train.pids.tolist())) == [0, 1, 2, 3]
    assert set(query.pids.tolist()) <= set(gallery.pids.tolist())  # every query has gallery matches
    assert 0 in gallery.pids  # the distractors
    assert train.paths == sorted(train.paths)
    # every identity is seen by at least two cameras (cross-camera matches exist)
    for pid in np.unique(train.pids):
        assert len(set(train.camids[train.pids == pid].tolist())) >= 2


def test_missing_dataset_is_not_downloaded(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="does not download"):
        parse_torchreid("market1501", tmp_path)
    assert not (tmp_path / "market1501").exists()
    with pytest.raises(ReidDataError, match="unknown re-ID dataset"):
        parse_torchreid("market-1501", tmp_path)


def test_load_reid_standin_and_cached_tensors(tmp_path):
    options = {"train_ids": 3, "test_ids": 2, "images_per_id": 3, "image_size": [32, 16]}
    data = load_reid({"source": "standin", "standin": options}, tmp_path)
    assert data.stand_in and data.num_train_pids == 3 and "STAND-IN" in data.description
    assert standin_root(tmp_path, options) == data.root  # written once
    images = image_tensors(data, (24, 12))
    assert images["train"].shape == (9, 3, 24, 12) and images["train"].dtype == torch.uint8
    cached = list(data.root.glob("prepared-*.pt"))
    assert len(cached) == 1
    assert torch.equal(image_tensors(data, (24, 12))["query"], images["query"])
    x = normalise(images["train"])
    assert torch.allclose(denormalise(x), images["train"].float() / 255, atol=1e-6)
    with pytest.raises(ReidDataError, match="market1501"):
        load_reid({"source": "standin", "dataset": "grid"}, tmp_path)
