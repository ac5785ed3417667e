"""``raymvae tune``: a Ray Tune sweep whose trials run the same loop as ``raymvae train``.

Trials are function trainables on one machine (``workers_per_trial=0``; Train
inside Tune deadlocks on 2 CPUs) or drive a ``TorchTrainer`` each on a
cluster (Ray 2.60's Train-inside-Tune pattern, metrics forwarded by
``TuneReportCallback``). Every trial evaluates every ``eval_every`` steps and
reports only then (so ``--metric`` names an eval metric), and ASHA compares
trials on them; each trial has
its own run dir (checkpoints, export) and W&B run, grouped by sweep name.
The sweep folder may be local or on object storage: trials, results and
``best/`` all go through the storage layer.
"""
from __future__ import annotations

import io
import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymvae import storage
from raymvae.config import Config, load_config
from raymvae.errors import UserError
from raymvae.export import copy_export, has_export
from raymvae.settings import checked
from raymvae.train.objective import Objective
from raymvae.train.tracking import wandb_mode
from raymvae.tune.settings import TuneSettings
from raymvae.tune.space import load_space, to_tune

log = logging.getLogger(__name__)
EVAL_PREFIXES = ("losses/", "metrics/", "samples/", "ceiling/")
RESULT_METRICS = ("losses/elbo", "losses/r_loss", "losses/kl_bits", "metrics/accuracy", "metrics/sampled_accuracy",
                  "metrics/no_event_baseline_accuracy", "samples/oa_mean", "samples/empty_rate", "ceiling/oa_mean")


def _trial_settings(base: dict[str, Any], swept: dict[str, Any], run_dir: str, sweep: str, trial: str,
                    common: dict[str, Any]) -> dict[str, Any]:
    cfg = load_config(Config.from_dict(base), swept)
    return {**common, "config": cfg.to_dict(), "run_dir": run_dir, "wandb_group": sweep, "run_name": trial,
            "wandb_extra": {"swept": swept, **{f"swept/{k}": v for k, v in swept.items()}}}


def _is_eval_result(metrics: dict[str, Any]) -> bool:
    """Whether a report of the loop carries eval results: the only reports a trial passes to Tune, so that
    ASHA's rungs and ``max_t`` count evaluations (the loop's log reports would end a trial at ``max_t``
    before its last step)."""
    return "metrics/accuracy" in metrics


def _function_trial(swept: dict[str, Any], *, base: dict, shards: str, output: str, sweep: str,
                    common: dict, threads: int) -> None:
    """One trial in this worker process: the shared loop, reporting eval results to Tune."""
    import torch
    from ray import tune
    from ray.data import DataContext

    from raymvae.data import read_dataset, read_manifest
    from raymvae.runtime import quiet_data_progress
    from raymvae.train.loop import Worker, run_training
    from raymvae.train.sampling import epoch_seed, shuffle_buffer
    from raymvae.train.trainer import shard_batches

    torch.set_num_threads(threads)  # Ray sets OMP_NUM_THREADS=1 in a 1-CPU worker
    quiet_data_progress()
    DataContext.get_current().execution_options.preserve_order = True  # batches in the seeded block order
    trial = tune.get_context().get_trial_id()
    settings = _trial_settings(base, swept, storage.join(output, "trials", trial), sweep, trial, common)
    cfg = Config.from_dict(settings["config"])
    manifest = read_manifest(shards)
    train_ds = read_dataset(shards, cfg, "train").materialize()
    eval_ds = read_dataset(shards, cfg, "eval").materialize()
    buffer = shuffle_buffer(int(cfg.hparams["batch_size"]), manifest)

    seed = settings["seed"]
    worker = Worker(rank=0, world=1, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                    report=lambda m: tune.report(m) if _is_eval_result(m) else None,
                    train_batches=lambda epoch: shard_batches(
                        train_ds.randomize_block_order(seed=epoch_seed(seed, epoch, 0)), buffer, seed, epoch),
                    eval_batches=lambda: shard_batches(eval_ds))
    run_training(settings, worker)


