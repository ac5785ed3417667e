"""Latent constraints (Engel, Hoffman & Roberts 2017): a critic and an actor in MusicVAE's latent space.

The critic D(z, y) learns what real latents with attribute level y look
like: posterior samples z ~ q(z|x) of windows whose attribute is in level y
are real; prior draws z ~ N(0, I), real z given the wrong level, and the
actor's outputs are not. A gradient penalty (lambda = 10) keeps D smooth.
The actor G(z, y) -> z' = (1 - g) * z + g * dz (a sigmoid-gated residual)
learns to move any z to where D accepts it for level y, while a distance
penalty log(1 + (z' - z)^2) keeps what z was. Both are MLPs trained with
Adam (3e-4, beta1 = 0, beta2 = 0.9), as in the paper's notebook. Levels are
the bottom (0) and top (1) quartile of the attribute, as for attribute
vectors. No Ray; trained on the CPU (about 4 minutes for z = 256 and the
default sizes on 2 cores).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raymvae import storage
from raymvae.generate.settings import ConstraintSettings

log = logging.getLogger(__name__)
LEVELS = ("low", "high")


def _mlp(inputs: int, hidden: list[int], outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inputs, h), nn.ReLU()]
        inputs = h
    return nn.Sequential(*layers, nn.Linear(inputs, outputs))


class Critic(nn.Module):
    """D(z, y): logit that z is a real latent of attribute level y."""

    def __init__(self, z_size: int, hidden: list[int]):
        super().__init__()
        self.net = _mlp(z_size + len(LEVELS), hidden, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, F.one_hot(y, len(LEVELS)).to(z.dtype)], -1))[:, 0]


class Actor(nn.Module):
    """G(z, y) = (1 - g) * z + g * dz, with g = sigmoid(gate) per dimension."""

    def __init__(self, z_size: int, hidden: list[int]):
        super().__init__()
        self.z_size = z_size
        self.net = _mlp(z_size + len(LEVELS), hidden, 2 * z_size)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dz, gate = self.net(torch.cat([z, F.one_hot(y, len(LEVELS)).to(z.dtype)], -1)).split(self.z_size, -1)
        g = torch.sigmoid(gate)
        return (1 - g) * z + g * dz


def distance_penalty(z_new: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of sum_i log(1 + (z'_i - z_i)^2): keeps the edited z near its source."""
    return torch.log1p((z_new - z) ** 2).sum(-1).mean()


def _gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor,
                      g: torch.Generator) -> torch.Tensor:
    """(||grad_z D|| - 1)^2 at random points between real and fake latents (WGAN-GP)."""
    eps = torch.rand(real.shape[0], 1, generator=g)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mix, y).sum(), mix, create_graph=True)
    return ((grad.norm(dim=-1) - 1) ** 2).mean()


def train_constraints(mu: np.ndarray, sigma: np.ndarray, levels: np.ndarray,
                      settings: ConstraintSettings | None = None) -> tuple[Actor, Critic, dict]:
    """Train critic and actor from the posteriors (mu, sigma) of labelled windows (levels 0/1)."""
    s = settings or ConstraintSettings()
    if not {0, 1} <= set(np.unique(levels).tolist()):
        raise ValueError("latent constraints need windows of both levels (bottom and top quartile)")
    torch.manual_seed(s.seed)
    g = torch.Generator().manual_seed(s.seed)
    mu_t, sigma_t = torch.from_numpy(mu.astype(np.float32)), torch.from_numpy(sigma.astype(np.float32))
    y_all = torch.from_numpy(levels.astype(np.int64))
    z_size = mu.shape[1]
    critic, actor = Critic(z_size, s.hidden), Actor(z_size, s.hidden)
    opt_d = torch.optim.Adam(critic.parameters(), lr=s.learning_rate, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(actor.parameters(), lr=s.learning_rate, betas=(0.0, 0.9))
    history = []
    for step in range(s.steps):
        idx = torch.randint(len(mu_t), (s.batch_size,), generator=g)
        y = y_all[idx]
        real = mu_t[idx] + sigma_t[idx] * torch.randn(s.batch_size, z_size, generator=g)
        prior = torch.randn(s.batch_size, z_size, generator=g)
        y_any = torch.randint(len(LEVELS), (s.batch_size,), generator=g)
        with torch.no_grad():
            acted = actor(prior, y_any)
        fakes = [(prior, y_any), (real, 1 - y), (acted, y_any)]
        d_real = critic(real, y)
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
        for z_f, y_f in fakes:
            d_fake = critic(z_f, y_f)
            loss_d = loss_d + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)) / len(fakes)
        loss_d = loss_d + s.gradient_penalty * _gradient_penalty(critic, real, prior, y, g)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        start = torch.cat([prior, real])
        y_target = torch.randint(len(LEVELS), (len(start),), generator=g)
        moved = actor(start, y_target)
        d_moved = critic(moved, y_target)
        loss_g = F.binary_cross_entropy_with_logits(d_moved, torch.ones_like(d_moved)) \
            + s.distance_weight * distance_penalty(moved, start)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if step % 100 == 0 or step == s.steps - 1:
            history.append({"step": step, "critic_loss": loss_d.item(), "actor_loss": loss_g.item(),
                            "fooled": float((d_moved > 0).float().mean())})
            log.info("latent constraints step %d: critic %.3f actor %.3f fooled %.2f", step, loss_d.item(),
                     loss_g.item(), history[-1]["fooled"])
    return actor.eval(), critic.eval(), {"settings": asdict(s), "history": history, "windows": int(len(mu)),
                                         "z_size": int(z_size)}


