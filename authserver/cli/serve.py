"""``authserver serve``: the app under gunicorn, a production WSGI server."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication

from authserver.config import load_settings

# Paths only (%(U)s), never query strings: a token must not reach an access log.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class _Server(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        from authserver.app import create_app

        return create_app()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve HTTP with gunicorn (threaded workers, keep-alive)."""
    load_settings()  # fail fast, before forking, on a bad setting
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
        }
    ).run()
