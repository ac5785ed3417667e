"""Ray Train: local mode and 1-worker runs, resume after a driver or worker dies, eval, cluster.yaml."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from raymvae.data import read_windows
from raymvae.export import load_export, save_export
from raymvae.model import build
from raymvae.model import precision as precisions
from raymvae.train import checkpoints
from raymvae.train.evaluation import evaluate_run
from raymvae.train.trainer import fit

pytestmark = pytest.mark.ray
CONFIG = "cat-mel_2bar_small"
TINY = "batch_size=32,enc_rnn_size=[32],dec_rnn_size=[32,32],z_size=16,sampling_schedule=constant,sampling_rate=0.0"
REPO = Path(__file__).resolve().parents[1]


def _starts(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "starts").glob("*.json"))]


def _wait_for_checkpoint(run_dir: Path, timeout: float = 240) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = checkpoints.list_checkpoints(str(run_dir))
        if found:
            return found[-1][0]
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


def test_local_mode_trains_checkpoints_evaluates_and_exports(ray_session, mel_shards, tmp_path):
    run = tmp_path / "run"
    metrics = fit(CONFIG, str(mel_shards), str(run), hparams=TINY, num_steps=30, num_workers=0,
                  checkpoint_every=10, keep_checkpoints=2, eval_every=15, log_every=10, wandb="offline")
    assert metrics["step"] == 30
    for key in ("metrics/accuracy", "metrics/sampled_accuracy", "metrics/no_event_baseline_accuracy",
                "losses/kl_bits", "losses/elbo", "samples/oa_mean", "samples/empty_rate", "samples/oa/pitch_range",
                "ceiling/oa_mean"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert 0 <= metrics["samples/oa_mean"] <= 1 and metrics["ceiling/oa_mean"] > 0.5
    assert [s for s, _ in checkpoints.list_checkpoints(str(run))] == [20, 30]
    assert sorted(p.name for p in (run / "eval").glob("*.json")) == ["step_000000015.json", "step_000000030.json"]
    model, info = load_export(run)
    assert info["step"] == 30 and info["config"]["hparams"]["z_size"] == 16
    state = checkpoints.load_latest(str(run))
    assert state["step"] == 30 and state["config"]["name"] == CONFIG and "optimizer" in state
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items())
    offline = list((run / "wandb").glob("offline-run-*"))
    assert offline, "an offline W&B run in the run dir"
    (start,) = _starts(run)
    node = ray_session.get_runtime_context().get_node_id()
    trained_in = precisions.resolve("auto", torch.device("cpu"), **precisions.for_training(model))
    assert start == {"resumed_from_step": None, "workers": 1, "device": "cpu", "precision": trained_in, "nodes": [node]}
    assert metrics["precision"] == trained_in


def test_running_the_command_again_resumes_after_the_driver_dies(ray_session, mel_shards, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "raymvae.cli", "train", "--config", CONFIG, "--examples", str(mel_shards),
           "--run-dir", str(run), "--hparams", TINY, "--num-steps", "2000", "--num-workers", "0",
           "--checkpoint-every", "10", "--log-every", "50", "--wandb", "disabled",
           "--address", ray_session.get_runtime_context().gcs_address]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = _wait_for_checkpoint(run)
    finally:
        proc.kill()
        proc.wait()
    cmd[cmd.index("2000")] = str(first + 20)
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "execution finished" not in done.stdout + done.stderr  # Ray Data's per-epoch lines stay in its logs
    starts = _starts(run)
    assert starts[-1]["resumed_from_step"] >= first
    assert checkpoints.list_checkpoints(str(run))[-1][0] == first + 20


def test_eval_mode_on_a_model_with_known_predictions(ray_session, mel_shards, tmp_path):
    """A decoder whose logits are a constant bias: accuracy, baseline and r_loss have closed forms."""
    model = build(CONFIG, TINY)
    bias = torch.linspace(-2.0, 1.0, 90)
    bias[0] = 3.0
    with torch.no_grad():
        model.decoder.output_projection.weight.zero_()
        model.decoder.output_projection.bias.copy_(bias)
    save_export(tmp_path / "run", model, step=7)
    metrics = evaluate_run(CONFIG, str(mel_shards), str(tmp_path / "run"))
    windows, _ = read_windows(str(mel_shards), "eval")
    w = torch.from_numpy(windows.astype(np.int64))
    log_probs = torch.log_softmax(bias.double(), 0)
    assert metrics["step"] == 7
    assert metrics["metrics/accuracy"] == pytest.approx(float((w == 0).double().mean()), abs=1e-12)
    assert metrics["metrics/sampled_accuracy"] == metrics["metrics/accuracy"]
    assert metrics["metrics/no_event_baseline_accuracy"] == metrics["metrics/accuracy"]
    assert metrics["losses/r_loss"] == pytest.approx(float(-log_probs[w].sum(1).mean()), rel=1e-5)
    with torch.no_grad():
        mu, sigma = model.encode(w)
    kl = (-torch.log(sigma) + 0.5 * (sigma ** 2 + mu ** 2) - 0.5).sum(-1).mean() / math.log(2)
    assert metrics["losses/kl_bits"] == pytest.approx(float(kl), rel=1e-4)
    saved = json.loads((tmp_path / "run" / "eval_latest.json").read_text())
    assert saved["metrics/accuracy"] == metrics["metrics/accuracy"]


def test_cluster_yaml_is_valid_for_the_cluster_launcher():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    assert config["provider"]["type"] == "aws"
    gpu = [t for t in config["available_node_types"].values() if t.get("resources", {}).get("GPU")]
    assert gpu and gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] > 0
    assert any("pip install" in c and "raymvae" in c for c in config["setup_commands"])
    bad = dict(config, max_workerz=3)
    with pytest.raises(Exception):
        validate_config(prepare_config(bad))


def test_every_worker_gets_the_same_batches_in_a_rerun_and_in_a_resumed_epoch(ray_session, mel_shards,
                                                                               monkeypatch):
    """Ray Train's ingest as the trainer sets it up (seeded block order, preserve_order, seeded shuffles),
    split between 2 workers, read again by a fresh ingest as a restarted run reads it: each worker's rows
    come in the same order in every rerun, and a run resumed in epoch 2 sees epoch 2's rows first."""
    import threading

    import ray.data

    from raymvae.data import read_dataset
    from raymvae.train.trainer import check_training, ingest_config, shard_batches, training_datasets

    context = ray.data.DataContext.get_current()
    monkeypatch.setattr(context, "target_max_block_size", 8 << 10)  # a small corpus in several blocks to order
    data = check_training(CONFIG, str(mel_shards), None, hparams=TINY, num_workers=2)
    assert read_dataset(str(mel_shards), data.config, "train").materialize().num_blocks() >= 3

    def rows(epochs: list[int], seed: int = 0) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """(epoch, rank) -> the (file id, position) of every row that worker reads, in order."""
        sets = training_datasets(data, seed, materialize=True)
        iterators = ingest_config().configure(sets, world_size=2, worker_handles=None, worker_node_ids=None)
        out: dict[tuple[int, int], list[tuple[int, int]]] = {}

        def worker(rank: int) -> None:
            for epoch in epochs:
                out[epoch, rank] = [(int(f), int(p)) for b in shard_batches(iterators[rank]["train"], 64, seed,
                                                                           epoch, rank)
                                    for f, p in zip(b["file_id"], b["file_position"])]
        threads = [threading.Thread(target=worker, args=(rank,)) for rank in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        return out

    # A fresh ingest that reads epoch 2 first (a run resumed there), then epoch 0 (as a rerun would).
    first, resumed = rows([0, 1, 2]), rows([2, 0])
    assert len(first) == 6 and all(first.values()) and len(resumed) == 4
    assert all(resumed[key] == first[key] for key in resumed)
    assert first[0, 0] != first[1, 0] and first[0, 0] != first[0, 1]  # epochs and workers differ
    other = rows([0], seed=1)
    assert other[0, 0] + other[0, 1] != first[0, 0] + first[0, 1]  # another seed, another order
