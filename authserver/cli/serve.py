"""``authserver serve``: the app under Granian, a production WSGI server.

Granian was chosen by measurement (bench/README.md): on 2 cores it serves our token endpoint
about 1.4x faster than gunicorn's threaded workers, and its workers share keep-alive
connections evenly, where gunicorn's gthread workers let one process take every connection of
a client pool and leave the other core idle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from authserver.checks import check_settings
from authserver.config import load_settings
from authserver.logging_setup import granian_log_config

# Requests one worker runs at once; more wait in the listen backlog instead of piling up as
# threads that contend for the worker's interpreter lock.
BACKPRESSURE_PER_WORKER = 64


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Per worker."
)
@click.option(
    "--certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate (chain) to serve HTTPS directly; needs --keyfile.",
)  # fmt: skip
@click.option(
    "--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --certfile.",
)  # fmt: skip
def serve_command(
    host: str, port: int, workers: int, threads: int, certfile: Path | None, keyfile: Path | None
) -> None:
    """Serve HTTP with Granian (worker processes, keep-alive), or HTTPS with --certfile."""
    from granian.constants import Interfaces, SSLProtocols
    from granian.server import Server

    from authserver.serving import MetricsFolder, ServeError

    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together")
    # rustls, Granian's TLS, offers only AEAD suites with ECDHE key exchange (forward secret);
    # TLS 1.2 is the oldest version accepted.
    tls = (
        {"ssl_cert": certfile, "ssl_key": keyfile, "ssl_protocol_min": SSLProtocols.tls12}
        if certfile is not None
        else {}
    )

    settings = load_settings()  # fail fast, before any worker starts, on a bad setting
    check_settings(settings, workers=workers)
    if "prometheus_client" in sys.modules:  # see authserver/metrics.py
        raise click.ClickException(
            "prometheus_client was imported before serve set PROMETHEUS_MULTIPROC_DIR: the "
            "workers' counters would never reach /metrics (a module imports it at load time)"
        )
    try:
        folder = MetricsFolder.claim(Path(settings.metrics_dir))
    except ServeError as e:
        raise click.ClickException(str(e)) from None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.path)
    server = Server(
        "authserver.wsgi:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        backpressure=BACKPRESSURE_PER_WORKER,
        # The access log is the app's own JSON line (logging_setup.register_access_log).
        log_access=False,
        log_dictconfig=granian_log_config(),
        respawn_failed_workers=True,
        **tls,
    )
    server.on_shutdown(folder.remove)
    server.serve()
