"""Shared fixtures: one local Ray per test session (2 CPUs), started on first use."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray with 2 CPUs and a 1 GiB object store, shared by all integration tests."""
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
    assert len(report.written) == 24 and all(p.exists() for p in report.written)
    return out


@pytest.fixture(scope="session")
def mel_shards(folk_dir, tmp_path_factory):
    """cat-mel_2bar_small shards of the real melodies (20% eval)."""
    from raymvae.data import prepare

    out = tmp_path_factory.mktemp("mel_shards") / "mel"
    prepare("cat-mel_2bar_small", [str(folk_dir)], str(out), eval_fraction=0.2)
    return out
