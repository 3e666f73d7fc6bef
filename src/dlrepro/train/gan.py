"""Training of a conditional GAN (cgan-label, cgan-center): the losses, one step, the epoch loop.

Non-saturating GAN losses with logits (binary cross-entropy): the discriminator learns real
(condition, image) pairs as 1 and generated ones as 0; the generator learns to make it say 1.
cgan-center adds a reconstruction term to the generator's loss, weight · reconstruction; with
`detach` (the original's flaw) the term's value is added to the loss it prints but carries no
gradient, so the generator trains as if the weight were 0.

The whole training set sits on the device; each epoch draws one index permutation and slices
batches from it, as train.engine.fit does. Noise and dropout use torch's global generator, which
run_seeds seeds per training seed. At every checkpoint (every `every` epochs and the last) a
callback measures the generator; its values join that epoch's history row.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from dlrepro.models.gan import Discriminator, Generator
from dlrepro.train import optim
from dlrepro.train.engine import progress

log = logging.getLogger(__name__)

# What one step reports (the epoch's history row holds their means over its steps):
# discriminator loss, generator adversarial loss, reconstruction term (0 without one), generator
# total loss (adversarial + weight · reconstruction, the value the original printed), and the
# discriminator's mean probability of "real" on real and on generated images.
STEP_VALUES = ("d_loss", "g_adversarial", "g_reconstruction", "g_loss", "d_real", "d_fake")


@dataclass(frozen=True)
class Reconstruction:
    """weight · loss(generated, real, condition) added to the generator's loss; detach: the
    value only, no gradient (the original's flaw)."""

    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    weight: float
    detach: bool = False


def discriminator_loss(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor,
                       mismatched: torch.Tensor | None = None):
    """BCE of real pairs against 1 and generated pairs (detached: no gradient to the generator)
    against 0, summed as in the usual GAN recipes; all pairs go through one forward pass.

    mismatched, when given, holds a wrong condition for each real image: the matching-aware
    discriminator of Reed et al. 2016 (GAN-INT-CLS) also learns (real image, wrong condition)
    as 0, the fake side then being the mean of the generated and the mismatched pairs' losses. A
    discriminator that concatenates its condition otherwise learns only slowly to look at it.
    Returns the loss and the mean probability of "real" on real and on generated images."""
    n, device = len(real), real.device
    images, conditions = [real, fake.detach()], [condition, condition]
    if mismatched is not None:
        images.append(real)
        conditions.append(mismatched)
    logits = disc(torch.cat(images), torch.cat(conditions))
    bce = F.binary_cross_entropy_with_logits
    loss = bce(logits[:n], torch.ones(n, device=device))
    fake_logits = logits[n:]
    loss = loss + bce(fake_logits, torch.zeros(len(fake_logits), device=device))  # mean over generated (and mismatched)
    probs = torch.sigmoid(logits.detach())
    return loss, probs[:n].mean(), probs[n:2 * n].mean()


def generator_loss(disc: Discriminator, fake: torch.Tensor, real: torch.Tensor, condition: torch.Tensor,
                   reconstruction: Reconstruction | None = None):
    """(total, adversarial, reconstruction term): the non-saturating BCE of the discriminator's
    verdict on generated pairs against 1, plus weight · reconstruction (no gradient if detached)."""
    logits = disc(fake, condition)
    adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    if reconstruction is None:
        return adversarial, adversarial, torch.zeros((), device=fake.device)
    term = reconstruction.loss(fake, real, condition)
    if reconstruction.detach:
        term = term.detach()
    return adversarial + reconstruction.weight * term, adversarial, term


def gan_step(gen: Generator, disc: Discriminator, opt_g: optim.Optimizer, opt_d: optim.Optimizer,
             real: torch.Tensor, condition: torch.Tensor, reconstruction: Reconstruction | None = None,
             mismatched: torch.Tensor | None = None) -> torch.Tensor:
    """One discriminator step, then one generator step on the same generated batch (against the
    updated discriminator). Returns the STEP_VALUES as one detached tensor."""
    z = torch.randn(len(real), gen.noise, device=real.device)
    fake = gen(z, condition)
    d_loss, d_real, d_fake = discriminator_loss(disc, real, fake, condition, mismatched)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    disc.requires_grad_(False)  # the generator's step needs gradients through D, not of D's weights
    g_loss, adversarial, term = generator_loss(disc, fake, real, condition, reconstruction)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    disc.requires_grad_(True)
    return torch.stack([d_loss, adversarial, term, g_loss, d_real, d_fake]).detach()


def adam_pair(gen: Generator, disc: Discriminator, lr: float, betas: tuple[float, float]):
    """Adam for each network (train.optim: all tensors of a network in one foreach op)."""
    return optim.Adam(gen.parameters(), lr=lr, betas=betas), optim.Adam(disc.parameters(), lr=lr, betas=betas)


def checkpoint_epochs(epochs: int, every: int) -> list[int]:
    """The epochs after which the generator is measured: every `every`-th, and always the last."""
    return sorted({*range(every, epochs + 1, every), epochs})


@torch.no_grad()
def generate(gen: Generator, noise: torch.Tensor, condition: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The generator's images (eval mode) for fixed noise and conditions, in batches."""
    was_training = gen.training
    gen.eval()
    out = torch.cat([gen(noise[i:i + batch_size], condition[i:i + batch_size])
                     for i in range(0, len(noise), batch_size)])
    gen.train(was_training)
    return out


def train_gan(gen: Generator, disc: Discriminator, images: torch.Tensor, condition: torch.Tensor, *,
              epochs: int, batch_size: int, lr: float, betas: tuple[float, float], generator: torch.Generator,
              checkpoint: Callable[[int], dict], every: int = 1, reconstruction: Reconstruction | None = None,
              mismatch: Callable[[torch.Tensor], torch.Tensor] | None = None, desc: str = "gan") -> list[dict]:
    """Train for `epochs` passes over images (with their conditions); one history row per epoch:
    the STEP_VALUES' means over the epoch's steps, then at checkpoints what checkpoint(epoch)
    returns (None in the other rows, so every row has the same columns). mismatch(conditions),
    when given, returns a wrong condition for each (the matching-aware discriminator)."""
    device = images.device
    opt_g, opt_d = adam_pair(gen, disc, lr, betas)
    at = set(checkpoint_epochs(epochs, every))
    history, measured_keys = [], None
    bar = progress(range(1, epochs + 1), desc, "epoch")
    for epoch in bar:
        started = time.perf_counter()
        gen.train()
        disc.train()
        order = torch.randperm(len(images), generator=generator).to(device)
        sums, steps = torch.zeros(len(STEP_VALUES), device=device), 0
        for start in range(0, len(images), batch_size):
            idx = order[start:start + batch_size]
            wrong = None if mismatch is None else mismatch(condition[idx])
            sums += gan_step(gen, disc, opt_g, opt_d, images[idx], condition[idx], reconstruction, wrong)
            steps += 1
        row = {"epoch": epoch, **dict(zip(STEP_VALUES, (sums / steps).tolist()))}
        if epoch in at:
            gen.eval()
            disc.eval()
            measured = checkpoint(epoch)
            measured_keys = list(measured)
            row.update(measured)
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        bar.set_postfix(d_loss=f"{row['d_loss']:.3f}", g_loss=f"{row['g_loss']:.3f}")
        log.info("%s epoch %d/%d: D loss %.4f, G loss %.4f (adversarial %.4f)%s (%.1f s)", desc, epoch, epochs,
                 row["d_loss"], row["g_loss"], row["g_adversarial"],
                 "".join(f", {k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds", *STEP_VALUES)
                         and isinstance(v, float)), row["seconds"])
    for row in history:  # rows between checkpoints get the checkpoint columns, empty
        row.update({k: row.get(k) for k in measured_keys or ()})
        row["seconds"] = row.pop("seconds")
    return history
