"""How musical a set of windows is next to another: per-window features and their overlapped area.

Generated samples are judged against real windows as Yang & Lerch (2020,
"On the evaluation of generative models in music") do: compute musical
features of every window of each set, and report per feature the
*overlapped area* (OA) of the two distributions, 1 for identical
distributions and 0 for disjoint ones. Here a distribution is a histogram
with fixed bins per feature (below; values outside are counted in the end
bins), so the figure is the same whatever the model and comparable between
runs: OA = sum over bins of min(p_i, q_i). Features that a window does not
define (the pitch range of a window with no note) are left out of that
feature's histogram; empty windows are counted apart, as ``empty_rate``.

Features work on class-index windows (no MIDI round trip), 16 steps per bar:

| feature | family | unit | bins |
|---|---|---|---|
| note_density | melody, drums | onsets (drums: hits) per bar | 0.5 wide, 0..16 (drums: 1 wide, 0..48) |
| pitch_range | melody | semitones, highest - lowest onset | 2 wide, 0..88 |
| mean_pitch | melody | MIDI pitch | 2 wide, 20..110 |
| pitch_class_entropy | melody | bits (0..log2 12) | 0.15 wide, 0..3.6 |
| mean_interval | melody | semitones between consecutive onsets | 1 wide, 0..24 |
| note_length | melody | steps (16ths) per note | 1 wide, 0..32 |
| empty_bar_rate | melody, drums | share of bars with no onset | one bin per possible value |
| density/K | drums (<= 9 classes) | share of steps where class K hits | 1/16 wide, 0..1 |
| groove_consistency | drums | 1 - mean Hamming distance of neighbouring bars' onsets | 1/16 wide, 0..1 |
| velocity_mean, velocity_spread | groove | MIDI velocity, mean and std over hits | 4 wide, 0..128; 2 wide, 0..64 |
| timing_spread | groove | mean absolute offset of hits from the grid, in steps | 1/32 wide, 0..0.5 |
| swing | groove | mean lateness (steps) of hits on the off 16ths | 1/32 wide, -0.5..0.5 |
| note_density | multitrack | note-ons in the bar, all instruments | 2 wide, 0..128 |
| instruments | multitrack | tracks with a note-on | 1 wide, 0..8 |
| pitch_range | multitrack | semitones, highest - lowest pitched note-on | 2 wide, 0..128 |
| velocity_bin | multitrack | mean velocity bin (1..8) of the velocity events | 0.5 wide, 0..8.5 |

Each converter part computes its own (``Converter.features``): trios get
the melody features for ``melody/`` and ``bass/`` and the drum features
for ``drums/``. No torch, no Ray.
"""
from __future__ import annotations

import warnings

import numpy as np

STEPS_PER_BAR = 16
MELODY_BINS = {"note_density": (0.0, 16.0, 0.5), "pitch_range": (0.0, 88.0, 2.0), "mean_pitch": (20.0, 110.0, 2.0),
                "pitch_class_entropy": (0.0, 3.6, 0.15), "mean_interval": (0.0, 24.0, 1.0),
                "note_length": (0.0, 32.0, 1.0)}
DRUM_BINS = {"note_density": (0.0, 48.0, 1.0), "groove_consistency": (0.0, 1.0, 1.0 / 16)}
GROOVE_BINS = {**DRUM_BINS, "velocity_mean": (0.0, 128.0, 4.0), "velocity_spread": (0.0, 64.0, 2.0),
               "timing_spread": (0.0, 0.5, 1.0 / 32), "swing": (-0.5, 0.5, 1.0 / 32)}
MULTITRACK_BINS = {"note_density": (0.0, 128.0, 2.0), "instruments": (-0.5, 8.5, 1.0),
                   "pitch_range": (0.0, 128.0, 2.0), "velocity_bin": (0.0, 8.5, 0.5)}
_DENSITY_BINS = (0.0, 1.0, 1.0 / 16)


def _edges(lo: float, hi: float, width: float) -> np.ndarray:
    return np.linspace(lo, hi, int(round((hi - lo) / width)) + 1)


def _rate_edges(bars: int) -> np.ndarray:
    """One bin around each possible share of ``bars`` bars (0, 1/bars, ..., 1)."""
    return (np.arange(bars + 2) - 0.5) / bars


