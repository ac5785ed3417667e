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
