"""`authserver serve` on a port already in use: a clear error and exit 1, before it touches any
metrics folder; sharing a port (SO_REUSEPORT) only with --reuse-port."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.e2e.served_metrics import scrape, value, wait_for_workers
from tests.server_process import AUTHSERVER, ServerProcess


def serve(server: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    command = [AUTHSERVER, "serve", "--port", str(server.port), "--workers", "1", *args]
    return subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.rglob("*"))}  # fmt: skip


def test_a_second_serve_on_a_busy_port_is_refused_and_the_first_is_untouched(tmp_path):
    first = ServerProcess(tmp_path)
    first.cli("init")
    client = json.loads(first.cli("clients", "create", "--name", "c", "--scope", "", "--json"))
    auth = (client["client_id"], client["client_secret"])
    token_url = first.issuer + "/oauth/token"
    with first.running(workers=2):
        wait_for_workers(first, 2)
        assert requests.post(token_url, data={"grant_type": "client_credentials"}, auth=auth,
                             timeout=10).status_code == 200  # fmt: skip
        folder = Path(first.env["AUTHSERVER_METRICS_DIR"])
        before = listing(folder)

        second = serve(first)  # same port, same metrics folder, same database

        assert second.returncode == 1
        assert f"127.0.0.1:{first.port} is already in use" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        assert listing(folder) == before  # not a file of the first instance's touched
        assert requests.post(token_url, data={"grant_type": "client_credentials"}, auth=auth,
                             timeout=10).status_code == 200  # fmt: skip
        assert value(scrape(first), "authserver_tokens_issued_total",
                     grant_type="client_credentials") == 2  # fmt: skip


@contextlib.contextmanager
def held_port(*, reuse_port: bool) -> Iterator[int]:
    """A port another program listens on (with SO_REUSEPORT, as Granian's own sockets do)."""
    with socket.socket() as holder:
        if reuse_port:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_another_program_holds_is_refused_whatever_its_socket_options(tmp_path):
    server = ServerProcess(tmp_path)
    server.cli("init")
    for reuse_port in (False, True):
        with held_port(reuse_port=reuse_port) as port:
            server.port = port
            refused = serve(server)
        assert refused.returncode == 1, refused.stderr
        assert "is already in use" in refused.stderr
        assert not Path(server.env["AUTHSERVER_METRICS_DIR"]).exists()


def test_reuse_port_shares_a_port_on_purpose(tmp_path):
    server = ServerProcess(tmp_path)
    server.cli("init")
    with held_port(reuse_port=True) as port:
        server.port = port
        with server.log_path.open("w") as log:
            proc = subprocess.Popen(
                [AUTHSERVER, "serve", "--port", str(port), "--workers", "1", "--reuse-port"],
                env=server.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        server.proc = proc
        try:
            wait_for_workers(server, 1)
            assert proc.poll() is None, server.log()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_serve_takes_an_ip_address(tmp_path):
    server = ServerProcess(tmp_path)
    refused = serve(server, "--host", "localhost")
    assert refused.returncode == 1
    assert "--host takes an IP address" in refused.stderr
