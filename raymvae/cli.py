"""The ``raymvae`` command: one subcommand per job.

Every path argument takes a local path or an ``s3://`` / ``gs://`` URI. A
mistake of the user's (a bad flag value, a missing file, shards that do not
fit the config) prints one line and exits with code 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import types
import typing
from collections import Counter
from typing import Any

from pydantic import BaseModel

from raymvae.errors import UserError
from raymvae.serve.settings import ServeSettings
from raymvae.train.settings import TrainSettings


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert MIDI files (local or on object storage) with a config's converter and report what was found."""
    from tqdm import tqdm

    from raymvae import storage
    from raymvae.data.inputs import resolve_inputs
    from raymvae.music import MidiError, converter_for

    conv = converter_for(args.config)
    paths = [s.uri for s in resolve_inputs(args.inputs) if s.kind == "midi"]
    status: Counter = Counter()
    total = 0
    for path in tqdm(paths, desc=f"convert ({args.config})", unit="file", disable=len(paths) < 20):
        try:
            n = len(conv.encode_midi(storage.read_bytes(path)))
        except MidiError as exc:
            status[f"unreadable: {exc}"] += 1
            if args.verbose:
                print(f"{path}: unreadable ({exc})")
            continue
        status["ok" if n else "no-windows"] += 1
        total += n
        if args.verbose:
            print(f"{path}: {n} windows")
    print(f"{len(paths)} files -> {total} {conv.window_steps}-step windows ({args.config})")
    for k, v in status.most_common():
        print(f"  {v:6d} {k}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Convert a MIDI collection (folders, globs, files, s3:// or gs:// URIs, NoteSequence
    TFRecords) into train/eval Parquet shards with a manifest, in parallel on Ray."""
    from raymvae.data import prepare
    from raymvae.runtime import init_ray

    init_ray(args.address)
    result = prepare(args.config, args.input, args.output, eval_fraction=args.eval_fraction,
                     shard_windows_per_file=args.shard_windows_per_file, overwrite=args.overwrite)
    m = result.manifest
    files = m["files"]
    print(f"{files['total']} files -> {m['windows']['train']} train + {m['windows']['eval']} eval windows "
          f"({m['config_name']}, {m['seconds']:.1f} s) in {result.output}")
    for status in ("ok", "no-windows", "unreadable"):
        print(f"  {files['by_status'].get(status, 0):7d} {status}")
    for reason, n in list(files["by_reason"].items())[:5]:
        print(f"      {n:7d} {reason}")
    print(f"  per-file table: {result.output}/files.parquet; summary: {result.output}/manifest.json")
    return 0


def cmd_import_magenta(args: argparse.Namespace) -> int:
    """Import a Magenta MusicVAE TF checkpoint (prefix, folder or the distributed .tar) into a run dir
    that generate, serve and train (fine-tuning) use as they use a training run."""
    import tempfile

    from raymvae import storage
    from raymvae.export import save_export
    from raymvae.model import load_magenta_checkpoint
    from raymvae.model.tf_checkpoint import checkpoint_prefix

    with tempfile.TemporaryDirectory(prefix="raymvae-import-") as work:
        local = storage.download(args.checkpoint, f"{work}/download")  # object storage: a local cache
        prefix = checkpoint_prefix(local, f"{work}/unpacked")
        model = load_magenta_checkpoint(prefix, args.config, args.hparams)
        step = model.magenta_global_step
        out = save_export(args.output, model, step, {"source": f"magenta:{args.checkpoint}",
                                                     "hparams_override": args.hparams or ""})
    print(f"imported {args.checkpoint} ({args.config}, Magenta step {step}) -> {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a MusicVAE config on prepared shards with Ray Train (DDP across workers), or evaluate a
    run dir (--mode eval). Running the same command again resumes from the newest checkpoint."""
    from raymvae.runtime import init_ray
    from raymvae.train.loop import eval_summary

    if args.mode == "eval":
        from raymvae.train.evaluation import evaluate_run

        if args.eval_examples:
            raise UserError("--mode eval evaluates on --examples; --eval-examples is for training runs")
        m = evaluate_run(args.config, args.examples, args.run_dir, hparams=args.hparams, seed=args.seed,
                         eval_samples=args.eval_samples, sample_temperature=args.sample_temperature)
        print(f"eval at step {m['step']} on {m['eval_set']['windows']} windows ({m['eval_set']['split']} split of "
              f"{args.examples}): {eval_summary(m)}")
        print(f"  written to {args.run_dir}/eval_latest.json")
        return 0
    from raymvae.config import load_config
    from raymvae.train.trainer import fit

    config = load_config(args.config, args.hparams, preset=args.preset)
    init_ray(args.address)
    metrics = fit(config, args.examples, args.run_dir, eval_shards=args.eval_examples, num_workers=args.num_workers,
                  use_gpu=args.use_gpu, max_failures=args.max_failures,
                  **{name: getattr(args, name) for name in TrainSettings.model_fields})
    print(f"trained {args.config} to step {metrics.get('step')} in {args.run_dir}")
    if "metrics/accuracy" in metrics:
        print(f"  eval: {eval_summary(metrics)}")
    else:
        print("  no evaluation: the shards have no eval windows (see --eval-examples)")
    print(f"  model export: {args.run_dir}/export (use with generate / serve)")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Sweep hparams (default: max_beta, free_bits, learning_rate, beta_rate) with Ray Tune; every trial
    runs the training loop of `raymvae train`, evaluates periodically and gets its own W&B run."""
    from raymvae.config import load_config
    from raymvae.runtime import init_ray
    from raymvae.train.tracking import wandb_mode
    from raymvae.tune.sweep import format_front, format_table, sweep

    config = load_config(args.config, args.hparams, preset=args.preset)
    init_ray(args.address)
    res = sweep(config, args.examples, args.output, search=args.search, num_samples=args.num_samples,
                num_steps=args.num_steps, eval_every=args.eval_every, scheduler=args.scheduler,
                search_alg=args.search_alg, max_concurrent=args.max_concurrent,
                workers_per_trial=args.workers_per_trial, use_gpu=args.use_gpu, metric=args.metric,
                mode=args.mode, eval_batches=args.eval_batches, wandb=wandb_mode(args.wandb), seed=args.seed,
                objective=args.objective, eval_samples=args.eval_samples, sample_temperature=args.sample_temperature)
    print(f"sweep {res['name']}: {len(res['rows'])} trials, sorted by {res['metric']} ({res['mode']})")
    print(format_table(res["rows"], res["metric"]))
    if res["front"]:
        print(format_front(res["front"]))
    print(f"table: {res['output']}/results.csv (.parquet)")
    if res["best"] is not None:
        print(f"best trial {res['best']['trial_id']} exported to {res['output']}/best (use with generate / serve)")
    print(f"W&B: runs grouped as {res['name']}; offline runs under {res['output']}/trials/*/wandb "
          f"(wandb sync to upload)")
    return 0


def _generate(args: argparse.Namespace, rows_for, report: bool = False) -> int:
    from raymvae.export import load_export
    from raymvae.generate.batch import run
    from raymvae.generate.report import eval_reference, quality_report
    from raymvae.runtime import init_ray

    model, _ = load_export(args.model)
    rows = rows_for(model)
    init_ray(args.address)
    res = run(args.model, args.output, rows, batch_size=args.batch_size, replicas=args.replicas)
    print(f"{res['written']} MIDI files written, {res['skipped']} already there, in {res['output']}")
    print(f"  manifest: {res['manifest']}")
    if res["contact_sheet"]:
        print(f"  contact sheet: {res['contact_sheet']}")
    if report and res["windows"] is not None:
        print(quality_report(model.config.to_dict(), res["windows"], eval_reference(args.model)))
    return 0


def cmd_generate_sample(args: argparse.Namespace) -> int:
    """Sample N sequences from the prior of a trained run dir and write them as MIDI files."""
    from raymvae.generate.plan import sample_rows

    if args.num <= 0:
        raise UserError("--num must be positive")
    return _generate(args, lambda m: sample_rows(m, args.num, args.seed, args.temperature), report=True)


def _split_pair(text: str) -> list[str]:
    """``A:B`` -> [A, B]; the colon of a URI scheme (``s3://``) does not split."""
    return re.split(r":(?!//)", text)


def cmd_generate_interpolate(args: argparse.Namespace) -> int:
    """Interpolate between the latent means of MIDI pairs (slerp or linear), endpoints included;
    with --grid, a bilinear grid over 4 corner files."""
    import csv

    from raymvae.generate.plan import grid_rows, interpolation_rows

    from raymvae import storage

    pairs = [tuple(_split_pair(p)) for p in args.pairs or []]
    if args.pairs_file:
        text = storage.read_bytes(args.pairs_file).decode("utf-8")
        pairs += [(r[0], r[1]) for r in csv.reader(text.splitlines()) if len(r) >= 2 and not r[0].startswith("#")]
    if args.grid:
        return _generate(args, lambda m: grid_rows(m, args.grid, args.steps, args.seed, args.temperature,
                                                   args.window))
    if not pairs or any(len(p) != 2 for p in pairs):
        raise UserError("give --pairs A.mid:B.mid [...], --pairs-file CSV or --grid A B C D")
    return _generate(args, lambda m: interpolation_rows(m, pairs, args.steps, args.method, args.seed,
                                                        args.temperature, args.window))


def cmd_generate_attribute(args: argparse.Namespace) -> int:
    """Edit inputs along an attribute. --method vector (default): z + AMOUNT * (mean mu of the top quartile
    minus the bottom quartile over the shards). --method actor: a latent-constraint actor moves z to the
    --target quartile while staying close to it. Vectors and actors are saved in the run dir for reuse."""
    from raymvae.export import load_export
    from raymvae.generate import constraints as lc
    from raymvae.generate.attributes import example_windows, vector_for
    from raymvae.generate.plan import actor_rows, attribute_rows

    model, _ = load_export(args.model)

    def examples():
        return example_windows(args.examples, model, args.max_windows, args.seed)

    if args.method == "actor":
        settings = lc.ConstraintSettings(hidden=args.actor_hidden, steps=args.actor_steps, seed=args.seed)
        actor, trained = lc.actor_for(model, args.model, args.attribute, examples, settings, args.recompute)
        if trained:
            print(f"latent-constraint actor/critic for {args.attribute} trained on {trained['windows']} windows "
                  f"({args.actor_steps} steps; critic fooled {trained['history'][-1]['fooled']:.0%}), "
                  f"saved to {trained['path']}")
        return _generate(args, lambda m: actor_rows(m, args.inputs, lambda z: lc.apply_actor(actor, z, args.target),
                                                    args.attribute, args.target, args.seed, args.temperature,
                                                    args.window))
    vec, path = vector_for(model, args.model, args.attribute, examples, args.recompute)
    if path:
        print(f"attribute vector {args.attribute} saved to {path}")
    return _generate(args, lambda m: attribute_rows(m, args.inputs, vec, args.attribute, args.amount, args.seed,
                                                    args.temperature, args.window))


def cmd_configs(_args: argparse.Namespace) -> int:
    """List the Magenta config presets."""
    import torch

    from raymvae.config import config_names, load_config, preset_dirs, preset_names

    from raymvae.model import build, num_parameters

    for name in config_names():
        cfg = load_config(name)
        with torch.device("meta"):
            params = num_parameters(build(cfg))
        print(f"{name:26s} {cfg.converter['family']:7s} T={cfg.hparams['max_seq_len']:<4d} "
              f"z={cfg.hparams['z_size']:<4d} params={params:>12,d}  "
              f"encoder={cfg.model['encoder']} decoder={cfg.model['decoder']}")
    print(f"training presets (--preset): {', '.join(preset_names()) or 'none'}")
    print("presets in " + ", ".join(str(d) for d in preset_dirs()) + " (tune/default.yaml: the default sweep; "
          "serve/default.yaml: a Serve config for `serve run`)")
    return 0


def cmd_corpus_export(args: argparse.Namespace) -> int:
    """Export real pieces of the music21 corpus to MIDI files, in parallel on Ray."""
    from raymvae.corpus import export_pieces

    report = export_pieces(args.name, args.output, limit=args.limit)
    print(f"wrote {len(report.written)} MIDI files under {args.output}")
    for reason, n in sorted(report.skipped.items()):
        print(f"  skipped {n:5d}: {reason}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a trained model over HTTP with Ray Serve (sample, encode, decode, interpolate, attribute),
    in the foreground until Ctrl-C. API docs at http://HOST:PORT/docs."""
    from raymvae.serve.launch import serve_forever

    settings = ServeSettings(**{name: getattr(args, name) for name in ServeSettings.model_fields})
    serve_forever(settings, args.host, args.port, args.address)
    return 0


def _flag_type(annotation: Any) -> tuple[Any, list | None]:
    """argparse type and choices of a settings field's annotation (``X | None`` is X; a Literal gives choices)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return type(args[0]), list(args)
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _flag_type(args[0]) if len(args) == 1 else (str, None)
    return annotation, None


def settings_flags(p: argparse.ArgumentParser, settings: type[BaseModel], names: list[str] | None = None,
                   underscores: bool = False) -> None:
    """One flag per field of a settings class (or of ``names``), with the field's type, default and description:
    the settings class is the one home of each default. ``underscores`` also accepts Magenta's --num_steps."""
    for name, field in settings.model_fields.items():
        if names is not None and name not in names:
            continue
        flags = ["--" + name.replace("_", "-")] + (["--" + name] if underscores and "_" in name else [])
        kind, choices = _flag_type(field.annotation)
        if field.is_required():
            p.add_argument(*flags, dest=name, type=kind, required=True, help=field.description)
        elif kind is bool:
            p.add_argument(*flags, dest=name, action="store_true", help=field.description)
        else:
            p.add_argument(*flags, dest=name, type=kind, choices=choices, default=field.default,
                           help=f"{field.description} (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="raymvae", description="MusicVAE on Ray: data, training, sampling, serving.")
    ap.add_argument("--log-level", default="INFO",
                    help="logging level (default INFO; DEBUG also shows Ray's own per-epoch and per-report lines)")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="convert MIDI files to windows and report counts",
                       description=cmd_convert.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_small")
    p.add_argument("inputs", nargs="+", help="MIDI files, folders (recursive) or globs")
    p.add_argument("-v", "--verbose", action="store_true", help="print one line per file")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("prepare", help="MIDI collection -> train/eval Parquet shards (Ray Data)",
                       description=cmd_prepare.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_small")
    p.add_argument("--input", nargs="+", required=True,
                   help="MIDI files, folders (recursive), globs, s3:// or gs:// URIs, NoteSequence .tfrecord files")
    p.add_argument("--output", required=True, help="output folder (local or s3:// / gs://)")
    p.add_argument("--eval-fraction", type=float, default=0.05,
                   help="share of files (by a hash of their path) held out for evaluation (default 0.05; "
                        "1: the whole collection is an evaluation set)")
    p.add_argument("--shard-windows-per-file", type=int, default=None,
                   help="keep at most N windows per file in the shards, chosen deterministically (default: all; "
                        "training draws a few of them per file each epoch, see train --epoch-windows-per-file)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("import-magenta", help="import a Magenta MusicVAE checkpoint into a run dir",
                       description=cmd_import_magenta.__doc__)
    p.add_argument("--checkpoint", required=True, help="checkpoint prefix, folder holding one, or Magenta's .tar")
    p.add_argument("--config", required=True, help="the Magenta config it was trained with, e.g. cat-mel_2bar_big")
    p.add_argument("--hparams", default=None, help="Magenta-style overrides, e.g. 'enc_rnn_size=[512]'")
    p.add_argument("--output", required=True, help="run dir to create (its export/ folder holds the model)")
    p.set_defaults(func=cmd_import_magenta)

    p = sub.add_parser("train", help="train (or evaluate) a model on shards with Ray Train",
                       description=cmd_train.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_small")
    p.add_argument("--examples", "--examples_path", dest="examples", required=True,
                   help="shards folder written by `raymvae prepare` (local or s3://)")
    p.add_argument("--run-dir", "--run_dir", dest="run_dir", required=True,
                   help="where checkpoints, eval JSON, W&B runs and the model export go (local or s3://)")
    p.add_argument("--eval-examples", default=None,
                   help="evaluate on another (held-out) shards folder instead of --examples' eval split: its eval "
                        "windows, or all of it when prepared with --eval-fraction 1")
    p.add_argument("--hparams", default=None, help="Magenta-style overrides, e.g. 'batch_size=64,free_bits=48'")
    p.add_argument("--preset", default=None,
                   help="a named hparams overlay applied before --hparams (configs/presets/NAME.yaml), e.g. "
                        "small-corpus")
    p.add_argument("--mode", choices=["train", "eval"], default="train", help="train (default) or eval")
    p.add_argument("--num-workers", type=int, default=1,
                   help="Ray Train workers (DDP); 0 runs in this process (local mode). Default 1")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per worker")
    p.add_argument("--max-failures", type=int, default=3, help="worker-group restarts allowed (default 3)")
    settings_flags(p, TrainSettings, underscores=True)
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="hyperparameter sweep with Ray Tune (W&B run per trial)",
                       description=cmd_tune.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name")
    p.add_argument("--examples", "--examples_path", dest="examples", required=True, help="shards folder")
    p.add_argument("--output", required=True, help="sweep folder: trials, results.csv/.parquet, best/")
    p.add_argument("--search", default=None, help="search-space YAML (default configs/tune/default.yaml)")
    p.add_argument("--hparams", default=None, help="fixed overrides applied before the swept values")
    p.add_argument("--preset", default=None, help="a named hparams overlay applied before --hparams")
    p.add_argument("--objective", default=None,
                   help="rank trials by a weighted sum of eval metrics instead of --metric, e.g. "
                        "'metrics/accuracy + samples/oa_mean' or '0.5*metrics/accuracy + samples/oa_mean'")
    p.add_argument("--num-samples", type=int, default=8, help="trials (default 8)")
    p.add_argument("--num-steps", type=int, default=2000, help="training steps per trial (default 2000)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between evals/reports (default num_steps/10)")
    p.add_argument("--scheduler", choices=["asha", "none"], default="asha", help="early stopping (default asha)")
    p.add_argument("--search-alg", choices=["random", "optuna"], default="random", help="default random")
    p.add_argument("--max-concurrent", type=int, default=1, help="trials at once (default 1)")
    p.add_argument("--workers-per-trial", type=int, default=0,
                   help="0: trials train in their own process (small machines); N>0: each trial drives a "
                        "TorchTrainer with N workers (clusters)")
    p.add_argument("--use-gpu", action="store_true", help="a GPU per trial (or per Train worker)")
    p.add_argument("--metric", default="losses/elbo",
                   help="eval metric to optimise (default losses/elbo; also metrics/accuracy, samples/oa_mean, ...)")
    p.add_argument("--mode", choices=["min", "max"], default="max", help="default max")
    settings_flags(p, TrainSettings, ["eval_batches", "eval_samples", "sample_temperature", "seed", "wandb"])
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.set_defaults(func=cmd_tune)

    gen = sub.add_parser("generate", help="batch generation of MIDI files (Ray Data)")
    gsub = gen.add_subparsers(dest="generate_command", required=True)

    def common(q: argparse.ArgumentParser, temperature: float | None) -> None:
        q.add_argument("--model", required=True, help="run dir with a model export (train, tune best/, import)")
        q.add_argument("--output", required=True, help="output folder (files in sub-folders + manifest.parquet)")
        q.add_argument("--temperature", type=float, default=temperature,
                       help=f"sampling temperature; 0 = argmax (default {temperature or 0})")
        q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        q.add_argument("--batch-size", type=int, default=256, help="rows decoded per batch (default 256)")
        q.add_argument("--replicas", type=int, default=None, help="model replicas (default: GPUs, or CPUs/2)")
        q.add_argument("--window", type=int, default=0, help="which window of a multi-window input (default 0)")
        q.add_argument("--address", default=None, help="Ray cluster address")

    p = gsub.add_parser("sample", help="samples from the prior", description=cmd_generate_sample.__doc__)
    common(p, 0.5)
    p.add_argument("--num", type=int, required=True, help="number of files")
    p.set_defaults(func=cmd_generate_sample)
    p = gsub.add_parser("interpolate", help="interpolations between MIDI pairs",
                        description=cmd_generate_interpolate.__doc__)
    common(p, 0.0)
    p.add_argument("--pairs", nargs="*", help="A.mid:B.mid pairs")
    p.add_argument("--pairs-file", default=None, help="CSV of a,b paths")
    p.add_argument("--grid", nargs=4, default=None, metavar="MID", help="4 corners for a bilinear grid")
    p.add_argument("--steps", type=int, default=8, help="sequences per pair incl. endpoints (grid: per side)")
    p.add_argument("--method", choices=["slerp", "linear"], default="slerp", help="default slerp (Magenta)")
    p.set_defaults(func=cmd_generate_interpolate)
    p = gsub.add_parser("attribute", help="attribute edits of MIDI inputs (vector or latent-constraint actor)",
                        description=cmd_generate_attribute.__doc__)
    common(p, 0.0)
    p.add_argument("--examples", required=True, help="shards the attribute vector or actor is learned from")
    p.add_argument("--attribute", required=True,
                   help="note_density, pitch_range, pitch_height, syncopation (drums: density_class_K)")
    p.add_argument("--amount", type=float, default=1.0, help="z + AMOUNT * vector (default 1)")
    p.add_argument("--inputs", nargs="+", required=True, help="MIDI files to edit")
    p.add_argument("--max-windows", type=int, default=20000,
                   help="windows used for the vector or actor (default 20000)")
    p.add_argument("--method", choices=["vector", "actor"], default="vector",
                   help="vector: z + AMOUNT * attribute vector (default); actor: latent-constraint actor")
    p.add_argument("--target", choices=["high", "low"], default="high",
                   help="actor: move toward the top (high, default) or bottom (low) quartile")
    p.add_argument("--actor-steps", type=int, default=2000, help="actor/critic training steps (default 2000)")
    p.add_argument("--actor-hidden", type=int, nargs="+", default=[512, 512, 512, 512],
                   help="actor/critic MLP layer sizes (default 512 512 512 512; the paper: 4 x 2048)")
    p.add_argument("--recompute", action="store_true", help="recompute a saved vector or actor")
    p.set_defaults(func=cmd_generate_attribute)

    p = sub.add_parser("serve", help="HTTP endpoint for the model (Ray Serve)", description=cmd_serve.__doc__)

    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    settings_flags(p, ServeSettings)
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("configs", help="list the Magenta config presets", description=cmd_configs.__doc__)
    p.set_defaults(func=cmd_configs)

    corpus = sub.add_parser("corpus", help="the embedded default corpus (music21)")
    csub = corpus.add_subparsers(dest="corpus_command", required=True)
    p = csub.add_parser("export", help="export corpus pieces to MIDI", description=cmd_corpus_export.__doc__)
    p.add_argument("--name", default="folk", help="collection: folk (default) or chorales")
    p.add_argument("--output", required=True, help="folder to write MIDI files into")
    p.add_argument("--limit", type=int, default=None, help="stop after this many pieces (default: all)")
    p.set_defaults(func=cmd_corpus_export)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if str(args.log_level).upper() == "DEBUG":
        os.environ["RAYMVAE_RAY_LOGS"] = "1"  # Ray's own INFO lines too (runtime.init_ray)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:  # UserError is a ValueError
        print(f"raymvae {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
