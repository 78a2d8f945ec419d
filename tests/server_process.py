"""`authserver serve` as a real subprocess on a free port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

AUTHSERVER = str(Path(sys.executable).parent / "authserver")


#: Commands run as their own process here too: Alembic's (``db``) print to the process's own
#: standard output, which a command run in this process cannot capture.
_OWN_PROCESS = {"db"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, tmp_path: Path, *, authserver: str = AUTHSERVER, **env: str) -> None:
        self.authserver = authserver
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "server.log"
        # What requests checks the server's certificate against, when it serves https itself.
        self.verify: str | bool = True
        from tests.conftest import PASSWORD_COST, backend_overrides

        backend = backend_overrides(tmp_path)
        self.env = {
            **os.environ,
            "AUTHSERVER_DATABASE_URL": backend.get(
                "database_url", f"sqlite:///{tmp_path / 'auth.db'}"
            ),
            # Every worker of this server counts budgets in one file (beside a SQLite database
            # by default; for PostgreSQL, with the test's files rather than in instance/).
            "AUTHSERVER_RATE_LIMIT_FILE": str(tmp_path / "budgets"),
            "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
            "AUTHSERVER_METRICS_DIR": str(tmp_path / "metrics"),
            "AUTHSERVER_ISSUER": self.issuer,
            "AUTHSERVER_PASSWORD_HASH": PASSWORD_COST,
            **env,
        }
        if "redis_address" in backend:  # the PostgreSQL pass's Redis
            self.env.setdefault("AUTHSERVER_REDIS_URL", backend["redis_address"])

    @classmethod
    def installed(cls, tmp_path: Path, authserver: str) -> ServerProcess:
        """An installed release with its own defaults: nothing of this checkout's environment
        (no AUTHSERVER_* setting, no PYTHONPATH), only the issuer, since its port is free."""
        server = cls(tmp_path, authserver=authserver)
        server.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "AUTHSERVER_ISSUER": server.issuer,
        }
        return server

    def cli(self, *args: str, input: str | None = None) -> str:
        """The command as the server's operator runs it, on the server's settings. This
        checkout's command runs in this process (the same code on the same database and files:
        only the interpreter's start and imports are saved, about two seconds each); an
        installed release's runs as its own process."""
        if self.authserver != AUTHSERVER or args[0] in _OWN_PROCESS:
            return self._cli_process(*args, input=input)
        from authserver.app import create_app
        from authserver.cli import cli
        from authserver.platform.extensions import db

        with _environment(self.env):
            app = create_app()
            result = app.test_cli_runner().invoke(cli, list(args), input=input)
            with app.app_context():
                db.engine.dispose()  # as the command's exit would: SQLite ends its WAL file
        assert result.exit_code == 0, result.output + repr(result.exception or "")
        return result.stdout

    def orders_client(self, name: str) -> dict:
        """A client_credentials client allowed ``orders:read`` (through the role
        ``orders-reader``), as ``clients create --json`` shows it: the e2e tests' usual caller."""
        self.cli("roles", "create", "orders-reader", "--scope", "orders:read")
        return json.loads(self.cli("clients", "create", "--name", name, "--scope", "orders:read",
                                   "--role", "orders-reader", "--json"))  # fmt: skip

    def _cli_process(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [self.authserver, *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    @contextlib.contextmanager
    def running(self, workers: int = 2, *args: str) -> Iterator[ServerProcess]:
        with self.log_path.open("w") as log:
            command = [self.authserver, "serve", "--port", str(self.port)]
            proc = subprocess.Popen(
                [*command, "--workers", str(workers), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.proc = proc
            try:
                self._wait_until_up()
                yield self
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)

    def _wait_until_up(self, seconds: float = 120) -> None:
        # Sized for a loaded machine (two workers importing the app can take tens of seconds
        # there); a server that exits is reported at once.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if getattr(self, "proc", None) is not None and self.proc.poll() is not None:
                break
            try:
                if requests.get(self.issuer + "/readyz", timeout=1, verify=self.verify).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or listening while its workers still start
            time.sleep(0.2)
        raise AssertionError("server did not start:\n" + self.log_path.read_text()[-3000:])

    def log(self) -> str:
        return self.log_path.read_text()


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` as ``env`` for a moment (the settings are read from it), then as it was."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
