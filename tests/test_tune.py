"""Ray Tune sweeps on tiny shards: every trial in the table, a W&B run per trial, ASHA stops early."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from raymvae.export import load_export
from raymvae.tune.sweep import sweep

pytestmark = pytest.mark.ray
TINY = "batch_size=32,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8,sampling_schedule=constant,sampling_rate=0.0"


def test_three_trial_sweep_on_a_combined_objective_table_wandb_and_best_export(ray_session, mel_shards, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"max_beta": {"loguniform": [0.01, 1.0]}, "free_bits": {"choice": [0.0, 48.0]},
                                     "learning_rate": {"loguniform": [1e-4, 3e-3]}}))
    res = sweep("cat-mel_2bar_small", str(mel_shards), str(tmp_path / "sweep"), search=str(space), hparams=TINY,
                num_samples=3, num_steps=12, eval_every=6, scheduler="none", wandb="offline", eval_batches=2,
                objective="metrics/accuracy + 0.5 * samples/oa_mean", eval_samples=64)
    table = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert len(table) == 3 and set(table["status"]) == {"ok"} and (table["step"] == 12).all()
    assert {"swept/max_beta", "swept/free_bits", "swept/learning_rate", "losses/elbo", "samples/oa_mean",
            "samples/empty_rate", "objective", "run_dir"} <= set(table)
    assert res["metric"] == "objective"
    assert table["objective"].tolist() == pytest.approx(table["metrics/accuracy"] + 0.5 * table["samples/oa_mean"])
    assert list(table["objective"]) == sorted(table["objective"], reverse=True)
    assert res["front"] and all(r in res["rows"] for r in res["front"])
    for row in res["rows"]:
        # an offline W&B run per trial in its own dir (what it records: test_loop's fake W&B)
        assert len(list((tmp_path / "sweep" / "trials" / row["trial_id"] / "wandb").glob("offline-run-*"))) == 1
    model, info = load_export(tmp_path / "sweep" / "best")
    assert info["config"]["hparams"]["max_beta"] == pytest.approx(table.iloc[0]["swept/max_beta"])


def test_asha_stops_a_hopeless_trial_early(ray_session, mel_shards, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"learning_rate": {"grid": [0.01, 1e-9, 1e-9]}}))
    res = sweep("cat-mel_2bar_small", str(mel_shards), str(tmp_path / "sweep"), search=str(space), hparams=TINY,
                num_samples=1, num_steps=40, eval_every=5, scheduler="asha", metric="losses/r_loss", mode="min",
                wandb="disabled", eval_batches=1)
    rows = res["rows"]
    assert len(rows) == 3
    assert any(r["stopped_early"] for r in rows), rows
    assert rows[0]["swept/learning_rate"] == 0.01 and not rows[0]["stopped_early"]
