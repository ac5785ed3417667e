"""Magenta's held-out workflow (eval-only and eval-less shard sets, --eval-examples), and user mistakes
that end as one line with exit code 2, caught before any worker starts and never retried."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from raymvae.cli import main
from raymvae.errors import UserError

pytestmark = pytest.mark.ray
CONFIG = "cat-mel_2bar_small"
TINY = "batch_size=16,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8"


def _train(shards, run, *extra: str) -> list[str]:
    return ["train", "--config", CONFIG, "--examples", str(shards), "--run-dir", str(run), "--hparams", TINY,
            "--num-steps", "6", "--log-every", "3", "--wandb", "disabled", *extra]


def _one_line_error(capsys, code: int, expect: str) -> str:
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("raymvae ")]
    assert len(lines) == 1 and expect in lines[0], err[-2000:]
    assert "Traceback" not in err
    return lines[0]


def test_prepare_everything_for_evaluation(eval_only_shards):
    manifest = json.loads((eval_only_shards / "manifest.json").read_text())
    assert manifest["windows"]["train"] == 0 and manifest["windows"]["eval"] > 0
    assert manifest["shards"]["train"] == [] and manifest["shards"]["eval"]
    files = pq.read_table(eval_only_shards / "files.parquet").to_pylist()
    assert {f["split"] for f in files} == {"eval"}


def test_shards_without_eval_windows_train_and_do_not_evaluate(train_only_shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train(train_only_shards, run, "--num-workers", "0", "--eval-every", "3")) == 0
    assert "no evaluation" in capsys.readouterr().out
    assert (run / "export" / "config.json").exists()
    assert not (run / "eval").exists() and not (run / "eval_latest.json").exists()


def test_another_collection_evaluates_periodically_and_at_the_end(train_only_shards, eval_only_shards, tmp_path):
    run = tmp_path / "run"
    assert main(_train(train_only_shards, run, "--num-workers", "1", "--eval-every", "3",
                       "--eval-examples", str(eval_only_shards))) == 0
    assert sorted(p.name for p in (run / "eval").glob("*.json")) == ["step_000000003.json", "step_000000006.json"]
    latest = json.loads((run / "eval_latest.json").read_text())
    assert latest["step"] == 6 and latest["eval_set"] == {"shards": str(eval_only_shards), "split": "eval"}
    assert 0 <= latest["metrics/accuracy"] <= 1
    # --mode eval on the eval-only set (Magenta's --mode eval --examples_path OTHER)
    assert main(["train", "--mode", "eval", "--config", CONFIG, "--examples", str(eval_only_shards),
                 "--run-dir", str(run)]) == 0
    again = json.loads((run / "eval_latest.json").read_text())
    assert again["eval_set"]["split"] == "eval" and again["eval_set"]["windows"] > 0


@pytest.mark.parametrize("change, expect", [
    (dict(shards="eval_only_shards"), "has no training windows"),
    (dict(config="cat-drums_2bar_small"), "shards were prepared for 'cat-mel_2bar_small'"),
    (dict(hparams="batch_size=-4"), "hparam batch_size must be >= 1"),
    (dict(hparams="no_such_hparam=1"), "unknown hparam 'no_such_hparam'"),
    (dict(hparams="batch_size=100000"), "fewer than batch_size 100000"),
    (dict(examples="/nonexistent/shards"), "has no manifest.json"),
])
def test_user_mistakes_are_one_line_before_any_worker(request, mel_shards, tmp_path, capsys, change, expect):
    shards = request.getfixturevalue(change["shards"]) if "shards" in change else change.get("examples", mel_shards)
    args = ["train", "--config", change.get("config", CONFIG), "--examples", str(shards), "--run-dir",
            str(tmp_path / "run"), "--hparams", change.get("hparams", TINY), "--num-steps", "6",
            "--num-workers", "1", "--wandb", "disabled"]
    _one_line_error(capsys, main(args), expect)
    assert not (tmp_path / "run").exists(), "nothing started, nothing written"


def test_a_run_dir_holding_another_model_is_refused(mel_shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train(mel_shards, run, "--num-workers", "0")) == 0
    capsys.readouterr()
    other = TINY.replace("z_size=8", "z_size=12")
    code = main(["train", "--config", CONFIG, "--examples", str(mel_shards), "--run-dir", str(run), "--hparams",
                 other, "--num-steps", "12", "--num-workers", "1", "--wandb", "disabled"])
    _one_line_error(capsys, code, "holds a cat-mel_2bar_small model (z_size=8")
    assert len(list((run / "starts").glob("*.json"))) == 1


def test_prepare_and_generate_mistakes_are_one_line(mel_shards, folk_dir, tmp_path, capsys):
    _one_line_error(capsys, main(["prepare", "--config", CONFIG, "--input", str(tmp_path), "--output",
                                  str(tmp_path / "o"), "--eval-fraction", "1.5"]),
                    "--eval-fraction: Input should be less than or equal to 1, got 1.5")
    _one_line_error(capsys, main(["prepare", "--config", CONFIG, "--input", str(tmp_path / "none"), "--output",
                                  str(tmp_path / "o")]), "no MIDI or TFRecord files")
    _one_line_error(capsys, main(["prepare", "--config", CONFIG, "--input", str(folk_dir), "--output",
                                  str(mel_shards)]), "holds shards; pass --overwrite")
    _one_line_error(capsys, main(["generate", "sample", "--model", str(tmp_path), "--num", "3", "--output",
                                  str(tmp_path / "g")]), "has no model export")


def test_a_user_error_raised_in_a_worker_is_not_retried_and_other_failures_are(ray_session, tmp_path):
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from raymvae.train.trainer import run_with_restarts

    attempts = tmp_path / "attempts"

    def mistaken(config):
        with open(config["attempts"], "a") as f:
            f.write("x")
        raise UserError("the data does not fit the model")

    def flaky(config):
        with open(config["attempts"], "a") as f:
            f.write("x")
        if len(open(config["attempts"]).read()) < 2:
            raise RuntimeError("a node went away")

    def trainer(fn, name):
        return TorchTrainer(fn, train_loop_config={"attempts": str(attempts)},
                            scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 0.5}),
                            run_config=RunConfig(name=name, storage_path=str(tmp_path / "ray"),
                                                 failure_config=FailureConfig(max_failures=0)))

    with pytest.raises(UserError, match="the data does not fit the model"):
        run_with_restarts(lambda: trainer(mistaken, "mistaken"), max_failures=3)
    assert attempts.read_text() == "x"
    attempts.unlink()
    run_with_restarts(lambda: trainer(flaky, "flaky"), max_failures=3)
    assert attempts.read_text() == "xx"
