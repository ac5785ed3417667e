"""Examples/s of a full MusicVAE training step in fp32 and bf16 vs a minimal plain-PyTorch loop.

    python benchmarks/train_step.py [--device cpu|cuda] [--steps N] [--precision fp32 bf16] [--cases NAME ...]

Cases: cat-mel_2bar_small at batch 64 and 512 with the scheduled-sampling
probability at 0 (teacher forcing, fused LSTMs) and at 1 (step-by-step
feedback of samples), and hierdec-mel_16bar at batch 16 and 64. The baseline is
the same encoder and decoder LSTM sizes as two plain ``nn.LSTM`` modules
(encoder + one flat decoder over all T steps, fused, teacher-forced) with
Adam and no Magenta bookkeeping, timed in the same run and the same precision.
Each case runs in its own process, so its peak memory is its own: peak RSS on
CPU (the process, torch included), peak allocated memory on CUDA; beside it,
the share that no activation saving can remove (fp32 weights, gradients and
Adam's two moments: 16 bytes per parameter). The header
says which CPU this is, its native bf16 features, and what ``--precision
auto`` picks here for training (``--precision auto``'s rows, labelled auto:PRECISION: for each model).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import torch
from torch import nn

from raymvae.model import build, num_parameters
from raymvae.model import precision as precisions
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
        ce = nn.functional.cross_entropy(self.out(out).float().transpose(1, 2), x, reduction="none").sum(1)
        return ce.mean() + (0.5 * (sigma ** 2 + mu ** 2) - sigma.log() - 0.5).float().sum(-1).mean()


def _time(fn, steps: int, device: torch.device) -> float:
    for _ in range(2):  # warm-up (cuDNN/oneDNN plans for each shape and dtype, allocator)
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def run_case(name: str, steps: int, device: torch.device, asked: str) -> tuple[str, float, float, float, float]:
    """(the precision that ran, our ex/s, the plain loop's ex/s, our peak memory in GiB, the GiB that fp32
    weights, gradients and Adam's two moments take whatever the precision) for ``asked`` ('auto' resolved as
    the trainer resolves it for this model)."""
    config, batch, p = CASES[name]
    hp = {"sampling_schedule": "constant", "sampling_rate": p}
    model = build(config, hp).to(device)
    precision = precisions.resolve(asked, device, **precisions.for_training(model))
    x = torch.randint(0, 90, (batch, model.seq_len), device=device)
    opt = make_optimizer(model, model.config.hparams)
    gen = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ours = _time(lambda: train_step(model, opt, x, 1000, model.config.hparams, gen, precision), steps, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
    else:  # Linux reports KiB
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    h = model.config.hparams
    plain = PlainVAE(90, list(h["enc_rnn_size"]), list(h["dec_rnn_size"]), h["z_size"]).to(device)
    popt = torch.optim.Adam(plain.parameters(), lr=1e-3)

    def plain_step() -> None:
        popt.zero_grad(set_to_none=True)
        with precisions.autocast(device, precision):
            loss = plain(x)
        loss.backward()
        nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        popt.step()
    base = _time(plain_step, steps, device)
    state = num_parameters(model) * 16 / 2**30  # fp32 weight, gradient and two Adam moments each
    return precision, batch / ours, batch / base, peak, state


def _case_process(queue, *args) -> None:
    queue.put(run_case(*args))


def isolated(*args) -> tuple[str, float, float, float, float]:
    """``run_case`` in a fresh process, so that its peak memory is its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_case_process, args=(queue, *args))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per case (default 5)")
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=precisions.PRECISIONS,
                    help="precisions timed per case (default fp32 bf16; auto: what the trainer picks here)")
    ap.add_argument("--bf16", dest="precision", action="store_const", const=["bf16"],
                    help="the same as --precision bf16")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = precisions.cpu_summary()
    print(f"device: {name}; torch {torch.__version__}; training's auto: "
          f"{precisions.describe('auto', device, training=True)} (per model: the rows of --precision auto)")
    mem = "peak GiB" if device.type == "cuda" else "peak RSS GiB"
    print(f"{'case':16s} {'precision':9s} {'raymvae ex/s':>13s} {'plain ex/s':>11s} {'ratio':>6s} {mem:>12s} "
          f"{'of which weights+grads+Adam':>27s}")
    for case in args.cases:
        first = None
        for precision in args.precision:
            ran, ours, base, peak, state = isolated(case, args.steps, device, precision)
            vs = "" if first is None else f"  ({ours / first:.2f}x {args.precision[0]})"
            first = ours if first is None else first
            label = f"auto:{ran}" if precision == "auto" else ran
            print(f"{case:16s} {label:9s} {ours:13.2f} {base:11.2f} {ours / base:6.2f} {peak:12.2f} {state:27.2f}{vs}",
                  flush=True)


if __name__ == "__main__":
    main()
