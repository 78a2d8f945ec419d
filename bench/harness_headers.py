"""The peers' harness (`../shared/bench/peers/bench.py`), sending extra request headers.

Its `url` sub-command sends only `Authorization` (and `Content-Type` with a body); the gateway's
decision endpoint reads the original request from more (`X-Original-Method`, `X-Original-URI`,
`X-Forwarded-Host`) and may take an API key in `X-API-Key`. This runs the same harness, the same
pre-check, warm-up, timed runs and medians, with the headers in ``WRK_HEADERS`` (one
``Name: value`` a line) added to the pre-check's requests and, through `bench/wrk/headers.lua`,
to wrk's. The harness itself is left as it is.

    WRK_HEADERS=$'X-Original-Method: GET\\nX-Original-URI: /orders/1' \\
        .venv/bin/python bench/harness_headers.py url --server authserver --config ... \\
        --endpoint "gateway jwt" --url http://127.0.0.1:8000/gateway/check --auth "Bearer ..."
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
PEERS = Path(os.environ.get("PEERS_HARNESS", HERE.parent.parent / "shared" / "bench" / "peers"))


def extra_headers() -> dict[str, str]:
    headers = {}
    for line in os.environ.get("WRK_HEADERS", "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers


def _load_harness():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("peers_bench", PEERS / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    harness = _load_harness()
    extra = extra_headers()

    def http(url, method="GET", body=None, auth=None, timeout=60):  # noqa: ANN001, ANN202
        """The harness's pre-check request (a fresh connection each), with the extra headers."""
        headers = {"Accept": "application/json", **extra}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth:
            headers["Authorization"] = auth
        try:
            with requests.Session() as session:
                answer = session.request(method, url, data=body, headers=headers, timeout=timeout)
            return answer.status_code, answer.text
        except requests.RequestException as e:
            return 0, f"{type(e).__name__}: {e}"

    harness.http = http
    harness.LUA = str(HERE / "wrk" / "headers.lua")
    harness.main()


if __name__ == "__main__":
    main()
