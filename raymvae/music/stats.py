"""Musical statistics of NoteSequences, for judging samples and corpora.

All take a note_seq NoteSequence (unquantized, seconds) and a grid of
``steps_per_second`` (default: 16ths at 120 qpm) and return plain floats.
"""
from __future__ import annotations

import numpy as np

STEPS_PER_BAR = 16
DEFAULT_STEPS_PER_SECOND = 8.0  # 16th notes at 120 qpm
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


def _arrays(ns, steps_per_second: float, drums: bool | None = None):
    notes = [n for n in ns.notes if drums is None or n.is_drum == drums]
    start = np.array([int(n.start_time * steps_per_second + 0.5) for n in notes], np.int64)
    end = np.array([max(int(n.end_time * steps_per_second + 0.5), s + 1) for n, s in zip(notes, start)], np.int64)
    pitch = np.array([n.pitch for n in notes], np.int64)
    return start, end, pitch


def _num_bars(ns, steps_per_second: float) -> int:
    return max(1, int(np.ceil(ns.total_time * steps_per_second / STEPS_PER_BAR - 1e-9)))


def note_density(ns, steps_per_second: float = DEFAULT_STEPS_PER_SECOND) -> float:
    """Onsets per bar."""
    start, _, _ = _arrays(ns, steps_per_second)
    return float(len(start) / _num_bars(ns, steps_per_second))


def pitch_range(ns) -> float:
    """Highest minus lowest pitched (non-drum) note, in semitones; 0 when empty."""
    p = [n.pitch for n in ns.notes if not n.is_drum]
    return float(max(p) - min(p)) if p else 0.0


def mean_pitch(ns) -> float:
    """Mean pitch of non-drum notes (pitch height); 0 when empty."""
    p = [n.pitch for n in ns.notes if not n.is_drum]
    return float(np.mean(p)) if p else 0.0


def pitch_class_histogram(ns) -> np.ndarray:
    """Normalised 12-bin histogram of non-drum pitch classes (zeros when empty)."""
    h = np.bincount([n.pitch % 12 for n in ns.notes if not n.is_drum], minlength=12).astype(np.float64)
    return h / h.sum() if h.sum() else h


def pitch_class_entropy(ns) -> float:
    """Shannon entropy (bits) of the pitch-class histogram."""
    h = pitch_class_histogram(ns)
    h = h[h > 0]
    return float(-(h * np.log2(h)).sum()) if h.size else 0.0


def empty_bar_rate(ns, steps_per_second: float = DEFAULT_STEPS_PER_SECOND) -> float:
    """Fraction of bars with no onset."""
    start, _, _ = _arrays(ns, steps_per_second)
    bars = _num_bars(ns, steps_per_second)
    used = np.unique(start // STEPS_PER_BAR) if start.size else np.zeros(0)
    return float(1.0 - min(len(used), bars) / bars)


def in_scale_rate(ns) -> float:
    """Best fraction of non-drum notes inside one major (or relative minor) scale."""
    pcs = np.array([n.pitch % 12 for n in ns.notes if not n.is_drum])
    if not pcs.size:
        return 0.0
    return float(max(np.isin(pcs, [(k + d) % 12 for d in MAJOR_SCALE]).mean() for k in range(12)))


def polyphony_rate(ns, steps_per_second: float = DEFAULT_STEPS_PER_SECOND) -> float:
    """Fraction of sounding steps where more than one non-drum note sounds."""
    start, end, _ = _arrays(ns, steps_per_second, drums=False)
    if not start.size:
        return 0.0
    counts = np.zeros(int(end.max()) + 1, np.int64)
    np.add.at(counts, start, 1)
    np.add.at(counts, end, -1)
    active = np.cumsum(counts)[:-1]
    sounding = (active > 0).sum()
    return float((active > 1).sum() / sounding) if sounding else 0.0


def syncopation(ns, steps_per_second: float = DEFAULT_STEPS_PER_SECOND) -> float:
    """Fraction of onsets that fall off the beat (not on a quarter-note step)."""
    start, _, _ = _arrays(ns, steps_per_second)
    return float((start % 4 != 0).mean()) if start.size else 0.0


def groove_consistency(ns, steps_per_second: float = DEFAULT_STEPS_PER_SECOND) -> float:
    """1 - mean Hamming distance between onset patterns of neighbouring bars (drums)."""
    start, _, _ = _arrays(ns, steps_per_second, drums=True)
    if not start.size:
        start, _, _ = _arrays(ns, steps_per_second)
    bars = _num_bars(ns, steps_per_second)
    if bars < 2 or not start.size:
        return 1.0
    grid = np.zeros((bars, STEPS_PER_BAR), bool)
    ok = start // STEPS_PER_BAR < bars
    grid[start[ok] // STEPS_PER_BAR, start[ok] % STEPS_PER_BAR] = True
    return float(1.0 - (grid[1:] != grid[:-1]).mean())


def all_stats(ns) -> dict[str, float]:
    """Every statistic above as a flat dict."""
    return {
        "note_density": note_density(ns), "pitch_range": pitch_range(ns), "mean_pitch": mean_pitch(ns),
        "pitch_class_entropy": pitch_class_entropy(ns), "empty_bar_rate": empty_bar_rate(ns),
        "in_scale_rate": in_scale_rate(ns), "polyphony_rate": polyphony_rate(ns),
        "syncopation": syncopation(ns), "groove_consistency": groove_consistency(ns),
    }
