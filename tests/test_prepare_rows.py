"""Prepare's conversion without Ray: one row per input file with its status and reason, windows as a blob."""
from __future__ import annotations

import numpy as np

from midi_fixtures import midi_bytes
from raymvae.config import load_config
from raymvae.data.convert import FILE_COLUMNS, encode_rows, explode, select_windows

CONFIG = load_config("cat-mel_2bar_small").to_dict()
TUNE = [(60 + (i % 5), 2 * i, 2 * i + 2) for i in range(32)]  # 4 bars of eighth notes


def test_every_file_gets_a_row_and_bad_ones_say_why():
    items = [("a.mid", "a", midi_bytes([(0, False, TUNE)])), ("b.mid", "b", b"MThd garbage"),
             ("c.mid", "c", OSError("permission denied")), ("d.mid", "d", midi_bytes([(0, True, TUNE)]))]
    table = encode_rows(items, CONFIG, "midi", eval_fraction=0.0, cap=2)
    rows = {r["source"]: r for r in table.select(FILE_COLUMNS).to_pylist()}
    assert rows["a.mid"]["status"] == "ok" and rows["a.mid"]["windows"] == 2 and rows["a.mid"]["split"] == "train"
    assert rows["b.mid"]["status"] == "unreadable" and rows["b.mid"]["reason"]
    assert rows["c.mid"]["status"] == "unreadable" and "permission denied" in rows["c.mid"]["reason"]
    assert rows["d.mid"]["status"] == "no-windows" and "melody" in rows["d.mid"]["reason"]
    a = table.to_pylist()[0]
    kept = np.frombuffer(a["data"], np.int16).reshape(-1, 32)
    assert kept.shape == (2, 32) and np.frombuffer(a["index"], np.int32).tolist() == \
        select_windows(3, 2, "a").tolist()
    hist = np.frombuffer(a["hist"], np.int64)
    assert len(hist) == 90 and hist.sum() == 2 * 32   # one class per step of the kept windows
    per_window = explode(table, "train", (32,), "int16")  # the rows of files with windows in that split
    assert per_window.num_rows == 2 and per_window["file_windows"].to_pylist() == [2, 2]
    assert per_window["file_position"].to_pylist() == [0, 1]
