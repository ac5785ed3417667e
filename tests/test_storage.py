"""The storage layer on local disk and on a real S3-compatible server: atomic writes, published folders,
model exports and checkpoints that readers trust only when their marker vouches for them."""
from __future__ import annotations

import pytest
import torch

from raymvae import storage
from raymvae.export import export_info, has_export, load_export, save_export
from raymvae.model import build
from raymvae.train import checkpoints

TINY = "enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8"


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    return str(tmp_path / "store") if request.param == "local" else request.getfixturevalue("s3_dir")


def test_files_round_trip_list_and_delete(root):
    storage.write_bytes(storage.join(root, "a", "b.bin"), b"\x00\x01")
    storage.write_json(storage.join(root, "c.json"), {"x": 1})
    assert storage.read_bytes(storage.join(root, "a", "b.bin")) == b"\x00\x01"
    assert storage.read_json(storage.join(root, "c.json")) == {"x": 1}
    assert storage.list_files(root) == ["a/b.bin", "c.json"]  # no temporary files left behind
    assert storage.is_dir(storage.join(root, "a")) and storage.is_file(storage.join(root, "c.json"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        storage.read_bytes(storage.join(root, "missing"))
    storage.delete(storage.join(root, "a"))
    assert storage.list_files(root) == ["c.json"] and not storage.exists(storage.join(root, "a"))
    assert storage.list_files(storage.join(root, "nothing-here")) == []


def test_publish_replaces_a_folder_marker_last(root):
    folder = storage.join(root, "pub")
    storage.publish(folder, {"data.bin": b"one", "marker.json": b"{}"}, "marker.json")
    storage.publish(folder, {"data.bin": b"two", "marker.json": b"{}"}, "marker.json")
    assert storage.list_files(folder) == ["data.bin", "marker.json"]
    assert storage.read_bytes(storage.join(folder, "data.bin")) == b"two"
    with pytest.raises(ValueError, match="marker"):
        storage.publish(folder, {"data.bin": b"x"}, "marker.json")


def test_download_a_file_a_folder_and_a_checkpoint_prefix(s3_dir, tmp_path):
    for name in ("model.ckpt-7.index", "model.ckpt-7.data-00000-of-00001", "other.txt"):
        storage.write_bytes(storage.join(s3_dir, "ckpt", name), name.encode())
    got = storage.download(storage.join(s3_dir, "ckpt", "model.ckpt-7"), tmp_path / "p")
    assert sorted(p.name for p in got.parent.iterdir()) == ["model.ckpt-7.data-00000-of-00001",
                                                           "model.ckpt-7.index"]
    folder = storage.download(storage.join(s3_dir, "ckpt"), tmp_path / "d")
    assert (folder / "other.txt").read_bytes() == b"other.txt"
    one = storage.download(storage.join(s3_dir, "ckpt", "other.txt"), tmp_path / "f")
    assert one.read_bytes() == b"other.txt"
    with pytest.raises(FileNotFoundError):
        storage.download(storage.join(s3_dir, "nope"), tmp_path / "n")
    assert storage.download(str(tmp_path), tmp_path / "x") == tmp_path  # local paths pass through


def test_export_round_trip_and_a_torn_rewrite_is_refused(root):
    torch.manual_seed(0)
    model = build("cat-mel_2bar_small", TINY)
    run = storage.join(root, "run")
    assert not has_export(run)
    with pytest.raises(FileNotFoundError, match="no model export"):
        export_info(run)
    save_export(run, model, 12, {"source": "test"})
    loaded, info = load_export(run)
    assert info["step"] == 12 and info["weights"]["bytes"] > 0
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    # weights that are not the ones config.json vouches for (a rewrite caught half way) are never loaded
    storage.write_bytes(storage.join(run, "export", "model.safetensors"), b"garbage")
    with pytest.raises(OSError, match="do not match config.json"):
        load_export(run)


def test_checkpoints_count_only_with_their_marker_and_keep_the_newest(root):
    run = storage.join(root, "run")
    for step in (10, 20, 30):
        checkpoints.save_checkpoint(run, step, {"step": step, "config": {"name": "x"}, "w": torch.ones(3) * step},
                                    keep=2)
    assert [s for s, _ in checkpoints.list_checkpoints(run)] == [20, 30]
    # a checkpoint whose upload died before its marker does not count
    storage.write_bytes(storage.join(run, "checkpoints", "step_000000040", "checkpoint.pt"), b"partial")
    assert [s for s, _ in checkpoints.list_checkpoints(run)] == [20, 30]
    assert torch.equal(checkpoints.load_latest(run)["w"], torch.ones(3) * 30)
    meta = storage.read_json(storage.join(run, "checkpoints", "step_000000030", "meta.json"))
    assert meta["config"] == {"name": "x"} and len(meta["sha256"]) == 64
    # a checkpoint being rewritten under its marker is skipped for the one before
    storage.write_bytes(storage.join(run, "checkpoints", "step_000000030", "checkpoint.pt"), b"torn")
    assert checkpoints.load_latest(run)["step"] == 20


def test_normalize_and_join():
    assert storage.normalize("s3://b/x/") == "s3://b/x"
    assert storage.join("s3://b/x", "y", "z.json") == "s3://b/x/y/z.json"
    assert storage.normalize("rel").startswith("/")
    assert storage.is_remote("gs://b/x") and not storage.is_remote("/tmp/x") and not storage.is_remote("file:///x")
    with pytest.raises(ValueError, match="no bucket"):
        storage.filesystem_for("s3:///x")
