"""The distributed promises on a real multi-node Ray cluster (head + two worker nodes on 127.0.0.1, S3 the
only shared storage): DDP across nodes, a node lost mid-run, a driver lost and the job resubmitted,
generation with decode actors on two nodes."""
from __future__ import annotations

import os
import re
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raymvae import storage
from raymvae.train import checkpoints

pytestmark = [pytest.mark.ray, pytest.mark.cluster]
REPO = Path(__file__).resolve().parents[1]
CONFIG = "cat-mel_2bar_small"
TINY = "enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8,sampling_schedule=constant,sampling_rate=0.0"
STEP_LINE = re.compile(r"step (\d+)  loss ([0-9.]+)  r_loss ([0-9.]+)")


def _train(shards: str, run: str, *args: str) -> list[str]:
    return [sys.executable, "jobs/train.py", "--config", CONFIG, "--examples", shards, "--run-dir", run,
            "--wandb", "disabled", "--eval-samples", "32", *args]


def _starts(run: str) -> list[dict]:
    """The run's start records, oldest first."""
    root = storage.join(run, "starts")
    return [storage.read_json(storage.join(root, name)) for name in sorted(storage.list_files(root))]


def _losses(output: str) -> dict[int, float]:
    """Reconstruction loss per logged step (its first log line), from a log."""
    out: dict[int, float] = {}
    for m in STEP_LINE.finditer(output):
        out.setdefault(int(m.group(1)), float(m.group(3)))
    return out


def _text(job) -> str:
    return job.stdout + job.stderr


def _steps(run: str) -> list[int]:
    return [s for s, _ in checkpoints.list_checkpoints(run)]


def _wait(what: str, ready, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def _etags(uri: str, suffix: str) -> dict[str, str]:
    """Object name (under ``uri``) -> S3 ETag (a hash of its content), for the objects ending in ``suffix``."""
    import boto3

    bucket, _, prefix = uri[len("s3://"):].partition("/")
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1:]: o["ETag"] for page in pages for o in page.get("Contents", [])
            if o["Key"].endswith(suffix)}


def _ok(job) -> str:
    out = _text(job)
    assert job.returncode == 0 and "succeeded" in out, out[-5000:]
    return out


