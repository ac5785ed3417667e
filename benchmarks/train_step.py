"""Examples/s of a full MusicVAE training step vs a minimal plain-PyTorch teacher-forced loop.

    python benchmarks/train_step.py [--device cpu|cuda] [--steps N] [--bf16] [--cases NAME ...]

Cases: cat-mel_2bar_small at batch 64 and 512 with the scheduled-sampling
probability at 0 (teacher forcing, fused LSTMs) and at 1 (step-by-step
feedback of samples), and hierdec-mel_16bar at batch 16 and 64. The baseline is
the same encoder and decoder LSTM sizes as two plain ``nn.LSTM`` modules
(encoder + one flat decoder over all T steps, fused, teacher-forced) with
Adam and no Magenta bookkeeping, timed in the same run.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from raymvae.model import build
from raymvae.model.training import make_optimizer, train_step

CASES = {
    "mel2-b64-p0": ("cat-mel_2bar_small", 64, 0.0),
    "mel2-b64-p1": ("cat-mel_2bar_small", 64, 1.0),
    "mel2-b512-p0": ("cat-mel_2bar_small", 512, 0.0),
    "mel2-b512-p1": ("cat-mel_2bar_small", 512, 1.0),
    "hierdec16-b16": ("hierdec-mel_16bar", 16, 0.0),
    "hierdec16-b64": ("hierdec-mel_16bar", 64, 0.0),
}


class PlainVAE(nn.Module):
    """The minimal baseline: bidirectional LSTM encoder, z, fused decoder LSTM, softmax CE."""

    def __init__(self, depth: int, enc: list[int], dec: list[int], z: int):
        super().__init__()
        self.enc = nn.LSTM(depth, enc[0], num_layers=len(enc), batch_first=True, bidirectional=True)
        self.mu, self.sigma = nn.Linear(2 * enc[0], z), nn.Linear(2 * enc[0], z)
        self.dec = nn.LSTM(depth + z, dec[0], num_layers=len(dec), batch_first=True)
        self.out = nn.Linear(dec[-1], depth)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(x, self.depth).float()
        _, (h, _) = self.enc(onehot)
        e = torch.cat([h[-2], h[-1]], -1)
        mu, sigma = self.mu(e), nn.functional.softplus(self.sigma(e))
        z = mu + sigma * torch.randn_like(mu)
        inp = torch.cat([nn.functional.pad(onehot[:, :-1], (0, 0, 1, 0)),
                         z[:, None].expand(-1, x.shape[1], -1)], -1)
        out, _ = self.dec(inp)
        ce = nn.functional.cross_entropy(self.out(out).transpose(1, 2), x, reduction="none").sum(1)
        return ce.mean() + (0.5 * (sigma ** 2 + mu ** 2) - sigma.log() - 0.5).sum(-1).mean()


def _time(fn, steps: int, device: torch.device) -> float:
    fn()  # warm-up (cuDNN plans, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def run_case(name: str, steps: int, device: torch.device, bf16: bool) -> tuple[float, float, float]:
    """(our ex/s, the plain loop's ex/s, our peak GPU memory in GiB; 0 on CPU)."""
    config, batch, p = CASES[name]
    hp = {"sampling_schedule": "constant", "sampling_rate": p}
    model = build(config, hp).to(device)
    x = torch.randint(0, 90, (batch, model.seq_len), device=device)
    opt = make_optimizer(model, model.config.hparams)
    gen = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ours = _time(lambda: train_step(model, opt, x, 1000, model.config.hparams, gen, bf16=bf16), steps, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    h = model.config.hparams
    plain = PlainVAE(90, list(h["enc_rnn_size"]), list(h["dec_rnn_size"]), h["z_size"]).to(device)
    popt = torch.optim.Adam(plain.parameters(), lr=1e-3)

    def plain_step() -> None:
        popt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
            loss = plain(x)
        loss.backward()
        nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        popt.step()
    base = _time(plain_step, steps, device)
    return batch / ours, batch / base, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per case (default 5)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU x{torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; bf16={args.bf16 and device.type == 'cuda'}")
    print(f"{'case':16s} {'raymvae ex/s':>13s} {'plain ex/s':>11s} {'ratio':>6s} {'peak GiB':>9s}")
    for case in args.cases:
        ours, base, peak = run_case(case, args.steps, device, args.bf16)
        print(f"{case:16s} {ours:13.1f} {base:11.1f} {ours / base:6.2f} {peak:9.2f}", flush=True)


if __name__ == "__main__":
    main()
