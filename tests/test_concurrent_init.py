"""`authserver init` started on several hosts or containers at once (compose's replicas each run
it before serving): one after another, never two first migrations racing, on whichever
database this pass uses."""

from __future__ import annotations

import json
import subprocess

from tests.server_process import AUTHSERVER, ServerProcess

AT_ONCE = 3


def test_inits_started_at_once_all_succeed_and_make_one_of_everything(tmp_path):
    server = ServerProcess(tmp_path)
    started = [
        subprocess.Popen(
            [AUTHSERVER, "init"],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(AT_ONCE)
    ]
    failures = []
    for proc in started:
        _, stderr = proc.communicate(timeout=180)
        if proc.returncode != 0:
            failures.append(stderr[-2000:])
    assert failures == []
    keys = json.loads(server.cli("keys", "list", "--json"))
    active = sorted(k["alg"] for k in keys if k["state"] == "active")
    assert active == ["ES256", "Ed25519", "RS256"]  # one per algorithm, not one per init
    roles = [r["name"] for r in json.loads(server.cli("roles", "list", "--json"))]
    assert len(roles) == len(set(roles))
    assert "(head)" in server.cli("db", "current")
