"""Ray Train V2: a TorchTrainer (DDP) running the shared loop on shards (eval-only runs: train/evaluation.py).

The run dir (local or object storage) holds everything: ``checkpoints/``
(ours, atomic, last K), ``eval/`` JSON, ``export/`` (the model for generate /
serve), W&B offline runs, and Ray Train's own run state under ``ray/``.
Running the same command again resumes from the newest checkpoint. The
driver checks every input before a worker starts, restarts a failed worker
group up to ``max_failures`` times (it resumes the same way), and never
retries a ``UserError``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

import torch

from raymvae import storage
from raymvae.config import Config, load_config
from raymvae.errors import UserError
from raymvae.settings import checked
from raymvae.train.settings import ScalingSettings, TrainSettings

log = logging.getLogger(__name__)
MATERIALIZE_BYTES = 512 << 20


def _train_loop_per_worker(settings: dict[str, Any]) -> None:
    """Entry point Ray Train runs on every worker."""
    import ray
    import ray.train
    import ray.train.torch

    from raymvae.runtime import quiet_train_reports
    from raymvae.train.loop import Worker, run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_train_reports()
    ctx = ray.train.get_context()
    world = ctx.get_world_size()
    if settings.get("threads"):
        torch.set_num_threads(int(settings["threads"]))
    train_shard = ray.train.get_dataset_shard("train")
    eval_shard = ray.train.get_dataset_shard("eval") if settings["has_eval"] else None
    device = ray.train.torch.get_device() if settings.get("use_gpu") else torch.device("cpu")

    rank = ctx.get_world_rank()
    worker = Worker(
        rank=rank, world=world, device=device, report=ray.train.report,
        train_batches=lambda epoch: shard_batches(train_shard, settings["shuffle_buffer"], settings["seed"],
                                                  epoch, rank),
        eval_batches=(lambda: shard_batches(eval_shard)) if eval_shard is not None else None,
        wrap_model=(lambda m: ray.train.torch.prepare_model(m, move_to_device=False)) if world > 1 else (lambda m: m),
        node=ray.get_runtime_context().get_node_id(),
    )
    run_training(settings, worker)


def shard_batches(shard: Any, shuffle_buffer: int = 0, seed: int = 0, epoch: int | None = None,
                  rank: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """A worker's dataset shard (a Ray Train DataIterator, or a Dataset in a Tune trial) as numpy batches of
    1024 rows; for training (an ``epoch``), shuffled in a ``shuffle_buffer`` seeded by (seed, epoch, rank), so
    that a resumed epoch repeats the same batches."""
    from raymvae.train.sampling import epoch_seed

    shuffle = dict(local_shuffle_buffer_size=shuffle_buffer,
                   local_shuffle_seed=epoch_seed(seed, epoch, rank)) if epoch is not None else {}
    yield from shard.iter_batches(batch_size=1024, batch_format="numpy", **shuffle)


@dataclass
class TrainingData:
    """What a run trains and evaluates on, checked in the driver before any worker starts."""

    config: Config
    shards: str
    eval_shards: str | None  # None: no evaluation
    eval_split: str | None


def check_training(config: str | Config, shards: str, run_dir: str | None, *, hparams: str | dict | None = None,
                   eval_shards: str | None = None, num_workers: int = 1,
                   epoch_windows_per_file: int | None = None) -> TrainingData:
    """Every mistake a run can be started with, as one UserError, before Ray Train starts a worker:
    hparams, shards that do not fit the config, no training windows, a batch larger than an epoch,
    a run dir that holds another model."""
    from raymvae.data import check_compatible, read_manifest
    from raymvae.data.shards import epoch_windows, eval_split
    from raymvae.train.checkpoints import check_run_dir

    cfg = load_config(config, hparams)
    if num_workers < 0:
        raise UserError(f"--num-workers must be >= 0, got {num_workers}")
    manifest = read_manifest(shards)
    check_compatible(manifest, cfg)
    if not manifest["windows"]["train"]:
        raise UserError(f"{shards} has no training windows (prepared with --eval-fraction "
                        f"{manifest.get('eval_fraction')}); train on another shard set and evaluate this one "
                        f"with --eval-examples, or with --mode eval")
    cap = epoch_windows_per_file or cfg.converter.get("max_windows_per_file")
    per_epoch = epoch_windows(shards, cap)
    batch, workers = int(cfg.hparams["batch_size"]), max(num_workers, 1)
    if per_epoch < batch * workers:
        raise UserError(f"an epoch of {shards} draws {per_epoch} training windows (at most {cap} per file), fewer "
                        f"than batch_size {batch} x {workers} worker(s); lower it with --hparams batch_size=N, "
                        f"raise --epoch-windows-per-file, or add data")
    if eval_shards is not None:
        check_compatible(read_manifest(eval_shards), cfg)
        split = eval_split(eval_shards)
    else:
        eval_shards, split = shards, ("eval" if manifest["windows"]["eval"] else None)
    if run_dir is not None:
        check_run_dir(storage.normalize(run_dir), cfg)
    return TrainingData(cfg, shards, eval_shards if split else None, split)


def _user_error(exc: BaseException) -> UserError | None:
    """The UserError a failed Ray Train run ended with, if any (workers' errors arrive wrapped)."""
    seen: list[BaseException] = [exc, *getattr(exc, "worker_failures", {}).values()]
    for err in seen:
        while err is not None:
            if isinstance(err, UserError):
                return err
            err = getattr(err, "cause", None) or err.__cause__
    return None


def run_with_restarts(make_trainer: Callable[[], Any], max_failures: int) -> Any:
    """``make_trainer().fit()``, restarted up to ``max_failures`` times when the run fails (a worker or
    node died, ...); each restart resumes from the newest checkpoint. A UserError raised by the
    driver or by any worker ends it at once: retrying a mistake gives the same mistake.

    The trainer must switch Ray Train's own retries off (``FailureConfig(max_failures=0)``): Ray
    Train 2.60 retries every worker error alike.
    """
    import ray.train

    restarts = 0
    while True:
        trainer = make_trainer()
        if trainer.run_config.failure_config is None or trainer.run_config.failure_config.max_failures != 0:
            raise ValueError("the trainer must have FailureConfig(max_failures=0): restarts are done here")
        try:
            return trainer.fit()
        except Exception as exc:  # noqa: BLE001 - TrainingFailedError, or the loop's own error in local mode
            user = _user_error(exc)
            if user is not None:
                raise UserError(str(user)) from None
            if restarts >= max_failures or not isinstance(exc, ray.train.TrainingFailedError):
                raise
            restarts += 1
            log.warning("training failed (%s); restart %d of %d from the newest checkpoint", exc, restarts,
                        max_failures)


def fit(config: str | Config, shards: str, run_dir: str, *, hparams: str | dict | None = None,
        eval_shards: str | None = None, ray_name: str = "ray", callbacks: list | None = None, **settings: Any
        ) -> dict[str, Any]:
    """Train ``config`` on ``shards`` into ``run_dir`` with Ray Train; returns the final metrics.

    ``eval_shards`` evaluates on another (held-out) shard set instead of
    ``shards``' eval split. ``settings`` are ``ScalingSettings`` fields
    (num_workers, use_gpu, placement_strategy, resources_per_worker,
    max_failures) and ``TrainSettings`` fields (num_steps, checkpoint_every,
    eval_every, wandb, ...; a name neither has is an error), plus the keys Tune
    sets (``loop.INTERNAL``); ``callbacks`` go to Ray Train's RunConfig (Tune
    passes its report callback). A failed worker group is restarted up to
    ``max_failures`` times and resumes from the newest checkpoint, with the
    input read afresh (a lost node may have held its blocks); a UserError
    raised anywhere is raised at once, never retried.
    """
    import ray
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from raymvae.data import read_manifest
    from raymvae.data.shards import window_bytes
    from raymvae.runtime import quiet_data_progress
    from raymvae.train.loop import INTERNAL
    from raymvae.train.sampling import shuffle_buffer

    internal = {k: settings.pop(k) for k in list(settings) if k in INTERNAL}
    scale = checked(ScalingSettings, {k: settings.pop(k) for k in list(settings) if k in ScalingSettings.model_fields},
                    "scaling")
    user = checked(TrainSettings, settings, "training")
    workers = scale.num_workers
    data = check_training(config, shards, run_dir, hparams=hparams, eval_shards=eval_shards,
                          num_workers=workers, epoch_windows_per_file=user.epoch_windows_per_file)
    cfg, run_dir = data.config, storage.normalize(run_dir)
    quiet_data_progress()
    manifest = read_manifest(shards)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    resources = scale.resources_per_worker
    if resources is None and not scale.use_gpu:
        resources = {"CPU": max(0.25, min(1.0, (cpus - 1) / max(workers, 1)))}
    # torch threads: the CPUs each worker reserved, or (default) the cluster's cores shared among the workers
    threads = max(1, int(scale.resources_per_worker.get("CPU", 1))) if scale.resources_per_worker else \
        max(1, int(cpus) // max(workers, 1))
    loop_settings = {**user.model_dump(), **internal, "config": cfg.to_dict(), "run_dir": run_dir,
                     "shuffle_buffer": shuffle_buffer(int(cfg.hparams["batch_size"]), manifest, workers),
                     "eval_set": {"shards": storage.normalize(data.eval_shards), "split": data.eval_split}
                     if data.eval_shards else None,
                     "has_eval": data.eval_shards is not None, "use_gpu": scale.use_gpu,
                     "threads": threads if workers else 0}
    fs, storage_path, _ = storage.filesystem_for(run_dir)
    log.info("training %s on %s with %d worker(s) (%s each, %s) -> %s; evaluating on %s", cfg.name, shards,
             workers, resources or {"CPU": 1, "GPU": 1}, scale.placement_strategy, run_dir,
             f"{data.eval_shards} ({data.eval_split} split)" if data.eval_shards else "nothing (no eval windows)")

    # Small corpora: read the shards once into the object store instead of once per epoch.
    materialize = manifest["windows"]["train"] * window_bytes(manifest) <= MATERIALIZE_BYTES

    run_with_restarts(lambda: TorchTrainer(
        _train_loop_per_worker,
        train_loop_config=loop_settings,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=scale.use_gpu, resources_per_worker=resources,
                                     placement_strategy=scale.placement_strategy),
        run_config=RunConfig(name=ray_name, storage_path=storage_path, storage_filesystem=fs, callbacks=callbacks,
                             failure_config=FailureConfig(max_failures=0),
                             checkpoint_config=CheckpointConfig(num_to_keep=1)),
        datasets=training_datasets(data, user.seed, materialize),
        dataset_config=ingest_config(),
    ), scale.max_failures)
    return run_summary(run_dir)


def training_datasets(data: TrainingData, seed: int, materialize: bool) -> dict[str, Any]:
    """The run's Ray Datasets: "train" in a block order seeded by ``seed``, and "eval" when there is one;
    ``materialize`` reads them once into the object store instead of once per epoch (small corpora)."""
    from raymvae.data import read_dataset

    train_ds = read_dataset(data.shards, data.config, "train")
    eval_ds = read_dataset(data.eval_shards, data.config, data.eval_split) if data.eval_shards else None
    if materialize:
        train_ds = train_ds.materialize()
        eval_ds = eval_ds.materialize() if eval_ds is not None else None
    out = {"train": train_ds.randomize_block_order(seed=seed)}
    if eval_ds is not None:
        out["eval"] = eval_ds
    return out


def ingest_config() -> Any:
    """Ray Train's data ingest, in a reproducible order: the training split divided among the workers in the
    (seeded) block order, so that a run with the same seed, and a resumed one, sees the same batches.

    Ray Data's default lets blocks finish and reach the workers in any order. With preserve_order the
    split follows the block order (Ray Data then ignores locality hints); each worker shuffles its share
    with a seed per epoch and rank (``sampling.epoch_seed``), and every epoch draws its windows and
    transpositions afresh, so epochs still differ though the block order is the same in each.
    """
    import copy

    from ray.data import DataContext
    from ray.train import DataConfig

    options = copy.deepcopy(DataContext.get_current().execution_options)  # as Ray Train's default does
    options.preserve_order = True
    return DataConfig(datasets_to_split=["train"], execution_options=options)


def run_summary(run_dir: str) -> dict[str, Any]:
    """The newest eval metrics of a run dir (or just its step): what ``fit`` reports back."""
    from raymvae.train import checkpoints

    try:
        return storage.read_json(storage.join(run_dir, "eval_latest.json"))
    except FileNotFoundError:
        found = checkpoints.list_checkpoints(run_dir)
        return {"step": found[-1][0] if found else 0}
