"""How far bf16 training gradients are from fp32's, per config, on the same weights and batches.

    python benchmarks/bf16_gradients.py [--device cpu|cuda] [--configs NAME ...] [--examples NAME=SHARDS ...]
                                        [--steps N] [--batches K]

For each config (full size), a model is built with seed 0 and trained for
``--steps`` fp32 steps at Magenta's hparams with teacher forcing. Then, on
``--batches`` batches, it computes the training loss and gradients once in fp32
and once under bf16 autocast (``--precision bf16``'s path), with the same
latent noise, and prints the loss's relative change and the gradients'
relative error ``|g_bf16 - g_fp32| / |g_fp32|`` (all parameters, encoder,
decoder). The baseline is cat-mel_2bar_small, whose bf16 training matched
fp32's accuracy and KL over three seeds of the 2,000-step quality run
(RESULTS.md). A config whose error is near the baseline's loses no more to
bf16 per step. This is the cheap check for models too big to run quality
runs on, on any hardware (an AMX CPU, a GPU). Windows come from the shards
given with ``--examples``; otherwise random melody classes (melody configs only).
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from raymvae.config import config_names, load_config
from raymvae.data.shards import read_windows
from raymvae.model import build
from raymvae.model import precision as precisions
from raymvae.model.training import make_optimizer, train_step

BASELINE = "cat-mel_2bar_small"
BATCH = {"cat-mel_2bar_small": 64, "hierdec-mel_16bar": 16}  # others: 32


def gradients(model, x: torch.Tensor, precision: str) -> tuple[float, dict[str, torch.Tensor]]:
    """The training loss and every parameter's gradient for batch ``x`` (latent noise seeded the same)."""
    hp = model.config.hparams
    model.train()
    model.zero_grad(set_to_none=True)
    with precisions.autocast(x.device, precision):
        out = model(x, beta=float(hp["max_beta"]), free_bits=float(hp["free_bits"]), sampling_probability=0.0,
                    generator=torch.Generator(device=x.device).manual_seed(1))
    out.loss.backward()
    return float(out.loss.detach()), {n: p.grad.detach().double() for n, p in model.named_parameters()
                                      if p.grad is not None}


def rel_error(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str = "") -> float:
    """|b - a| / |a| over the parameters whose names start with ``prefix``."""
    keys = [k for k in a if k.startswith(prefix)]
    va, vb = torch.cat([a[k].flatten() for k in keys]), torch.cat([b[k].flatten() for k in keys])
    return float((vb - va).norm() / va.norm())


def windows_for(model, shards: str | None, device: torch.device) -> Callable[[int, int], torch.Tensor]:
    """A function giving batch ``k`` of ``n`` windows: from the shards' train split, or random melody classes."""
    if shards is None:
        return lambda k, n: torch.randint(0, 90, (n, model.seq_len), generator=torch.Generator().manual_seed(k)
                                          ).to(device)
    w = torch.from_numpy(read_windows(shards, "train", model.config.name)[0].astype(np.int64))
    return lambda k, n: w[np.random.default_rng(k).choice(len(w), n)].to(device)


def run(config: str, shards: str | None, steps: int, batches: int, device: torch.device) -> dict[str, float]:
    """Mean loss change and gradient errors of bf16 against fp32 for ``config`` after ``steps`` fp32 steps."""
    torch.manual_seed(0)
    batch = BATCH.get(config, 32)
    model = build(config, {"batch_size": batch}).to(device)
    hp = {**model.config.hparams, "sampling_schedule": "constant", "sampling_rate": 0.0}
    data = windows_for(model, shards, device)
    opt = make_optimizer(model, hp)
    gen = torch.Generator(device=device).manual_seed(0)
    for s in range(steps):
        train_step(model, opt, data(1000 + s, batch), s, hp, gen, "fp32")
    rows = []
    for k in range(batches):
        x = data(k, batch)
        loss32, g32 = gradients(model, x, "fp32")
        loss16, g16 = gradients(model, x, "bf16")
        rows.append([abs(loss16 - loss32) / abs(loss32), rel_error(g32, g16), rel_error(g32, g16, "encoder"),
                     rel_error(g32, g16, "decoder")])
    loss, total, enc, dec = np.mean(rows, 0)
    return {"batch": batch, "loss": loss, "all": total, "encoder": enc, "decoder": dec}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--configs", nargs="+", default=[BASELINE, "hierdec-mel_16bar"], choices=config_names(),
                    metavar="NAME",
                    help=f"configs compared (default {BASELINE} hierdec-mel_16bar; the baseline is always run)")
    ap.add_argument("--examples", nargs="*", default=[], metavar="NAME=SHARDS",
                    help="real windows for a config: its prepared shards (default: random melody classes)")
    ap.add_argument("--steps", type=int, default=0, help="fp32 training steps before comparing (default 0)")
    ap.add_argument("--batches", type=int, default=3, help="batches compared per config, errors averaged (default 3)")
    args = ap.parse_args()
    device = torch.device(args.device)
    if any("=" not in e for e in args.examples):
        ap.error("--examples takes NAME=SHARDS")
    shards = dict(e.split("=", 1) for e in args.examples)
    configs = [BASELINE] + [c for c in args.configs if c != BASELINE]
    for config in configs:
        if config not in shards and load_config(config).converter["family"] != "melody":
            ap.error(f"{config} is not a melody config: give its shards with --examples {config}=DIR")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else precisions.cpu_summary()
    print(f"device: {name}; torch {torch.__version__}; {args.steps} fp32 steps first, {args.batches} batches")
    print(f"{'config':22s} {'batch':>5s} {'loss change':>11s} {'grad error':>10s} {'encoder':>8s} {'decoder':>8s} "
          f"{'vs ' + BASELINE:>24s} {'s':>5s}")
    base = None
    for config in configs:
        t = time.perf_counter()
        r = run(config, shards.get(config), args.steps, args.batches, device)
        base = r["all"] if base is None else base
        print(f"{config:22s} {r['batch']:5d} {r['loss']:11.2e} {r['all']:10.4f} {r['encoder']:8.4f} "
              f"{r['decoder']:8.4f} {r['all'] / base:23.2f}x {time.perf_counter() - t:5.0f}", flush=True)


if __name__ == "__main__":
    main()
