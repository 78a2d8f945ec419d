"""The access lines in a served process's log (JSON: its stderr is not a terminal).

A worker writes its access lines from one thread of its own, a moment after the answer has
left (authserver/platform/logging_setup.py): a test that reads the log while the server runs
waits for the lines of the requests it looks for."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from tests.server_process import ServerProcess


def access_lines(log: str) -> list[dict]:
    """Every access line of ``log``, in the order written."""
    lines = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "authserver.access":
                lines.append(record)
    return lines


def access_lines_by_id(
    *servers: ServerProcess, waiting_for: Iterable[str] = (), seconds: float = 10
) -> list[dict[str, dict]]:
    """Each server's access lines by request id, once every id of ``waiting_for`` is in one of
    them (or ``seconds`` have passed: the caller's assertion then says which is missing)."""
    wanted = set(waiting_for)
    deadline = time.monotonic() + seconds
    while True:
        found = [{line["request_id"]: line for line in access_lines(s.log())} for s in servers]
        if wanted <= set().union(*found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
