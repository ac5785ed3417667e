"""Evaluation metrics as additive counts (so batches and workers can be summed), then Magenta's scalars.

accuracy = argmax == target over all steps (per head for trios; drum bits:
all bits right; multitrack: token rows only; the codec says which); per-class accuracy = recall of each
target class; hierarchical models also get per-segment accuracy; the 'no
event' baseline is what always predicting class 0 (no event / no hits) would
score.
"""
from __future__ import annotations

import math

import torch

from raymvae.model.vae import MusicVAE, Output


def counts(model: MusicVAE, out: Output, predictions: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Additive counts of one batch (float64 tensors on the batch's device)."""
    codec, targets = model.codec, out.targets
    pred = model.predictions(out.logits, targets) if predictions is None else predictions
    b, t = targets.shape[:2]
    f64 = dict(dtype=torch.float64, device=targets.device)
    valid = codec.valid(targets)                                              # [B, T] or None: all
    step_ok = codec.step_correct(pred, targets)                                # [B, T, heads]
    baseline = codec.no_event(targets)
    if valid is not None:
        step_ok, baseline = step_ok & valid.unsqueeze(-1), baseline & valid.unsqueeze(-1)
    per_class_total, per_class_correct = codec.class_counts(pred, targets, step_ok)
    result = {
        "sequences": torch.tensor(float(b), **f64),
        "r_loss": out.r_loss.detach().to(**f64).sum(),
        "kl": out.kl.detach().to(**f64).sum(),
        "kl_cost": out.kl_cost.detach().to(**f64).sum(),
        "loss": out.loss.detach().to(**f64) * b,
        "steps": torch.tensor(float(b * t), **f64) if valid is None else valid.sum().to(**f64),
        "correct": step_ok.sum((0, 1)).to(**f64),
        "baseline": baseline.sum((0, 1)).to(**f64),
        "class_total": per_class_total.to(**f64),
        "class_correct": per_class_correct.to(**f64),
    }
    result.update({k: v.to(**f64) for k, v in codec.extra_counts(model.decoder, out.logits, targets, pred,
                                                                              out.controls).items()})
    u = getattr(model.decoder, "num_segments", 0)  # hierarchical decoders: accuracy per segment too
    if u:
        result["segment_correct"] = step_ok.reshape(b, u, t // u, -1).float().mean(-1).sum((0, 2)).to(**f64)
        steps = torch.ones(b, t, device=targets.device) if valid is None else valid.float()
        result["segment_steps"] = steps.reshape(b, u, -1).sum((0, 2)).to(**f64)
    return result


def add(total: dict[str, torch.Tensor] | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum two count dicts (``total`` may be None)."""
    if total is None:
        return {k: v.clone() for k, v in batch.items()}
    return {k: total[k] + batch[k] for k in total}


def summarize(model: MusicVAE, c: dict[str, torch.Tensor], prefix: str = "") -> dict[str, float]:
    """Magenta-named scalars from summed counts; ``prefix`` (e.g. 'sampled_') names the accuracy family."""
    n = float(c["sequences"])
    steps = float(c["steps"])
    r, kl = float(c["r_loss"]) / n, float(c["kl"]) / n
    out: dict[str, float] = {}
    if not prefix:
        out.update({"loss": float(c["loss"]) / n, "losses/r_loss": r, "losses/kl_loss": float(c["kl_cost"]) / n,
                    "losses/kl_bits": kl / math.log(2), "losses/elbo": -(r + kl)})
    heads = model.codec.heads
    acc = (c["correct"] / steps).tolist()
    base = (c["baseline"] / steps).tolist()
    out[f"metrics/{prefix}accuracy"] = sum(acc) / len(acc)
    if not prefix:
        out["metrics/no_event_baseline_accuracy"] = sum(base) / len(base)
    if len(heads) > 1:
        for name, a, bl in zip(heads, acc, base):
            out[f"metrics/{prefix}accuracy/{name}"] = a
            if not prefix:
                out[f"metrics/no_event_baseline_accuracy/{name}"] = bl
    out.update(model.codec.extra_metrics(c, prefix))
    seen = c["class_total"] > 0
    per_class = (c["class_correct"][seen] / c["class_total"][seen])
    out[f"metrics/{prefix}mean_per_class_accuracy"] = float(per_class.mean()) if per_class.numel() else 0.0
    if "segment_correct" in c:
        seg = (c["segment_correct"] / c["segment_steps"].clamp(min=1)).tolist()
        for u, a in enumerate(seg):
            out[f"segment/{u:03d}/{prefix}accuracy"] = a
    return out


def per_class_accuracy(model: MusicVAE, c: dict[str, torch.Tensor]) -> dict[str, list[float | None]]:
    """Recall of each target class per head (None where the class never occurs)."""
    out, start = {}, 0
    for name, size in model.codec.class_heads:
        tot, cor = c["class_total"][start:start + size], c["class_correct"][start:start + size]
        out[name] = [float(x / t) if t > 0 else None for x, t in zip(cor.tolist(), tot.tolist())]
        start += size
    return out
