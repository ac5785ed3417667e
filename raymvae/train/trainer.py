"""Ray Train V2: a TorchTrainer (DDP) running the shared loop on shards; and eval-only runs.

The run dir holds everything: ``checkpoints/`` (ours, atomic, last K),
``eval/`` JSON, ``export/`` (the model for generate / serve), W&B offline
runs, and Ray Train's own run state under ``ray/``. Running the same command
again resumes from the newest checkpoint; ``FailureConfig(max_failures)``
restarts a failed worker group, which resumes the same way.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raymvae.config import Config, load_config

log = logging.getLogger(__name__)
MATERIALIZE_BYTES = 512 << 20


def _storage(run_dir: str) -> str:
    return run_dir if "://" in run_dir else str(Path(run_dir).expanduser().resolve())


def _train_loop_per_worker(settings: dict[str, Any]) -> None:
    """Entry point Ray Train runs on every worker."""
    import ray.train
    import ray.train.torch

    from raymvae.train.loop import Worker, run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = ray.train.get_context()
    world = ctx.get_world_size()
    if settings.get("threads"):
        torch.set_num_threads(int(settings["threads"]))
    train_shard = ray.train.get_dataset_shard("train")
    eval_shard = ray.train.get_dataset_shard("eval")
    device = ray.train.torch.get_device() if settings.get("use_gpu") else torch.device("cpu")
    buffer = 4 * int(settings["config"]["hparams"]["batch_size"])

    def numpy_batches(shard, shuffle: bool):
        for b in shard.iter_torch_batches(batch_size=1024, device="cpu",
                                          local_shuffle_buffer_size=buffer if shuffle else None):
            yield {k: v.numpy() for k, v in b.items()}

    worker = Worker(
        rank=ctx.get_world_rank(), world=world, device=device, report=ray.train.report,
        train_batches=lambda: numpy_batches(train_shard, True),
        eval_batches=(lambda: numpy_batches(eval_shard, False)) if eval_shard is not None else None,
        wrap_model=(lambda m: ray.train.torch.prepare_model(m, move_to_device=False)) if world > 1 else (lambda m: m),
    )
    run_training(settings, worker)


def fit(config: str | Config, shards: str, run_dir: str, *, hparams: str | dict | None = None,
        num_steps: int = 1000, num_workers: int = 1, use_gpu: bool = False, max_failures: int = 3,
        ray_name: str = "ray", callbacks: list | None = None, **settings: Any) -> dict[str, Any]:
    """Train ``config`` on ``shards`` into ``run_dir`` with Ray Train; returns the final metrics.

    ``settings`` are the loop's (checkpoint_every, eval_every, wandb, ...);
    ``callbacks`` go to Ray Train's RunConfig (Tune passes its report callback).
    """
    import ray
    import ray.train
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from raymvae.data import read_dataset, read_manifest
    from raymvae.data.shards import check_compatible

    cfg = load_config(config, hparams)
    # Each epoch re-runs the (small) input pipeline; its progress bars would flood the log. Steps are logged.
    ray.data.DataContext.get_current().enable_progress_bars = False
    manifest = read_manifest(shards)
    check_compatible(manifest, cfg)
    train_ds = read_dataset(shards, cfg, "train")
    eval_ds = read_dataset(shards, cfg, "eval") if manifest["windows"]["eval"] else None
    size = manifest["windows"]["train"] * int(np.prod(manifest["window_shape"])) * np.dtype(manifest["dtype"]).itemsize
    if size <= MATERIALIZE_BYTES:
        # Small corpora: read the shards once into the object store instead of once per epoch.
        train_ds = train_ds.materialize()
        eval_ds = eval_ds.materialize() if eval_ds is not None else None
    train_ds = train_ds.randomize_block_order()
    cpus = float(ray.cluster_resources().get("CPU", 1))
    per_worker = 1.0 if use_gpu else max(0.25, min(1.0, (cpus - 1) / max(num_workers, 1)))
    loop_settings = {**settings, "config": cfg.to_dict(), "run_dir": _storage(run_dir), "num_steps": num_steps,
                     # torch threads: the node's cores shared among the workers (Ray Data's work is light)
                     "use_gpu": use_gpu, "threads": max(1, int(cpus) // num_workers) if num_workers else 0}
    datasets = {"train": train_ds}
    if eval_ds is not None:
        datasets["eval"] = eval_ds
    trainer = TorchTrainer(
        _train_loop_per_worker,
        train_loop_config=loop_settings,
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker=None if use_gpu else {"CPU": per_worker}),
        run_config=RunConfig(name=ray_name, storage_path=_storage(run_dir), callbacks=callbacks,
                             failure_config=FailureConfig(max_failures=max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=1)),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=["train"]),
    )
    log.info("training %s on %s with %d worker(s) (%.2f CPU each%s) -> %s", cfg.name, shards, num_workers,
             per_worker, ", GPU" if use_gpu else "", run_dir)
    trainer.fit()
    return run_summary(run_dir)


def run_summary(run_dir: str) -> dict[str, Any]:
    """The newest eval metrics of a run dir (or just its step): what ``fit`` reports back."""
    import json

    from raymvae.data.inputs import filesystem_for
    from raymvae.train import checkpoints

    fs, path, _ = filesystem_for(_storage(run_dir))
    try:
        with fs.open_input_stream(f"{path}/eval_latest.json") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        found = checkpoints.list_checkpoints(_storage(run_dir))
        return {"step": found[-1][0] if found else 0}


def evaluate_run(config: str | Config | None, shards: str, run_dir: str, *, hparams: str | dict | None = None,
                 batch_size: int | None = None, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """``--mode eval``: the run dir's newest checkpoint (or its export) on the eval shards."""
    from raymvae.data import read_manifest, read_windows
    from raymvae.export import load_export
    from raymvae.model import build
    from raymvae.model.evaluate import evaluate
    from raymvae.train import checkpoints
    from raymvae.train.loop import write_json

    state = checkpoints.load_latest(_storage(run_dir))
    if state is not None:
        cfg = Config.from_dict(state["config"])
        model = build(cfg)
        model.load_state_dict(state["model"])
        step = int(state["step"])
    else:
        model, info = load_export(run_dir)
        cfg, step = model.config, int(info["step"])
    if config is not None and load_config(config).name != cfg.name:
        raise ValueError(f"{run_dir} holds a {cfg.name} model, not {load_config(config).name}")
    if hparams:
        cfg = load_config(cfg, hparams)
        model.config = cfg
    if not read_manifest(shards)["windows"]["eval"]:
        raise ValueError(f"{shards} has no eval windows; prepare it with --eval-fraction > 0")
    windows, _ = read_windows(shards, "eval", cfg)
    model.to(device).eval()
    bs = batch_size or int(cfg.hparams["batch_size"])
    batches = (torch.from_numpy(windows[i:i + bs].astype(np.int64)).to(device) for i in range(0, len(windows), bs))
    metrics = evaluate(model, batches, step, torch.Generator(device=device).manual_seed(seed))
    write_json(_storage(run_dir), f"eval/step_{step:09d}.json", {"step": step, **metrics})
    write_json(_storage(run_dir), "eval_latest.json", {"step": step, **metrics})
    return {"step": step, **metrics}