def test_training_across_nodes_survives_node_and_driver_loss(ray_cluster, s3_mel_shards, s3_dir, caplog):
    """`ray job submit -- python jobs/train.py --num-workers 2 --placement-strategy SPREAD`: the two DDP workers
    run on different nodes (the node ids the run records), checkpoints and export go to S3, and the per-step
    losses agree with a 1-worker run of the same global batch. A worker node killed mid-run: the worker group
    restarts (a replacement node joins, as an autoscaler would add one) from the newest checkpoint. Then the
    job's driver is stopped and the same job resubmitted: it resumes too. The run ends at the requested step
    with every checkpoint present and intact."""
    from raymvae.train.trainer import fit

    run, job_id, every, total = f"{s3_dir}/run", f"lost-{uuid.uuid4().hex[:8]}", 10, 40
    cmd = _train(s3_mel_shards, run, "--num-workers", "2", "--placement-strategy", "SPREAD",
                 "--resources-per-worker", '{"CPU": 1}', "--hparams", f"batch_size=16,{TINY}",
                 "--epoch-windows-per-file", "1000", "--num-steps", str(total), "--checkpoint-every", str(every),
                 "--keep-checkpoints", "100", "--log-every", "1", "--max-failures", "2")
    submitted = ray_cluster.submit(cmd, REPO, submission_id=job_id, wait=False)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    _wait("the first checkpoint", lambda: _steps(run) and _steps(run)[-1] >= every)

    (first,) = _starts(run)
    ids = {v: k for k, v in ray_cluster.alive_nodes().items()}
    assert first["workers"] == 2 and len(set(first["nodes"])) == 2 and set(first["nodes"]) <= set(ids), first
    victim = next(ids[n] for n in first["nodes"] if ids[n] != "head")
    ray_cluster.kill_node(victim)
    time.sleep(2)  # a checkpoint being written at the kill lands (or not) before the list is taken
    saved = _steps(run)
    ray_cluster.add_node(f"{victim}2", num_cpus=2)
    _wait("the restart", lambda: len(_starts(run)) == 2)
    second = _starts(run)[1]
    assert second["resumed_from_step"] == saved[-1], (second, saved)
    assert victim not in {ids.get(n) for n in second["nodes"]}

    _wait("a checkpoint after the restart", lambda: _steps(run)[-1] >= saved[-1] + every)
    stopped = ray_cluster.job("stop", job_id)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    _wait("the job to stop", lambda: "was stopped" in _text(ray_cluster.job("status", job_id)))
    time.sleep(2)
    saved = _steps(run)
    assert saved[-1] < total, "the run ended before its driver was stopped: raise total"
    losses_two = _losses(_text(ray_cluster.job("logs", job_id)))

    _ok(ray_cluster.submit(cmd, REPO))
    starts = _starts(run)
    assert len(starts) == 3 and starts[2]["resumed_from_step"] == saved[-1], starts
    assert _steps(run) == list(range(every, total + 1, every))
    for step, folder in checkpoints.list_checkpoints(run):
        meta = storage.read_json(storage.join(folder, "meta.json"))
        assert storage.digest(storage.read_bytes(storage.join(folder, "checkpoint.pt"))) == meta["sha256"], step
    assert storage.read_json(storage.join(run, "export", "config.json"))["step"] == total

    # The same global batch (2 x 16) in one worker (local mode, this process), from the same initial weights
    # (rank 0's, which DDP broadcasts): the first steps' losses differ only by the windows drawn.
    with caplog.at_level("INFO", logger="raymvae.train.loop"):
        fit(CONFIG, s3_mel_shards, f"{s3_dir}/one", hparams=f"batch_size=32,{TINY}", num_workers=0, num_steps=every,
            log_every=1, epoch_windows_per_file=1000, eval_samples=0, wandb="disabled")
    losses_one = _losses(caplog.text)
    steps = range(1, every + 1)
    assert set(steps) <= set(losses_two) and set(steps) <= set(losses_one), (losses_two, losses_one)
    rel = [abs(losses_two[s] - losses_one[s]) / losses_one[s] for s in steps]
    assert max(rel) < 0.05, rel


def test_generation_across_nodes_writes_each_file_once(ray_cluster, ray_session, s3_model, s3_dir):
    """`generate sample --num 2000` as a job: decode actors on two nodes, every file on S3 once (manifest rows ==
    objects), the same bytes as a one-node run (this process's local Ray) with the same seed: since each file
    depends on (seed, file id) alone, that run makes the first 500 (the cost of 2,000 files twice is time)."""
    from raymvae.cli import main

    spread, local = f"{s3_dir}/spread", f"{s3_dir}/local"
    args = ["generate", "sample", "--model", s3_model, "--num", "2000", "--seed", "7", "--batch-size", "250"]
    before = {a["actor_id"] for a in ray_cluster.actors("Decoder")}
    _ok(ray_cluster.submit([sys.executable, "-m", "raymvae", *args, "--output", spread, "--replicas", "2"], REPO))
    decoders = [a for a in ray_cluster.actors("Decoder") if a["actor_id"] not in before]
    assert len(decoders) == 2 and len({a["node_id"] for a in decoders}) == 2, decoders

    files = _etags(spread, ".mid")
    assert len(files) == 2000
    manifest = pq.read_table(pa.BufferReader(storage.read_bytes(storage.join(spread, "manifest.parquet"))))
    assert sorted(manifest.column("path").to_pylist()) == sorted(files)

    first = [*args[:args.index("--num")], "--num", "500", *args[args.index("--num") + 2:]]
    assert main([*first, "--output", local]) == 0
    local_files = _etags(local, ".mid")
    assert len(local_files) == 500 and all(files.get(path) == etag for path, etag in local_files.items())


