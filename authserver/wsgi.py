"""The WSGI entry point of a server worker process (``authserver serve``).

Each worker builds its own app and runs its own scheduler thread (due key transitions, API-key
expiry warnings), so a deployment without cron still rotates keys. Its counters go to its
instance's metrics folder (authserver/serving.py); a worker that would count only in memory
refuses to start.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

from flask import Flask


def worker_app() -> Flask:
    _stop_with_the_master()
    from prometheus_client import multiprocess

    from authserver.app import create_app
    from authserver.metrics import require_multiprocess_values
    from authserver.runtime import runtime_of
    from authserver.scheduler import Scheduler

    app = create_app()
    require_multiprocess_values(runtime_of(app).settings.prometheus_multiproc_dir)
    Scheduler(app).start()
    # A worker that stops leaves its live gauges behind unless it says so.
    atexit.register(multiprocess.mark_process_dead, os.getpid())
    return app


def _stop_with_the_master() -> None:
    """A worker is forked with the master's Python signal handlers, which only flag the master's
    own loop; Granian installs the worker's handlers once this factory has returned. Until then
    SIGTERM and SIGINT do what they do by default (end the worker, which has served nothing
    yet): otherwise a stop during the seconds a worker imports the app leaves the master waiting
    for a worker that goes on to serve. And on Linux a worker is told (SIGTERM) when its master
    dies, however it dies, so that no orphan keeps the port and the metrics folder."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    master = os.getppid()
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != master:  # it died before the request took effect
        os._exit(0)
