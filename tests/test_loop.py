"""The training loop driven in-process by a fake worker (no Ray): exact resume mid-epoch."""
from __future__ import annotations

import numpy as np
import torch

from raymvae.config import load_config
from raymvae.train import checkpoints
from raymvae.train.loop import DEFAULTS, Worker, run_training

# Scheduled sampling and a KL term, so that the run uses its random stream at every step.
TINY = ("batch_size=4,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8,sampling_schedule=constant,"
        "sampling_rate=0.5")  # and the config transposes by -5..5 each epoch


def _shard(n: int = 22, seed: int = 0) -> dict[str, np.ndarray]:
    """Training rows as a shard reader yields them: melody windows, 2 per file (so the per-file cap draws)."""
    rng = np.random.default_rng(seed)
    windows = rng.integers(0, 40, (n, 32)).astype(np.int16)
    fid = np.arange(n) // 2
    return {"windows": windows, "file_id": fid.astype(np.int64), "file_windows": np.full(n, 2, np.int32),
            "file_position": (np.arange(n) % 2).astype(np.int32)}


def _train(run_dir, num_steps: int, losses: dict[int, float], rank: int = 0, world: int = 1) -> dict:
    """Train to ``num_steps`` in ``run_dir`` (resuming from its checkpoint) as this rank; its loss per step
    goes into ``losses``; returns the run's newest checkpoint."""
    shard = _shard(seed=rank)  # each rank its own windows

    def batches(epoch: int):
        order = np.random.default_rng([epoch, rank]).permutation(len(shard["windows"]))  # an epoch's seeded order
        for i in range(0, len(order), 8):  # fixed-size blocks
            yield {k: v[order[i:i + 8]] for k, v in shard.items()}

    def report(metrics):
        losses[int(metrics["step"])] = metrics["loss"]
    cfg = load_config("cat-mel_2bar_small", TINY)
    settings = {**DEFAULTS, "config": cfg.to_dict(), "run_dir": str(run_dir), "num_steps": num_steps,
                "checkpoint_every": 0, "log_every": 1, "wandb": "disabled", "epoch_windows_per_file": 1, "eval_samples": 0}
    wrap = (lambda m: torch.nn.parallel.DistributedDataParallel(m)) if world > 1 else (lambda m: m)
    run_training(settings, Worker(rank=rank, world=world, device=torch.device("cpu"), report=report,
                                  train_batches=batches, wrap_model=wrap))
    if world > 1:
        torch.distributed.barrier()  # rank 0 has written the checkpoint
    return checkpoints.load_latest(str(run_dir))


def test_a_run_stopped_mid_epoch_and_resumed_equals_one_that_never_stopped(tmp_path):
    torch.manual_seed(123)  # the loop seeds itself: what the caller did before must not matter
    straight: dict[int, float] = {}
    end = _train(tmp_path / "straight", 9, straight)
    resumed: dict[int, float] = {}
    first = _train(tmp_path / "resumed", 4, resumed)
    # 11 files, 1 window each per epoch, batches of 4: 2 batches an epoch, so step 4 ends epoch 1 and
    # step 5 is the first of epoch 2; stop once more in the middle of an epoch.
    assert (first["step"], first["epoch"], first["epoch_batches"]) == (4, 1, 2)
    middle = _train(tmp_path / "resumed", 7, resumed)
    assert (middle["step"], middle["epoch"], middle["epoch_batches"]) == (7, 3, 1)
    torch.manual_seed(999)
    again = _train(tmp_path / "resumed", 9, resumed)
    assert again["step"] == end["step"] == 9 and again["epoch"] == end["epoch"]
    assert resumed == straight  # the same loss at every step
    for name, value in end["model"].items():
        assert torch.equal(value, again["model"][name]), name
    assert torch.equal(end["rng"]["ranks"][0]["generator"], again["rng"]["ranks"][0]["generator"])


