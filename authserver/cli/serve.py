"""``authserver serve``: the app under Granian, a production WSGI server.

Granian was chosen by measurement (bench/README.md): on 2 cores it serves our token endpoint
about 1.4x faster than gunicorn's threaded workers. Its connection settings (how many
connections a worker holds, how long a request head may take, the listen backlog) were chosen
by measurement too (bench/slow_clients.py, figures in bench/README.md): a few hundred idle or
slow connections must not keep anyone else out. How the socket, the metrics folder and the
Granian master are set up is in authserver/serving.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from authserver.platform.checks import check_settings
from authserver.platform.config import load_settings
from authserver.platform.durations import parse_duration


class _Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        try:
            seconds = value if isinstance(value, int) else parse_duration(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)
        if seconds <= 0:
            self.fail("must be positive", param, ctx)
        return seconds


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="An IP address.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Per worker."
)
@click.option(
    "--worker-connections", type=click.IntRange(1, 65536),
    help="Connections each worker holds open at once, idle ones included; more wait in the "
         "listen backlog. [default: AUTHSERVER_WORKER_CONNECTIONS, 1024]",
)  # fmt: skip
@click.option(
    "--header-read-timeout", type=_Duration(),
    help="Time a client has to send a request's head (line and headers); also how long a "
         "keep-alive connection may sit idle. [default: AUTHSERVER_HEADER_READ_TIMEOUT, 10s]",
)  # fmt: skip
@click.option(
    "--backlog", type=click.IntRange(128, 65535),
    help="Connections the kernel queues before a worker accepts them (capped by "
         "net.core.somaxconn). [default: AUTHSERVER_LISTEN_BACKLOG, 1024]",
)  # fmt: skip
@click.option(
    "--reuse-port", is_flag=True,
    help="Bind with SO_REUSEPORT, so that other processes binding with it too may listen on "
         "the same port (a rolling restart); without it a busy port is an error.",
)  # fmt: skip
@click.option(
    "--certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate (chain) to serve HTTPS directly; needs --keyfile.",
)  # fmt: skip
@click.option(
    "--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --certfile.",
)  # fmt: skip
def serve_command(
    host: str,
    port: int,
    workers: int,
    threads: int,
    worker_connections: int | None,
    header_read_timeout: float | None,
    backlog: int | None,
    reuse_port: bool,
    certfile: Path | None,
    keyfile: Path | None,
) -> None:
    """Serve HTTP with Granian (worker processes, keep-alive), or HTTPS with --certfile."""
    from authserver.serving import MetricsFolder, ServeError, bind_listener, ensure_open_files
    from authserver.serving import serve as run

    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together")
    settings = load_settings()  # fail fast, before any worker starts, on a bad setting
    check_settings(settings, workers=workers)
    backlog = backlog or settings.listen_backlog
    worker_connections = worker_connections or settings.worker_connections
    header_read_timeout = header_read_timeout or settings.header_read_timeout_seconds
    # The port first: a busy one stops here, before this instance touches any metrics folder.
    try:
        ensure_open_files(worker_connections)
        listener = bind_listener(host, port, backlog, reuse_port=reuse_port)
    except ServeError as e:
        raise click.ClickException(str(e)) from None
    if "prometheus_client" in sys.modules:  # see authserver/platform/metrics.py
        raise click.ClickException(
            "prometheus_client was imported before serve set PROMETHEUS_MULTIPROC_DIR: the "
            "workers' counters would never reach /metrics (a module imports it at load time)"
        )
    try:
        folder = MetricsFolder.claim(Path(settings.metrics_dir))
    except ServeError as e:
        raise click.ClickException(str(e)) from None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.path)
    _announce(settings, f"{'https' if certfile else 'http'}://{host}:{port}", workers)
    run(
        listener,
        folder,
        {
            "host": host,
            "port": port,
            "workers": workers,
            "threads": threads,
            "backlog": backlog,
            "worker_connections": worker_connections,
            "header_read_timeout_seconds": header_read_timeout,
            "certfile": str(certfile) if certfile else None,
            "keyfile": str(keyfile) if keyfile else None,
            "log_format": settings.log_format,
        },
    )


def _announce(settings, listening: str, workers: int) -> None:  # noqa: ANN001
    """Where to go, in the log's format (a collector reading JSON lines gets one more)."""
    import logging

    from authserver.platform.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("authserver.serve").info(
        "serving %s with %d worker(s); the admin UI is at %s",
        listening, workers, settings.url("/admin"),
        extra={"listening": listening, "issuer": settings.issuer},
    )  # fmt: skip
