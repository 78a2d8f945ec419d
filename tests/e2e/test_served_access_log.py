"""The access log of a served process, written by one thread per worker off the request's path
(authserver/platform/logging_setup.py): every answered request has its line, exactly once, after
a stop (SIGTERM) that finds lines still queued. A worker ends through multiprocessing, which
skips atexit, and must write out its queue all the same.

To have lines queued at the stop, the server's stderr is a pipe nobody reads until the stop is
sent: the pipe fills, each worker's writer waits on it, and the requests, which never wait for
their line, go on being answered with their lines queued behind."""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.served_logs import access_lines
from tests.server_process import AUTHSERVER, ServerProcess

CONNECTIONS = 8
#: Answers received before the stop is sent: well past what a pipe holds (64 KiB, about 250
#: lines), well within what a worker queues (ACCESS_QUEUE_LINES).
BEFORE_STOP = 1000


def test_every_answered_request_has_its_line_after_a_stop(tmp_path):
    server = ServerProcess(tmp_path)
    server.cli("init")
    client = server.orders_client("logged")
    auth = (client["client_id"], client["client_secret"])
    numbers = itertools.count()
    answered: list[str] = []  # list.append is atomic: the threads share it without a lock
    enough = threading.Event()

    def ask() -> None:
        """Token requests (the door in front of Flask) and /healthz (Flask's), each with its
        own request id, until the server stops answering."""
        with requests.Session() as session:
            while True:
                n = next(numbers)
                request_id = f"logged-{n:08d}"
                headers = {"X-Request-Id": request_id}
                try:
                    if n % 2:
                        response = session.post(server.issuer + "/oauth/token", auth=auth,
                                                data={"grant_type": "client_credentials"},
                                                headers=headers, timeout=10)  # fmt: skip
                    else:
                        response = session.get(server.issuer + "/healthz", headers=headers,
                                               timeout=10)  # fmt: skip
                except requests.RequestException:
                    return  # the server has stopped (or is stopping): no answer, no claim
                assert response.status_code == 200, response.text
                assert response.headers["X-Request-Id"] == request_id
                answered.append(request_id)
                if len(answered) >= BEFORE_STOP:
                    enough.set()

    command = [AUTHSERVER, "serve", "--port", str(server.port), "--workers", "2"]
    server.proc = subprocess.Popen(command, env=server.env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)  # fmt: skip
    log: list[bytes] = []
    reader = threading.Thread(target=lambda: log.append(server.proc.stderr.read()))
    try:
        server._wait_until_up()
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            clients = [pool.submit(ask) for _ in range(CONNECTIONS)]
            assert enough.wait(120), f"{len(answered)} answers"
            server.proc.send_signal(signal.SIGTERM)
            reader.start()  # the pipe drains from now on
            assert server.proc.wait(timeout=60) == 0
            for done in clients:
                done.result(timeout=30)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if reader.ident is None:  # stopped before the stop was sent: drain the pipe all the same
            reader.start()
        reader.join(30)
        server.proc.stderr.close()

    lines = access_lines(b"".join(log).decode())
    logged = [line["request_id"] for line in lines]
    seen = set(answered)
    missing = sorted(seen - set(logged))
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no line"
    ours = [request_id for request_id in logged if request_id.startswith("logged-")]
    assert len(ours) == len(set(ours))  # no line written twice
    for line in lines:
        if line["request_id"] in seen:
            expected = "/oauth/token" if int(line["request_id"][7:]) % 2 else "/healthz"
            assert (line["path"], line["status"]) == (expected, 200)
