"""The VAE's loss terms and the vae-sevens helpers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dlrepro.experiments.vae_sevens import only_digits
from dlrepro.models.vae import ConvVAE, NegativeELBO, elbo_loss
from dlrepro.train.engine import Split


def test_negative_elbo_terms_are_the_summed_cross_entropy_and_the_closed_form_kl():
    torch.manual_seed(0)
    vae = ConvVAE(latent=3, channels=(4, 8), hidden=16)
    x = torch.rand(5, 1, 28, 28)
    torch.manual_seed(1)
    terms = NegativeELBO(vae)(x)
    assert terms.shape == (5, 2)
    mean, log_var = vae.encode(x)
    torch.manual_seed(1)
    z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
    recon = F.binary_cross_entropy_with_logits(vae.decode_logits(z), x, reduction="none").sum((1, 2, 3))
    assert torch.allclose(terms[:, 0], recon, rtol=1e-5)
    # KL(N(m, s²) || N(0, 1)) per dimension: log(1/s) + (s² + m²)/2 - 1/2
    s = (0.5 * log_var).exp()
    kl = (-s.log() + (s ** 2 + mean ** 2) / 2 - 0.5).sum(1)
    assert torch.allclose(terms[:, 1], kl, rtol=1e-5, atol=1e-6)
    assert (terms[:, 1] >= 0).all()
    assert elbo_loss(terms, x, None).item() == pytest.approx(terms.sum(1).mean().item())


def test_a_posterior_equal_to_the_prior_costs_no_kl():
    vae = ConvVAE(latent=2, channels=(2, 2), hidden=4)
    with torch.no_grad():
        last = vae.encoder[-1]
        last.weight.zero_()
        last.bias.zero_()                           # mean 0, log-variance 0 for every image
    terms = NegativeELBO(vae)(torch.rand(3, 1, 28, 28))
    assert torch.allclose(terms[:, 1], torch.zeros(3), atol=1e-7)
    assert (terms[:, 0] > 0).all() and terms[:, 0].max() < 784 * math.log(2) * 4


def test_decoded_digits_are_pixel_probabilities():
    images = ConvVAE(latent=4, channels=(4, 8), hidden=16).decode(torch.randn(7, 4) * 10)
    assert images.shape == (7, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1


def test_only_digits_keeps_the_asked_classes_in_order():
    split = Split(torch.arange(10.0)[:, None], torch.tensor([7, 1, 7, 3, 2, 7, 0, 9, 7, 1]))
    sevens = only_digits(split, [7])
    assert sevens.y.tolist() == [7, 7, 7, 7]
    assert sevens.x[:, 0].tolist() == [0, 2, 5, 8]
    assert only_digits(split, None) is split
    assert sorted(set(only_digits(split, [1, 3]).y.tolist())) == [1, 3]
