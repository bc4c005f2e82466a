"""The vanilla VAE of the gradient-surgery paper (MNIST experiment: linear encoder/decoder).

Kingma & Welling (2013) with a Bernoulli decoder: the paper only says "stack of linear
layers", so the widths follow the classic PyTorch example (784-400-20) and are
configurable. The loss is the negative ELBO per sample (summed over pixels, averaged
over the batch), the training loss L of the paper's equation (1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class VAE(nn.Module):
    """What every VAE here shares once ``encode`` and ``decode_logits`` are given: the reparameterised
    forward pass, the mean image and sampling from the prior, so that :func:`elbo_loss` and the
    unlearning methods see one interface whatever the encoder and decoder are."""

    latent_dim: int

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image in [0, 1] for latent codes ``z`` (what the evaluation classifier sees)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode_logits(z), mu, logvar

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)


class MLPVAE(VAE):
    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int] = (400,), latent_dim: int = 20) -> None:
        super().__init__()
        self.image_shape = tuple(int(d) for d in image_shape)
        self.latent_dim = int(latent_dim)
        n_in = 1
        for d in self.image_shape:
            n_in *= d
        widths = [n_in, *hidden]
        self.encoder = nn.Sequential(*_mlp(widths))
        self.to_mu = nn.Linear(widths[-1], latent_dim)
        self.to_logvar = nn.Linear(widths[-1], latent_dim)
        dec_widths = [latent_dim, *reversed(hidden)]
        self.decoder_body = nn.Sequential(*_mlp(dec_widths))
        self.to_logits = nn.Linear(dec_widths[-1], n_in)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_logits(self.decoder_body(z)).view(-1, *self.image_shape)


def _mlp(widths: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers


def elbo_loss(model: VAE, batch, generator: torch.Generator | None = None) -> torch.Tensor:
    """Negative ELBO averaged over the batch; ``batch`` is ``(images, labels)`` or images."""
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    logits, mu, logvar = model(x, generator=generator)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return (recon + kl).mean()


MODELS = {"mlp-vae": MLPVAE}