MARKER = "info.json"


def constraints_dir(run_dir: str, attribute: str) -> str:
    return storage.join(storage.normalize(run_dir), "constraints", attribute)


def save_constraints(run_dir: str, attribute: str, actor: Actor, critic: Critic, info: dict) -> str:
    """Publish ``RUN_DIR/constraints/ATTRIBUTE/{actor,critic}.safetensors`` + ``info.json`` (the marker, last)."""
    from safetensors.torch import save

    weights = {name: save({k: v.contiguous() for k, v in net.state_dict().items()})
               for name, net in (("actor.safetensors", actor), ("critic.safetensors", critic))}
    meta = {"attribute": attribute, **info, "sha256": {k: storage.digest(v) for k, v in weights.items()}}
    return storage.publish(constraints_dir(run_dir, attribute),
                           {**weights, MARKER: json.dumps(meta, indent=2).encode()}, MARKER)


def load_actor(run_dir: str, attribute: str) -> Actor | None:
    """The saved actor for ``attribute``, or None when none was trained (or one is being written)."""
    from safetensors.torch import load

    out = constraints_dir(run_dir, attribute)
    try:
        info = storage.read_json(storage.join(out, MARKER))
        data = storage.read_bytes(storage.join(out, "actor.safetensors"))
    except FileNotFoundError:
        return None
    if storage.digest(data) != info.get("sha256", {}).get("actor.safetensors", storage.digest(data)):
        return None
    actor = Actor(info["z_size"], info["settings"]["hidden"])
    actor.load_state_dict(load(data))
    return actor.eval()


def saved_actors(run_dir: str) -> list[str]:
    """Attributes with a saved latent-constraint actor."""
    root = storage.join(storage.normalize(run_dir), "constraints")
    return sorted(p.split("/")[0] for p in storage.list_files(root) if p.count("/") == 1 and p.endswith("/" + MARKER))


@torch.no_grad()
def apply_actor(actor: Actor, z: np.ndarray, level: str) -> np.ndarray:
    """z' = G(z, level) for each row of z."""
    device = next(actor.parameters()).device
    y = torch.full((len(z),), LEVELS.index(level), dtype=torch.int64, device=device)
    return actor(torch.from_numpy(np.asarray(z, np.float32)).to(device), y).cpu().numpy()


def actor_for(model, run_dir: str, name: str, examples: Callable[[], np.ndarray], settings: ConstraintSettings,
              recompute: bool = False) -> tuple[Actor, dict | None]:
    """The latent-constraint actor saved in the run dir, or (none saved, or ``recompute``) one trained on
    ``examples()``' bottom and top quartiles and saved; with what training reported (None when loaded)."""
    from raymvae.generate.attributes import constraint_examples

    actor = None if recompute else load_actor(run_dir, name)
    if actor is not None:
        return actor, None
    mu, sigma, levels, info = constraint_examples(model, examples(), name)
    actor, critic, trained = train_constraints(mu, sigma, levels, settings)
    path = save_constraints(run_dir, name, actor, critic, {**info, **trained})
    return actor, {**trained, "path": path}
