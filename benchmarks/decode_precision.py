"""A trained model's decoding in bf16 against fp32, in the same run: quality and speed.

    python benchmarks/decode_precision.py RUN_DIR SHARDS [--samples 512] [--repeat 3] [--configs NAME ...]

Runs the model export of RUN_DIR over the eval split of SHARDS (the same
config's shards) in fp32 and under bf16 autocast: teacher-forced and
free-running accuracy and KL (``raymvae.model.evaluate``), prior samples at
temperature 0.5 against the eval windows (sample OA and empty rate), and the
argmax reconstruction of every eval window from its latent mean (the share of
steps that come back, and the share of windows whose bf16 reconstruction is
identical to fp32's). Wall time: best of ``--repeat`` passes of all of it.
Then the speed alone for other configs at full size (random weights: sampling
``--rows`` sequences at temperature 0.5, fp32 against bf16). This is the
evidence behind ``--precision auto`` decoding in bf16 where the hardware runs
it natively (README: Precision).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from raymvae.data.shards import read_windows
from raymvae.export import load_export
from raymvae.model import build
from raymvae.model import precision as precisions
from raymvae.model.evaluate import evaluate, sample_quality
from raymvae.model.seeded import decode_seeded


def run(model, eval_windows: np.ndarray, train_windows: np.ndarray, samples: int) -> tuple[dict, np.ndarray]:
    """The metrics of one pass and the argmax reconstructions of the eval windows."""
    x = torch.from_numpy(eval_windows.astype(np.int64))
    m = evaluate(model, (x[i:i + 256] for i in range(0, len(x), 256)), 0, torch.Generator().manual_seed(1))
    m.update(sample_quality(model, eval_windows, train_windows, num=samples, temperature=0.5, seed=0))
    with torch.no_grad():
        mu = torch.cat([model.encode(x[i:i + 256])[0].float() for i in range(0, len(x), 256)]).numpy()
    return m, decode_seeded(model, mu, None, [(0, range(len(mu)))])


def decode_seconds(config: str, rows: int, precision: str, repeat: int) -> float:
    """Best wall time of sampling ``rows`` sequences from a full-size ``config`` with random weights."""
    torch.manual_seed(0)
    model = build(config).eval()
    z = np.random.default_rng(0).standard_normal((rows, model.z_size)).astype(np.float32)
    best = float("inf")
    with precisions.autocast(torch.device("cpu"), precision):
        decode_seeded(model, z[:2], 0.5, [(0, range(2))])  # warm-up
        for _ in range(repeat):
            t = time.perf_counter()
            decode_seeded(model, z, 0.5, [(0, range(rows))])
            best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("shards")
    ap.add_argument("--samples", type=int, default=512, help="prior samples per pass (default 512)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per precision, best kept (default 3)")
    ap.add_argument("--configs", nargs="*", default=["hierdec-mel_16bar", "hierdec-trio_16bar", "cat-drums_2bar_small",
                                                     "nade-drums_2bar_full"], help="configs timed at full size")
    ap.add_argument("--rows", type=int, default=16, help="sequences per decode in the speed part (default 16)")
    args = ap.parse_args()
    model, _ = load_export(args.run_dir)
    ev, _ = read_windows(args.shards, "eval")
    tr, _ = read_windows(args.shards, "train")
    tr = tr[np.random.default_rng(0).permutation(len(tr))[:4096]]
    cpu = torch.device("cpu")
    print(f"CPU: {precisions.cpu_summary()}; {model.config.name}, {len(ev)} eval windows")
    print(f"{'precision':9s} {'accuracy':>8s} {'sampled':>8s} {'KL bits':>8s} {'OA':>6s} {'empty':>6s} "
          f"{'recon':>6s} {'same as fp32':>12s} {'wall s':>7s} {'speed-up':>8s}")
    first = None
    for precision in ("fp32", "bf16"):
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            with precisions.autocast(cpu, precision):
                m, rec = run(model, ev, tr, args.samples)
            best = min(best, time.perf_counter() - t)
        first = first or (best, rec)
        same = (rec == first[1]).all(axis=tuple(range(1, rec.ndim))).mean()
        print(f"{precision:9s} {m['metrics/accuracy']:8.4f} {m['metrics/sampled_accuracy']:8.4f} "
              f"{m['losses/kl_bits']:8.1f} {m['samples/oa_mean']:6.3f} {m['samples/empty_rate']:6.3f} "
              f"{(rec == ev).mean():6.3f} {same:12.3f} {best:7.2f} {first[0] / best:7.2f}x", flush=True)
    print(f"\nsampling {args.rows} sequences at full size, best of {args.repeat}:")
    for config in args.configs:
        fp32, bf16 = (decode_seconds(config, args.rows, p, args.repeat) for p in ("fp32", "bf16"))
        print(f"  {config:22s} fp32 {fp32:6.2f} s  bf16 {bf16:6.2f} s  {fp32 / bf16:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
