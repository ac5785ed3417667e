"""`ray job submit` against a real `ray start --head` cluster, as the README shows."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from raymvae.serve.launch import free_port

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]


def test_train_job_submitted_to_a_running_cluster(mel_shards, tmp_path):
    ray_bin = Path(sys.executable).parent / "ray"
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    gcs, dash, agent, metrics = free_port(), free_port(), free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--include-dashboard=true",
                             "--disable-usage-stats", f"--temp-dir={temp}",
                             # the test session's own Ray already holds the default agent ports
                             f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        address = f"http://127.0.0.1:{dash}"
        deadline = time.time() + 120
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", dash)) == 0:
                    break
            time.sleep(1)
        run = tmp_path / "run"
        submit = [str(ray_bin), "job", "submit", "--address", address, "--working-dir", str(REPO), "--",
             sys.executable, "jobs/train.py", "--config", "cat-mel_2bar_small", "--examples", str(mel_shards),
             "--run-dir", str(run), "--num-workers", "0", "--num-steps", "8", "--log-every", "4",
             "--hparams", "batch_size=16,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8", "--wandb", "disabled"]
        deadline = time.time() + 300
        while True:  # the dashboard answers before its job agent is ready (minutes on a loaded 2-core box)
            job = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=400)
            if "No available agent" not in job.stderr + job.stdout or time.time() > deadline:
                break
            time.sleep(2)
        agent_logs = sorted(Path(temp, "session_latest", "logs").glob("dashboard_agent*.log"))
        assert job.returncode == 0, (job.stdout + job.stderr)[-4000:] + "\nagent log:\n" + \
            "".join(f.read_text(errors="replace")[-3000:] for f in agent_logs)
        assert "succeeded" in job.stdout + job.stderr
        assert (run / "export" / "model.safetensors").exists()
        assert (run / "checkpoints" / "step_000000008" / "meta.json").exists()
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(temp, ignore_errors=True)
