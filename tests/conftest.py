"""Shared fixtures: an S3-compatible server and one local Ray per test session (2 CPUs), started on first use."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from raymvae.serve.launch import free_port

BUCKET = "raymvae-test"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's standalone S3 server on 127.0.0.1 with a bucket ``raymvae-test``.

    Its endpoint and (dummy) credentials go into this process's environment
    before Ray starts, so the driver, Ray workers and subprocesses all reach
    it through ``AWS_ENDPOINT_URL``, as they would reach MinIO or S3.
    """
    import boto3

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    deadline = time.time() + 60
    while True:
        try:
            boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
            break
        except Exception:  # noqa: BLE001 - not listening yet
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_dir(s3_server, request):
    """A fresh ``s3://raymvae-test/<test>-<id>`` prefix for one test."""
    return f"s3://{BUCKET}/{re.sub(r'[^A-Za-z0-9_-]', '_', request.node.name)[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def ray_session(s3_server):
    """A local Ray with 2 CPUs and a 1 GiB object store, shared by all integration tests (which may use S3)."""
    import ray

    from raymvae.runtime import init_ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=1 << 30,
                 runtime_env={"env_vars": {"WANDB_MODE": "offline"}})
    init_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def folk_dir(ray_session, tmp_path_factory):
    """Real melodies: the first 24 pieces of the embedded corpus, exported in parallel by Ray."""
    from raymvae.corpus import export_pieces

    out = tmp_path_factory.mktemp("folk")
    report = export_pieces("folk", out, limit=24)
    assert len(report.written) == 24 and all(Path(p).exists() for p in report.written)
    return out


def _melody_shards(folk_dir: Path, tmp_path_factory, name: str, eval_fraction: float) -> Path:
    from raymvae.data import prepare

    out = tmp_path_factory.mktemp(name) / "mel"
    prepare("cat-mel_2bar_small", [str(folk_dir)], str(out), eval_fraction=eval_fraction)
    return out


@pytest.fixture(scope="session")
def mel_shards(folk_dir, tmp_path_factory):
    """cat-mel_2bar_small shards of the real melodies (20% eval)."""
    return _melody_shards(folk_dir, tmp_path_factory, "mel_shards", 0.2)


@pytest.fixture(scope="session")
def eval_only_shards(folk_dir, tmp_path_factory):
    """The same melodies prepared as a held-out collection: every window in the eval split."""
    return _melody_shards(folk_dir, tmp_path_factory, "eval_only", 1.0)


@pytest.fixture(scope="session")
def train_only_shards(folk_dir, tmp_path_factory):
    """The same melodies with nothing held out (--eval-fraction 0)."""
    return _melody_shards(folk_dir, tmp_path_factory, "train_only", 0.0)


@pytest.fixture(scope="module")
def ray_cluster(s3_server):
    """A head (2 CPUs) and two worker nodes, "a" and "b" (2 CPUs each), on 127.0.0.1, with the S3 server as
    their only shared storage: each node has its own temp dir, and jobs reach it with `ray job submit`.
    One cluster for all the cluster tests (they share a module), stopped when they are done: its idle
    processes would otherwise slow every later test on a 2-core machine."""
    from cluster import LocalCluster

    cluster = LocalCluster({"WANDB_MODE": "disabled"})
    try:
        cluster.start_head(num_cpus=2)
        cluster.add_node("a", num_cpus=2)
        cluster.add_node("b", num_cpus=2)
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture(scope="session")
def s3_mel_shards(folk_dir, s3_server):
    """cat-mel_2bar_small shards of the real melodies (20% eval), on S3 only."""
    from raymvae.data import prepare

    out = f"s3://{BUCKET}/cluster-shards-{uuid.uuid4().hex[:8]}/mel"
    prepare("cat-mel_2bar_small", [str(folk_dir)], out, eval_fraction=0.2)
    return out


@pytest.fixture(scope="session")
def s3_model(s3_server):
    """A small cat-mel_2bar_small model export (untrained, seeded) in a run dir on S3."""
    import torch

    from raymvae.config import load_config
    from raymvae.export import save_export
    from raymvae.model import build

    torch.manual_seed(0)
    model = build(load_config("cat-mel_2bar_small", "enc_rnn_size=[32],dec_rnn_size=[32,32],z_size=16"))
    run = f"s3://{BUCKET}/model-{uuid.uuid4().hex[:8]}"
    save_export(run, model, 0, {"source": "tests: untrained"})
    return run
