"""Idle, slow and silent connections against `authserver serve`: they cannot keep normal requests
out, and the server closes those that do not send a request head in time. Loopback only, a
bounded number of sockets, all closed at the end. No latency is asserted (bench/slow_clients.py
measures it): only that the requests succeed and the connections are closed."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import requests

from tests.e2e.served_metrics import wait_for_workers
from tests.server_process import ServerProcess

#: More than the 2 x 64 connections the server let in before (its workers held no more, idle
#: ones included), far fewer than the default 2 x 1024.
IDLE, SLOW, SILENT = 300, 100, 100


def served(tmp_path) -> tuple[ServerProcess, tuple[str, str]]:
    server = ServerProcess(tmp_path)
    server.cli("init")
    client = json.loads(server.cli("clients", "create", "--name", "c", "--scope", "", "--json"))
    return server, (client["client_id"], client["client_secret"])


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=20)


def head(port: int, path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()


def answered(sock: socket.socket) -> bytes:
    """The first answer on a keep-alive connection (its head and the short JSON body)."""
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        assert chunk, "closed before answering"
        data += chunk
    return data


@contextlib.contextmanager
def attack(port: int, idle: int, slow: int, silent: int) -> Iterator[dict[str, list]]:
    """Idle keep-alive connections (one request answered, then nothing), slow ones (a request
    line and one header, never the end of the head) and silent ones (nothing at all)."""
    with contextlib.ExitStack() as stack:
        sockets: dict[str, list] = {"idle": [], "slow": [], "silent": []}
        for kind, count in (("idle", idle), ("slow", slow), ("silent", silent)):
            for _ in range(count):
                sock = stack.enter_context(connect(port))
                if kind == "idle":
                    sock.sendall(head(port) + b"\r\n")
                elif kind == "slow":
                    sock.sendall(head(port, "/oauth/token"))
                sockets[kind].append(sock)
        for sock in sockets["idle"]:  # each was accepted by a worker, which now holds it
            assert answered(sock).startswith(b"HTTP/1.1 200")
        yield sockets


def test_hundreds_of_idle_slow_and_silent_connections_do_not_keep_requests_out(tmp_path):
    server, auth = served(tmp_path)
    # A head may take a minute here, so that every attacking connection is still held while
    # the requests below are made.
    with server.running(2, "--header-read-timeout", "60s"):
        wait_for_workers(server, 2)
        with attack(server.port, IDLE, SLOW, SILENT):
            for _ in range(3):
                health = requests.get(server.issuer + "/healthz", timeout=20)
                assert health.status_code == 200
                token = requests.post(server.issuer + "/oauth/token", auth=auth, timeout=20,
                                      data={"grant_type": "client_credentials"})  # fmt: skip
                assert token.status_code == 200 and token.json()["access_token"]


def closed_by_server(sock: socket.socket, trickle: bool, deadline: float) -> bool:
    """Whether the server closes ``sock`` before ``deadline``; a trickling one sends a header
    line every half second meanwhile (each byte arrives in time; the whole head never does)."""
    sock.settimeout(0.5)
    line = 0
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            if trickle:
                line += 1
                try:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                except OSError:
                    return True
            continue
        except OSError:  # reset
            return True
        if not data:
            return True
    return False


def test_connections_without_a_complete_head_in_time_are_closed(tmp_path):
    server, auth = served(tmp_path)
    with server.running(2, "--header-read-timeout", "2s"):
        wait_for_workers(server, 2)
        with attack(server.port, 20, 20, 20) as sockets:
            deadline = time.monotonic() + 60
            results: dict[str, list[bool]] = {kind: [] for kind in sockets}
            threads = [
                threading.Thread(target=lambda kind=kind, sock=sock: results[kind].append(
                    closed_by_server(sock, kind == "slow", deadline)))
                for kind, group in sockets.items() for sock in group
            ]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert {kind: all(closed) for kind, closed in results.items()} == {
                "idle": True, "slow": True, "silent": True,
            }  # fmt: skip
        token = requests.post(server.issuer + "/oauth/token", auth=auth, timeout=20,
                              data={"grant_type": "client_credentials"})  # fmt: skip
        assert token.status_code == 200
