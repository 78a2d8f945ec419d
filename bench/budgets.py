"""What budgets cost, before and after a change: this tree against another (``--base``), on the
token endpoint (success: the right secret; failure: a flood of wrong ones, past the default
budget of 30 a minute, so mostly 429s), with the host's counters (before: each process's memory)
and with Redis, in alternating runs; how many Redis commands
each request sends; one budget charge in-process, host table against Redis; and one successful
token request in-process (CPU and wall time), before and after.

    git archive 3e15895 | tar -x -C /tmp/limits-base      # the tree to compare against
    .venv/bin/python bench/budgets.py --base /tmp/limits-base [--seconds 10] [--rounds 3]

Each configuration is its own `authserver serve` (Granian 2 workers x 4 threads, SQLite), all
started first and seeded through the CLI, then driven one at a time by wrk (`-t2 -c32`, the
peers' request script) in rounds A B A B..., so that the machine's drift hits every
configuration alike; medians are reported. Results go to bench/results/budgets.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import PEERS, RESULTS, SCOPE, Server, _basic  # noqa: E402

LUA = PEERS / "wrk" / "request.lua"


def _wrk(url: str, body: str, auth: str, seconds: int) -> dict:
    env = {**os.environ, "WRK_METHOD": "POST", "WRK_BODY": body, "WRK_AUTH": auth}
    done = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout=10s", "-s", str(LUA), url],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    record = json.loads(line[len("WRKJSON ") :])
    seconds_run = record["duration_us"] / 1e6
    return {
        "rps": round(record["requests"] / seconds_run),
        "p99_ms": round(record["p99_us"] / 1000, 1),
        "non_2xx": record["err_status"],
    }


def _redis_calls(redis_url: str) -> tuple[int, int]:
    """(commands Redis ran, counting those scripts run; script calls). Budgets reach Redis only
    through scripts (before, the ``limits`` library's; after, ours), so on the token endpoint
    the script calls are the round trips."""
    import redis

    stats = redis.Redis.from_url(redis_url).info("commandstats")
    total = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
    scripts = sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))
    return total, scripts


def _calls_per_request(server: Server, seed: dict, redis_url: str, secret: str) -> dict:
    session = requests.Session()
    for _ in range(20):  # warm: connections, the revocation listener, script loading
        session.post(server.base_url + "/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(seed["client_id"], secret), timeout=30)  # fmt: skip
    before = _redis_calls(redis_url)
    for _ in range(500):
        session.post(server.base_url + "/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(seed["client_id"], secret), timeout=30)  # fmt: skip
    after = _redis_calls(redis_url)
    return {"commands": round((after[0] - before[0]) / 500, 2),
            "round_trips": round((after[1] - before[1]) / 500, 2)}  # fmt: skip


def _charge_cost(redis_url: str) -> dict:
    """Microseconds per budget charge as a sign-in makes it (two keys of four tiers, taken
    then refunded): the host table in CPU time (the best of 7, as the machine is shared), Redis
    in wall time (a round trip each)."""
    from authserver.budgets.buckets import Charge, Mode
    from authserver.budgets.host import HostCounters
    from authserver.budgets.store import RedisCounters
    from authserver.platform.rates import parse_rates
    from authserver.platform.redis_link import RedisLink

    rates = parse_rates("5/minute;10/15minutes;20/hour;50/day")
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, counters, timer in (
            ("host_cpu", HostCounters(Path(tmp) / "b"), time.process_time),
            ("redis_wall", RedisCounters(RedisLink(redis_url)), time.perf_counter),
        ):
            samples = []
            for _ in range(7):
                started = timer()
                for n in range(1000):
                    charge = [Charge(f"sign-in|{n % 50}", rates), Charge("ip", rates)]
                    counters.apply(time.time(), charge, Mode.TAKE)
                    counters.apply(time.time(), charge, Mode.REFUND)
                samples.append((timer() - started) / 2000 * 1e6)
            best = min(samples) if name == "host_cpu" else statistics.median(samples)
            result[name] = round(best, 1)
    return result


# In a child process whose PYTHONPATH is the tree measured: that tree's bench/hotpath.py builds
# the token request; the loop runs in this one process, so the machine's other load matters
# less than to wrk (the best batch of 7 is kept).
_IN_PROCESS = """
import json, os, sys, tempfile, time
from pathlib import Path
from hotpath import _request
from run import Server
with tempfile.TemporaryDirectory() as tmp:
    server = Server(Path(tmp), f"sqlite:///{tmp}/auth.db", workers=1, threads=1)
    seed = server.seed()
    os.environ.update(server.env)
    if sys.argv[1]:
        os.environ["AUTHSERVER_RATE_LIMIT_STORAGE"] = sys.argv[1]
    from authserver.app import create_app
    call = _request(create_app(), "token", seed)
    for _ in range(500):
        call()
    best = {"cpu": 1e9, "wall": 1e9}
    for _ in range(9):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(500):
            call()
        best["cpu"] = min(best["cpu"], (time.process_time() - cpu) / 500 * 1e6)
        best["wall"] = min(best["wall"], (time.perf_counter() - wall) / 500 * 1e6)
print("RESULT " + json.dumps({k: round(v) for k, v in best.items()}))
"""


def _in_process(trees: dict[str, Path], redis_url: str, repeats: int = 3) -> dict:
    """Microseconds per successful token request, in-process (CPU and wall time, the best of
    9 batches of 500), each tree and store in a process of its own, alternating."""
    result: dict = {}
    for _ in range(repeats):
        for name, tree in trees.items():
            for store, url in (("host", ""), ("redis", redis_url)):
                env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'bench'}"}
                env.pop("AUTHSERVER_RATE_LIMIT_STORAGE", None)
                command = [sys.executable, "-c", _IN_PROCESS, url]
                done = subprocess.run(
                    command, env=env, cwd=tree, capture_output=True, text=True, check=True
                )
                line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
                measured = json.loads(line[len("RESULT ") :])
                best = result.setdefault(name, {}).setdefault(store, measured)
                for key, value in measured.items():
                    best[key] = min(best[key], value)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the tree to compare against")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-process-only", action="store_true", help="skip the wrk runs")
    args = parser.parse_args()
    if args.in_process_only:
        from tests.services import redis_server

        with redis_server() as redis_url:
            trees = {"before": args.base.resolve(), "after": HERE.parent}
            print(json.dumps(_in_process(trees, redis_url), indent=2))
        return
    from tests.services import redis_server

    results: dict = {"runs": {}}
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        servers = {}
        for tree_name, tree in (("before", args.base.resolve()), ("after", HERE.parent)):
            for store in ("host", "redis"):
                home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                server = Server(home, f"sqlite:///{home / 'auth.db'}", workers=2, threads=4)
                server.env["PYTHONPATH"] = str(tree)
                if store == "redis":
                    server.env["AUTHSERVER_RATE_LIMIT_STORAGE"] = redis_url
                seed = server.seed()
                stack.enter_context(server.running())
                servers[(tree_name, store)] = (server, seed)
        for (tree_name, store), (server, seed) in servers.items():
            if store == "redis":
                results.setdefault("redis_calls_per_request", {})[tree_name] = {
                    "success": _calls_per_request(server, seed, redis_url, seed["secret"]),
                }
        body = f"grant_type=client_credentials&scope={SCOPE}"
        # Every success round first: before, a flood of failures from this address spent its
        # per-IP budget and the right secret was refused too (that finding, not a cost).
        for outcome in ("success", "failure"):
            for round_ in range(args.rounds):
                for (tree_name, store), (server, seed) in servers.items():
                    secret = seed["secret"] if outcome == "success" else "wrong"
                    run = _wrk(server.base_url + "/oauth/token", body,
                               _basic(seed["client_id"], secret), args.seconds)  # fmt: skip
                    key = f"{tree_name} {store} {outcome}"
                    results["runs"].setdefault(key, []).append(run)
                    print(round_, key, run, flush=True)
        for (tree_name, store), (server, seed) in servers.items():
            if store == "redis":
                results["redis_calls_per_request"][tree_name]["failure"] = _calls_per_request(
                    server, seed, redis_url, "wrong"
                )
        results["charge_microseconds"] = _charge_cost(redis_url)
        results["token_request_microseconds_in_process"] = _in_process(
            {"before": args.base.resolve(), "after": HERE.parent}, redis_url
        )
    results["medians"] = {
        key: {"rps": statistics.median(r["rps"] for r in runs),
              "p99_ms": statistics.median(r["p99_ms"] for r in runs)}
        for key, runs in results["runs"].items()
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "budgets.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
