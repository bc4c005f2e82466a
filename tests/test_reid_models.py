"""torchreid models, activation maps and torchreid's retrieval evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.metrics.activation_maps import activation_maps, map_change, normalise_map, overlay
from unlearnbench.metrics.reid import identity_retrieval, retrieval_metrics
from unlearnbench.models import load_model, save_model
from unlearnbench.models.reid import MODEL_NAME, ReidLoss, ReidNet, ReidRecipe, activation_layer


@pytest.fixture(scope="module")
def net() -> ReidNet:
    torch.manual_seed(0)
    return ReidNet("resnet18", 5).eval()


def test_forward_gives_logits_in_both_modes(net, tmp_path):
    x = torch.randn(2, 3, 32, 16)
    assert net(x).shape == (2, 5) and net.embed(x).shape == (2, 512)
    net.train()
    try:
        assert net(x).shape == (2, 5)
        with pytest.raises(RuntimeError, match="eval mode"):
            net.embed(x)
    finally:
        net.eval()
    save_model(tmp_path / "r.pt", net, MODEL_NAME, {"arch": "resnet18", "num_classes": 5}, {})
    loaded, _ = load_model(tmp_path / "r.pt")
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    with pytest.raises(ValueError, match="torchreid has no model"):
        ReidNet("resnet-50", 5)
    assert float(ReidLoss(0.1)(net, (x, torch.tensor([0, 1]))).detach()) > 0
    recipe = ReidRecipe.from_config({"epochs": 3, "batch_size": 8, "optimizer": {"name": "adam", "lr": 3e-4}})
    assert recipe.optimizer.weight_decay == 5e-4 and recipe.scheduler.step_size == 20
    assert not recipe.scheduler.per_batch and recipe.drop_last(9) and not recipe.drop_last(8)
    with pytest.raises(ValueError, match="Adam"):
        ReidRecipe.from_config({"optimizer": {"name": "sgd"}})


def test_activation_maps(net):
    x = torch.randn(3, 3, 64, 32)
    layer = activation_layer(net)
    assert layer == "backbone.layer4"
    maps = activation_maps(net, x, layer)
    assert maps.shape == (3, 64, 32) and (maps >= 0).all()
    assert map_change(maps[0], maps[0]) == {
        "cosine_distance": pytest.approx(0.0, abs=1e-6),
        "relative_l2": 0.0,
    }
    assert map_change(maps[0], 2 * maps[0])["cosine_distance"] == pytest.approx(
        0.0, abs=1e-6
    )  # shape, not scale
    assert map_change(maps[0], 2 * maps[0])["relative_l2"] == pytest.approx(1.0)
    unit = normalise_map(maps)
    assert unit.min() == 0.0 and unit.max() == 1.0
    blended = overlay(np.zeros((64, 32, 3)), maps[0])
    assert blended.shape == (64, 32, 3) and blended.min() >= 0 and blended.max() <= 1
    with pytest.raises(ValueError, match="no module"):
        activation_maps(net, x, "backbone.layer9")


def test_retrieval_metrics_follow_the_market1501_protocol():
    pids = np.array([1, 1, 2, 2, 3, 3])
    cams = np.array([0, 1, 0, 1, 0, 1])
    features = torch.eye(4)[pids]  # identical features within an identity
    perfect = retrieval_metrics(features[[0, 2]], features, pids[[0, 2]], pids, cams[[0, 2]], cams)
    assert perfect["mAP"] == pytest.approx(1.0) and perfect["rank1"] == pytest.approx(1.0)
    # a query whose only cross-camera match ranks last: AP = 1/5 (same-camera image of its id is ignored)
    features = torch.tensor([[0.0], [10.0], [1.0], [1.0], [2.0], [2.0]])
    worst = retrieval_metrics(features[[0]], features, pids[[0]], pids, cams[[0]], cams)
    assert worst["rank1"] == 0.0 and worst["mAP"] == pytest.approx(1 / 5)
    assert identity_retrieval(torch.eye(4)[pids], pids, cams, 2)["mAP"] == pytest.approx(1.0)
    assert identity_retrieval(torch.eye(4)[pids], pids, np.zeros(6, dtype=int), 2) is None  # one camera only
