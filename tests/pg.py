"""A throwaway PostgreSQL server for the tests that need one (Debian's `postgresql` package,
installed by `make test`). Session-scoped: one server, a fresh database per request."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="session")
def postgres_url():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL binaries are missing (make test installs Debian's postgresql)")
    import psycopg

    base = Path(tempfile.mkdtemp(prefix="authserver-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]), **run)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sockets} -c fsync=off"
    )
    subprocess.run(
        _as_postgres(
            [
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        **run,
    )
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    class Server:
        """``postgres_url()`` makes a fresh database; ``stop()``/``start()`` for fault tests."""

        def __call__(self) -> str:
            name = "t_" + secrets.token_hex(6)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"

        def stop(self) -> None:
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                check=False,
                capture_output=True,
                timeout=60,
            )

        def start(self) -> None:
            subprocess.run(
                _as_postgres(
                    [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w",
                     "-t", "60", "start"]
                ),
                **run,
            )  # fmt: skip

    server = Server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
