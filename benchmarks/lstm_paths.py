"""Forward+backward of one teacher-forced LSTM layer on the CPU: the model's fp32 training path against the others.

    python benchmarks/lstm_paths.py [--repeat N] [--threads N] [--shapes NAME ...]

``nn.LSTM`` on CPU is oneDNN's RNN primitive (``ONEDNN_VERBOSE=1`` names its
kernel: "ref" in fp32, "brgemm" in bf16 on CPUs with AVX512-BF16 or AMX); it is
the reference every path is checked against (output, and weight gradient
relative to the largest gradient). fp32 training runs ``cpu_lstm`` instead (one
input-projection GEMM, an in-place ``addmm`` per step, a hand-written backward
that keeps only gates, cells and outputs and forms the weight gradients as one
GEMM each). The other alternatives: ``nn.LSTM`` with oneDNN off (ATen's own
loop), a lean loop through autograd (one input GEMM, one ``addmm`` and the gate
arithmetic per step; autograd through ``unbind``), and that loop compiled by
``torch.compile`` (inductor; the first call, which compiles, is not timed).
bf16 autocast of ``nn.LSTM`` is shown for scale. Timings are the best of
``--repeat`` runs. Shapes: the layers of cat-mel_2bar_small (decoder layer 0 and
the encoder, at batch 64 and 512) and of hierdec-mel_16bar (its core decoder,
16 bars of 16 steps at batch 16, and its encoder's top layer: 256 steps,
4096 -> 2048, one direction: 5-10 s a run per path on 2 cores).
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch
import torch.nn.functional as F

from raymvae.model import cpu_lstm
from raymvae.model import precision as precisions

SHAPES = {  # name: (batch, steps, input, hidden)
    "mel2 decoder, batch 64": (64, 32, 90 + 256, 256),
    "mel2 decoder, batch 512": (512, 32, 90 + 256, 256),
    "mel2 encoder, batch 512": (512, 32, 90, 512),
    "hierdec16 core, batch 16": (16 * 16, 16, 90 + 1024, 1024),
    "hierdec16 encoder top, batch 16": (16, 256, 2 * 2048, 2048),
}


def lean_lstm(lstm: torch.nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """One layer as an input GEMM over all steps, then a recurrent ``addmm`` and the gates per step."""
    gx = F.linear(x.transpose(0, 1), lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0).unbind(0)
    w_hh = lstm.weight_hh_l0.t()
    outs = []
    for g in gx:
        i, f, gg, o = torch.addmm(g, h, w_hh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1)


def paths(lstm: torch.nn.LSTM, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> dict:
    """name -> a function running forward+backward and returning (output, weight_hh gradient)."""
    def run(forward):
        def go():
            lstm.zero_grad(set_to_none=True)
            y = forward()
            y.float().sum().backward()
            return y.detach().float(), lstm.weight_hh_l0.grad.clone()
        return go

    def fused():
        return lstm(x, (h0[None], c0[None]))[0]

    def aten():
        with torch.backends.mkldnn.flags(enabled=False):
            return lstm(x, (h0[None], c0[None]))[0]

    def bf16():
        with precisions.autocast(x.device, "bf16"):
            return lstm(x, (h0[None], c0[None]))[0]
    def hand_written():
        return cpu_lstm.direction(lstm, x.transpose(0, 1).contiguous(), h0, c0)[0].transpose(0, 1)
    compiled = torch.compile(lean_lstm, dynamic=False)
    return {"nn.LSTM, oneDNN": run(fused), "cpu_lstm (fp32 training's path)": run(hand_written),
            "nn.LSTM, oneDNN off (ATen)": run(aten),
            "lean loop (GEMM + addmm per step)": run(lambda: lean_lstm(lstm, x, h0, c0)),
            "lean loop, torch.compile (inductor)": run(lambda: compiled(lstm, x, h0, c0)),
            "nn.LSTM, oneDNN, bf16 autocast": run(bf16)}


def best_ms(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per path, best kept (default 5)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES), metavar="NAME",
                    help=f"layer shapes to time (default all: {', '.join(map(repr, SHAPES))})")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="TF32 acceleration")  # oneDNN's note on switching it off
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU: {precisions.cpu_summary()}; torch {torch.__version__}")
    for shape in args.shapes:
        b, t, i, h = SHAPES[shape]
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(i, h, batch_first=True)
        x = torch.randn(b, t, i, requires_grad=True)
        h0, c0 = torch.zeros(b, h), torch.zeros(b, h)
        runs = paths(lstm, x, h0, c0)
        ref_y, ref_g = next(iter(runs.values()))()
        base = None
        print(f"\n{shape} (T={t}, {i} -> {h})")
        for name, fn in runs.items():
            y, g = fn()
            ms = best_ms(fn, args.repeat)
            base = base or ms
            dg = (g - ref_g).abs().max() / ref_g.abs().max()
            print(f"  {name:36s} {ms:8.1f} ms  {base / ms:5.2f}x oneDNN  max |dy| {(y - ref_y).abs().max():.1e}  "
                  f"max |dW_hh| {dg:.1e} of max |W_hh grad|", flush=True)


if __name__ == "__main__":
    main()
