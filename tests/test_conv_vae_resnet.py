"""The CelebA models: convolutional VAE (shapes, ELBO, checkpoints) and the ResNet-18 classifier."""

from __future__ import annotations

import pytest
import torch

from unlearnbench.metrics.generative import classify
from unlearnbench.models import build_model, load_model, save_model
from unlearnbench.models.conv_vae import ConvVAE
from unlearnbench.models.resnet import ResNet18Classifier
from unlearnbench.models.vae import elbo_loss


def test_conv_vae_encodes_decodes_and_trains_on_64x64_rgb():
    torch.manual_seed(0)
    model = ConvVAE((3, 64, 64), hidden=(4, 4, 8, 8, 8), latent_dim=6)
    x = torch.rand(5, 3, 64, 64)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 6)
    with torch.no_grad():
        images = model.decode(mu)
    assert images.shape == (5, 3, 64, 64) and float(images.min()) >= 0 and float(images.max()) <= 1
    loss = elbo_loss(model, (x, torch.zeros(5)), generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
    model.eval()
    assert model.sample(3, generator=torch.Generator().manual_seed(1)).shape == (3, 3, 64, 64)


def test_conv_vae_paper_architecture_halves_the_resolution_per_block():
    model = ConvVAE((3, 64, 64))  # 32..512 channels, latent 128
    assert model.spatial == (2, 2) and model.latent_dim == 128
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512]
    assert all(c.stride == (2, 2) and c.kernel_size == (3, 3) for c in convs)


def test_conv_vae_rejects_sizes_the_blocks_cannot_halve():
    with pytest.raises(ValueError, match="divisible by 32"):
        ConvVAE((3, 48, 40), hidden=(4, 4, 4, 4, 4))


def test_conv_vae_checkpoint_round_trip(tmp_path):
    kwargs = {"image_shape": [3, 16, 16], "hidden": [4, 8], "latent_dim": 3}
    model = build_model("conv-vae", **kwargs).eval()
    path = save_model(tmp_path / "vae.pt", model, "conv-vae", kwargs, {"note": "test"})
    loaded, meta = load_model(path)
    z = torch.randn(2, 3)
    assert torch.equal(model.decode(z), loaded.decode(z)) and meta["note"] == "test"


def test_resnet18_at_width_64_is_torchvision_resnet18():
    from torchvision.models import resnet18

    ours = ResNet18Classifier(in_channels=3, n_classes=2, width=64)
    reference = resnet18(weights=None, num_classes=2)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    assert ours.head.in_features == 512


def test_resnet18_narrow_embed_head_and_classify():
    torch.manual_seed(0)
    model = ResNet18Classifier(in_channels=3, n_classes=2, width=4).eval()
    x = torch.rand(6, 3, 64, 64)
    assert model.embed(x).shape == (6, 32)
    assert torch.allclose(model(x), model.head(model.embed(x)))
    probs, feats = classify(model, x, batch_size=4)
    assert probs.shape == (6, 2) and feats.shape == (6, 32)
    assert abs(float(probs.sum()) - 6.0) < 1e-4
    gray = ResNet18Classifier(in_channels=1, n_classes=3, width=4).eval()
    assert gray(torch.rand(2, 1, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="n_classes >= 2"):
        ResNet18Classifier(n_classes=1)
