"""The training loop every worker runs (Ray Train worker, local mode, or a Tune trial).

It resumes from the run dir's newest checkpoint (or starts from its model
export, e.g. an imported Magenta checkpoint, with a fresh optimizer), draws
each epoch's windows afresh, trains with Magenta's step, checkpoints every N
steps, evaluates on rank 0, logs to W&B, and exports the model at the end.
How batches arrive and where metrics go is given by a ``Worker``, so Ray
Train and Ray Tune share this one loop.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from raymvae import storage
from raymvae.config import Config
from raymvae.errors import UserError
from raymvae.model import build
from raymvae.model import precision as precisions
from raymvae.model.evaluate import REFERENCE_WINDOWS, Reservoir, evaluate, sample_quality
from raymvae.model.training import make_optimizer, train_step, unwrap
from raymvae.music import converter_for
from raymvae.train import checkpoints
from raymvae.train.checkpoints import check_run_dir
from raymvae.train.evaluation import eval_summary
from raymvae.train.objective import Objective
from raymvae.train.sampling import Rebatcher, keep_mask
from raymvae.train.settings import TrainSettings
from raymvae.train.tracking import Tracker, wandb_mode

log = logging.getLogger(__name__)


@dataclass
class Worker:
    """Where this copy of the loop runs and how it talks to the outside."""

    rank: int
    world: int
    device: torch.device
    report: Callable[[dict[str, Any]], None]
    train_batches: Callable[[int], Iterator[dict[str, np.ndarray]]]  # an epoch's batches, in a seeded order
    eval_batches: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None
    wrap_model: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m
    node: str = ""  # the Ray node it runs on (recorded in the run dir's starts/)


# What the drivers (trainer, Tune) set for the loop besides the user's TrainSettings.
INTERNAL = dict(wandb_group=None, run_name=None, wandb_extra=None, eval_set=None, init_from_export=True)
DEFAULTS = {**TrainSettings().model_dump(), **INTERNAL}


def _all_true(flag: bool, worker: Worker) -> bool:
    """True on every worker only if ``flag`` is true on all of them (keeps DDP steps in lockstep)."""
    if worker.world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=worker.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def _gather(value: Any, worker: Worker) -> list[Any]:
    """``value`` of every rank, in rank order (on every rank)."""
    if worker.world == 1:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * worker.world
    dist.all_gather_object(out, value)
    return out


def _restore_rng(rng: dict[str, Any], rank: int, generator: torch.Generator) -> None:
    """This rank's random state from a checkpoint (older checkpoints kept rank 0's torch state only)."""
    if "ranks" in rng:
        if rank < len(rng["ranks"]):  # a run resumed on more workers: the new ranks start afresh
            torch.set_rng_state(rng["ranks"][rank]["torch"])
            generator.set_state(rng["ranks"][rank]["generator"])
        return
    torch.set_rng_state(rng["torch"])
    if rank < len(rng["generators"]):
        generator.set_state(rng["generators"][rank])


def _epoch_batches(worker: Worker, epoch: int, settings: dict, conv, batch_size: int,
                   seen: Reservoir | None = None) -> Iterator[torch.Tensor]:
    """The epoch's training batches; the windows drawn (before transposition) also go into ``seen``."""
    rng = np.random.default_rng([settings["seed"], epoch, worker.rank])
    rebatch = Rebatcher(batch_size)
    for b in worker.train_batches(epoch):
        keep = keep_mask(b["file_id"], b["file_windows"], b["file_position"], settings["epoch_windows_per_file"],
                         settings["seed"], epoch)
        drawn = np.asarray(b["windows"])[keep]
        if seen is not None:
            seen.push(drawn)
        windows = conv.augment(drawn, rng)
        for batch in rebatch.push(windows):
            yield torch.from_numpy(batch)


def _eval(model, worker: Worker, settings: dict, step: int, generator: torch.Generator,
          train_windows: Reservoir) -> dict[str, Any]:
    """Reconstruction metrics over the eval batches, then (``eval_samples`` > 0) prior samples against
    a random sample of the eval windows, with the training windows drawn so far as the ceiling."""
    limit = settings["eval_batches"]
    reference = Reservoir(REFERENCE_WINDOWS, settings["seed"])

    def batches():
        for i, b in enumerate(worker.eval_batches()):
            if limit and i >= limit:
                return
            reference.push(np.asarray(b["windows"]))
            yield unwrap(model).as_tensor(b["windows"])
    out = evaluate(unwrap(model), batches(), step, generator)
    if settings["eval_samples"]:
        out.update(sample_quality(unwrap(model), reference.sample(), train_windows.sample(),
                                  num=settings["eval_samples"], temperature=settings["sample_temperature"],
                                  seed=settings["seed"]))
    return out


