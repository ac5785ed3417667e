"""`raymvae import-magenta`: import a Magenta MusicVAE checkpoint into a run dir."""
from __future__ import annotations

import argparse


def cmd_import_magenta(args: argparse.Namespace) -> int:
    """Import a Magenta MusicVAE TF checkpoint (prefix, folder or the distributed .tar), or a magenta-js
    checkpoint folder (weights_manifest.json), into a run dir that generate, serve and train (fine-tuning)
    use as they use a training run."""
    import tempfile

    from raymvae import storage
    from raymvae.export import save_export
    from raymvae.magenta_js import is_magenta_js, read_magenta_js
    from raymvae.model import build, load_magenta_checkpoint
    from raymvae.model.magenta_weights import load_tf_variables
    from raymvae.model.tf_checkpoint import checkpoint_prefix

    if is_magenta_js(args.checkpoint):
        model = load_tf_variables(build(args.config, args.hparams), read_magenta_js(args.checkpoint)).eval()
        out = save_export(args.output, model, 0, {"source": f"magenta-js:{args.checkpoint}",
                                                  "hparams_override": args.hparams or ""})
        print(f"imported {args.checkpoint} ({args.config}, magenta-js) -> {out}")
        return 0
    with tempfile.TemporaryDirectory(prefix="raymvae-import-") as work:
        local = storage.download(args.checkpoint, f"{work}/download")  # object storage: a local cache
        prefix = checkpoint_prefix(local, f"{work}/unpacked")
        model = load_magenta_checkpoint(prefix, args.config, args.hparams)
        step = model.magenta_global_step
        out = save_export(args.output, model, step, {"source": f"magenta:{args.checkpoint}",
                                                     "hparams_override": args.hparams or ""})
    print(f"imported {args.checkpoint} ({args.config}, Magenta step {step}) -> {out}")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("import-magenta", help="import a Magenta MusicVAE checkpoint into a run dir",
                       description=cmd_import_magenta.__doc__)
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint prefix, folder holding one, Magenta's .tar, or a magenta-js checkpoint folder")
    p.add_argument("--config", required=True, help="the Magenta config it was trained with, e.g. cat-mel_2bar_big")
    p.add_argument("--hparams", default=None, help="Magenta-style overrides, e.g. 'enc_rnn_size=[512]'")
    p.add_argument("--output", required=True, help="run dir to create (its export/ folder holds the model)")
    p.set_defaults(func=cmd_import_magenta)
