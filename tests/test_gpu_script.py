"""benchmarks/gpu.sh --dry-run: every step of the GPU check on the CPU at toy sizes, so the script and the
commands it calls stay in step between the sessions that have a GPU."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]


def test_gpu_script_dry_run(ray_session, mel_shards, tmp_path):
    # every command joins the session's Ray instead of starting its own (five fewer Ray start-ups)
    env = {**os.environ, "PY": sys.executable, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    from ray import serve

    try:
        done = subprocess.run(["bash", "benchmarks/gpu.sh", "--dry-run", str(mel_shards), str(tmp_path)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=900)
    finally:
        serve.shutdown()  # `raymvae serve` leaves Serve (its proxy on the script's port) in the session's Ray
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    assert "all GPU checks passed" in out
    assert "mel2-b64-p0" in out and "peak RSS GiB" in out and "bf16 features" in out  # the train-step table
    assert "16 files in" in out and "throughput ratio" in out and "sample: {" in out
    assert (tmp_path / "run" / "export" / "model.safetensors").exists()
