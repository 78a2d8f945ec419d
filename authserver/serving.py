"""How ``authserver serve`` prepares its workers' metrics: one folder per instance.

``serve`` (authserver/cli/serve.py), before any worker exists:

1. **Claims this instance's own metrics folder** (``<AUTHSERVER_METRICS_DIR>/serve-<pid>``,
   prometheus_client's multiprocess mode: each worker writes its counters to files there and
   ``/metrics`` sums them). The folder is new and empty; a lock file beside it (``flock``, held
   until every process of the instance has gone, however it ends) tells a later instance which
   folders belong to dead instances, and that instance removes them. Two instances on one host
   never share or wipe each other's folder, and a restarted one never counts a dead one's files.
2. **Sets ``PROMETHEUS_MULTIPROC_DIR``** to that folder, for the workers' prometheus_client,
   which reads it once, when first imported: so nothing the CLI loads imports it (the metrics
   are built at their first use, authserver/metrics.py), and ``serve`` refuses to start if
   something did.

Granian's master (this process) then forks the workers (``authserver.wsgi:worker_app``), which
inherit the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from pathlib import Path

from authserver.private_files import make_private_dir

_INSTANCE = re.compile(r"serve-(\d+)")


class ServeError(Exception):
    """``serve`` cannot start; the message says why and what to change."""


class MetricsFolder:
    """This instance's prometheus_client multiprocess folder, ``<base>/serve-<pid>``, and the
    lock file beside it that marks the folder as in use while any process of the instance lives."""

    def __init__(self, base: Path, pid: int, lock_fd: int) -> None:
        self.base, self.pid, self.lock_fd = base, pid, lock_fd

    @property
    def path(self) -> Path:
        return self.base / f"serve-{self.pid}"

    @property
    def lock_path(self) -> Path:
        return self.base / f"serve-{self.pid}.lock"

    @classmethod
    def claim(cls, base: Path) -> MetricsFolder:
        """Lock, reap dead instances' folders, then make ours new and empty (0700)."""
        make_private_dir(base)
        pid = os.getpid()
        folder = cls(base, pid, _lock(base / f"serve-{pid}.lock"))
        reap_dead_instances(base, keep=pid)
        shutil.rmtree(folder.path, ignore_errors=True)  # a dead instance that had our pid
        make_private_dir(folder.path)
        return folder  # the lock is held by this process and, through fork, every worker

    def remove(self) -> None:
        """At a clean stop, once the workers are gone."""
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


def _lock(path: Path, seconds: float = 5) -> int:
    """An exclusive ``flock`` on ``path``, created 0600 if needed. Retried while a reaper holds a
    stale file of the same name, and until the locked file is the one at ``path`` (a reaper
    unlinks the file it reaped)."""
    deadline = time.monotonic() + seconds
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() > deadline:  # an earlier process with our pid still lives
                raise ServeError(f"{path} is locked by a process of an earlier instance") from None
            time.sleep(0.05)
            continue
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def reap_dead_instances(base: Path, keep: int) -> list[int]:
    """Remove the folders of instances whose lock nobody holds (they have stopped, cleanly or
    not); returns their process ids."""
    reaped = []
    for entry in sorted(base.iterdir()):
        name = entry.name.removesuffix(".lock")
        match = _INSTANCE.fullmatch(name)
        if match is None or int(match.group(1)) == keep:
            continue
        lock_path, folder = base / f"{name}.lock", base / name
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            # A folder whose lock file is gone: left by a reaper or a stop that was cut short.
            if entry == folder and entry.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                reaped.append(int(match.group(1)))
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # alive
        try:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()
            reaped.append(int(match.group(1)))
        finally:
            os.close(fd)
    return sorted(set(reaped))
