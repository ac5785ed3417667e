"""Every command on s3:// paths against a real S3-compatible server (moto), end to end, with nothing on local disk:
corpus export -> convert -> prepare -> train (Ray Train) -> eval -> export -> generate -> attribute vector ->
serve. Resuming from S3 checkpoints and tuning onto S3 run on the cluster (tests/test_cluster.py), with S3 too."""
from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from raymvae import storage
from raymvae.cli import main

pytestmark = pytest.mark.ray
CONFIG = "cat-mel_2bar_small"
TINY = "batch_size=16,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8"
OUTPUT_NAMES = {"manifest.json", "manifest.parquet", "files.parquet", "model.safetensors", "checkpoint.pt",
                "results.csv", "results.parquet", "eval_latest.json", "contact_sheet.png", "note_density.json"}


def _local_outputs(roots: list[Path], since: float, skip: Path | None = None) -> list[str]:
    """Files named like raymvae outputs (or under a folder named s3:) written below ``roots`` since ``since``,
    leaving out the folder ``skip``."""
    def recent(path: str) -> bool:
        try:
            return os.stat(path).st_mtime >= since
        except OSError:  # gone meanwhile
            return False

    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if skip is not None and Path(dirpath) == skip:
                dirnames[:] = []
                continue
            if os.path.basename(dirpath) == "s3:" and recent(dirpath):
                found.append(dirpath)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if (name in OUTPUT_NAMES or name.endswith(".mid") and "sample_" in name
                        or name.endswith(".wandb")) and recent(path):
                    found.append(path)
    return found


def test_everything_on_s3(ray_session, s3_dir, folk_dir, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    started = time.time() - 1
    corpus = storage.join(s3_dir, "corpus")
    assert main(["corpus", "export", "--name", "folk", "--output", corpus, "--limit", "24"]) == 0
    assert sorted(storage.list_files(corpus)) == sorted(
        [p.relative_to(folk_dir).as_posix() for p in folk_dir.rglob("*.mid")] + [".export-folk-24.json"])
    assert main(["convert", "--config", CONFIG, corpus]) == 0
    assert "\n24 files -> " in capsys.readouterr().out
    shards, run = storage.join(s3_dir, "shards"), storage.join(s3_dir, "run")

    assert main(["prepare", "--config", CONFIG, "--input", corpus, "--output", shards, "--eval-fraction", "0.2"]) == 0
    manifest = storage.read_json(storage.join(shards, "manifest.json"))
    assert manifest["files"]["total"] == 24 and manifest["windows"]["eval"] > 0
    assert all(storage.is_file(storage.join(shards, split, f)) for split in ("train", "eval")
               for f in manifest["shards"][split])

    train = ["train", "--config", CONFIG, "--examples", shards, "--run-dir", run, "--hparams", TINY,
             "--num-workers", "1", "--checkpoint-every", "4", "--log-every", "4", "--wandb", "offline"]
    assert main(train + ["--num-steps", "8"]) == 0
    starts = [storage.read_json(storage.join(run, "starts", f))
              for f in storage.list_files(storage.join(run, "starts"))]
    assert [s["resumed_from_step"] for s in starts] == [None]
    files = storage.list_files(run)
    assert {"checkpoints/step_000000008/meta.json", "export/config.json", "export/model.safetensors",
            "eval/step_000000008.json", "eval_latest.json"} <= set(files)
    assert any(f.startswith("wandb/") and f.endswith(".wandb") for f in files), "offline W&B run uploaded"
    assert main(["train", "--mode", "eval", "--config", CONFIG, "--examples", shards, "--run-dir", run]) == 0
    assert storage.read_json(storage.join(run, "eval_latest.json"))["eval_set"]["split"] == "eval"

    a, b = [storage.join(corpus, f) for f in storage.list_files(corpus) if f.endswith(".mid")][:2]
    out = storage.join(s3_dir, "generated")
    assert main(["generate", "sample", "--model", run, "--num", "6", "--output", storage.join(out, "s"),
                 "--batch-size", "4"]) == 0
    assert main(["generate", "interpolate", "--model", run, "--pairs", f"{a}:{b}", "--steps", "3",
                 "--output", storage.join(out, "i")]) == 0
    table = pq.read_table(pa.BufferReader(storage.read_bytes(storage.join(out, "s", "manifest.parquet"))))
    assert table.num_rows == 6
    assert all(storage.is_file(storage.join(out, "s", p)) for p in table.column("path").to_pylist())
    assert storage.read_bytes(storage.join(out, "s", "contact_sheet.png"))[:4] == b"\x89PNG"
    interp = pq.read_table(pa.BufferReader(storage.read_bytes(storage.join(out, "i", "manifest.parquet"))))
    assert interp.column("source").to_pylist()[0] == f"{a}|{b}"
    assert main(["generate", "attribute", "--model", run, "--examples", shards, "--attribute", "note_density",
                 "--inputs", a, "--output", storage.join(out, "attr")]) == 0
    assert storage.is_file(storage.join(run, "attributes", "note_density.json"))

    from ray import serve

    from raymvae.serve.app import build_app
    from raymvae.serve.launch import start_http

    url = start_http()
    try:
        serve.run(build_app({"model": run}), name="raymvae-s3", route_prefix="/", blocking=False)
        body = {"a": base64.b64encode(storage.read_bytes(a)).decode(),
                "b": base64.b64encode(storage.read_bytes(b)).decode(), "steps": 3}
        r = requests.post(f"{url}/interpolate", json=body, timeout=120)
        assert r.status_code == 200 and len(r.json()["results"]) == 3
        assert requests.get(f"{url}/model", timeout=30).json()["attributes"]["saved"] == \
            ["note_density"]
    finally:
        serve.shutdown()


    assert list(cwd.iterdir()) == []
    # Ray's session folder (where its workers run) is under the temp dir; so are the folders of the tests
    # before this one, which may have finished within the second before it started: only this test's own
    assert _local_outputs([Path(tempfile.gettempdir())], started, skip=tmp_path.parent.parent) == []
    assert _local_outputs([tmp_path], started) == []
