"""Export to magenta-js: the checkpoint format read back (float32 exactly, quantized within a step), import from
it, and magenta-js's own MusicVAE in Node loading the export and computing what PyTorch computes. No Ray."""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from raymvae.cli import main
from raymvae.export import load_export, save_export
from raymvae.magenta_js import export_magenta_js, read_magenta_js
from raymvae.model import build
from raymvae.model.magenta_weights import tf_variables
from raymvae.music import converter_for
from raymvae.music.converters import SECONDS_PER_STEP

JS = Path(__file__).parent / "js"
SMALL = dict(enc_rnn_size=[16], dec_rnn_size=[16, 16], z_size=8)
# magenta-js runs a hierarchical decoder only behind the hierarchical encoder: hier-trio, not hierdec-trio
CONFIGS = ["cat-mel_2bar_small", "cat-drums_2bar_small", "nade-drums_2bar_reduced", "hier-mel_16bar",
           "hier-trio_16bar"]


def small(name: str, seed: int = 0):
    """A small model whose mu layer is scaled up from Magenta's N(0, 0.001^2) start, so that mu is of order one
    and a comparison of mu within 1e-4 says something."""
    torch.manual_seed(seed)
    model = build(name, SMALL).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.mu.weight, std=0.5)
    return model


@pytest.mark.parametrize("name", CONFIGS)
def test_export_reads_back_and_imports(name, tmp_path, capsys):
    model = small(name)
    run = tmp_path / "run"
    save_export(str(run), model, 3)
    assert main(["export", "magenta-js", "--model", str(run), "--output", str(tmp_path / "js")]) == 0
    assert "magenta-js MusicVAE, float32 weights" in capsys.readouterr().out
    spec = json.loads((tmp_path / "js" / "config.json").read_text())
    assert spec["type"] == "MusicVAE" and spec["dataConverter"]["args"]["numSteps"] == model.seq_len
    ref = tf_variables(model)
    back = read_magenta_js(str(tmp_path / "js"))
    assert back.keys() == ref.keys() and all(np.array_equal(back[k], ref[k]) for k in ref)
    for nbytes in (1, 2):
        export_magenta_js(model, str(tmp_path / f"q{nbytes}"), nbytes)
        q = read_magenta_js(str(tmp_path / f"q{nbytes}"))
        step = {k: (ref[k].max() - ref[k].min()) / (256 ** nbytes - 1) for k in ref}
        assert all(np.abs(q[k] - ref[k]).max() <= step[k] / 2 + 1e-7 for k in ref)
    shard = lambda d: (tmp_path / d / "group1-shard1of1").stat().st_size  # noqa: E731
    assert shard("q1") * 4 == shard("q2") * 2 == shard("js")
    assert main(["import-magenta", "--checkpoint", str(tmp_path / "js"), "--config", name, "--hparams",
                 "enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8", "--output", str(tmp_path / "back")]) == 0
    imported, _ = load_export(str(tmp_path / "back"))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(model.state_dict().values(),
                                                                imported.state_dict().values()))


