"""Starting or joining Ray for a job: a bare command starts a local Ray (with its
dashboard on 127.0.0.1:8265), ``--address`` / ``RAY_ADDRESS`` joins a cluster.

Ray's own per-execution and per-report INFO lines go to Ray's log files, not the
terminal, unless ``RAYMVAE_RAY_LOGS=1`` (``raymvae --log-level debug`` sets it)."""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def init_ray(address: str | None = None) -> None:
    """Connect to Ray once per process; quiet Ray Data's per-execution INFO log lines (two per execution, so
    two per training epoch) in this process and in a local Ray's workers, unless RAY_DATA_LOG_LEVEL says otherwise."""
    level = os.environ.setdefault("RAY_DATA_LOG_LEVEL", "INFO" if ray_logs() else "WARNING")
    import ray
    import ray.data  # noqa: F401  (configures its logger from RAY_DATA_LOG_LEVEL on import)

    logging.getLogger("ray.data").setLevel(level)  # in case ray.data was imported before this
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)  # a job's own runtime_env stays as submitted
    else:
        # The dashboard serves the state API, which Ray Train V2's placement-group cleaner polls;
        # without it every run logs a warning a second. The local Ray's processes inherit this environment.
        ray.init(include_dashboard=True)
    log.info("Ray: %s", ray.cluster_resources())


def quiet_data_progress() -> None:
    """Training re-runs its small input pipeline every epoch: no progress bars or start lines for it."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = ctx.print_on_execution_start = ray_logs()
    if not ray_logs():  # nor the warning that says they are off
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def ray_logs() -> bool:
    """Whether Ray's internal INFO lines should reach the terminal."""
    return os.environ.get("RAYMVAE_RAY_LOGS", "") not in ("", "0")


def quiet_train_reports() -> None:
    """In a Ray Train worker: drop the INFO line Ray Train logs for every ``ray.train.report``
    ("Reporting training result N: TrainingReport(...)", a logger named by its source file)."""
    if ray_logs():
        return
    try:
        from ray.train.v2._internal.execution import context
    except ImportError:  # another Ray version: its lines stay
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)
