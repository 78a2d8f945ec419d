"""What ``authserver serve`` runs: its listening socket, its metrics folder, its Granian master.

``serve`` (authserver/cli/serve.py) does three things before any worker exists, in this order:

1. **Binds the listening socket itself**, without ``SO_REUSEPORT`` unless ``--reuse-port`` asks
   for it. Granian would bind one ``SO_REUSEPORT`` socket per worker, and the kernel lets any
   process of the same user join such a group: a second ``serve`` on a busy port would start
   silently and take half the connections to another database. A plain bind fails with
   ``EADDRINUSE`` instead, and ``serve`` stops with an error. The workers share this one socket.
2. **Claims this instance's own metrics folder** (``<AUTHSERVER_METRICS_DIR>/serve-<pid>``,
   prometheus_client's multiprocess mode: each worker writes its counters to files there and
   ``/metrics`` sums them). The folder is new and empty; a lock file beside it (``flock``, held
   until every process of the instance has gone, however it ends) tells a later instance which
   folders belong to dead instances, and that instance removes them. Two instances on one host
   never share or wipe each other's folder, and a restarted one never counts a dead one's files.
3. **Sets ``PROMETHEUS_MULTIPROC_DIR``** to that folder, for the workers' prometheus_client,
   which reads it once, when first imported: so nothing the CLI loads imports it (the metrics
   are built at their first use, authserver/platform/metrics.py), and ``serve`` refuses to start if
   something did.

Granian's master (this process) then forks the workers (``authserver.wsgi:worker_app``), which
inherit the socket and the lock, and accept connections from the socket; they stop with the
master (``_stop_workers_with_the_master``). What one connection may hold is bounded there too
(``_granian_server``, chosen with bench/slow_clients.py): HTTP/1.1 only, so that the header-read
timeout runs from a connection's first byte; that timeout, which is also the idle keep-alive
timeout; the connections a worker holds (and, before the socket, the open-files limit they
need: ``ensure_open_files``); the listen backlog.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from authserver.platform.private_files import make_private_dir

_INSTANCE = re.compile(r"serve-(\d+)")


class ServeError(Exception):
    """``serve`` cannot start; the message says why and what to change."""


def bind_listener(host: str, port: int, backlog: int, *, reuse_port: bool) -> socket.socket:
    """The listening socket, bound and listening; the workers inherit it when they are forked."""
    import ipaddress

    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        raise ServeError(
            f"--host takes an IP address (127.0.0.1, 0.0.0.0, ::), not {host!r}"
        ) from None
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR lets a restart bind while the last run's connections sit in TIME_WAIT; on
        # Linux it never lets a second socket listen on an address one already listens on.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted ones inherit it
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError as e:
        listener.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if e.errno == errno.EADDRINUSE:
            raise ServeError(
                f"{where} is already in use: another server (perhaps another `authserver serve`) "
                "listens there; stop it or choose another --port (--reuse-port shares the port "
                "on purpose, e.g. for a rolling restart)"
            ) from None
        if e.errno == errno.EACCES:
            raise ServeError(
                f"{where}: permission denied (ports below 1024 need privileges)"
            ) from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise ServeError(f"{where}: no interface of this host has that address") from None
        raise ServeError(f"{where}: {e.strerror}") from None
    return listener


# Files a worker has open besides its connections: the database pool, log, metrics files,
# pipes, the interpreter's own.
_FILES_BESIDES_CONNECTIONS = 256


def ensure_open_files(worker_connections: int) -> int:
    """Raise this process's soft limit on open files (inherited by the workers) as far as the
    hard limit allows, as Go's runtime does at start; refuse a limit the workers would hit. A
    worker out of descriptors fails its accepts in a busy loop and its requests with 500s."""
    import resource

    needed = worker_connections + _FILES_BESIDES_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise ServeError(
            f"--worker-connections {worker_connections} needs {needed} open files per worker, "
            f"and this process may open {soft}: raise the limit (ulimit -n, systemd "
            "LimitNOFILE=) or lower --worker-connections (AUTHSERVER_WORKER_CONNECTIONS)"
        )
    return soft


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


def _granian_server(listener: socket.socket, config: dict):  # noqa: ANN202
    from granian._granian import SocketHolder
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.server import Server

    from authserver.platform.logging_setup import granian_log_config

    listen_fd = listener.fileno()

    class InheritedSocketServer(Server):
        """Granian's server, accepting on the socket ``serve`` bound instead of binding its own."""

        def _init_shared_socket(self) -> None:
            self._ssp = None  # no listener spec: workers would bind their own SO_REUSEPORT sockets
            self._shd = SocketHolder(listen_fd, False, self.backlog)
            self._sfd = listen_fd
            self._sso = listener

    # rustls, Granian's TLS, offers only AEAD suites with ECDHE key exchange (forward secret);
    # TLS 1.2 is the oldest version accepted.
    tls = (
        {"ssl_cert": Path(config["certfile"]), "ssl_key": Path(config["keyfile"]),
         "ssl_protocol_min": SSLProtocols.tls12}
        if config.get("certfile")
        else {}
    )  # fmt: skip
    return InheritedSocketServer(
        "authserver.wsgi:worker_app",
        factory=True,
        address=config["host"],
        port=config["port"],
        interface=Interfaces.WSGI,
        workers=config["workers"],
        blocking_threads=config["threads"],
        backlog=config["backlog"],
        # Granian's backpressure is the number of connections a worker holds open at once
        # (a permit taken before accept, given back when the connection closes), not requests.
        backpressure=config["worker_connections"],
        # HTTP/1.1 only: the head of every request, the first included, is read under the
        # header-read timeout. (In "auto" mode the bytes that choose between HTTP/1 and HTTP/2
        # are read with no deadline, so a connection that sends nothing is held for ever.)
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(config["header_read_timeout_seconds"] * 1000),
            keep_alive=True,
        ),
        # The access log is the app's own JSON line (front_door.FrontDoor, for both doors).
        log_access=False,
        log_dictconfig=granian_log_config(config["log_format"]),
        respawn_failed_workers=True,
        **tls,
    )


