"""Revocation under mixed load: `authserver serve` (2 workers, SQLite by default) issuing tokens
and answering introspections as fast as wrk asks, while a steady trickle of fresh tokens is
revoked one by one; the revocations' latency (p50, p95, p99, max) is what this measures, beside
the throughput of the two loads. The review measured revocation p99 at 2 to 2.9 s here.

    .venv/bin/python bench/mixed.py                         # 30 s, 4 revocations a second
    .venv/bin/python bench/mixed.py --seconds 60 --rate 8 --database postgresql
    .venv/bin/python bench/mixed.py --tag after             # into bench/results/mixed-after.json

Timings are reported, never asserted (bench/README.md)."""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, Server, _database, _ensure_wrk  # noqa: E402

_WRK_POST = """
wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "{auth}"
"""


def main() -> None:
    args = _parse_args()
    _ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="authserver-mixed-") as tmp:
        home = Path(tmp)
        with _database(args.database, home) as url:
            server = Server(home, url, workers=2, threads=4)
            seed = server.seed()
            with server.running():
                result = _measure(server, seed, args)
            result["revocation_ms_in_server"] = _served_durations(server.log_path, "/oauth/revoke")
    result.update(database=args.database, tag=args.tag)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / (f"mixed-{args.tag}.json" if args.tag else "mixed.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _measure(server: Server, seed: dict, args: argparse.Namespace) -> dict:
    auth = "Basic " + base64.b64encode(f"{seed['client_id']}:{seed['secret']}".encode()).decode()
    token = _token(server, seed)
    with contextlib.ExitStack() as stack:
        loads = {
            "token": stack.enter_context(_wrk(server.base_url + "/oauth/token", auth,
                                              "grant_type=client_credentials", args.seconds,
                                              args.connections)),
            "introspection": stack.enter_context(_wrk(server.base_url + "/oauth/introspect",
                                                      auth, f"token={token}", args.seconds,
                                                      args.connections)),
        }  # fmt: skip
        with concurrent.futures.ThreadPoolExecutor(args.revokers) as pool:
            runs = [pool.submit(_revoke_steadily, server, seed, args.seconds - 2, args.rate)
                    for _ in range(args.revokers)]  # fmt: skip
            latencies = [t for run in runs for t in run.result()[0]]
            statuses = [s for run in runs for s in run.result()[1]]
        throughput = {name: _wrk_rate(proc) for name, proc in loads.items()}
    return {
        "revocations": len(latencies),
        "revocation_statuses": sorted(set(statuses)),
        "revocation_ms": _quantiles(latencies),
        "requests_per_second": throughput,
    }


def _served_durations(log_path: Path, path: str) -> dict:
    """The same requests as the server timed them (its access log): from the worker's first
    look at the request to its answer. What the client saw beyond that, it waited for a thread."""
    durations = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if f'"path": "{path}"' in line:
            with contextlib.suppress(ValueError, KeyError):
                durations.append(json.loads(line)["duration_ms"])
    return _quantiles([d / 1000 for d in durations]) if durations else {}


def _quantiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def quantile(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "p50": quantile(0.50),
        "p95": quantile(0.95),
        "p99": quantile(0.99),
        "max": round(ordered[-1] * 1000, 1),
        "mean": round(statistics.mean(ordered) * 1000, 1),
    }


def _token(server: Server, seed: dict, session: requests.Session | None = None) -> str:
    response = (session or requests).post(
        server.base_url + "/oauth/token", data={"grant_type": "client_credentials"},
        auth=(seed["client_id"], seed["secret"]), timeout=30,
    )  # fmt: skip
    response.raise_for_status()
    return response.json()["access_token"]


def _revoke_steadily(server: Server, seed: dict, seconds: float,
                     rate: float) -> tuple[list[float], list[int]]:  # fmt: skip
    """A fresh token revoked every 1/rate s, each timed on its own (the revocation only)."""
    latencies, statuses = [], []
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            started = time.monotonic()
            token = _token(server, seed, session)
            before = time.perf_counter()
            answer = session.post(server.base_url + "/oauth/revoke", data={"token": token},
                                  auth=(seed["client_id"], seed["secret"]), timeout=60)  # fmt: skip
            latencies.append(time.perf_counter() - before)
            statuses.append(answer.status_code)
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return latencies, statuses


@contextlib.contextmanager
def _wrk(url: str, auth: str, body: str, seconds: int, connections: int):  # noqa: ANN202
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_POST.format(body=body, auth=auth))
    proc = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.wait(timeout=seconds + 30)
        Path(script.name).unlink(missing_ok=True)


def _wrk_rate(proc: subprocess.Popen) -> float | None:
    output = proc.communicate(timeout=120)[0] if proc.stdout and not proc.stdout.closed else ""
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rate", type=float, default=4.0, help="revocations a second")
    parser.add_argument(
        "--revokers", type=int, default=1, help="clients revoking at once, each at --rate"
    )
    parser.add_argument("--connections", type=int, default=8, help="wrk connections per load")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--tag", default="")
    return parser.parse_args()


if __name__ == "__main__":
    main()