def _two_ranks(rank: int, folder: str) -> None:
    """One of two DDP ranks (gloo, in its own process): a straight run and one stopped twice, its losses saved."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{folder}/group", rank=rank, world_size=2)
    torch.set_num_threads(1)
    straight: dict[int, float] = {}
    resumed: dict[int, float] = {}
    _train(f"{folder}/straight", 9, straight, rank, 2)
    for steps in (4, 7, 9):
        _train(f"{folder}/resumed", steps, resumed, rank, 2)
    torch.save({"straight": straight, "resumed": resumed}, f"{folder}/losses_{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_ranks_stopped_and_resumed_equal_a_run_that_never_stopped(tmp_path):
    """Every rank's random state comes back (rank 1's too): each rank's loss at every step, the weights and
    both ranks' generators equal an uninterrupted two-rank run's."""
    import torch.multiprocessing as mp

    mp.spawn(_two_ranks, args=(str(tmp_path),), nprocs=2)
    for rank in (0, 1):
        losses = torch.load(tmp_path / f"losses_{rank}.pt")
        assert sorted(losses["straight"]) == list(range(1, 10))
        assert losses["resumed"] == losses["straight"], rank
    losses = [torch.load(tmp_path / f"losses_{rank}.pt")["straight"] for rank in (0, 1)]
    assert losses[0] != losses[1]  # the ranks trained on their own windows with their own noise
    end, again = (checkpoints.load_latest(str(tmp_path / name)) for name in ("straight", "resumed"))
    assert again["step"] == end["step"] == 9
    for name, value in end["model"].items():
        assert torch.equal(value, again["model"][name]), name
    generators = [r["generator"] for r in end["rng"]["ranks"]]
    assert not torch.equal(*generators)
    for rank in (0, 1):
        assert torch.equal(end["rng"]["ranks"][rank]["generator"], again["rng"]["ranks"][rank]["generator"])


def test_training_settings_have_one_home():
    """The CLI's defaults, the loop's and fit()'s checks all come from TrainSettings."""
    import pytest

    from raymvae.cli import build_parser
    from raymvae.errors import UserError
    from raymvae.train.settings import TrainSettings
    from raymvae.settings import checked

    args = build_parser().parse_args(["train", "--config", "c", "--examples", "e", "--run-dir", "r"])
    defaults = TrainSettings().model_dump()
    assert {name: getattr(args, name) for name in defaults} == defaults
    assert all(DEFAULTS[name] == value for name, value in defaults.items())
    assert defaults["checkpoint_every"] == 1000 and defaults["num_steps"] == 200_000
    args = build_parser().parse_args(["train", "--config", "c", "--examples", "e", "--run-dir", "r",
                                      "--num_steps", "7", "--epoch-windows-per-file", "2", "--wandb", "disabled"])
    assert checked(TrainSettings, {name: getattr(args, name) for name in defaults}, "training").num_steps == 7
    with pytest.raises(UserError, match="unknown training setting 'chekpoint_every'; known: num_steps"):
        checked(TrainSettings, {"chekpoint_every": 5}, "training")
    with pytest.raises(UserError, match="--epoch-windows-per-file: Input should be greater than or equal to 1, got 0"):
        checked(TrainSettings, {"epoch_windows_per_file": 0}, "training")


