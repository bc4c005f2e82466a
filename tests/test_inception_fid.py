"""Inception FID features from a local weights file: clear errors, never a download."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from unlearnbench.metrics import inception_fid
from unlearnbench.metrics.inception_fid import InceptionWeightsError, inception_features, load_inception


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A state dict with the FID Inception's keys and shapes (torchvision's Inception-v3, 1008 classes)."""
    from torchvision.models import inception_v3

    net = inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    path = tmp_path_factory.mktemp("inception") / "random.pth"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path):
    missing = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    with pytest.raises(InceptionWeightsError) as info:
        load_inception(missing)
    assert str(missing) in str(info.value) and inception_fid.WEIGHTS_URL in str(info.value)


def test_foreign_weights_fail_the_hash_check(random_weights):
    with pytest.raises(InceptionWeightsError, match="6726825d"):
        load_inception(random_weights[0])


def test_local_weights_are_loaded_without_any_download(random_weights):
    path, state = random_weights
    from pytorch_fid import inception as fid_inception

    def forbid(*args, **kwargs):
        raise AssertionError("tried to download")

    with mock.patch("urllib.request.urlopen", forbid):
        model = load_inception(path, verify=False)
    # pytorch-fid's block 0 starts with Conv2d_1a_3x3: its weights are the file's
    first_conv = model.blocks[0][0].conv.weight
    assert torch.equal(first_conv, state["Conv2d_1a_3x3.conv.weight"])
    assert fid_inception.load_state_dict_from_url is not None  # the patch was undone


@pytest.mark.slow
def test_features_are_2048_dimensional_for_rgb_and_grayscale(random_weights):
    model = load_inception(random_weights[0], verify=False)
    assert inception_features(model, torch.rand(2, 3, 32, 32)).shape == (2, 2048)
    assert inception_features(model, torch.rand(1, 1, 28, 28)).shape == (1, 2048)
    with pytest.raises(ValueError, match="1 or 3"):
        inception_features(model, torch.rand(1, 2, 8, 8))
