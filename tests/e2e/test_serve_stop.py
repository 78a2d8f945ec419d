"""`authserver serve` stops whole: a stop that arrives while the workers are still starting ends
every process, and workers whose master is killed end too (no orphan keeps the port)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.e2e.served_metrics import wait_for_workers
from tests.server_process import AUTHSERVER, ServerProcess


def start(server: ServerProcess) -> subprocess.Popen:
    command = [AUTHSERVER, "serve", "--port", str(server.port), "--workers", "2"]
    with server.log_path.open("w") as log:
        server.proc = subprocess.Popen(command, env=server.env, stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
    return server.proc


def spawned_workers(server: ServerProcess, count: int = 2) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = re.findall(r"Spawning worker-\d+ with PID: (\d+)", server.log())
        if len(pids) >= count:
            return [int(pid) for pid in pids]
        time.sleep(0.02)
    raise AssertionError("no workers spawned:\n" + server.log())


def gone(pids: list[int], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except FileNotFoundError:
        return b"zombie"


def port_is_free(port: int, seconds: float = 30) -> bool:
    """Whether the port can be listened on again, within ``seconds``: the last holder's exit
    and the kernel's closing of its socket take a moment on a loaded machine."""
    deadline = time.monotonic() + seconds
    while not _bindable(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def test_a_stop_while_the_workers_start_ends_every_process(tmp_path):
    server = ServerProcess(tmp_path)
    server.cli("init")
    proc = start(server)
    workers = spawned_workers(server)  # forked; building their apps now
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
    assert gone(workers), server.log()
    assert port_is_free(server.port)


def test_workers_end_when_their_master_is_killed(tmp_path):
    server = ServerProcess(tmp_path)
    server.cli("init")
    proc = start(server)
    workers = spawned_workers(server)
    try:
        wait_for_workers(server, 2)
        proc.kill()  # SIGKILL: the master cannot tell its workers anything
        proc.wait(timeout=10)
        assert gone(workers), server.log()
    finally:
        for pid in workers:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
    assert port_is_free(server.port)
