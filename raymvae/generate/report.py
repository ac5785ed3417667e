"""What generated files look like next to the data the model was evaluated on: per-feature means and OA."""
from __future__ import annotations

import numpy as np

from raymvae import storage
from raymvae.model.evaluate import REFERENCE_WINDOWS
from raymvae.music import converter_for, quality


def eval_reference(run_dir: str) -> tuple[np.ndarray, str] | None:
    """A random sample of the windows the run was last evaluated on (from ``eval_latest.json``'s
    ``eval_set``), and where they came from; None when the run records none or they are gone."""
    from raymvae.data.shards import sample_windows

    try:
        where = storage.read_json(storage.join(storage.normalize(run_dir), "eval_latest.json")).get("eval_set")
    except FileNotFoundError:
        return None
    if not where:
        return None
    try:
        windows = sample_windows(where["shards"], where["split"], REFERENCE_WINDOWS)
    except FileNotFoundError:
        return None
    return windows, f"{where['shards']} ({where['split']} split)"


def quality_report(config: dict, windows: np.ndarray, reference: tuple[np.ndarray, str] | None) -> str:
    """A text table: each feature's mean over the generated windows beside the eval data's, and their OA."""
    conv = converter_for(config)
    empty = conv.is_empty(windows)
    head = f"{len(windows)} generated files: {empty.mean():.1%} empty (no note)"
    if reference is None:
        head += "; no eval data recorded in the run dir to compare with"
    else:
        head += f"; compared with {len(reference[0])} windows of {reference[1]}"
    rows = quality.feature_table(conv, windows, reference[0] if reference else None)
    if reference is None:
        return "\n".join([head, f"  {'feature':28s} {'generated':>10s}"]
                         + [f"  {name:28s} {ours:10.3f}" for name, ours, _, _ in rows])
    lines = [head, f"  {'feature':28s} {'generated':>10s} {'eval data':>10s} {'OA':>6s}"]
    lines += [f"  {name:28s} {ours:10.3f} {theirs:10.3f} {oa:6.3f}" for name, ours, theirs, oa in rows]
    lines.append(f"  {'mean OA':28s} {'':10s} {'':10s} {np.nanmean([r[3] for r in rows]):6.3f}")
    return "\n".join(lines)


def reconstruction(model, windows: np.ndarray) -> np.ndarray:
    """Per window, the share of steps that decoding its latent mean by argmax gives back (Magenta's
    interpolation endpoints are exactly these reconstructions)."""
    import torch

    with torch.no_grad():
        x = model.as_tensor(windows)
        back = model.decode(model.encode_windows(x)[0], temperature=None)
        same = model.codec.step_correct(model.targets(back), model.targets(x))
    return same.reshape(len(x), -1).float().mean(1).cpu().numpy()
