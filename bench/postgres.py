"""A throwaway PostgreSQL server for a benchmark run (Debian's `postgresql` package), with its
default durability (fsync on): the benchmark measures a persistent database."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True)
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh database on a fresh server, stopped afterwards."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="authserver-bench-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]), **run)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sockets}"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"),
                                 "-w", "-t", "60", "start"]), **run)  # fmt: skip
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                             autocommit=True) as conn:  # fmt: skip
            conn.execute("CREATE DATABASE bench")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)