def _train_trial(swept: dict[str, Any], *, base: dict, shards: str, output: str, sweep: str,
                 common: dict, workers: int, use_gpu: bool) -> None:
    """One trial driving a TorchTrainer (cluster mode): rank 0's eval results reach Tune via TuneReportCallback."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from raymvae.train.trainer import fit

    class EvalReports(TuneReportCallback):
        """Only the eval results, as a function trial reports."""

        def after_report(self, run_context, metrics, checkpoint):
            if _is_eval_result(metrics[0]):
                super().after_report(run_context, metrics, checkpoint)

    trial = tune.get_context().get_trial_id()
    settings = _trial_settings(base, swept, storage.join(output, "trials", trial), sweep, trial, common)
    fit(Config.from_dict(settings.pop("config")), shards, settings.pop("run_dir"), num_workers=workers,
        use_gpu=use_gpu, ray_name=f"train-{trial}", callbacks=[EvalReports()], **settings)


def _searcher(name: str, metric: str, mode: str):
    if name == "random":
        return None
    if name == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(metric=metric, mode=mode)
    raise ValueError(f"unknown search algorithm {name!r} (random, optuna)")


def sweep(config: str, shards: str, output: str, *, hparams: str | dict | None = None,
          **settings: Any) -> dict[str, Any]:
    """Run the sweep; write ``results.csv`` / ``.parquet`` sorted by the metric and export the best trial.

    ``settings`` are ``TuneSettings`` fields. ``objective`` (e.g. ``"metrics/accuracy + samples/oa_mean"``)
    ranks trials by a weighted sum of eval metrics instead of ``metric``; it is reported as the metric
    ``objective``.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from raymvae.data import read_manifest

    from raymvae.train.trainer import check_training

    s = checked(TuneSettings, settings, "tune")
    objective, metric, mode, num_steps = s.objective, s.metric, s.mode, s.num_steps
    base = load_config(config, hparams)
    space = load_space(s.search, base.hparams)
    if objective:
        parsed = Objective.parse(objective)
        unknown = [m for m in parsed.metrics if not m.startswith(EVAL_PREFIXES)]
        if unknown:
            raise UserError(f"objective {objective!r}: {unknown[0]!r} is not an eval metric "
                            f"({', '.join(p + '...' for p in EVAL_PREFIXES)})")
        metric = "objective"
    if metric.startswith(("samples/", "ceiling/")) or (objective and "samples/" in objective):
        if not s.eval_samples:
            raise UserError(f"{objective or metric} needs prior samples at each eval; set --eval-samples > 0")
    check_training(base, shards, None, num_workers=s.workers_per_trial)
    if not read_manifest(shards)["windows"]["eval"]:
        raise UserError(f"{shards} has no eval windows: trials are compared on eval metrics; prepare it with "
                        f"--eval-fraction > 0")
    out = storage.normalize(output)
    if storage.exists(storage.join(out, "results.csv")):
        raise FileExistsError(f"{out} already holds a finished sweep; choose another --output")
    eval_every = s.eval_every or max(1, num_steps // 10)
    name = f"{base.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    common = dict(num_steps=num_steps, eval_every=eval_every, eval_batches=s.eval_batches, log_every=eval_every,
                  checkpoint_every=eval_every, keep_checkpoints=1, wandb=wandb_mode(s.wandb), seed=s.seed,
                  precision=s.precision, objective=objective, eval_samples=s.eval_samples,
                  sample_temperature=s.sample_temperature)
    kwargs = dict(base=base.to_dict(), shards=shards, output=out, sweep=name, common=common)
    if s.workers_per_trial > 0:
        trainable = tune.with_resources(tune.with_parameters(_train_trial, workers=s.workers_per_trial,
                                                             use_gpu=s.use_gpu, **kwargs), {"cpu": 0.1})
    else:
        # A trial reserves one CPU (the rest stay free for Ray Data's reads) but computes on its share of
        # the cluster's cores: all of them when trials run one at a time.
        threads = max(1, int(ray.cluster_resources().get("CPU", 1)) // s.max_concurrent)
        trainable = tune.with_resources(tune.with_parameters(_function_trial, threads=threads, **kwargs),
                                        {"cpu": 1, "gpu": 1 if s.use_gpu else 0})
    evals = -(-num_steps // eval_every)
    sched = ASHAScheduler(max_t=evals + 1, grace_period=1, reduction_factor=2) if s.scheduler == "asha" else None
    fs, storage_path, _ = storage.filesystem_for(out)
    tuner = tune.Tuner(
        trainable, param_space=to_tune(space),
        tune_config=tune.TuneConfig(metric=metric, mode=mode, num_samples=s.num_samples, scheduler=sched,
                                    search_alg=_searcher(s.search_alg, metric, mode),
                                    max_concurrent_trials=s.max_concurrent),
        run_config=tune.RunConfig(name="tune", storage_path=storage_path, storage_filesystem=fs),
    )
    log.info("sweep %s: %d trials of %s over %s, %d steps each, metric %s (%s)", name, s.num_samples, base.name,
             ", ".join(space), num_steps, metric, mode)
    grid = tuner.fit()
    rows = []
    for result in grid:
        trial = storage.name_of(result.path) if result.path else ""
        trial_id = (result.metrics or {}).get("trial_id", trial)
        metrics = result.metrics or {}
        rows.append({"trial_id": trial_id,
                     **{f"swept/{k}": result.config.get(k) for k in space},
                     "status": "error" if result.error else "ok",
                     "iterations": metrics.get("training_iteration", 0),
                     "stopped_early": bool(metrics.get("training_iteration", 0) < evals and not result.error),
                     "step": metrics.get("step"),
                     **{k: metrics.get(k) for k in (*RESULT_METRICS, metric)},
                     "run_dir": storage.join(out, "trials", trial_id)})
    rows.sort(key=lambda r: (r[metric] is None, -(r[metric] or 0) if mode == "max" else (r[metric] or 0)))
    table = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    storage.write_bytes(storage.join(out, "results.parquet"), sink.getvalue().to_pybytes())
    csv = io.StringIO()
    table.to_pandas().to_csv(csv, index=False)
    best = next((r for r in rows if r[metric] is not None and not r["stopped_early"]), rows[0] if rows else None)
    if best is not None and has_export(best["run_dir"]):
        target = storage.join(out, "best")
        copy_export(best["run_dir"], target)
        try:
            storage.write_bytes(storage.join(target, "eval_latest.json"),
                                storage.read_bytes(storage.join(best["run_dir"], "eval_latest.json")))
        except FileNotFoundError:
            pass
        storage.write_json(storage.join(target, "trial.json"), best)
    storage.write_bytes(storage.join(out, "results.csv"), csv.getvalue().encode())  # last: the sweep is done
    return {"name": name, "rows": rows, "best": best, "output": out, "evals": evals,
            "metric": metric, "mode": mode, "front": pareto_front(rows)}


def pareto_front(rows: list[dict[str, Any]], x: str = "metrics/accuracy",
                 y: str = "samples/oa_mean") -> list[dict[str, Any]]:
    """The trials no other trial beats on both ``x`` and ``y`` (higher is better), by ``x``: the
    reconstruction / sample-quality trade-off to pick a point from."""
    done = [r for r in rows if r.get(x) is not None and r.get(y) is not None
            and not (np.isnan(r[x]) or np.isnan(r[y]))]
    front = [r for r in done if not any(o[x] >= r[x] and o[y] >= r[y] and (o[x] > r[x] or o[y] > r[y])
                                        for o in done)]
    return sorted(front, key=lambda r: r[x])


def format_table(rows: list[dict[str, Any]], metric: str) -> str:
    """The results table as text, best first."""
    if not rows:
        return "(no trials)"
    swept = [k for k in rows[0] if k.startswith("swept/")]
    shown = list(dict.fromkeys([metric, "metrics/accuracy", "samples/oa_mean", "samples/empty_rate"]))
    head = ["trial_id"] + [k[6:] for k in swept] + [m.split("/")[-1] for m in shown] + ["iters", "status"]
    lines = ["  ".join(f"{h:>14s}" for h in head)]
    for r in rows:
        cells = [r["trial_id"][-14:]] + [_fmt(r[k]) for k in swept] + [_fmt(r.get(m)) for m in shown] + \
            [str(r["iterations"]), r["status"]]
        lines.append("  ".join(f"{c:>14s}" for c in cells))
    return "\n".join(lines)


def format_front(front: list[dict[str, Any]]) -> str:
    """The trade-off front as text, one trial a line with its swept values."""
    lines = ["trade-off front (no trial is better on both teacher-forced accuracy and prior-sample OA):"]
    for r in front:
        lines.append(f"  {r['trial_id']}: accuracy {r['metrics/accuracy']:.4f}  samples OA {r['samples/oa_mean']:.3f}"
                     f"  empty {r['samples/empty_rate']:.1%}  "
                     + "  ".join(f"{k[6:]}={_fmt(v)}" for k, v in r.items() if k.startswith("swept/")))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float) and not np.isnan(v):
        return f"{v:.4g}"
    return str(v)
