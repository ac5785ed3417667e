"""Ray Serve endpoint over real HTTP on 127.0.0.1: every route, every bad input, shared batches, the CLI."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
import torch
import yaml
from google.protobuf.json_format import MessageToDict

from browser import browser_missing, chromium
from midi_fixtures import midi_bytes
from raymvae import audio
from raymvae.config import preset_path
from raymvae.export import load_export, save_export
from raymvae.generate.attributes import save_vector
from raymvae.model.precision import autocast, resolve
from raymvae.model.seeded import decode_seeded, sampling_noise
from raymvae.serve.launch import free_port, start_http
from raymvae.generate.constraints import ConstraintSettings, apply_actor, load_actor, save_constraints, \
    train_constraints
from raymvae.generate.plan import prior_z, similar_z
from raymvae.model import build, slerp
from raymvae.music import converter_for

pytestmark = pytest.mark.ray
CONFIG = "cat-mel_2bar_small"
CPU = torch.device("cpu")
SERVED = resolve("auto", CPU)  # what the server decodes in here (bf16 on CPUs with it)
MELODY_A = [(60 + (i % 5), 2 * i, 2 * i + 2) for i in range(16)]  # 2 bars of eighth notes
MELODY_B = [(72 - (i % 7), 4 * i, 4 * i + 3) for i in range(16)]  # 4 bars of dotted eighths: 3 windows


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small untrained model export plus a saved note_density vector."""
    torch.manual_seed(0)
    model = build(CONFIG, dict(enc_rnn_size=[32], dec_rnn_size=[32, 32], z_size=8))
    out = tmp_path_factory.mktemp("serve_run")
    save_export(out, model.eval(), 123)
    vec = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    save_vector(out, "note_density", vec, {"attribute": "note_density"})
    rng = np.random.default_rng(1)
    mu = rng.standard_normal((64, 8)).astype(np.float32)
    actor, critic, info = train_constraints(mu, np.full_like(mu, 0.1), (mu[:, 0] > 0).astype(np.int64),
                                            ConstraintSettings(hidden=[16], steps=5, batch_size=8))
    save_constraints(out, "pitch_range", actor, critic, info)
    return out


@pytest.fixture(scope="module")
def server(ray_session, run_dir):
    """The application of configs/serve/default.yaml (its import_path and args, as `serve run` builds it),
    with this test's model, small limits and a batch wait long enough for concurrent requests to meet."""
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    spec = yaml.safe_load(preset_path("serve/default.yaml").read_text())
    ServeDeploySchema.model_validate(spec)
    app_spec = spec["applications"][0]
    module, attr = app_spec["import_path"].split(":")
    builder = getattr(__import__(module, fromlist=[attr]), attr)
    args = {**app_spec["args"], "model": str(run_dir), "max_n": 8, "max_steps": 10, "max_temperature": 2.0,
            "max_body_bytes": 64 * 1024, "batch_wait_timeout_s": 0.05, "max_batch_size": 16}
    url = start_http()
    serve.run(builder(args), name="raymvae-test", route_prefix="/", blocking=False,
              logging_config={"enable_access_log": False, "log_level": "WARNING"})
    yield url
    serve.shutdown()


@pytest.fixture(scope="module")
def local(run_dir):
    """The same model in this process, to compute what the server should answer (in the precision the server's
    auto picks on this CPU: ``SERVED``)."""
    model, _ = load_export(run_dir)
    return model, converter_for(model.config)


def post(server: str, path: str, body) -> requests.Response:
    return requests.post(server + path, json=body, timeout=60)


def expected_sequences(local, z: np.ndarray, temperature: float, seed: int) -> list[dict]:
    model, conv = local
    u = sampling_noise(model, seed, np.arange(len(z)))
    with torch.no_grad(), autocast(CPU, SERVED):
        windows = model.decode(torch.from_numpy(z), temperature=temperature or None, uniforms=torch.from_numpy(u))
    return [MessageToDict(ns) for ns in conv.decode(windows.numpy())]


def local_mu(local, midi: bytes, window: int = 0) -> np.ndarray:
    model, conv = local
    w = conv.encode_midi(midi)[window:window + 1]
    with torch.no_grad(), autocast(CPU, SERVED):
        return model.encode(torch.from_numpy(w.astype(np.int64)))[0][0].numpy()


