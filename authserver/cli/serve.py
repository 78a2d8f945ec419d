"""``authserver serve``: the app under gunicorn, a production WSGI server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click
from gunicorn.app.base import BaseApplication

from authserver.config import load_settings

# Paths only (%(U)s), never query strings: a token must not reach an access log.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def _mark_worker_dead(server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class _Server(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        # Runs in each worker after the fork: the scheduler thread belongs to the worker.
        from authserver.app import create_app
        from authserver.scheduler import Scheduler

        app = create_app()
        Scheduler(app).start()
        return app


def _prepare_metrics_dir(path: Path) -> None:
    # prometheus_client's multiprocess mode: every worker writes its counters here. It reads
    # this variable itself, at import, so it is set before any worker exists.
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve HTTP with gunicorn (threaded workers, keep-alive)."""
    settings = load_settings()  # fail fast, before forking, on a bad setting
    _prepare_metrics_dir(Path(settings.metrics_dir))
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "keepalive": 5,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "proc_name": "authserver",
            # One server per port, many per machine in tests: no shared control socket.
            "control_socket_disable": True,
            "child_exit": _mark_worker_dead,
        }
    ).run()