def test_scaling_flags_come_from_scaling_settings(capsys):
    """--num-workers, --placement-strategy, --resources-per-worker (JSON) ... with ScalingSettings' defaults;
    a malformed JSON object or an unknown strategy is a one-line usage error (exit 2)."""
    import pytest

    from raymvae.cli import build_parser
    from raymvae.train.settings import ScalingSettings

    base = ["train", "--config", "c", "--examples", "e", "--run-dir", "r"]
    args = build_parser().parse_args(base)
    defaults = ScalingSettings().model_dump()
    assert {name: getattr(args, name) for name in defaults} == defaults
    assert defaults["placement_strategy"] == "PACK" and defaults["resources_per_worker"] is None
    args = build_parser().parse_args([*base, "--placement-strategy", "SPREAD", "--resources-per-worker",
                                      '{"CPU": 2, "accelerator_type:H100": 0.01}', "--num-workers", "2"])
    s = ScalingSettings(**{name: getattr(args, name) for name in defaults})
    assert s.placement_strategy == "SPREAD" and s.resources_per_worker == {"CPU": 2.0, "accelerator_type:H100": 0.01}
    for bad, message in [(["--resources-per-worker", "{CPU: 2}"], "not JSON"),
                         (["--resources-per-worker", "[2]"], "expected a JSON object"),
                         (["--placement-strategy", "spread"], "invalid choice")]:
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([*base, *bad])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_what_a_tune_trial_sends_to_wandb(tmp_path, monkeypatch):
    """W&B seen through a fake module: a trial's identity, its config with the swept values and the precision
    that ran (also in the eval JSON and the start record; evaluation itself runs in fp32), Magenta's metric
    names per step and the eval/ metrics."""
    import json
    import sys
    import types

    runs: list[dict] = []

    class Run:
        def __init__(self, **kwargs):
            self.init, self.logged, self.finished = kwargs, [], False
            runs.append(self.__dict__)

        def log(self, metrics, step):
            self.logged.append((step, metrics))

        def finish(self):
            self.finished = True
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=Run, Settings=lambda **kw: kw))
    from raymvae.train import loop

    autocast_at_eval = []

    def evaluate(*args, **kwargs):
        autocast_at_eval.append(torch.is_autocast_enabled("cpu"))
        return real_evaluate(*args, **kwargs)
    real_evaluate = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", evaluate)
    from raymvae.tune.sweep import _trial_settings

    shard = _shard()
    common = {"num_steps": 4, "checkpoint_every": 0, "eval_every": 2, "log_every": 2, "wandb": "offline",
              "eval_samples": 8, "precision": "bf16"}
    settings = {**DEFAULTS, **_trial_settings(load_config("cat-mel_2bar_small", TINY).to_dict(), {"max_beta": 0.3},
                                              str(tmp_path / "run"), "sweep-1", "trial-1", common)}
    run_training(settings, Worker(rank=0, world=1, device=torch.device("cpu"), report=lambda m: None,
                                  train_batches=lambda epoch: iter([shard]), eval_batches=lambda: iter([shard])))
    (run,) = runs
    assert run["finished"] and run["init"]["mode"] == "offline" and run["init"]["name"] == "trial-1"
    assert run["init"]["group"] == "sweep-1" and run["init"]["config"]["name"] == "cat-mel_2bar_small"
    assert run["init"]["config"]["swept/max_beta"] == 0.3 and run["init"]["config"]["hparams"]["max_beta"] == 0.3
    assert run["init"]["dir"] == str(tmp_path / "run") and run["init"]["resume"] == "allow"
    assert run["init"]["config"]["precision"] == "bf16"
    assert autocast_at_eval == [False, False]  # trained in bf16, evaluated in fp32
    assert json.loads((tmp_path / "run" / "eval_latest.json").read_text())["precision"] == "bf16"
    (start,) = (tmp_path / "run" / "starts").iterdir()
    assert json.loads(start.read_text())["precision"] == "bf16"
    steps = {}
    for step, metrics in run["logged"]:
        steps.setdefault(step, set()).update(metrics)
    assert sorted(steps) == [2, 4]
    assert {"loss", "losses/r_loss", "losses/kl_bits", "losses/kl_beta", "learning_rate", "global_norm",
            "sampling_probability", "examples_per_s"} <= steps[2]
    assert {"eval/metrics/accuracy", "eval/losses/elbo", "eval/samples/oa_mean", "eval/ceiling/oa_mean"} <= steps[2]
    assert "eval/metrics/accuracy" in steps[4]


def test_sweep_and_prepare_settings_have_one_home_too():
    import pytest

    from raymvae.cli import build_parser
    from raymvae.data import prepare
    from raymvae.data.settings import PrepareSettings
    from raymvae.errors import UserError
    from raymvae.train.settings import TrainSettings
    from raymvae.tune.settings import TuneSettings
    from raymvae.tune.sweep import sweep

    args = build_parser().parse_args(["tune", "--config", "c", "--examples", "e", "--output", "o"])
    assert {name: getattr(args, name) for name in TuneSettings.model_fields} == TuneSettings().model_dump()
    assert TuneSettings().eval_samples == TrainSettings().eval_samples
    args = build_parser().parse_args(["prepare", "--config", "c", "--input", "i", "--output", "o"])
    assert {name: getattr(args, name) for name in PrepareSettings.model_fields} == PrepareSettings().model_dump()
    with pytest.raises(UserError, match="unknown tune setting 'num_sample'"):
        sweep("cat-mel_2bar_small", "shards", "out", num_sample=3)
    with pytest.raises(UserError, match="--scheduler: Input should be 'asha' or 'none'"):
        sweep("cat-mel_2bar_small", "shards", "out", scheduler="hyperband")
    with pytest.raises(UserError, match="unknown prepare setting 'eval_fration'"):
        prepare("cat-mel_2bar_small", ["in"], "out", eval_fration=0.2)


def test_generate_flags_come_from_generate_settings():
    """Every generate subcommand's --seed, --batch-size, --replicas, --window, and the actor's sizes, carry the
    defaults of GenerateSettings / ConstraintSettings, and batch.run uses the same batch size."""
    import inspect

    from raymvae.cli import build_parser
    from raymvae.generate.batch import run
    from raymvae.generate.settings import ConstraintSettings, GenerateSettings

    defaults = GenerateSettings().model_dump()
    for argv in (["sample", "--num", "3"], ["interpolate"],
                 ["attribute", "--examples", "e", "--attribute", "x", "--inputs", "a.mid"]):
        args = build_parser().parse_args(["generate", *argv, "--model", "m", "--output", "o"])
        assert {name: getattr(args, name) for name in defaults} == defaults, argv
    assert (args.actor_steps, args.actor_hidden) == (ConstraintSettings().steps, ConstraintSettings().hidden)
    assert inspect.signature(run).parameters["batch_size"].default == defaults["batch_size"]