def test_health_and_model_info(server):
    assert requests.get(server + "/healthz", timeout=30).json() == {"status": "ok"}
    info = requests.get(server + "/model", timeout=30).json()
    assert info["config"] == CONFIG and info["step"] == 123 and info["z_size"] == 8
    assert info["dec_rnn_size"] == [32, 32] and info["limits"]["max_n"] == 8
    assert info["attributes"]["saved"] == ["note_density"] and info["attributes"]["actors"] == ["pitch_range"]
    assert info["precision"] == SERVED  # what ran, never 'auto'
    assert requests.get(server + "/docs", timeout=30).status_code == 200
    assert "/interpolate" in requests.get(server + "/openapi.json", timeout=30).json()["paths"]


def test_sample_is_seeded_and_matches_batch_generation(server, local):
    r = post(server, "/sample", {"n": 3, "temperature": 0.5, "seed": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seed"] == 5 and len(body["results"]) == 3
    z = prior_z(8, 5, range(3))
    np.testing.assert_allclose([res["z"] for res in body["results"]], z, atol=1e-6)
    assert [res["note_sequence"] for res in body["results"]] == expected_sequences(local, z, 0.5, 5)
    conv = local[1]
    for res in body["results"]:
        ns = conv.decode(conv.encode_midi(base64.b64decode(res["midi"])))
        assert all(MessageToDict(x) == res["note_sequence"] for x in ns)
    assert post(server, "/sample", {"n": 3, "temperature": 0.5, "seed": 5}).json() == body
    drawn = post(server, "/sample", {"n": 1}).json()
    assert isinstance(drawn["seed"], int) and drawn["temperature"] == 0.5


def test_interpolate_encode_decode_attribute(server, local, run_dir):
    a, b = midi_bytes([(0, False, MELODY_A)]), midi_bytes([(0, False, MELODY_B)])
    r = post(server, "/interpolate", {"a": b64(a), "b": b64(b), "steps": 5, "method": "slerp", "seed": 1})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    za, zb = local_mu(local, a), local_mu(local, b)
    assert [x["t"] for x in res] == [0.0, 0.25, 0.5, 0.75, 1.0]
    want = slerp(torch.from_numpy(za), torch.from_numpy(zb), np.linspace(0, 1, 5)).numpy()
    np.testing.assert_allclose([x["z"] for x in res], want, atol=1e-5)
    assert [x["note_sequence"] for x in res] == expected_sequences(local, np.asarray([x["z"] for x in res],
                                                                                     np.float32), 0.0, 1)
    lin = post(server, "/interpolate", {"a": b64(a), "b": b64(b), "steps": 3, "method": "linear"}).json()
    np.testing.assert_allclose(lin["results"][1]["z"], (za + zb) / 2, atol=1e-5)

    enc = post(server, "/encode", {"midi": b64(b), "window": 2}).json()
    assert enc["num_windows"] == 3 and enc["window"] == 2 and len(enc["sigma"]) == 8
    np.testing.assert_allclose(enc["z"], local_mu(local, b, 2), atol=1e-5)

    one = post(server, "/decode", {"z": enc["z"], "temperature": 0}).json()["results"]
    many = post(server, "/decode", {"z": [enc["z"], za.tolist()], "seed": 2}).json()["results"]
    assert len(one) == 1 and len(many) == 2 and many[0]["note_sequence"] == one[0]["note_sequence"]

    r = post(server, "/attribute", {"midi": b64(a), "attribute": "note_density", "amount": 1.5, "seed": 0})
    assert r.status_code == 200, r.text
    vec = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    got = r.json()["results"][0]
    np.testing.assert_allclose(got["z"], za + 1.5 * vec, atol=1e-5)
    assert got["note_sequence"] == expected_sequences(local, (za + 1.5 * vec)[None], 0.0, 0)[0]

    r = post(server, "/attribute", {"midi": b64(a), "attribute": "pitch_range", "method": "actor", "target": "low"})
    assert r.status_code == 200, r.text
    want = apply_actor(load_actor(run_dir, "pitch_range"), za[None], "low")
    np.testing.assert_allclose(r.json()["results"][0]["z"], want[0], atol=1e-5)

    r = post(server, "/similar", {"midi": b64(a), "n": 3, "similarity": 0.75, "seed": 4, "temperature": 0.5})
    assert r.status_code == 200, r.text
    zs = similar_z(za, 0.75, 4, range(3))
    got = r.json()["results"]
    np.testing.assert_allclose([g["z"] for g in got], zs, atol=1e-5)
    assert [g["t"] for g in got] == [0.75] * 3
    assert [g["note_sequence"] for g in got] == expected_sequences(local, zs, 0.5, 4)
    same = post(server, "/similar", {"midi": b64(a), "n": 1, "similarity": 1.0, "seed": 9}).json()["results"][0]
    np.testing.assert_allclose(same["z"], za, atol=1e-5)

    if audio.missing() is None:  # format=wav: each result also played by FluidSynth
        r = post(server, "/interpolate", {"a": b64(a), "b": b64(b), "steps": 2, "format": "wav"})
        assert r.status_code == 200 and all(base64.b64decode(x["wav"])[:4] == b"RIFF" for x in r.json()["results"])


DRUMS_ONLY = midi_bytes([(0, True, [(36, 4 * i, 4 * i + 1) for i in range(16)])])
MELODY = b64(midi_bytes([(0, False, MELODY_A)]))
BAD = [
    ("/sample", "{not json", 422, "JSON decode error"),
    ("/sample", {"n": "three"}, 422, "valid integer"),
    ("/sample", {"n": 0}, 422, "n must be between 1 and 8"),
    ("/sample", {"n": 9}, 422, "max_n"),
    ("/sample", {"n": 2, "temperature": -0.1}, 422, "temperature must be between 0"),
    ("/sample", {"n": 2, "temperature": 2.5}, 422, "temperature must be between 0"),
    ("/sample", '{"temperature": NaN}', 422, "finite number"),
    ("/sample", {"n": 1, "seed": -1}, 422, "greater than or equal to 0"),
    ("/sample", {"n": 1, "colour": "red"}, 422, "Extra inputs"),
    ("/sample", [1, 2], 422, "valid dictionary"),
    ("/interpolate", {"a": MELODY, "b": MELODY, "steps": 1}, 422, "at least 2"),
    ("/interpolate", {"a": MELODY, "b": MELODY, "steps": 11}, 422, "max_steps"),
    ("/interpolate", {"a": MELODY, "b": MELODY, "method": "cubic"}, 422, "slerp"),
    ("/interpolate", {"a": MELODY}, 422, "Field required"),
    ("/interpolate", {"a": MELODY, "b": "@@@not base64@@@"}, 422, "b: not base64"),
    ("/interpolate", {"a": b64(b"hello, world"), "b": MELODY}, 422, "a: cannot read MIDI"),
    ("/interpolate", {"a": MELODY, "b": b64(DRUMS_ONLY)}, 422, "b: no 2-bar melody in programs 0-31"),
    ("/encode", {"midi": MELODY, "window": 5}, 422, "window 5 is out of range"),
    ("/encode", {"midi": ""}, 422, "midi: empty"),
    ("/encode", {"midi": 42}, 422, "valid string"),
    ("/decode", {"z": [0.0, 1.0]}, 422, "8 values per vector"),
    ("/decode", {"z": []}, 422, "number of z vectors must be between 1 and 8"),
    ("/decode", {"z": [[0.0] * 8] * 9}, 422, "max_n"),
    ("/decode", {"z": [1e39] * 8}, 422, "finite"),
    ("/decode", {"z": "zeros"}, 422, "valid list"),
    ("/attribute", {"midi": MELODY, "attribute": "loudness"}, 422, "unknown attribute 'loudness'"),
    ("/attribute", {"midi": MELODY, "attribute": "syncopation"}, 422, "no vector for 'syncopation'"),
    ("/attribute", {"midi": MELODY, "attribute": "note_density", "amount": "lots"}, 422, "valid number"),
    ("/attribute", {"midi": MELODY, "attribute": "syncopation", "method": "actor"}, 422,
     "no latent-constraint actor for 'syncopation'"),
    ("/attribute", {"midi": MELODY, "attribute": "pitch_range", "method": "critic"}, 422, "'vector' or 'actor'"),
    ("/similar", {"midi": MELODY, "similarity": 1.5}, 422, "less than or equal to 1"),
    ("/similar", {"midi": MELODY, "n": 9}, 422, "max_n"),
    ("/sample", {"n": 1, "chords": "C G"}, 422, "not conditioned on chords"),
    ("/sample", {"n": 1, "format": "mp3"}, 422, "'midi' or 'wav'"),
    ("/grid", {"corners": [MELODY] * 3}, 422, "at least 4 items"),
    ("/grid", {"corners": [MELODY] * 4, "steps": 3}, 422, "steps x steps must be between 1 and 8"),
    ("/humanize", {"midi": MELODY}, 404, "needs a GrooVAE model"),
    ("/tap2drum", {}, 422, "Field required"),
    ("/groove-transfer", {"groove": MELODY, "pattern": MELODY, "feel": 1}, 422, "Extra inputs"),
]


@pytest.mark.parametrize("path,body,status,message", BAD, ids=[f"{p}-{m}" for p, _, _, m in BAD])
def test_bad_input_gets_4xx_with_a_message(server, path, body, status, message):
    data = body if isinstance(body, str) else json.dumps(body)
    r = requests.post(server + path, data=data, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text
    assert message in r.text


def test_oversize_bodies_get_413_and_the_server_stays_up(server):
    big = json.dumps({"midi": "A" * (80 * 1024)})
    r = requests.post(server + "/encode", data=big, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "max_body_bytes" in r.text
    chunked = requests.post(server + "/encode", data=(big[i:i + 4096].encode() for i in range(0, len(big), 4096)),
                            headers={"content-type": "application/json"}, timeout=60)
    assert chunked.status_code == 413
    assert requests.get(server + "/healthz", timeout=30).json() == {"status": "ok"}
    assert post(server, "/sample", {"n": 1, "seed": 0}).status_code == 200


def test_concurrent_requests_share_batches(server, local):
    before = requests.get(server + "/model", timeout=30).json()["served"]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda s: post(server, "/sample", {"n": 2, "seed": s, "temperature": 0.7}), range(16)))
    assert all(r.status_code == 200 for r in replies)
    after = requests.get(server + "/model", timeout=30).json()["served"]
    assert after["requests"] - before["requests"] == 16
    assert after["batches"] - before["batches"] < 16 and after["largest_batch"] > 1
    assert after["gc_frozen"] > 10_000  # the replica froze its long-lived objects after its first batch
    for s in (0, 9, 15):  # a result does not depend on the batch it was decoded in
        assert [x["note_sequence"] for x in replies[s].json()["results"]] == \
            expected_sequences(local, prior_z(8, s, range(2)), 0.7, s)


def test_cli_serves_until_ctrl_c(run_dir, tmp_path):
    port = free_port()
    env = {**os.environ, "RAY_TMPDIR": "/tmp", "RAY_ADDRESS": ""}
    proc = subprocess.Popen([sys.executable, "-m", "raymvae.cli", "serve", "--model", str(run_dir), "--port",
                             str(port), "--max-batch-size", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or no replica ready yet
                time.sleep(1)
        info = requests.get(f"http://127.0.0.1:{port}/model", timeout=30).json()
        assert info["batching"]["max_batch_size"] == 4 and info["step"] == 123
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "raymvae serve: stopped" in out
        assert "Proxy starting" not in out and "Deploying new version" not in out  # Serve's internals: in its logs
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_refuses_a_run_dir_without_export(tmp_path):
    from raymvae.cli import main

    assert main(["serve", "--model", str(tmp_path)]) == 2


def test_groove_routes(server, tmp_path):
    """/humanize, /tap2drum and /groove-transfer of a GrooVAE model (hits as controls): the files `generate`
    makes with the same seed (window j of a file samples with (seed, 0, j): tests/test_groove_pipeline.py
    checks generate's against the same computation); their bad inputs get a 4xx with a message."""
    from ray import serve

    from raymvae.serve.app import build_app
    from test_groove import performance
    from test_groove_pipeline import performance_midi

    torch.manual_seed(0)
    run = tmp_path / "groove_run"
    model = build("groovae_2bar_hits_control", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=8)).eval()
    save_export(run, model, 7)
    serve.run(build_app({"model": str(run), "num_cpus": 0.5, "max_n": 4, "precision": "fp32"}), name="groove",
              route_prefix="/groove", blocking=False,
              logging_config={"enable_access_log": False, "log_level": "WARNING"})
    try:
        perf = performance()
        beat = performance_midi(perf[:2], 100.0, roland=False)
        pattern = performance_midi(perf[4:7], 90.0, roland=False)
        conv = converter_for(model.config, inference=True)
        r = post(server, "/groove/humanize", {"midi": b64(beat), "seed": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["qpm"] == pytest.approx(100.0) and body["windows"] == 2 and len(body["z"][0]) == 8
        beat_w, pattern_w = conv.encode_midi(beat), conv.encode_midi(pattern)
        with torch.no_grad():
            mu = model.encode_windows(beat_w)[0].numpy()
        expected = decode_seeded(model, mu, 0.0, [(3, [(0, 0), (0, 1)])], conv.controls(beat_w))
        assert base64.b64decode(body["midi"]) == conv.to_midi_bytes(conv.decode_joined(expected, 100.0))
        r = post(server, "/groove/groove-transfer", {"groove": b64(beat), "pattern": b64(pattern), "seed": 1})
        assert r.status_code == 200 and r.json()["windows"] == 3 and r.json()["qpm"] == pytest.approx(90.0)
        expected = decode_seeded(model, mu[[0, 1, 0]], 0.0, [(1, [(0, 0), (0, 1), (0, 2)])],
                                 conv.controls(pattern_w))
        assert base64.b64decode(r.json()["midi"]) == conv.to_midi_bytes(conv.decode_joined(expected, 90.0))
        taps = midi_bytes([(0, False, [(60, s, s + 1, 90) for s in range(0, 32, 4)])])
        r = post(server, "/groove/tap2drum", {"midi": b64(taps), "format": "wav"})
        if audio.missing() is None:  # the performance routes answer WAV too
            assert r.status_code == 200 and base64.b64decode(r.json()["wav"])[:4] == b"RIFF"
        else:
            assert r.status_code == 422 and "apt install fluidsynth" in r.json()["detail"]
        long_beat = performance_midi(np.concatenate([perf, perf])[:5], 120.0, roland=False)  # 5 windows > max_n
        for path, body, status, message in [
                ("/groove/humanize", {"midi": b64(midi_bytes([(0, False, MELODY_A)]))}, 422,
                 "midi: no 2-bar drum performance"),
                ("/groove/humanize", {"midi": b64(long_beat)}, 422,
                 "the number of 2-bar windows must be between 1 and 4"),
                ("/groove/humanize", {"midi": b64(beat), "temperature": 9.0}, 422, "temperature must be between 0"),
                ("/groove/tap2drum", {"midi": b64(b"MThd nonsense")}, 422, "midi: cannot read MIDI"),
                ("/groove/groove-transfer", {"groove": "@@@", "pattern": b64(beat)}, 422, "groove: not base64"),
                ("/groove/groove-transfer", {"groove": b64(beat)}, 422, "Field required"),
                ("/groove/sample", {"n": 1}, 422, "decodes under the hits it is given"),
                ("/groove/decode", {"z": [0.0] * 8}, 422, "decodes under the hits it is given")]:
            r = post(server, path, body)
            assert r.status_code == status and message in r.text, (path, r.text)
        assert requests.get(server + "/groove/model", timeout=30).json()["control_depth"] == 9
    finally:
        serve.delete("groove")


@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_the_web_page_in_a_real_browser(server, tmp_path):
    """Headless Chromium on the served page: two uploads, an interpolation drawn as piano rolls whose notes are
    those of the MIDI the API returned, playback (the page's audio context runs), a download, the other modes,
    and a bad upload showing the API's message."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from raymvae.music import midi_to_note_sequence

    files = {"a": tmp_path / "a.mid", "b": tmp_path / "b.mid", "bad": tmp_path / "bad.mid"}
    files["a"].write_bytes(midi_bytes([(0, False, MELODY_A)]))
    files["b"].write_bytes(midi_bytes([(0, False, MELODY_B)]))
    files["bad"].write_bytes(b"not a MIDI file at all")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium(downloads)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(server + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        assert CONFIG in driver.find_element(By.ID, "model").text
        driver.find_element(By.ID, "file-a").send_keys(str(files["a"]))
        driver.find_element(By.ID, "file-b").send_keys(str(files["b"]))
        wait.until(lambda d: d.find_element(By.ID, "name-b").text == "b.mid")
        steps = driver.find_element(By.ID, "steps")
        steps.clear()
        steps.send_keys("4")
        driver.find_element(By.ID, "run-interpolate").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rolls .roll canvas")) == 4)
        results = driver.execute_script("return window.raymvae.results")
        canvases = driver.find_elements(By.CSS_SELECTOR, "#rolls .roll canvas")
        for result, canvas in zip(results, canvases):
            ns = midi_to_note_sequence(base64.b64decode(result["midi"]))
            from_midi = sorted((n.pitch, n.start_time, n.end_time) for n in ns.notes)
            drawn = sorted(tuple(n) for n in json.loads(canvas.get_attribute("data-notes")))
            assert len(drawn) == len(from_midi) > 0
            assert all(p == q and abs(s - t) < 1e-3 and abs(e - f) < 1e-3
                       for (p, s, e), (q, t, f) in zip(drawn, from_midi))
        driver.find_elements(By.CSS_SELECTOR, "#rolls .play")[0].click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-audio") == "running")
        driver.find_elements(By.CSS_SELECTOR, "#rolls .download")[1].click()
        wait.until(lambda d: (downloads / "interpolate_01.mid").is_file())
        assert (downloads / "interpolate_01.mid").read_bytes() == base64.b64decode(results[1]["midi"])
        driver.save_screenshot(str(tmp_path / "interpolation.png"))
        if os.environ.get("RAYMVAE_SCREENSHOT"):  # the README's picture: RAYMVAE_SCREENSHOT=docs/web.png
            shutil.copy(tmp_path / "interpolation.png", os.environ["RAYMVAE_SCREENSHOT"])
        driver.find_element(By.ID, "download-all").click()
        wait.until(lambda d: (downloads / "raymvae_interpolate.zip").is_file())
        with zipfile.ZipFile(downloads / "raymvae_interpolate.zip") as z:
            assert z.namelist() == [f"interpolate_{i:02d}.mid" for i in range(4)]
            assert z.read("interpolate_02.mid") == base64.b64decode(results[2]["midi"])

        # the keyboard alone: an arrow key moves to the next tab, Enter runs it
        driver.find_element(By.ID, "tab-interpolate").send_keys(Keys.ARROW_RIGHT)
        assert driver.find_element(By.ID, "tab-sample").get_attribute("aria-selected") == "true"
        assert driver.switch_to.active_element.get_attribute("id") == "tab-sample"
        driver.find_element(By.ID, "run-sample").send_keys(Keys.ENTER)
        wait.until(lambda d: d.execute_script("return window.raymvae.results.length") == 4)
        driver.find_element(By.ID, "tab-attribute").click()
        driver.find_element(By.ID, "run-attribute").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rolls .roll")) == 1
                   and d.execute_script("return window.raymvae.results.length") == 1)
        driver.find_element(By.ID, "tab-grid").click()
        driver.find_element(By.ID, "use-examples").click()
        wait.until(lambda d: d.find_element(By.ID, "name-d").text.endswith(".mid"))
        grid_steps = driver.find_element(By.ID, "grid-steps")
        grid_steps.clear()
        grid_steps.send_keys("2")
        driver.find_element(By.ID, "run-grid").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rolls.grid .roll")) == 4)

        driver.find_element(By.ID, "tab-interpolate").click()
        driver.find_element(By.ID, "file-a").send_keys(str(files["bad"]))
        wait.until(lambda d: d.find_element(By.ID, "name-a").text == "bad.mid")
        driver.find_element(By.ID, "run-interpolate").click()
        wait.until(lambda d: "a: cannot read MIDI" in d.find_element(By.ID, "error").text)
    finally:
        driver.quit()
