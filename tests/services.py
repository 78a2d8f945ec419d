"""Throwaway PostgreSQL and Redis servers (Debian's `postgresql` and `redis-server`), started in
temporary directories on free loopback ports: for the tests (through the fixtures in tests/pg.py
and tests/redis_server.py) and for the benchmark (bench/run.py). No pytest here."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresServer:
    """A cluster of its own: ``server()`` makes a fresh database and returns its SQLAlchemy
    URL; ``stop()``/``start()`` for fault tests. ``fsync=False`` for tests; benchmarks keep it."""

    def __init__(self, fsync: bool = True) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="authserver-pg-"))
        self.data, sockets = self.base / "data", self.base / "sock"
        sockets.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.base, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.port = free_port()
        self.options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={sockets}"
            # A test cluster need not survive a crash: no flush, no commit waiting for its WAL.
            + ("" if fsync else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        )
        initdb = postgres_binary("initdb")
        subprocess.run(
            _as_postgres([initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.start()

    def __call__(self, template: str | None = None) -> str:
        """A fresh database, empty or a copy of ``template`` (a database name of this server
        that nobody is connected to)."""
        import psycopg

        name = "t_" + secrets.token_hex(6)
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def drop(self, url: str) -> None:
        """Drop a database ``__call__`` made (a suite makes one per test: left behind, they cost
        gigabytes and minutes of removal at the end)."""
        import psycopg

        name = url.rsplit("/", 1)[-1]
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def start(self) -> None:
        pg_ctl = postgres_binary("pg_ctl")
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(self.data), "-o", self.options,
                          "-l", str(self.base / "log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def stop(self) -> None:
        pg_ctl = postgres_binary("pg_ctl")
        subprocess.run(_as_postgres([pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True, timeout=60)  # fmt: skip

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres(fsync: bool = True) -> Iterator[PostgresServer]:
    server = PostgresServer(fsync=fsync)
    try:
        yield server
    finally:
        server.remove()


class RedisServer:
    """A Redis server of its own on a free loopback port, without persistence; ``stop()`` and
    ``start()`` (same port, empty again, as a restarted Redis without persistence is) for fault
    tests."""

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="authserver-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        import redis

        self._proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             self.workdir, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=20)
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yields the URL of a fresh Redis server without persistence, stopped afterwards."""
    with stoppable_redis() as server:
        yield server.url


@contextlib.contextmanager
def stoppable_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.remove()