def test_what_magenta_js_cannot_run_is_refused_in_one_line(tmp_path, capsys):
    for name, hparams in (("cat-mel_2bar_small", dict(enc_rnn_size=[16, 16], dec_rnn_size=[16], z_size=8)),
                          ("hierdec-mel_16bar", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=8)),
                          ("groovae_2bar_add_closed_hh", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=8)),
                          ("groovae_2bar_hits_control", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=8))):
        save_export(str(tmp_path / name), build(name, hparams), 0)
        assert main(["export", "magenta-js", "--model", str(tmp_path / name), "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "single-layer bidirectional encoders only" in err and "hierarchical encoder" in err
    assert "no data converter for groovae_2bar_add_closed_hh" in err and "groovae_2bar_hits_control" in err
    assert not (tmp_path / "x").exists()


def quantized_json(conv, window: np.ndarray) -> dict:
    """A window as the quantized NoteSequence JSON magenta-js reads (numbers, not protobuf JSON's strings)."""
    ns = conv.decode(window[None])[0]
    notes = [{"pitch": n.pitch, "velocity": n.velocity, "program": n.program, "instrument": n.instrument,
              "isDrum": n.is_drum, "quantizedStartStep": round(n.start_time / SECONDS_PER_STEP),
              "quantizedEndStep": round(n.end_time / SECONDS_PER_STEP)} for n in ns.notes]
    return {"notes": notes, "totalQuantizedSteps": len(window), "quantizationInfo": {"stepsPerQuarter": 4}}


def notes(ns: dict) -> list[tuple]:
    """(pitch, start step, end step, drum) of a magenta-js NoteSequence, sorted."""
    return sorted((n["pitch"], int(n.get("quantizedStartStep", 0)), int(n["quantizedEndStep"]),
                   bool(n.get("isDrum", False))) for n in ns.get("notes", []))


def needs_node(test):
    """A test that runs magenta-js in Node: marked ``js`` (not in `make test-fast`), skipped, saying why,
    where Node or the npm packages are missing."""
    missing = shutil.which("node") is None or not (JS / "node_modules" / "@magenta" / "music").is_dir()
    return pytest.mark.js(pytest.mark.skipif(
        missing, reason="needs Node.js and magenta-js in tests/js (`make js` installs it with npm)")(test))


def run_magenta_js(tmp_path: Path, inputs: dict) -> dict:
    """magenta-js's answer for the checkpoint in ``tmp_path/www/ckpt`` (served over HTTP on 127.0.0.1)."""
    (tmp_path / "in.json").write_text(json.dumps(inputs))
    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = subprocess.run(["node", str(JS / "musicvae_check.js"), f"http://127.0.0.1:{server.server_port}/ckpt",
                               str(tmp_path / "in.json")], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "NODE_PATH": str(JS / "node_modules")})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_node
@pytest.mark.parametrize("name", CONFIGS)
def test_magenta_js_loads_the_export_and_computes_the_same(name, tmp_path):
    """magenta-js's MusicVAE (Node) encodes three real-looking windows to PyTorch's mu within 1e-4 and decodes
    four fixed z by argmax to the same notes."""
    model = small(name, seed=1)
    export_magenta_js(model, str(tmp_path / "www" / "ckpt"))
    conv = converter_for(name)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        windows = model.decode(torch.from_numpy(rng.standard_normal((3, 8)).astype(np.float32)), 1.0,
                               generator=torch.Generator().manual_seed(0)).numpy()
        mu = model.encode(torch.from_numpy(windows.astype(np.int64)))[0].numpy()
        z = rng.standard_normal((4, 8)).astype(np.float32)
        ours = model.decode(torch.from_numpy(z), None).numpy()
    out = run_magenta_js(tmp_path, {"sequences": [quantized_json(conv, w) for w in windows], "z": z.tolist()})
    assert np.abs(np.asarray(out["mu"]) - mu).max() < 1e-4
    for theirs, window in zip(out["decoded"], ours):
        assert notes(theirs) == notes(quantized_json(conv, window))


@needs_node
@pytest.mark.parametrize("name, key", [("cat-mel_2bar_med_chords", None), ("cat-mel_2bar_med_chords_key", 7)])
def test_magenta_js_runs_a_chord_conditioned_export(name, key, tmp_path):
    """Chords (and a key) as magenta-js's controlArgs: its MusicVAE encodes under a progression to PyTorch's mu
    and decodes fixed z under it to the same notes."""
    from raymvae.music import chords

    model = small(name, seed=3)
    export_magenta_js(model, str(tmp_path / "www" / "ckpt"))
    spec = json.loads((tmp_path / "www" / "ckpt" / "config.json").read_text())
    assert spec["chordEncoder"] == "TriadChordEncoder" and spec.get("conditionOnKey", False) == (key is not None)
    progression = ["C", "G", "Am", "F"]
    classes = chords.progression(progression, 32).astype(np.int64)
    controls = np.stack([classes, np.full(32, key)], -1) if key is not None else classes
    rng = np.random.default_rng(0)
    with torch.no_grad():
        c3, c4 = (torch.from_numpy(np.repeat(controls[None], n, 0)) for n in (3, 4))
        windows = model.decode(torch.from_numpy(rng.standard_normal((3, 8)).astype(np.float32)), 1.0,
                               generator=torch.Generator().manual_seed(0), controls=c3).numpy()
        mu = model.encode_windows(windows)[0].numpy()
        z = rng.standard_normal((4, 8)).astype(np.float32)
        ours = model.decode(torch.from_numpy(z), None, controls=c4).numpy()
    args = {"chordProgression": progression, **({"key": key} if key is not None else {})}
    melody = converter_for("cat-mel_2bar_small")
    out = run_magenta_js(tmp_path, {"sequences": [quantized_json(melody, w[:, 0]) for w in windows],
                                    "z": z.tolist(), "controlArgs": args})
    assert np.abs(np.asarray(out["mu"]) - mu).max() < 1e-4
    for theirs, window in zip(out["decoded"], ours):
        assert notes(theirs) == notes(quantized_json(melody, window[:, 0]))


def multitrack_json(conv, window: np.ndarray) -> dict:
    """A multitrack window as the quantized NoteSequence (24 steps per quarter) magenta-js reads and writes."""
    ns = conv.decode(np.asarray(window)[None])[0]
    steps = 24 * 2  # per second at 120 qpm
    notes = [{"pitch": n.pitch, "velocity": n.velocity, "program": n.program, "instrument": n.instrument,
              "isDrum": n.is_drum, "quantizedStartStep": round(n.start_time * steps),
              "quantizedEndStep": round(n.end_time * steps)} for n in ns.notes]
    return {"notes": notes, "totalQuantizedSteps": 96, "quantizationInfo": {"stepsPerQuarter": 24}}


@needs_node
@pytest.mark.parametrize("name", ["hier-multiperf_vel_1bar_med", "hier-multiperf_vel_1bar_med_chords"])
def test_magenta_js_runs_an_exported_multitrack_model(name, tmp_path):
    """Multitrack: magenta-js reads real bars (tracks of their own lengths) to PyTorch's mu and decodes fixed z,
    track by track, to the same notes (with a chord progression for the _chords model)."""
    from midi_fixtures import midi_bytes

    model = small(name, seed=4)
    export_magenta_js(model, str(tmp_path / "www" / "ckpt"))
    conv = converter_for(name)
    piano = [(60 + 2 * k, 4 * k, 4 * k + 4, 10 + 16 * k) for k in range(8)]
    windows = conv.encode_midi(midi_bytes([(0, False, piano), (33, False, [(36, 0, 16), (43, 16, 32)]),
                                           (0, True, [(36, 8 * k, 8 * k + 1, 100) for k in range(4)])]))
    args, controls = {}, None
    if conv.chord_conditioned:
        args = {"controlArgs": {"chordProgression": ["C"]}}
        controls = torch.from_numpy(np.repeat(conv.progression_controls([["C"]]).astype(np.int64), 4, 0))
        windows[..., 1] = np.where(windows[..., 0] >= 0, conv.progression_controls([["C"]])[0], -1)
    tokens = conv.tokens(windows)
    with torch.no_grad():
        mu = model.encode_windows(windows)[0].numpy()
        z = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)
        ours = model.decode(torch.from_numpy(z), None, controls=controls).numpy()
    out = run_magenta_js(tmp_path, {"sequences": [multitrack_json(converter_for(NAME_MT), w) for w in tokens],
                                    "z": z.tolist(), **args})
    assert np.abs(np.asarray(out["mu"]) - mu).max() < 1e-4
    decoded = [notes(theirs) for theirs in out["decoded"]]
    assert sum(map(len, decoded)) > 0 and np.abs(mu).max() > 0.01
    assert decoded == [notes(multitrack_json(converter_for(NAME_MT), w)) for w in conv.tokens(ours)]


