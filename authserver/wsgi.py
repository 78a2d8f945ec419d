"""The WSGI entry point of a server worker process (``authserver serve``).

Each worker builds its own app and runs its own scheduler thread (due key transitions, API-key
expiry warnings), so a deployment without cron still rotates keys, and its own webhook sender
(deliveries from the shared outbox). Its counters go to its instance's metrics folder
(authserver/serving.py); a worker that would count only in memory refuses to start.
"""

from __future__ import annotations

import os

from flask import Flask

from authserver.platform.process_exit import at_exit


def worker_app() -> Flask:
    from prometheus_client import multiprocess

    from authserver.app import create_app
    from authserver.ops.scheduler import Scheduler
    from authserver.platform.metrics import require_multiprocess_values
    from authserver.platform.runtime import runtime_of
    from authserver.webhooks.worker import webhook_worker

    app = create_app()
    require_multiprocess_values(runtime_of(app).settings.prometheus_multiproc_dir)
    Scheduler(app).start()
    webhook_worker(app).start()
    # A worker that stops leaves its live gauges behind unless it says so.
    at_exit(multiprocess.mark_process_dead, os.getpid())
    return app
