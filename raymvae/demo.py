"""``make demo``: real melodies from the music21 corpus -> MIDI -> Parquet shards.

Exports pieces of the embedded corpus in parallel (cached in .demo/corpus),
prepares shards with each converter family on Ray Data and shows what was
found, including one window as a piano roll; then trains a small melody
model with Ray Train for a few minutes and prints its eval metrics beside
the always-"no event" baseline; writes samples and an interpolation as
MIDI files with contact sheets; finally puts the model behind Ray Serve
for a moment and calls /interpolate and /attribute over HTTP.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

DEMO_DIR = Path(".demo")
PIECES = 200
# The small-corpus recipe (configs/presets/small-corpus.yaml) at a size that trains 3,000 steps in three to five
# minutes on 2 cores (bf16 or fp32), with a lower KL weight for this small model: measured at 0.84-0.87
# accuracy, samples at OA 0.87-0.89 against the eval windows and 81-84% of eval steps reconstructed
# (benchmarks/RESULTS.md).
DEMO_PRESET = "small-corpus"
DEMO_STEPS = 3000
DEMO_HPARAMS = "batch_size=64,enc_rnn_size=[128],dec_rnn_size=[128,128],z_size=32,max_beta=0.1"
SAMPLE_TEMPERATURE = 0.5
# How far the demo moves a tune along the note-density vector: chorale tunes are mostly quarter notes, and
# the demo's model gives one at +2 its 8 notes back and at +4 about twice as many.
DENSER = 4.0
CONFIGS = ["cat-mel_2bar_small", "hierdec-mel_16bar", "cat-drums_2bar_small", "hierdec-trio_16bar"]


def piano_roll(window: np.ndarray) -> str:
    """A melody window as text: one row per pitch used, '#' onset, '=' held."""
    pitches = sorted({int(c) + 19 for c in window if c >= 2}, reverse=True)
    rows = []
    for p in pitches:
        line, sounding = [], None
        for c in window.tolist():
            if c >= 2:
                sounding = c + 19
                line.append("#" if sounding == p else ".")
            elif c == 1:
                sounding = None
                line.append(".")
            else:
                line.append("=" if sounding == p else ".")
        rows.append(f"{p:4d} " + "".join(line))
    return "\n".join(rows)


def chorale_tune(path: str, out: Path) -> str:
    """The tune of a chorale as its own MIDI file in ``out``: the part named Soprano (music21's name for it),
    so that the demo interpolates between melodies, not between the instrumental descants some chorales
    have as their first track; a file without such a part is used whole."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(path)
    tune = [i for i in midi.instruments if i.name.strip().lower() == "soprano"][:1]
    if not tune:
        return path
    midi.instruments = tune
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{Path(path).stem}-soprano.mid"
    midi.write(str(target))
    return str(target)


def main() -> None:
    warnings.filterwarnings("ignore")
    from raymvae.corpus import export_pieces
    from raymvae.data import prepare, read_windows
    from raymvae.runtime import init_ray

    init_ray()
    corpus = DEMO_DIR / "corpus"
    t = time.perf_counter()
    report = export_pieces("folk", corpus, limit=PIECES)
    print(f"music21 corpus: {len(report.written)} pieces as MIDI in {corpus} "
          f"({time.perf_counter() - t:.1f} s; skipped: {report.skipped or 'none'})")
    example = None
    for cfg in CONFIGS:
        out = DEMO_DIR / "shards" / cfg
        m = prepare(cfg, [str(corpus)], str(out), eval_fraction=0.1, overwrite=True).manifest
        status = m["files"]["by_status"]
        print(f"{cfg:22s} {m['windows']['train']:6d} train + {m['windows']['eval']:5d} eval windows "
              f"from {status.get('ok', 0):3d}/{m['files']['total']} files ({m['seconds']:.1f} s) -> {out}")
        if cfg == "cat-mel_2bar_small" and m["windows"]["train"]:
            example = read_windows(str(out), "train")[0][0]
    print("(These pieces, Bach chorales, have no drum tracks, so the drum and trio converters find nothing here;\n"
          " point `raymvae prepare --config cat-drums_2bar_small --input DIR` at multi-track MIDI.)")
    if example is not None:
        print("\nA 2-bar melody window from the shards (classes):", example.tolist())
        print(piano_roll(example))
    train_demo()


def train_demo() -> None:
    """A few minutes of Ray Train on the melody shards, then eval metrics beside the baseline."""
    import shutil

    from raymvae.config import load_config
    from raymvae.errors import UserError
    from raymvae.train.checkpoints import check_run_dir
    from raymvae.train.evaluation import eval_summary
    from raymvae.train.trainer import fit

    run = DEMO_DIR / "runs" / "cat-mel_2bar_small"
    config = load_config("cat-mel_2bar_small", DEMO_HPARAMS, preset=DEMO_PRESET)
    try:
        check_run_dir(str(run.resolve()), config)
    except UserError:
        print(f"(the model in {run} is an earlier demo's, of another shape: starting afresh)")
        shutil.rmtree(run)
    print(f"\nTraining a small cat-mel_2bar_small (--preset {DEMO_PRESET} --hparams {DEMO_HPARAMS}) for "
          f"{DEMO_STEPS} steps with Ray Train (1 worker) -> {run}\n(re-running continues from the last checkpoint)")
    t = time.perf_counter()
    m = fit(config, str(DEMO_DIR / "shards" / "cat-mel_2bar_small"), str(run), num_steps=DEMO_STEPS,
            num_workers=1, checkpoint_every=500, log_every=250, wandb="offline")
    print(f"done in {time.perf_counter() - t:.0f} s (trained in {m.get('precision', 'fp32')}); eval at step "
          f"{m['step']}:\n  {eval_summary(m)}")
    print(f"  checkpoints: {run}/checkpoints   model export: {run}/export   W&B (offline): {run}/wandb")
    generate_demo(run)


def generate_demo(run: Path) -> None:
    """Samples and an interpolation from the demo model, as MIDI files with contact sheets, and how close
    they are to the music: the samples' statistics beside the eval data's, the endpoints' reconstruction."""
    from raymvae import audio, storage
    from raymvae.data import read_windows
    from raymvae.export import load_export
    from raymvae.generate.batch import run as generate
    from raymvae.generate.plan import interpolation_rows, sample_rows, select_window
    from raymvae.generate.report import eval_reference, quality_report, reconstruction

    model, _ = load_export(run)
    out = DEMO_DIR / "generated"
    storage.delete(out)  # the files of this model, not of an earlier run's
    res = generate(str(run), str(out / "samples"), sample_rows(model, 64, 0, SAMPLE_TEMPERATURE))
    print(f"\n64 samples (temperature {SAMPLE_TEMPERATURE}, decoded in {', '.join(res['precision'])}) -> "
          f"{res['output']}")
    print(f"  contact sheet: {res['contact_sheet']}   manifest: {res['manifest']}")
    print("  " + quality_report(model.config.to_dict(), res["windows"], eval_reference(str(run))).replace(
        "\n", "\n  "))
    windows, sources = read_windows(str(DEMO_DIR / "shards" / "cat-mel_2bar_small"), "eval")
    tunes = [chorale_tune(f, out / "tunes") for f in sorted(set(sources))]  # held-out chorales' melodies
    a, b = tunes[:2]
    sound = audio.missing() is None  # FluidSynth here: the interpolation as WAV files too, to listen to
    res = generate(str(run), str(out / "interpolation"), interpolation_rows(model, [(a, b)], 8, "slerp", 0, None),
                   audio=sound)
    firsts = reconstruction(model, np.concatenate([select_window(model, Path(f).read_bytes())[0] for f in tunes]))
    ends = firsts[:2]  # the interpolation's endpoints decode the mean latents of these first windows
    print(f"slerp interpolation in 8 steps between the tunes of two held-out chorales\n  {a}\n  {b}\n  -> "
          f"{res['output']} (contact sheet: {res['contact_sheet']})\n  its endpoints reconstruct their inputs at "
          f"{ends[0]:.0%} and {ends[1]:.0%} of their steps (the first 2 bars of all {len(tunes)} held-out "
          f"tunes: {(firsts >= 0.75).sum()} at 75% or more, {firsts.mean():.0%} on average)")
    print("  the interpolation as WAV files too, beside the MIDI files" if sound
          else f"  (no WAV files: {audio.missing()})")
    every = reconstruction(model, windows)
    print(f"  (over all {len(windows)} eval windows the model reconstructs {every.mean():.0%} of the steps; "
          f"{(every >= 0.75).mean():.0%} of the windows at 75% or more)")
    serve_demo(run, a, b)


def serve_demo(run: Path, a: str, b: str) -> None:
    """The model behind Ray Serve for a moment: a note-density vector, then /interpolate and /attribute over HTTP."""
    import base64

    import requests
    from ray import serve

    from raymvae.export import load_export
    from raymvae.generate.attributes import example_windows, vector_for
    from raymvae.serve.app import build_app
    from raymvae.serve.launch import start_http

    model, _ = load_export(run)
    shards = str(DEMO_DIR / "shards" / "cat-mel_2bar_small")
    vector_for(model, str(run), "note_density", lambda: example_windows(shards, model, 5000), recompute=True)
    url = start_http()
    serve.run(build_app({"model": str(run)}), name="raymvae-demo", route_prefix="/", blocking=False,
              logging_config={"log_level": "WARNING"})  # the calls' results are printed below
    try:
        midi = {k: base64.b64encode(Path(f).read_bytes()).decode() for k, f in (("a", a), ("b", b))}
        out = DEMO_DIR / "served"
        out.mkdir(parents=True, exist_ok=True)
        r = requests.post(f"{url}/interpolate", json={**midi, "steps": 5}, timeout=120)
        r.raise_for_status()
        for i, res in enumerate(r.json()["results"]):
            (out / f"interpolate_{i}.mid").write_bytes(base64.b64decode(res["midi"]))
        before = len(r.json()["results"][0]["note_sequence"].get("notes", []))
        r = requests.post(f"{url}/attribute", json={"midi": midi["a"], "attribute": "note_density",
                                                    "amount": DENSER},
                          timeout=120)
        r.raise_for_status()
        notes = len(r.json()["results"][0]["note_sequence"].get("notes", []))
        (out / "denser.mid").write_bytes(base64.b64decode(r.json()["results"][0]["midi"]))
        bad = requests.post(f"{url}/sample", json={"n": 10_000}, timeout=120)
        print(f"\nRay Serve at {url}: POST /interpolate (5 steps) and POST /attribute "
              f"(note_density +{DENSER:g}: {before} -> {notes} notes) -> {out}\n"
              f"  a bad request gets a {bad.status_code}: {bad.json()['detail']}")
    finally:
        serve.shutdown()
    print(f"Serve it yourself: raymvae serve --model {run}   (then open http://127.0.0.1:8000/ for the page, "
          f"or see README: 'Serve over HTTP' for curl calls)")


if __name__ == "__main__":
    main()
