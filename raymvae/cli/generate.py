"""`raymvae generate`: batch generation of MIDI files on Ray Data: samples, interpolations, attribute edits."""
from __future__ import annotations

import argparse
import re

from raymvae import audio
from raymvae.cli.flags import settings_flags
from raymvae.errors import UserError
from raymvae.generate.settings import ConstraintSettings, GenerateSettings
from raymvae.settings import checked


def _generate(args: argparse.Namespace, rows_for, report: bool = False) -> int:
    from raymvae.export import load_export
    from raymvae.generate.batch import run
    from raymvae.generate.plan import chord_controls, with_chords
    from raymvae.generate.report import eval_reference, quality_report
    from raymvae.runtime import init_ray

    checked(GenerateSettings, {name: getattr(args, name) for name in GenerateSettings.model_fields}, "generate")
    if args.audio:  # before Ray starts
        audio.require("--audio")
    model, _ = load_export(args.model)
    controls = chord_controls(model, args.chords, args.chords_per_bar, args.key)
    rows = with_chords(rows_for(model), controls)
    if model.control_depth and rows and "controls" not in rows[0] and controls is None:
        raise UserError(f"{model.config.name} decodes under the hits it is given: use `generate humanize`, "
                        f"`tap2drum` or `groove-transfer`")
    init_ray(args.address)
    res = run(args.model, args.output, rows, batch_size=args.batch_size, replicas=args.replicas,
              precision=args.precision, audio=args.audio)
    ran = f" (decoded in {', '.join(res['precision'])})" if res["precision"] else ""
    print(f"{res['written']} MIDI files written{ran}, {res['skipped']} already there, in {res['output']}")
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


def cmd_generate_similar(args: argparse.Namespace) -> int:
    """Variations of each input (magenta-js's similar()): --num files per input, each decoded from a z
    --similarity of the way from a prior draw to the input's latent mean, by slerp (1 = the input, 0 = a
    sample from the prior)."""
    from raymvae.generate.plan import similar_rows

    if args.num <= 0:
        raise UserError("--num must be positive")
    return _generate(args, lambda m: similar_rows(m, args.inputs, args.num, args.similarity, args.seed,
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
        settings = ConstraintSettings(hidden=args.actor_hidden, steps=args.actor_steps, seed=args.seed)
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


def cmd_generate_humanize(args: argparse.Namespace) -> int:
    """Play quantized drum beats like a drummer (GrooVAE, e.g. groovae_2bar_humanize): each input file's
    2-bar windows are encoded and decoded with velocities and micro-timing, and written back as one file
    at the input's tempo."""
    from raymvae.generate.plan import performance_rows

    return _generate(args, lambda m: performance_rows(m, "humanize", args.inputs, args.seed, args.temperature))


def cmd_generate_tap2drum(args: argparse.Namespace) -> int:
    """Turn any rhythm (a tapped or single-instrument MIDI file; every note of any instrument counts as a
    tap) into a full drum pattern (GrooVAE, groovae_2bar_tap_fixed_velocity), at the input's tempo."""
    from raymvae.generate.plan import performance_rows

    return _generate(args, lambda m: performance_rows(m, "tap2drum", args.inputs, args.seed, args.temperature))


def cmd_generate_groove_transfer(args: argparse.Namespace) -> int:
    """Play each --pattern file's hits with the --groove file's feel (velocities and timing): the groove is
    encoded, and its z decoded under each pattern's hits (a model with hits as controls:
    groovae_2bar_hits_control)."""
    from raymvae.generate.plan import transfer_rows

    return _generate(args, lambda m: transfer_rows(m, args.groove, args.pattern, args.seed, args.temperature))


def add(sub) -> None:
    """The subcommand's parser."""
    gen = sub.add_parser("generate", help="batch generation of MIDI files (Ray Data)")
    gsub = gen.add_subparsers(dest="generate_command", required=True)

    def common(q: argparse.ArgumentParser, temperature: float | None) -> None:
        q.add_argument("--model", required=True, help="run dir with a model export (train, tune best/, import)")
        q.add_argument("--output", required=True, help="output folder (files in sub-folders + manifest.parquet)")
        q.add_argument("--temperature", type=float, default=temperature,
                       help=f"sampling temperature; 0 = argmax (default {temperature or 0})")
        settings_flags(q, GenerateSettings)
        q.add_argument("--chords", nargs="+", default=None, metavar="CHORD",
                       help="chord-conditioned models (cat-mel_2bar_med_chords, *_chords): the progression every "
                            "file is decoded under, one chord per bar by default, e.g. --chords 'C G Am F'; a "
                            "progression longer than the model's window gives files of several windows of "
                            "the same z, joined")
        q.add_argument("--chords-per-bar", type=int, default=1, metavar="N",
                       help="chords to a bar, spread evenly over it (default 1; 16 = one per 16th-note step)")
        q.add_argument("--key", default=None,
                       help="models conditioned on key (condition_on_key): the key, 0-11 or a name (C, F#, Bb)")
        q.add_argument("--audio", action="store_true",
                       help="also render every file to WAV beside it, with FluidSynth and a General MIDI soundfont "
                            "(apt install fluidsynth fluid-soundfont-gm)")
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
    p = gsub.add_parser("similar", help="variations of MIDI inputs (magenta-js's similar())",
                        description=cmd_generate_similar.__doc__)
    common(p, 0.5)
    p.add_argument("--inputs", nargs="+", required=True, help="MIDI files to vary")
    p.add_argument("--num", type=int, required=True, help="files per input")
    p.add_argument("--similarity", type=float, default=0.8,
                   help="0..1: 1 = the input's z, 0 = a prior draw (default 0.8)")
    p.set_defaults(func=cmd_generate_similar)
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
    actor = ConstraintSettings()
    p.add_argument("--actor-steps", type=int, default=actor.steps,
                   help=f"actor/critic training steps (default {actor.steps})")
    p.add_argument("--actor-hidden", type=int, nargs="+", default=actor.hidden,
                   help=f"actor/critic MLP layer sizes (default {' '.join(map(str, actor.hidden))}; "
                        f"the paper: 4 x 2048)")
    p.add_argument("--recompute", action="store_true", help="recompute a saved vector or actor")
    p.set_defaults(func=cmd_generate_attribute)
    for name, func, brief, what in (
            ("humanize", cmd_generate_humanize, "quantized beats played with velocities and timing",
             "quantized drum MIDI files"),
            ("tap2drum", cmd_generate_tap2drum, "a full drum pattern from any rhythm",
             "rhythms: tapped or single-instrument MIDI files")):
        p = gsub.add_parser(name, help=f"GrooVAE: {brief}", description=func.__doc__)
        common(p, 0.0)
        p.add_argument("--inputs", nargs="+", required=True, help=what)
        p.set_defaults(func=func)
    p = gsub.add_parser("groove-transfer", help="GrooVAE: one file's hits with another's feel",
                        description=cmd_generate_groove_transfer.__doc__)
    common(p, 0.0)
    p.add_argument("--groove", required=True, help="MIDI file whose velocities and timing are taken")
    p.add_argument("--pattern", nargs="+", required=True, help="MIDI files whose hits are played")
    p.set_defaults(func=cmd_generate_groove_transfer)