def _stop_workers_with_the_master() -> None:
    """Fork hooks: a worker ends on SIGTERM or SIGINT until Granian installs its own handlers,
    and (on Linux) when its master dies.

    A forked worker inherits the master's Python handlers, which only flag the master's loop,
    and Granian installs the worker's once the app is built: a stop in between (the second a
    worker builds its app) was swallowed, the worker went on to serve and the master waited for
    it for ever. The signals are blocked across the fork and the child restores their default
    action before unblocking them, so one sent at any moment ends it (it has served nothing).
    PR_SET_PDEATHSIG has the kernel send SIGTERM when the master dies, even by SIGKILL, so no
    orphan keeps the port and the metrics folder's lock."""
    stops = {signal.SIGTERM, signal.SIGINT}
    master = os.getpid()

    def before() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def after_in_parent() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)

    def after_in_child() -> None:
        for signum in stops:
            signal.signal(signum, signal.SIG_DFL)
        if sys.platform.startswith("linux"):
            import ctypes

            pr_set_pdeathsig = 1  # <linux/prctl.h>
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
            if os.getppid() != master:  # it died before the request took effect
                os._exit(0)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)

    os.register_at_fork(before=before, after_in_parent=after_in_parent,
                        after_in_child=after_in_child)  # fmt: skip


def _import_the_app() -> None:
    """The modules a worker's app is made of, imported here once rather than in each worker
    after the fork (seconds of CPU per worker, paid again by every restarted one); forked
    workers share them. Only modules: the app, its connections and its threads are each
    worker's own (``worker_app``). After ``PROMETHEUS_MULTIPROC_DIR`` is set, so a module that
    brings prometheus_client brings it in multiprocess mode."""
    from authserver import app  # noqa: F401 - and, at its module level, every floor below


def serve(listener: socket.socket, folder: MetricsFolder, config: dict) -> None:
    """Granian's master: fork the workers, serve until a signal, remove the metrics folder."""
    import multiprocessing

    # The workers inherit the listening socket by fork; spawned ones would not have it.
    multiprocessing.set_start_method("fork", force=True)
    _import_the_app()
    _stop_workers_with_the_master()
    server = _granian_server(listener, config)
    server.on_shutdown(folder.remove)
    server.serve()
