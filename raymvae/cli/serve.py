"""`raymvae serve`: serve a model over HTTP with Ray Serve; flags from ServeSettings."""
from __future__ import annotations

import argparse

from raymvae.cli.flags import settings_flags
from raymvae.serve.launch import PROXY_LOCATIONS
from raymvae.serve.settings import ServeSettings


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a trained model over HTTP with Ray Serve (sample, encode, decode, interpolate, attribute),
    in the foreground until Ctrl-C. API docs at http://HOST:PORT/docs."""
    from raymvae.serve.launch import serve_forever

    settings = ServeSettings(**{name: getattr(args, name) for name in ServeSettings.model_fields})
    serve_forever(settings, args.host, args.port, args.address, args.proxy_location)
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("serve", help="HTTP endpoint for the model (Ray Serve)", description=cmd_serve.__doc__)

    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--proxy-location", choices=PROXY_LOCATIONS, default=PROXY_LOCATIONS[0],
                   help="where Serve's HTTP proxy runs: the head node (default), or every node (put a load "
                        "balancer in front)")
    settings_flags(p, ServeSettings)
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=cmd_serve)
