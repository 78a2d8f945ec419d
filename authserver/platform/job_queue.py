"""Work a request hands over to be done after it, off its path: a queue drained by one daemon
thread per process, started by the first job. Used for back-channel logout tokens and for the
audit records of token issuance. Jobs are handled in order, in batches of up to ``batch``; a
handler that raises is logged and the queue goes on. ``wait_idle`` waits until everything
submitted so far has been handled (tests, and a process that is about to exit).

Jobs live in memory only: a process that is killed loses what it had queued (each user says
what that costs). Work that must survive a restart goes through a table (the webhook outbox).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class JobQueue:
    def __init__(self, name: str, handle: Callable[[list], None], *, batch: int = 1) -> None:
        self._name = name
        self._handle = handle
        self._batch = batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: object) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(job)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name,
                                                    daemon=True)  # fmt: skip
                    self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Until every job submitted so far was handled; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self._batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._handle(jobs)
            except Exception:
                log.exception("%s: %d job(s) failed", self._name, len(jobs))
            finally:
                with self._idle:
                    self._pending -= len(jobs)
                    self._idle.notify_all()