NAME_MT = "hier-multiperf_vel_1bar_med"


@needs_node
@pytest.mark.parametrize("name", ["groovae_2bar_humanize", "groovae_2bar_tap_fixed_velocity"])
def test_magenta_js_runs_an_exported_groovae(name, tmp_path):
    """GrooVAE: magenta-js reads a performance (velocities, timing) to PyTorch's mu within 1e-4 and plays four
    fixed z as PyTorch decodes them (hits; velocity within 1; onset within 1e-4 s)."""
    from test_groove import performance

    model = small(name, seed=2)
    export_magenta_js(model, str(tmp_path / "www" / "ckpt"))
    conv = converter_for(name, inference=True)
    perf = performance()[:3]
    perf[:, 0, 18:] = np.minimum(perf[:, 0, 18:], 0)  # no hit before the window starts
    with torch.no_grad():
        mu = model.encode_windows(perf)[0].numpy()
        z = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
        ours = model.decode(torch.from_numpy(z), None).numpy()
    sequences = [{"notes": [{"pitch": n.pitch, "velocity": n.velocity, "startTime": n.start_time, "endTime": n.end_time,
                             "isDrum": True} for n in conv.decode(w[None])[0].notes],
                  "tempos": [{"qpm": 120}], "totalTime": 4.0} for w in perf]
    out = run_magenta_js(tmp_path, {"sequences": sequences, "z": z.tolist()})
    assert np.abs(np.asarray(out["mu"]) - mu).max() < 1e-4
    pitches = [c[0] for c in conv.output_pitch_classes]
    for theirs, frames in zip(out["decoded"], ours):
        expected = sorted((pitches[c], round(float(frames[t, 9 + c]) * 127),
                           (t - float(np.clip(frames[t, 18 + c] / 2, -0.5, 0.5))) * SECONDS_PER_STEP)
                          for t, c in zip(*np.nonzero(frames[:, :9] > 0.5)))
        got = sorted((n["pitch"], n["velocity"], n.get("startTime", 0.0)) for n in theirs["notes"])
        assert [g[0] for g in got] == [e[0] for e in expected]
        assert all(abs(g[1] - e[1]) <= 1 and abs(g[2] - e[2]) < 1e-4 for g, e in zip(got, expected))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