def test_serving_across_nodes_survives_a_lost_node(ray_cluster, s3_model):
    """`raymvae serve --replicas 2` as a job (model from S3): replicas on two nodes; clients keep requesting
    while one replica's node is killed; Serve replaces the replica; no 5xx beyond the requests in flight at
    the kill, and requests succeed after it."""
    import threading

    import requests

    from raymvae.serve.launch import free_port

    port, job_id = free_port(), f"serve-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{port}"
    submitted = ray_cluster.submit([sys.executable, "-m", "raymvae", "serve", "--model", s3_model, "--replicas", "2",
                                    "--port", str(port)], REPO, submission_id=job_id, wait=False)
    assert submitted.returncode == 0, submitted.stderr[-3000:]

    def replicas() -> list[dict]:
        return [a for a in ray_cluster.actors("ServeReplica:raymvae") if a["state"] == "ALIVE"]

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=5).ok and len(replicas()) == 2
        except requests.RequestException:
            return False

    try:
        _wait("the Serve app", healthy)
        ids = {v: k for k, v in ray_cluster.alive_nodes().items()}
        nodes = [ids[a["node_id"]] for a in replicas()]
        assert len(set(nodes)) == 2, nodes
        log: list[tuple[float, float, int]] = []  # (sent, answered, status; 0 = no answer)
        stop = threading.Event()

        def client(seed: int) -> None:
            while not stop.is_set():
                sent = time.time()
                try:
                    status = requests.post(f"{url}/sample", json={"n": 1, "seed": seed}, timeout=60).status_code
                except requests.RequestException:
                    status = 0
                log.append((sent, time.time(), status))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(5)
        victim = next(n for n in nodes if n != "head")
        killed = time.time()
        ray_cluster.kill_node(victim)
        _wait("a replacement replica", lambda: len(replicas()) == 2 and victim not in
              {ids.get(a["node_id"]) for a in replicas()})
        recovered = time.time()
        time.sleep(5)
        stop.set()
        for t in threads:
            t.join()
        in_flight = [r for r in log if r[0] <= killed <= r[1]]
        failed = [r for r in log if r[2] != 200]
        print(f"{len(log)} requests, {len(failed)} failed, {len(in_flight)} in flight at the kill, "
              f"replaced in {recovered - killed:.1f} s")
        assert len(failed) <= len(in_flight), (len(failed), len(in_flight), failed[:10])
        assert all(r[2] == 200 for r in log if r[0] > killed + 10), "requests failed after the kill"
        assert sum(1 for r in log if r[0] > recovered and r[2] == 200) > 0
    finally:
        ray_cluster.job("stop", job_id)


def test_train_inside_tune_on_the_cluster(ray_cluster, s3_mel_shards, s3_dir):
    """`jobs/tune.py --workers-per-trial 1`: each trial drives a TorchTrainer (a Train worker per trial); ASHA
    stops the hopeless trial (learning rate 1e-9); results and best/ land on S3."""
    import yaml

    from raymvae.export import has_export

    space, out = f"{s3_dir}/space.yaml", f"{s3_dir}/sweep"
    storage.write_bytes(space, yaml.safe_dump({"learning_rate": {"grid": [0.01, 1e-9]}}).encode())
    before = {a["actor_id"] for a in ray_cluster.actors("RayTrainWorker")}
    _ok(ray_cluster.submit([sys.executable, "jobs/tune.py", "--config", CONFIG, "--examples", s3_mel_shards,
                            "--output", out, "--search", space, "--hparams", f"batch_size=16,{TINY}",
                            "--num-samples", "1", "--num-steps", "20", "--eval-every", "5", "--scheduler", "asha",
                            "--metric", "losses/r_loss", "--mode", "min", "--workers-per-trial", "1",
                            "--eval-batches", "1", "--eval-samples", "0", "--wandb", "disabled"], REPO))
    workers = [a for a in ray_cluster.actors("RayTrainWorker") if a["actor_id"] not in before]
    assert len(workers) == 2, workers  # one Train worker per trial
    rows = pq.read_table(pa.BufferReader(storage.read_bytes(storage.join(out, "results.parquet")))).to_pylist()
    assert len(rows) == 2 and storage.exists(storage.join(out, "results.csv"))
    good, hopeless = sorted(rows, key=lambda r: -r["swept/learning_rate"])
    assert not good["stopped_early"] and good["step"] == 20 and hopeless["stopped_early"], rows
    assert has_export(storage.join(out, "best"))
    assert storage.read_json(storage.join(out, "best", "trial.json"))["trial_id"] == good["trial_id"]
