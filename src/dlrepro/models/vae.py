"""A convolutional VAE for 28x28 digits (REFERENCE.md vae-sevens): Gaussian latent, Bernoulli pixels.

Encoder: two stride-2 4x4 convolutions (28 → 14 → 7), a dense layer, then the mean and log-variance
of q(z|x). Decoder: the mirror, transposed convolutions back to 28x28 pixel logits. NegativeELBO
wraps it for training: its output per image is (reconstruction, KL) in nats, the two terms of the
negative evidence lower bound, so the training loop's loss is their sum averaged over images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvVAE(nn.Module):
    def __init__(self, latent: int = 4, channels: tuple[int, int] = (32, 64), hidden: int = 256):
        super().__init__()
        c1, c2 = channels
        self.latent = latent
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, c2 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        return self.encoder(x).chunk(2, dim=1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities in [0, 1] (the Bernoulli means): what traversals and grids show."""
        return torch.sigmoid(self.decoder(z))


class NegativeELBO(nn.Module):
    """Per image: [reconstruction, KL] in nats, with one reparameterised sample of z.

    Reconstruction: binary cross-entropy of the pixel logits against the pixel intensities (in
    [0, 1], not binarised), summed over the 784 pixels; KL(q(z|x) || N(0, I)) in closed form.
    """

    def __init__(self, vae: ConvVAE):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.vae.encode(x)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        logits = self.vae.decode_logits(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)
        return torch.stack([recon, kl], dim=1)


def elbo_loss(terms: torch.Tensor, _targets: torch.Tensor, _mask: torch.Tensor | None) -> torch.Tensor:
    """The training loop's loss (engine.LossFn): the negative ELBO, averaged over images."""
    return terms.sum(1).mean()