def melody_features(windows: np.ndarray, min_pitch: int) -> dict[str, np.ndarray]:
    """Features of melody windows (classes: 0 hold, 1 off, 2 + pitch - min_pitch); NaN where undefined."""
    w = np.asarray(windows, np.int64)
    n, steps = w.shape
    bars = max(1, steps // STEPS_PER_BAR)
    onset = w >= 2
    count = onset.sum(1)
    pitch = w - 2 + min_pitch
    out = {"note_density": count / bars,
           "empty_bar_rate": 1.0 - onset[:, :bars * STEPS_PER_BAR].reshape(n, bars, -1).any(2).mean(1)}
    for name in ("pitch_range", "mean_pitch", "pitch_class_entropy", "mean_interval", "note_length"):
        out[name] = np.full(n, np.nan)
    for i in np.flatnonzero(count):
        at = np.flatnonzero(onset[i])
        p = pitch[i, at]
        out["pitch_range"][i] = p.max() - p.min()
        out["mean_pitch"][i] = p.mean()
        h = np.bincount(p % 12, minlength=12) / len(p)
        h = h[h > 0]
        out["pitch_class_entropy"][i] = float(-(h * np.log2(h)).sum())
        if len(p) > 1:
            out["mean_interval"][i] = np.abs(np.diff(p)).mean()
        events = np.append(np.flatnonzero(w[i] != 0), steps)  # a note lasts until the next onset or off
        out["note_length"][i] = (events[np.searchsorted(events, at, side="right")] - at).mean()
    return out


def drum_features(bits: np.ndarray) -> dict[str, np.ndarray]:
    """Features of drum windows given as bits ``[N, T, classes]`` (the classes hit on each step)."""
    bits = np.asarray(bits, np.int64)
    n, steps, num_classes = bits.shape
    bars = max(1, steps // STEPS_PER_BAR)
    grid = bits.any(-1)[:, :bars * STEPS_PER_BAR].reshape(n, bars, -1)
    out = {"note_density": bits.sum((1, 2)) / bars, "empty_bar_rate": 1.0 - grid.any(2).mean(1),
           "groove_consistency": 1.0 - (grid[:, 1:] != grid[:, :-1]).mean((1, 2)) if bars > 1 else np.ones(n)}
    if num_classes <= 9:
        for k in range(num_classes):
            out[f"density/{k}"] = bits[..., k].mean(1)
    return out


def groove_features(frames: np.ndarray, num_drums: int) -> dict[str, np.ndarray]:
    """The drum features of GrooVAE frames ``[N, T, 3 * drums]`` (hits > 0.5), and how they are played:
    velocity_mean / velocity_spread (MIDI units, mean and std over hits), timing_spread (mean |offset|
    in steps) and swing (mean lateness in steps of the hits on the second 16th of each 8th: > 0 late)."""
    f = np.asarray(frames, np.float64)
    hits = f[..., :num_drums] > 0.5
    out = drum_features(hits)
    vel = np.where(hits, f[..., num_drums:2 * num_drums] * 127, np.nan)
    late = np.where(hits, -f[..., 2 * num_drums:] / 2, np.nan)  # offsets are 2 x (grid - onset) / step
    any_hit = hits.any((1, 2))
    off_beat = np.where(hits & (np.arange(f.shape[1]) % 2 == 1)[:, None], late, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no hit) give NaN: left out
        out["velocity_mean"] = np.where(any_hit, np.nanmean(vel, (1, 2)), np.nan)
        out["velocity_spread"] = np.where(any_hit, np.nanstd(vel, (1, 2)), np.nan)
        out["timing_spread"] = np.where(any_hit, np.nanmean(np.abs(late), (1, 2)), np.nan)
        out["swing"] = np.nanmean(off_beat, (1, 2))
    return out


def multitrack_features(windows: np.ndarray, slots: int, drum_token: int, velocity_token: int
                        ) -> dict[str, np.ndarray]:
    """Features of multitrack token windows ``[N, slots * rows]`` (note-ons are tokens 0..127, velocity
    bins ``velocity_token``.., a slot's first row its program or ``drum_token``)."""
    w = np.asarray(windows, np.int64).reshape(len(windows), slots, -1)
    on = (w >= 0) & (w < 128)
    pitched = on & (w[:, :, :1] != drum_token)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi = np.where(pitched, w, -1).max((1, 2))
        lo = np.where(pitched, w, 128).min((1, 2))
        vel = np.where((w >= velocity_token) & (w < velocity_token + 8), w - velocity_token + 1.0, np.nan)
        return {"note_density": on.sum((1, 2)).astype(np.float64),
                "instruments": on.any(2).sum(1).astype(np.float64),
                "pitch_range": np.where(hi >= 0, hi - lo, np.nan).astype(np.float64),
                "velocity_bin": np.nanmean(vel.reshape(len(w), -1), 1)}


def binned(values: dict[str, np.ndarray], table: dict[str, tuple[float, float, float]], steps: int
           ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each feature's values with its bin edges: ``table`` (MELODY_BINS, DRUM_BINS) by name, the shares
    of bars one bin per possible value, per-class densities 1/16 wide."""
    bars = max(1, steps // STEPS_PER_BAR)

    def edges(name: str) -> np.ndarray:
        if name == "empty_bar_rate":
            return _rate_edges(bars)
        return _edges(*(_DENSITY_BINS if name.startswith("density/") else table[name]))
    return {name: (v, edges(name)) for name, v in values.items()}


def overlapped_area(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """OA of the histograms of ``a`` and ``b`` over ``edges`` (NaNs left out, outliers in the end bins):
    1 when they are alike, 0 when disjoint; 0 when only one of them has values."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) or not len(b):
        return float(len(a) == len(b))
    lo, hi = edges[0], np.nextafter(edges[-1], -np.inf)
    p = np.histogram(np.clip(a, lo, hi), edges)[0] / len(a)
    q = np.histogram(np.clip(b, lo, hi), edges)[0] / len(b)
    return float(np.minimum(p, q).sum())


def compare(converter, windows: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """``oa/<feature>`` of ``windows`` against ``reference``, their mean ``oa_mean``, and ``empty_rate``
    (the share of ``windows`` with no note at all)."""
    ours, theirs = converter.features(windows), converter.features(reference)
    out = {f"oa/{name}": overlapped_area(values, theirs[name][0], edges) for name, (values, edges) in ours.items()}
    out["oa_mean"] = float(np.mean(list(out.values())))
    out["empty_rate"] = float(converter.is_empty(windows).mean()) if len(windows) else 0.0
    return out


def feature_table(converter, windows: np.ndarray, reference: np.ndarray | None = None
                  ) -> list[tuple[str, float, float, float]]:
    """(feature, mean over ``windows``, mean over ``reference``, OA) per feature; NaN where there is no reference."""
    ours = converter.features(windows)
    theirs = converter.features(reference) if reference is not None and len(reference) else None
    rows = []
    for name, (values, edges) in ours.items():
        ref = theirs[name][0] if theirs is not None else None
        rows.append((name, _mean(values), _mean(ref) if ref is not None else np.nan,
                     overlapped_area(values, ref, edges) if ref is not None else np.nan))
    return rows


def _mean(values: np.ndarray) -> float:
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")
