"""`raymvae configs`: list the Magenta configs and the training presets."""
from __future__ import annotations

import argparse


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


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("configs", help="list the Magenta config presets", description=cmd_configs.__doc__)
    p.set_defaults(func=cmd_configs)
