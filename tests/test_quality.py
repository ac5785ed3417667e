"""Sample-quality statistics: features of class-index windows, overlapped area, the combined Tune objective
and the trade-off front (no Ray)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from raymvae.config import load_config
from raymvae.errors import UserError
from raymvae.model.evaluate import Reservoir
from raymvae.music import converter_for
from raymvae.music.converters import drum_bits
from raymvae.music.quality import compare, drum_features, feature_table, melody_features, overlapped_area
from raymvae.train.objective import Objective
from raymvae.tune.sweep import pareto_front

MEL = converter_for("cat-mel_2bar_small")
C4 = 60 - 21 + 2  # class of middle C


def test_overlapped_area_is_one_for_the_same_values_and_zero_for_disjoint_ones():
    edges = np.linspace(0, 10, 11)
    a = np.random.default_rng(0).uniform(0, 10, 500)
    assert overlapped_area(a, a.copy(), edges) == pytest.approx(1.0)
    assert overlapped_area(np.full(50, 1.5), np.full(80, 7.5), edges) == 0.0
    assert overlapped_area(np.array([1.5, 7.5]), np.array([1.5, 1.5]), edges) == pytest.approx(0.5)
    assert overlapped_area(np.array([99.0]), np.array([10.0]), edges) == 1.0  # outliers count in the end bins
    assert overlapped_area(np.array([np.nan]), np.array([1.0]), edges) == 0.0  # only one side defined
    assert overlapped_area(np.array([np.nan]), np.array([np.nan]), edges) == 1.0


def test_melody_features_of_a_known_window():
    # bar 0: C E G C' as quarter notes (the last one cut by an off), bar 1 empty
    w = np.array([[C4, 0, 0, 0, C4 + 4, 0, 0, 0, C4 + 7, 0, 0, 0, C4 + 12, 0, 1, 0] + [0] * 16])
    f = melody_features(w, MEL.min_pitch)
    assert f["note_density"][0] == 2.0 and f["empty_bar_rate"][0] == 0.5
    assert f["pitch_range"][0] == 12 and f["mean_pitch"][0] == pytest.approx((60 + 64 + 67 + 72) / 4)
    assert f["pitch_class_entropy"][0] == pytest.approx(1.5)  # C twice, E, G
    assert f["mean_interval"][0] == pytest.approx((4 + 3 + 5) / 3)
    assert f["note_length"][0] == pytest.approx((4 + 4 + 4 + 2) / 4)
    silent = melody_features(np.zeros((1, 32), np.int64), MEL.min_pitch)
    assert silent["note_density"][0] == 0 and silent["empty_bar_rate"][0] == 1.0
    assert math.isnan(silent["pitch_range"][0]) and math.isnan(silent["mean_interval"][0])


def test_drum_features_and_empty_windows():
    kick, snare = 1, 2
    bar = [kick | snare, 0, 0, 0, kick, 0, 0, 0] * 2
    w = np.array([bar + bar, bar + [0] * 16])
    f = drum_features(drum_bits(w, 9))
    assert f["note_density"].tolist() == [6.0, 3.0]  # hits per bar
    assert f["groove_consistency"].tolist() == [1.0, 1.0 - 4 / 16]
    assert f["density/0"][0] == pytest.approx(8 / 32) and f["density/1"][0] == pytest.approx(4 / 32)
    assert f["empty_bar_rate"].tolist() == [0.0, 0.5]
    drums = converter_for("cat-drums_2bar_small")
    assert drums.is_empty(np.vstack([w, np.zeros((1, 32), np.int64)])).tolist() == [False, False, True]
    assert MEL.is_empty(np.array([[1] + [0] * 31, [C4] + [0] * 31])).tolist() == [True, False]
    trio = converter_for("hierdec-trio_16bar")
    silent = np.zeros((2, 256, 3), np.int64)
    silent[1, 5, 2] = kick
    assert trio.is_empty(silent).tolist() == [True, False]
    assert sorted(trio.features(silent))[:3] == ["bass/empty_bar_rate", "bass/mean_interval", "bass/mean_pitch"]


def test_compare_reports_every_feature_the_mean_and_the_empty_rate():
    rng = np.random.default_rng(0)
    real = rng.choice([0, 0, 0, C4, C4 + 2, C4 + 4, 1], size=(300, 32))
    same = compare(MEL, real, real)
    assert same["oa_mean"] == pytest.approx(1.0) and same["empty_rate"] == 0.0
    assert {"oa/note_density", "oa/pitch_range", "oa/mean_pitch", "oa/pitch_class_entropy", "oa/mean_interval",
            "oa/empty_bar_rate", "oa/note_length"} <= set(same)
    noise = rng.integers(2, MEL.num_classes, size=(300, 32))  # a new note on every step, anywhere
    silence = np.zeros((300, 32), np.int64)
    assert compare(MEL, noise, real)["oa_mean"] < 0.3
    assert compare(MEL, silence, real)["empty_rate"] == 1.0
    trio = converter_for("hierdec-trio_16bar")
    windows = np.stack([rng.choice([0, C4], (20, 256)), rng.choice([0, C4 - 24], (20, 256)),
                        rng.choice([0, 1, 5], (20, 256))], -1)
    got = compare(trio, windows, windows)
    assert {"oa/melody/pitch_range", "oa/bass/mean_pitch", "oa/drums/groove_consistency"} <= set(got)
    table = feature_table(MEL, real, real)
    assert all(oa == pytest.approx(1.0) and ours == pytest.approx(theirs) for _, ours, theirs, oa in table)


def test_objective_is_a_weighted_sum_and_ranks_trials_as_written():
    o = Objective.parse("metrics/accuracy + 0.5 * samples/oa_mean - 2*samples/empty_rate")
    assert o.terms == ((1.0, "metrics/accuracy"), (0.5, "samples/oa_mean"), (-2.0, "samples/empty_rate"))
    trials = [{"metrics/accuracy": 0.9, "samples/oa_mean": 0.2, "samples/empty_rate": 0.1},
              {"metrics/accuracy": 0.7, "samples/oa_mean": 0.9, "samples/empty_rate": 0.0}]
    assert [o.value(t) for t in trials] == [pytest.approx(0.8), pytest.approx(1.15)]
    assert math.isnan(o.value({"metrics/accuracy": 1.0}))
    for bad in ("", "metrics/accuracy +", "2 * * x", "a b"):
        with pytest.raises(UserError):
            Objective.parse(bad)


def test_pareto_front_keeps_the_trials_nothing_beats_on_both():
    rows = [{"trial_id": t, "metrics/accuracy": a, "samples/oa_mean": o}
            for t, a, o in [("a", 0.9, 0.5), ("b", 0.8, 0.8), ("c", 0.7, 0.7), ("d", 0.6, 0.9), ("e", None, 0.99)]]
    assert [r["trial_id"] for r in pareto_front(rows)] == ["d", "b", "a"]


def test_reservoir_keeps_a_uniform_sample():
    kept = Reservoir(200, seed=1)
    for start in range(0, 20000, 333):
        kept.push(np.arange(start, min(start + 333, 20000)))
    sample = kept.sample()
    assert len(sample) == 200 and len(set(sample.tolist())) == 200
    assert 8000 < sample.mean() < 12000  # not just the first rows
    small = Reservoir(10)
    small.push(np.arange(3))
    assert small.sample().tolist() == [0, 1, 2]


def test_quality_report_compares_with_the_eval_data_or_shows_the_samples_alone():
    from raymvae.generate.report import quality_report

    config = load_config("cat-mel_2bar_small").to_dict()
    tune = np.tile(np.array([C4, 0, 0, 0, C4 + 4, 0, 0, 0], np.int64), 4)[None]
    windows = np.concatenate([tune, np.zeros((1, 32), np.int64)])
    alone = quality_report(config, windows, None)
    assert alone.startswith("2 generated files: 50.0% empty") and "nan" not in alone and "OA" not in alone
    same = quality_report(config, windows, (windows.copy(), "shards/x (eval split)"))
    assert "compared with 2 windows of shards/x (eval split)" in same
    assert same.splitlines()[-1].split() == ["mean", "OA", "1.000"]
