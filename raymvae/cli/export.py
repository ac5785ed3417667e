"""`raymvae export`: a run dir's model in another program's checkpoint format (magenta-js)."""
from __future__ import annotations

import argparse


def cmd_export_magenta_js(args: argparse.Namespace) -> int:
    """Write a run dir's model as a magenta-js checkpoint (config.json, weights_manifest.json and one weight
    shard, TensorFlow.js format, Magenta's variable names): host the folder and load it with
    `new mm.MusicVAE(URL)` in the browser or in Node."""
    from raymvae.export import load_export
    from raymvae.magenta_js import export_magenta_js

    model, info = load_export(args.model)
    out = export_magenta_js(model, args.output, args.quantize)
    stored = f"{args.quantize}-byte quantized" if args.quantize else "float32"
    print(f"{model.config.name} (step {info.get('step')}) -> {out} (magenta-js MusicVAE, {stored} weights)")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    exp = sub.add_parser("export", help="export a run dir's model for another program (magenta-js)")
    esub = exp.add_subparsers(dest="export_command", required=True)
    p = esub.add_parser("magenta-js", help="a checkpoint folder magenta-js's MusicVAE loads",
                        description=cmd_export_magenta_js.__doc__)
    p.add_argument("--model", required=True, help="run dir with a model export (train, tune best/, import)")
    p.add_argument("--output", required=True, help="folder to write (local or object storage)")
    p.add_argument("--quantize", type=int, choices=[1, 2], default=None,
                   help="store each weight in 1 or 2 bytes (TensorFlow.js quantization; default float32)")
    p.set_defaults(func=cmd_export_magenta_js)
