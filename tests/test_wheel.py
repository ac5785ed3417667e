"""The package as a cluster image installs it: a wheel, `pip install`ed into a fresh venv, run from another folder."""
from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import free_port

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]
TINY = "batch_size=16,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv holding only the raymvae wheel (its dependencies come from the test venv through a .pth file)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"  # a clean copy: no stale build/ or egg-info of the checkout can leak into the wheel
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("raymvae-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Only the dependencies: .pth files in that folder (our own editable install among them) are not processed.
    Path(purelib, "test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return wheel, venv


def test_the_wheel_ships_presets_tune_and_serve_configs(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("raymvae/configs/cat-mel_2bar_small.yaml", "raymvae/configs/hierdec-trio_16bar.yaml",
                 "raymvae/configs/tune/default.yaml", "raymvae/configs/serve/default.yaml",
                 "raymvae/configs/presets/small-corpus.yaml", "raymvae/cli/__init__.py", "raymvae/cli/train.py",
                 "raymvae/serve/web/index.html", "raymvae/serve/web/app.js", "raymvae/serve/web/style.css",
                 "raymvae/serve/web/examples/index.json", "raymvae/serve/web/examples/trio_d.mid"):
        assert name in names


def test_the_installed_cli_works_outside_the_source_tree(installed, folk_dir, tmp_path):
    _, venv = installed
    env = {**os.environ, "RAY_ADDRESS": "", "WANDB_MODE": "disabled", "PYTHONPATH": ""}
    env.pop("RAYMVAE_CONFIG_DIR", None)
    work = tmp_path / "elsewhere"
    work.mkdir()

    def cli(*args: str, timeout: float = 600) -> str:
        done = subprocess.run([str(venv / "bin" / "raymvae"), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        return done.stdout

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import raymvae; print(raymvae.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where
    assert "cat-mel_2bar_small" in cli("configs") and str(venv) in cli("configs")
    cli("prepare", "--config", "cat-mel_2bar_small", "--input", str(folk_dir), "--output", "shards",
        "--eval-fraction", "0.2")
    assert json.loads((work / "shards" / "manifest.json").read_text())["windows"]["train"] > 0
    cli("train", "--config", "cat-mel_2bar_small", "--examples", "shards", "--run-dir", "run", "--num-workers", "0",
        "--num-steps", "6", "--hparams", TINY, "--log-every", "3")
    assert (work / "run" / "export" / "model.safetensors").exists()
    cli("generate", "sample", "--model", "run", "--num", "4", "--output", "samples")
    assert len(list((work / "samples").rglob("*.mid"))) == 4

    port = free_port()
    proc = subprocess.Popen([str(venv / "bin" / "raymvae"), "serve", "--model", "run", "--port", str(port)],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, answer = time.time() + 180, None
        while time.time() < deadline and answer is None:
            try:
                r = requests.post(f"http://127.0.0.1:{port}/sample", json={"n": 2, "seed": 1}, timeout=10)
                answer = r if r.status_code == 200 else None
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(1)
        assert answer is not None and len(answer.json()["results"]) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
