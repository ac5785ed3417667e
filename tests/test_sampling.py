"""Per-epoch window drawing and transposition (no Ray)."""
from __future__ import annotations

import numpy as np

from raymvae.music.converters import DrumsConverter, TrioConverter, transpose
from raymvae.train.sampling import Rebatcher, keep_mask


def _rows(counts):
    fid = np.concatenate([np.full(n, i, np.int64) for i, n in enumerate(counts)])
    nw = np.concatenate([np.full(n, n, np.int32) for n in counts])
    pos = np.concatenate([np.arange(n, dtype=np.int32) for n in counts])
    return fid, nw, pos


def test_cap_is_per_file_fresh_each_epoch_and_consistent_across_batches():
    fid, nw, pos = _rows([3, 12, 40])
    m0 = keep_mask(fid, nw, pos, 5, seed=1, epoch=0)
    m1 = keep_mask(fid, nw, pos, 5, seed=1, epoch=1)
    for f, n in enumerate([3, 12, 40]):
        assert m0[fid == f].sum() == min(n, 5) and m1[fid == f].sum() == min(n, 5)
    assert not np.array_equal(m0, m1)
    order = np.random.default_rng(0).permutation(len(fid))  # any split into batches agrees
    parts = [keep_mask(fid[idx], nw[idx], pos[idx], 5, 1, 0) for idx in np.array_split(order, 7)]
    assert np.array_equal(np.concatenate(parts), m0[np.concatenate(np.array_split(order, 7))])
    assert keep_mask(fid, nw, pos, None, 1, 0).all()


def test_transposition_keeps_notes_in_range_and_varies():
    rng = np.random.default_rng(0)
    w = np.array([[0, 2, 1, 0], [89, 0, 50, 1], [0, 0, 0, 0]], np.int16)
    seen = set()
    for _ in range(200):
        t = transpose(w, -5, 5, 90, rng)
        assert t.dtype == w.dtype and t[(w < 2)].tolist() == w[(w < 2)].tolist()
        assert t[0, 1] >= 2 and t[1, 0] <= 89
        assert t[1, 0] - w[1, 0] == t[1, 2] - w[1, 2]   # one shift per window
        seen.add(int(t[1, 2] - w[1, 2]))
    assert seen == set(range(-5, 1))                   # 89 can only go down
    trio = np.stack([w, w, np.full_like(w, 300)], -1)
    out = TrioConverter("trio", 1, transpose_range=(-3, 3)).augment(trio, rng)
    assert (out[..., 2] == 300).all() and not np.array_equal(out, trio)
    assert (out[..., 0] - trio[..., 0] == out[..., 1] - trio[..., 1]).all()   # melody and bass move together
    assert DrumsConverter("drums", 1, transpose_range=(-3, 3)).augment(w, rng) is w


def test_rebatcher_makes_full_batches():
    r = Rebatcher(4)
    out = list(r.push(np.arange(3))) + list(r.push(np.arange(3, 10)))
    assert [b.tolist() for b in out] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_buffer_holds_a_small_epoch_whole_and_a_large_one_by_its_byte_budget():
    from raymvae.train.sampling import SHUFFLE_BYTES, shuffle_buffer

    small = {"windows": {"train": 8084}, "window_shape": [32], "dtype": "int16"}
    assert shuffle_buffer(64, small) == 8084 and shuffle_buffer(64, small, workers=2) == 4042
    big = {"windows": {"train": 10**9}, "window_shape": [256, 3], "dtype": "int16"}
    assert shuffle_buffer(64, big) == SHUFFLE_BYTES // (256 * 3 * 2)
    assert shuffle_buffer(512, {"windows": {"train": 100}, "window_shape": [32], "dtype": "int16"}) == 4 * 512