def run_training(settings: dict[str, Any], worker: Worker) -> dict[str, Any]:
    """Train until ``num_steps``; returns the last metrics (eval metrics on rank 0 when there is an eval set)."""
    from raymvae.export import has_export, load_export, save_export

    settings = {**DEFAULTS, **settings}
    cfg = Config.from_dict(settings["config"])
    hp = cfg.hparams
    run_dir = storage.normalize(settings["run_dir"])
    if settings["epoch_windows_per_file"] is None:
        settings["epoch_windows_per_file"] = cfg.converter.get("max_windows_per_file")
    settings["wandb"] = wandb_mode(settings["wandb"])
    torch.manual_seed(settings["seed"] + worker.rank)
    model = build(cfg)
    state = checkpoints.load_latest(run_dir)
    step, epoch = 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        step, epoch = int(state["step"]), int(state["epoch"])
        log.info("resuming from step %d (epoch %d) in %s", step, epoch, run_dir)
    elif settings["init_from_export"] and has_export(run_dir):
        check_run_dir(run_dir, cfg)
        model.load_state_dict(load_export(run_dir)[0].state_dict())
        log.info("starting from the model export in %s (fresh optimizer)", run_dir)
    model.to(worker.device)
    shape = precisions.for_training(model)
    precision = precisions.resolve(settings["precision"], worker.device, **shape)
    if worker.rank == 0:
        log.info("precision: %s", precisions.describe(settings["precision"], worker.device, **shape))
    optimizer = make_optimizer(model, hp)
    generator = torch.Generator(device=worker.device).manual_seed(settings["seed"] * 1000 + worker.rank)
    skip = 0  # batches of the current epoch trained before the checkpoint
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        _restore_rng(state["rng"], worker.rank, generator)
        skip = int(state.get("epoch_batches", 0))
    nodes = _gather(worker.node, worker)
    if worker.rank == 0:
        storage.write_json(storage.join(run_dir, "starts", f"{time.strftime('%Y%m%dT%H%M%S')}-"
                                                           f"{time.time_ns() % 10**9:09d}.json"),
                           {"resumed_from_step": step if state is not None else None, "workers": worker.world,
                            "device": str(worker.device), "precision": precision, "nodes": nodes})
    model = worker.wrap_model(model)
    tracker = Tracker(worker.rank == 0, settings["wandb"], run_dir, settings["run_name"] or cfg.name,
                      {**cfg.to_dict(), **(settings["wandb_extra"] or {}), "num_workers": worker.world,
                       "precision": precision},
                      group=settings["wandb_group"])
    batch_size = int(hp["batch_size"])
    conv = converter_for(cfg)
    last: dict[str, Any] = {}
    t0, seen_at_t0 = time.perf_counter(), step
    train_seen = Reservoir(REFERENCE_WINDOWS, settings["seed"] + 1)  # the ceiling of sample statistics
    objective = Objective.parse(settings["objective"]) if settings["objective"] else None

    def save() -> None:
        ranks = _gather({"torch": torch.get_rng_state(), "generator": generator.get_state()}, worker)
        if worker.rank == 0:
            checkpoints.save_checkpoint(run_dir, step, {
                "model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "epoch": epoch, "epoch_batches": produced, "config": cfg.to_dict(), "rng": {"ranks": ranks},
            }, settings["keep_checkpoints"])

    def do_eval() -> dict[str, Any]:
        if worker.rank != 0 or worker.eval_batches is None:
            return {}
        # Its own noise, so that evaluating (or not) leaves the training's random stream as it is.
        gen = torch.Generator(device=worker.device).manual_seed(settings["seed"] * 1000 + 999 + step)
        m = _eval(model, worker, settings, step, gen, train_seen)
        if objective is not None:
            m["objective"] = objective.value(m)
        storage.write_json(storage.join(run_dir, "eval", f"step_{step:09d}.json"),
                           {"step": step, **m, "eval_set": settings["eval_set"], "precision": precision})
        log.info("eval at step %d: %s", step, eval_summary(m))
        tracker.log({f"eval/{k}": v for k, v in m.items()}, step)
        return m

    produced = skip
    while step < settings["num_steps"]:
        batches = _epoch_batches(worker, epoch, settings, conv, batch_size,
                                 train_seen if worker.rank == 0 else None)
        for _ in range(skip):  # a resumed epoch: the same draws, transpositions and batches as before
            next(batches, None)
        skip = 0
        while step < settings["num_steps"]:
            batch = next(batches, None)
            if not _all_true(batch is not None, worker):
                break
            produced += 1
            stats = train_step(model, optimizer, unwrap(model).as_tensor(batch), step, hp, generator, precision)
            step += 1
            if step % settings["log_every"] == 0 or step == settings["num_steps"]:
                rate = (step - seen_at_t0) * batch_size * worker.world / max(time.perf_counter() - t0, 1e-9)
                last = {k: float(v) for k, v in stats.items()}
                last.update(step=step, epoch=epoch, examples_per_s=rate)
                tracker.log(last, step)
                if worker.rank == 0:
                    log.info("step %d  loss %.3f  r_loss %.3f  kl_bits %.2f  beta %.4f  lr %.2e  %.0f ex/s", step,
                             last["loss"], last["losses/r_loss"], last["losses/kl_bits"], last["losses/kl_beta"],
                             last["learning_rate"], rate)
                worker.report(dict(last))
            if settings["checkpoint_every"] and step % settings["checkpoint_every"] == 0:
                save()
            if settings["eval_every"] and step % settings["eval_every"] == 0 and step < settings["num_steps"]:
                m = do_eval()
                worker.report({**last, **m, "step": step})
        if produced == 0 and step < settings["num_steps"]:
            raise UserError(f"the training split gives no batch of {batch_size} windows in an epoch; "
                            f"lower it with --hparams batch_size=N or add data")
        if step < settings["num_steps"]:
            epoch, produced = epoch + 1, 0
    if not settings["checkpoint_every"] or step % settings["checkpoint_every"]:
        save()
    final = do_eval()
    if worker.rank == 0:
        save_export(run_dir, unwrap(model), step, {"source": "raymvae train"})
        if final:
            storage.write_json(storage.join(run_dir, "eval_latest.json"),
                               {"step": step, **final, "eval_set": settings["eval_set"], "precision": precision,
                                "train": last})
    result = {**last, **final, "step": step, "precision": precision}
    worker.report({k: v for k, v in result.items() if isinstance(v, (int, float)) and not
                   (isinstance(v, float) and math.isnan(v))})
    tracker.finish()
    return result
