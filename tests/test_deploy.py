"""deploy/: the KubeRay manifests and the Dockerfile agree with the code they run (no Ray, no cluster):
the RayJob's entrypoint is a valid `raymvae train` command, the RayService's serveConfigV2 is
configs/serve/default.yaml with the model on S3, and every Ray version and image tag match the package."""
from __future__ import annotations

import re
import shlex
from importlib.metadata import version
from pathlib import Path

import yaml

from raymvae.cli import build_parser
from raymvae.serve.settings import ServeSettings

REPO = Path(__file__).resolve().parents[1]
KUBERAY = REPO / "deploy" / "kuberay"


def _load(name: str) -> dict:
    return yaml.safe_load((KUBERAY / name).read_text())


def _pod_specs(cluster: dict) -> list[dict]:
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [g["template"]["spec"] for g in groups]


def test_rayjob_runs_a_valid_train_command():
    job = _load("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["raymvae", "train"]
    args = build_parser().parse_args(argv[1:])
    assert args.examples.startswith("s3://") and args.run_dir.startswith("s3://")
    assert args.placement_strategy == "SPREAD" and args.use_gpu and args.num_workers == 4
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["WANDB_MODE"] == "offline"


def test_rayservice_serves_the_packaged_serve_config():
    svc = _load("rayservice.yaml")
    assert svc["apiVersion"] == "ray.io/v1" and svc["kind"] == "RayService"
    ours = yaml.safe_load(svc["spec"]["serveConfigV2"])
    packaged = yaml.safe_load((REPO / "configs" / "serve" / "default.yaml").read_text())
    (app,), (base,) = ours["applications"], packaged["applications"]
    assert {k: app[k] for k in ("name", "route_prefix", "import_path")} == \
        {k: base[k] for k in ("name", "route_prefix", "import_path")}
    settings = ServeSettings(**app["args"])  # exactly raymvae serve's settings, nothing unknown
    assert settings.model.startswith("s3://") and settings.replicas == 2
    assert {k: v for k, v in app["args"].items() if k not in ("model", "replicas")} == \
        {k: v for k, v in base["args"].items() if k not in ("model", "replicas")}
    assert ours["http_options"] == {"host": "0.0.0.0", "port": 8000}


def test_versions_and_images_match_the_package():
    ray_version = version("ray")
    base = re.search(r"^ARG BASE=rayproject/ray:(\S+)-py311$", (REPO / "deploy" / "Dockerfile").read_text(), re.M)
    assert base and base.group(1) == ray_version
    ours = version("raymvae")
    for manifest, cluster_key in [("rayjob.yaml", "rayClusterSpec"), ("rayservice.yaml", "rayClusterConfig")]:
        cluster = _load(manifest)["spec"][cluster_key]
        assert cluster["rayVersion"] == ray_version, manifest
        for spec in _pod_specs(cluster):
            for c in spec["containers"]:
                assert re.fullmatch(rf"MY-REGISTRY/raymvae:{re.escape(ours)}(-gpu)?", c["image"]), c["image"]
                assert c["envFrom"] == [{"secretRef": {"name": "raymvae-s3"}}]
