"""Starting Serve's HTTP proxy (for ``raymvae serve``, the demo, tests and benchmarks), and ``raymvae serve``:
the application in the foreground until Ctrl-C or SIGTERM, then a clean stop."""
from __future__ import annotations

import logging
import signal
import socket
import threading

from raymvae.serve.settings import ServeSettings

log = logging.getLogger(__name__)
APP_NAME = "raymvae"
PROXY_LOCATIONS = ("HeadOnly", "EveryNode")  # where Serve's HTTP proxy runs; the first is the default


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_http(host: str = "127.0.0.1", port: int | None = None,
               proxy_location: str = PROXY_LOCATIONS[0]) -> str:
    """Start Serve with its HTTP proxy on ``host:port`` (a free port when None) on the head node, or on every
    node (``EveryNode``, for a load balancer in front); returns the base URL. Serve's own INFO lines (proxy
    and controller at work) go to Ray's log files unless RAYMVAE_RAY_LOGS is set; request logs stay."""
    from ray import serve

    from raymvae.runtime import ray_logs

    level = "INFO" if ray_logs() else "WARNING"
    logging.getLogger("ray.serve").setLevel(level)
    port = free_port(host) if port is None else port
    serve.start(proxy_location=proxy_location, http_options={"host": host, "port": port},
                logging_config={"log_level": level})
    return f"http://{host}:{port}"


def serve_forever(settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000,
                  address: str | None = None, proxy_location: str = PROXY_LOCATIONS[0]) -> None:
    """Start Serve on ``host:port`` with the model application; block; on a signal tear down what we started.

    On a local Ray (no address) that is Serve and Ray; on a cluster only this
    application, so other Serve applications there keep running.
    """
    import ray
    from ray import serve

    from raymvae.runtime import init_ray
    from raymvae.serve.app import build_app

    app = build_app(settings.model_dump())
    own_ray = not ray.is_initialized() and not address
    init_ray(address)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        start_http(host, port, proxy_location)
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        print(f"raymvae serving {settings.model} at http://{host}:{port} (API docs: http://{host}:{port}/docs); "
              f"Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        log.info("stopping")
        if own_ray:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(APP_NAME)
        print("raymvae serve: stopped", flush=True)
