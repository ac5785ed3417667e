"""``raymvae prepare`` on Ray Data: shards, manifest, per-file table, splits, TFRecords."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from midi_fixtures import midi_bytes
from raymvae.cli import main
from raymvae.data import ShardMismatchError, prepare, read_dataset, read_manifest, read_windows
from raymvae.data.tfrecord import write_records
from raymvae.music import converter_for

pytestmark = pytest.mark.ray
CONFIG = "cat-mel_2bar_small"


def test_corpus_export_runs_in_parallel_and_is_cached(folk_dir):
    from raymvae.corpus import export_pieces

    written = sorted(folk_dir.rglob("*.mid"))
    assert len(written) == 24
    again = export_pieces("folk", folk_dir, limit=24)
    assert sorted(again.written) == [str(p) for p in written]


@pytest.fixture(scope="module")
def corpus(folk_dir, tmp_path_factory):
    """The real melodies plus a file of each failure kind."""
    root = tmp_path_factory.mktemp("mixed")
    for p in sorted(folk_dir.rglob("*.mid"))[:12]:
        (root / p.name).write_bytes(p.read_bytes())
    (root / "bad").mkdir()
    (root / "bad" / "garbage.mid").write_bytes(b"this is not a MIDI file at all")
    (root / "bad" / "empty.mid").write_bytes(b"")
    good = next(iter(folk_dir.rglob("*.mid"))).read_bytes()
    (root / "bad" / "zero_division.mid").write_bytes(good[:12] + b"\x00\x00" + good[14:])
    (root / "drums_only.mid").write_bytes(midi_bytes([(0, True, [(36, s, s + 1) for s in range(0, 64, 4)])]))
    return root


@pytest.fixture(scope="module")
def shards(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "mel"
    return prepare(CONFIG, [str(corpus)], str(out), eval_fraction=0.3)


def test_manifest_accounts_for_every_file(corpus, shards):
    m = shards.manifest
    inputs = sorted(corpus.rglob("*.mid"))
    table = pq.read_table(f"{shards.output}/files.parquet").to_pylist()
    assert sorted(r["source"] for r in table) == sorted(str(p) for p in inputs)
    assert m["files"]["total"] == len(inputs) == sum(m["files"]["by_status"].values())
    by_name = {r["source"].rsplit("/", 1)[1]: r for r in table}
    for name in ("garbage.mid", "empty.mid", "zero_division.mid"):
        assert by_name[name]["status"] == "unreadable" and by_name[name]["reason"], by_name[name]
    assert by_name["drums_only.mid"]["status"] == "no-windows"
    assert "no 2-bar melody in programs 0-31" in by_name["drums_only.mid"]["reason"]
    assert m["files"]["by_status"]["unreadable"] == 3
    assert sum(n for r, n in m["files"]["by_reason"].items() if r.startswith("unreadable")) == 3
    assert m["config_name"] == CONFIG and m["window_shape"] == [32] and m["dtype"] == "int16"
    assert sum(m["class_histogram"]["melody"]) == 32 * (m["windows"]["train"] + m["windows"]["eval"])
    assert json.loads((shards_path := __import__("pathlib").Path(shards.output) / "manifest.json").read_text()) == m
    assert shards_path.parent.name == "mel"


def test_windows_match_the_converter_and_splits_are_disjoint(corpus, shards):
    conv = converter_for(CONFIG)
    train, train_src = read_windows(shards.output, "train", CONFIG)
    evalw, eval_src = read_windows(shards.output, "eval", CONFIG)
    assert len(train) and len(evalw), "eval_fraction 0.3 of 16 files should give both splits"
    assert not set(train_src) & set(eval_src)
    table = pq.read_table(f"{shards.output}/train").to_pydict()  # plain pyarrow reads the shards
    assert set(table) >= {"windows", "source", "window_index"}
    for src in set(train_src) | set(eval_src):
        expected = conv.encode_midi(open(src, "rb").read())
        got = np.concatenate([train[train_src == src], evalw[eval_src == src]])
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, expected.tolist()))
    assert train.dtype == np.int16 and train.max() < 90
    for split in ("train", "eval"):
        t = pq.read_table(f"{shards.output}/{split}").to_pandas()
        for _, g in t.groupby("file_id"):
            assert sorted(g["file_position"]) == list(range(len(g))) and (g["file_windows"] == len(g)).all()


def test_shards_are_deterministic_and_refuse_existing_output(corpus, shards, tmp_path):
    out = tmp_path / "capped"
    first = prepare(CONFIG, [str(corpus)], str(out), eval_fraction=0.3, shard_windows_per_file=2)
    w1, s1 = read_windows(str(out), "train")
    assert max(np.unique(s1, return_counts=True)[1]) <= 2
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare(CONFIG, [str(corpus)], str(out), shard_windows_per_file=2)
    assert main(["prepare", "--config", CONFIG, "--input", str(corpus), "--output", str(out)]) == 2
    prepare(CONFIG, [str(corpus)], str(out), eval_fraction=0.3, shard_windows_per_file=2, overwrite=True)
    w2, s2 = read_windows(str(out), "train")
    assert first.manifest["windows"] == read_manifest(str(out))["windows"]
    assert np.array_equal(w1, w2) and list(s1) == list(s2)  # the same rows in the same order
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_tfrecord_of_note_sequences_gives_the_same_windows(folk_dir, tmp_path):
    import note_seq

    paths = sorted(folk_dir.rglob("*.mid"))[:6]
    records = [note_seq.midi_file_to_note_sequence(str(p)).SerializeToString() for p in paths]
    with open(tmp_path / "notes.tfrecord", "wb") as f:
        write_records(f, records + [b"\x08\xff"])  # the last record is not a NoteSequence
    res = prepare(CONFIG, [str(tmp_path / "notes.tfrecord")], str(tmp_path / "out"), eval_fraction=0.0)
    assert res.manifest["files"]["total"] == 7
    assert res.manifest["files"]["by_status"]["unreadable"] == 1
    got, _ = read_windows(str(tmp_path / "out"), "train")
    conv = converter_for(CONFIG)
    expected = np.concatenate([conv.encode_midi(p.read_bytes()) for p in paths])
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, expected.tolist()))


def test_reader_checks_the_config_and_feeds_ray(shards):
    with pytest.raises(ShardMismatchError, match="cat-drums_2bar_small"):
        read_windows(shards.output, "train", "cat-drums_2bar_small")
    with pytest.raises(ShardMismatchError, match="window shape"):
        read_dataset(shards.output, "hierdec-mel_16bar")
    ds = read_dataset(shards.output, CONFIG, "train")
    batch = next(iter(ds.iter_batches(batch_size=8, batch_format="numpy")))
    assert batch["windows"].shape == (8, 32) and batch["windows"].dtype == np.int16
    assert ds.count() == shards.manifest["windows"]["train"]


def test_prepare_cli_prints_a_summary(corpus, tmp_path, capsys):
    assert main(["prepare", "--config", "cat-drums_2bar_small", "--input", str(corpus),
                 "--output", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "files ->" in out and "unreadable" in out and "files.parquet" in out
