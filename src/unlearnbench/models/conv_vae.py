"""The convolutional VAE of the gradient-surgery paper's CelebA experiment (64x64 RGB).

The paper says only "vanilla VAE with convolutional encoders" (A.1). We use the usual
64x64 CelebA VAE: an encoder of ``len(hidden)`` blocks [3x3 convolution with stride 2,
batch norm, LeakyReLU] with channels 32, 64, 128, 256, 512 (each halves the resolution,
64 -> 2), linear maps to a 128-d mean and log-variance, and a mirrored decoder of
transposed 3x3 convolutions (stride 2) back to 64x64, ending in a 3x3 convolution to the
image channels. The widths are configurable (``hidden``) so the quick profile can train a
small copy on a CPU in seconds.

It is a :class:`unlearnbench.models.vae.VAE` (it gives ``encode`` and ``decode_logits``; the
base gives ``decode``, ``forward`` returning logits, mean and log-variance, and ``sample``),
so :func:`unlearnbench.models.vae.elbo_loss` and every unlearning method work on both
unchanged. Pixels are Bernoulli-modelled as for MNIST (binary cross-entropy on [0, 1]
intensities), which keeps one ELBO for both experiments.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unlearnbench.models.vae import VAE

DEFAULT_HIDDEN = (32, 64, 128, 256, 512)
NEGATIVE_SLOPE = 0.01


def _down(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(NEGATIVE_SLOPE)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(NEGATIVE_SLOPE),
    ]


class ConvVAE(VAE):
    def __init__(
        self, image_shape: Sequence[int], hidden: Sequence[int] = DEFAULT_HIDDEN, latent_dim: int = 128
    ) -> None:
        super().__init__()
        self.image_shape = tuple(int(d) for d in image_shape)
        self.latent_dim = int(latent_dim)
        hidden = [int(h) for h in hidden]
        if len(self.image_shape) != 3 or not hidden or min(hidden) < 1 or self.latent_dim < 1:
            raise ValueError(
                f"ConvVAE needs image_shape [C, H, W], a non-empty list of positive widths and latent_dim >= 1; "
                f"got {list(image_shape)}, {hidden}, {latent_dim}"
            )
        channels, height, width = self.image_shape
        factor = 2 ** len(hidden)
        if height % factor or width % factor:
            raise ValueError(
                f"ConvVAE with {len(hidden)} stride-2 blocks needs image sides divisible by {factor}, got {height}x{width}"
            )
        self.spatial = (height // factor, width // factor)
        flat = hidden[-1] * self.spatial[0] * self.spatial[1]

        encoder: list[nn.Module] = []
        for cin, cout in zip([channels, *hidden[:-1]], hidden):
            encoder += _down(cin, cout)
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.to_mu = nn.Linear(flat, self.latent_dim)
        self.to_logvar = nn.Linear(flat, self.latent_dim)

        reversed_widths = hidden[::-1]
        self.decoder_input = nn.Linear(self.latent_dim, flat)
        decoder: list[nn.Module] = []
        for cin, cout in zip(reversed_widths[:-1], reversed_widths[1:]):
            decoder += _up(cin, cout)
        # the last upsampling keeps the width, then a plain convolution maps to the image channels
        decoder += _up(hidden[0], hidden[0])
        decoder.append(nn.Conv2d(hidden[0], channels, 3, padding=1))
        self.decoder = nn.Sequential(*decoder)
        self._top = (hidden[-1], *self.spatial)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.decoder_input(z).view(-1, *self._top))


MODELS = {"conv-vae": ConvVAE}
