"""Benchmark authserver as production runs it, with the peer yardstick's harness.

Starts `authserver serve` (Granian, 2 workers x 4 threads) on a fresh database (SQLite in a
temporary directory, or a fresh PostgreSQL server with --database postgresql), seeds a client and
an API key through the CLI (and, with --scale N, N more clients, API keys and revoked jtis by bulk
insert), and drives wrk through `../shared/bench/peers/bench.py` against: client_credentials (JWT
ES256), introspection of that JWT, introspection of an API key, JWKS, discovery, revocation,
the API-key token exchange, and the gateway's decision (`/gateway/check`, as nginx
`auth_request` asks it) for that JWT, for the API key and for an API key with a rate limit.
With --peers it also runs the Flask hello-world ceiling and node-oidc-provider through the
peers' own `run_all.sh`, into the same results file, so every ratio comes from one run on one
machine.

    .venv/bin/python bench/run.py                          # ours only, 3 x 10 s per endpoint
    .venv/bin/python bench/run.py --peers                  # ours, Flask ceiling, oidc-provider
    .venv/bin/python bench/run.py --database postgresql    # the same on PostgreSQL
    .venv/bin/python bench/run.py --database postgresql --redis   # ... with Redis beside it
    .venv/bin/python bench/run.py --scale 1000000          # with a million rows of each kind
    .venv/bin/python bench/run.py --memory-minutes 5       # then 5 min of tokens, RSS per worker
    .venv/bin/python bench/run.py --smoke                  # seconds: proves the suite still runs
    .venv/bin/python bench/run.py --only gateway           # JWT introspection beside the gateway
    .venv/bin/python bench/run.py --only token --tag log-on   # client_credentials alone
    AUTHSERVER_ACCESS_LOG=false .venv/bin/python bench/run.py --only token --tag log-off
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))  # tests.services: the throwaway PostgreSQL and Redis servers
PEERS = Path(os.environ.get("PEERS_HARNESS", ROOT.parent / "shared" / "bench" / "peers"))
AUTHSERVER = str(Path(sys.executable).parent / "authserver")
SCOPE = "api:read"
API_KEY_HINT = "api_key"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
API_KEY_TOKEN_TYPE = "urn:authserver:params:oauth:token-type:api_key"  # noqa: S105
# The gateway's decision: one rule for the API's /orders, asking for SCOPE, and the request
# nginx `auth_request` describes in its headers (docs/gateway.md, "The original request").
GATEWAY_PATH = "/gateway/check"
GATEWAY_ORIGINAL = {
    "X-Original-Method": "GET",
    "X-Original-URI": "/orders/1",
    "X-Forwarded-Host": "api.example",
}
# High enough never to refuse under wrk, so every decision pays the bucket bookkeeping.
GATEWAY_RATE_LIMIT = "1000000/second"


def main() -> None:
    args = _parse_args()
    _ensure_wrk()
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A smoke run writes beside the real results, never over them; so does a tagged run, and
    # a partial one (--only) to a file of its own, so the full table is not mixed with it.
    prefix = "smoke-" if args.smoke else (f"{args.tag}-" if args.tag else "")
    if args.smoke:
        out = RESULTS / "smoke.jsonl"
        out.unlink(missing_ok=True)
    elif args.only:
        out = RESULTS / f"{prefix}{args.only}.jsonl"
    else:
        out = RESULTS / "results.jsonl"
    env = {**os.environ, "BENCH_OUT": str(out), **(_SMOKE_LOAD if args.smoke else {})}

    with (
        tempfile.TemporaryDirectory(prefix="authserver-bench-") as tmp,
        _database(args.database, Path(tmp)) as database_url,
        _redis(args.redis) as redis_url,
    ):
        server = Server(Path(tmp), database_url, workers=args.workers, threads=args.threads)
        if redis_url:
            server.env["AUTHSERVER_REDIS_URL"] = redis_url
        seed = server.seed()
        seed.update(server.seed_gateway(seed))
        config = f"granian {args.workers}w x {args.threads}t, {_DATABASE_LABELS[args.database]}"
        config += " + Redis" if redis_url else ""
        if os.environ.get("AUTHSERVER_ACCESS_LOG", "true").lower() in ("false", "0", "no", "off"):
            config += ", access log off"
        if os.environ.get("AUTHSERVER_REVOCATION_CACHE_TTL") == "0":
            config += ", TTL 0"  # no jti or API-key memory: each introspection reads the database
        if args.scale:
            from scale import seed as seed_rows

            timings = seed_rows(database_url, args.scale)
            print(f"seeded {args.scale:,} clients, API keys and revoked jtis: {timings}")
            config += f", {args.scale:,} stored rows"
        with server.running():
            rounds = 1 if args.smoke else 3
            if args.only == "token":
                _measure_token(server, seed, config, env)
            elif args.only == "gateway":
                _measure_introspection(server, seed, config, env)
                _measure_gateway(server, seed, config, env)
                _measure_gateway_pairs(server, seed, env, rounds, prefix)
            else:
                _measure_ours(server, seed, config, env)
                _measure_more(server, seed, config, env)
                _measure_gateway(server, seed, config, env)
                _measure_introspection_pairs(server, seed, env, rounds, prefix)
                _measure_gateway_pairs(server, seed, env, rounds, prefix)
                _measure_verify(server, seed, 1 if args.smoke else 5, prefix)
                if args.memory_minutes:
                    _measure_memory(server, seed, config, env, args.memory_minutes, prefix)
    if args.peers and not args.only:
        _measure_peers(env)
    _report(out)


_DATABASE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@contextlib.contextmanager
def _redis(wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    _ensure_debian("/usr/bin/redis-server", "redis-server")
    from tests.services import redis_server

    with redis_server() as url:
        yield url


@contextlib.contextmanager
def _database(kind: str, home: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{home / 'auth.db'}"
        return
    _ensure_debian("/usr/lib/postgresql", "postgresql")
    from tests.services import postgres

    with postgres() as server:
        yield server()


_SMOKE_LOAD = {
    "BENCH_RUNS": "1",
    "BENCH_DURATION": "1",
    "BENCH_WARMUP": "1",
    "BENCH_QUIET_MAX": "5",
}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one 1-second run per endpoint")
    parser.add_argument("--peers", action="store_true", help="also run Flask and oidc-provider")
    parser.add_argument(
        "--only",
        choices=["gateway", "token"],
        help="gateway: only JWT introspection and the gateway's decisions, into gateway.jsonl; "
        "token: only client_credentials, into token.jsonl",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database", choices=sorted(_DATABASE_LABELS), default="sqlite")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="bulk-insert this many clients, API keys and revoked jtis first",
    )
    parser.add_argument(
        "--redis", action="store_true", help="rate limits and revocation news through Redis"
    )
    parser.add_argument(
        "--tag", default="", help="prefix of this run's side files (pairs, verify, memory)"
    )
    parser.add_argument(
        "--memory-minutes",
        type=float,
        default=0,
        help="then load the token endpoint this long, sampling each worker's RSS",
    )
    return parser.parse_args()


def _ensure_debian(path: str, package: str) -> None:
    if not Path(path).exists():
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)


def _ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


class Server:
    """`authserver serve` on a free loopback port with its own database and key files."""

    def __init__(self, home: Path, database_url: str, workers: int, threads: int) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.log_path = home / "server.log"
        self.pid: int | None = None
        self.serve_args: list[str] = []  # extra `serve` options (bench/slow_clients.py)
        self.env = {
            **os.environ,
            "AUTHSERVER_DATABASE_URL": database_url,
            "AUTHSERVER_KEYS_DIR": str(home / "keys"),
            "AUTHSERVER_METRICS_DIR": str(home / "metrics"),
            "AUTHSERVER_ISSUER": self.base_url,
        }

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [AUTHSERVER, *args], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.exit(f"authserver {args[0]} failed:\n{done.stderr}")
        return done.stdout

    def seed(self) -> dict[str, str]:
        """A resource-server client that may ask for `api:read` and owns an API key for it."""
        self.cli("init")
        self.cli("roles", "create", "api-user", "--scope", SCOPE)
        client = json.loads(
            self.cli(
                "clients", "create", "--name", "bench", "--scope", SCOPE,
                "--role", "resource-server", "--role", "api-user",
                "--grant-type", "client_credentials", "--grant-type", TOKEN_EXCHANGE,
                "--json",
            )
        )  # fmt: skip
        key = json.loads(
            self.cli(
                "apikeys", "create", "--client", client["client_id"], "--scope", SCOPE, "--json"
            )
        )
        return {
            "client_id": client["client_id"],
            "secret": client["client_secret"],
            "key": key["key"],
        }

    def seed_gateway(self, seed: dict[str, str]) -> dict[str, str]:
        """The gateway's rule (GATEWAY_ORIGINAL's path, asking for SCOPE) and a second API key
        of the client carrying GATEWAY_RATE_LIMIT. A second key, because a key's limits hold
        wherever it is presented: introspection of the first key stays without buckets."""
        self.cli("gateway", "rules", "add", "orders", "--path", "/orders", "--scope", SCOPE)
        key = json.loads(
            self.cli(
                "apikeys", "create", "--client", seed["client_id"], "--scope", SCOPE,
                "--name", "bench-limited", "--json",
            )
        )  # fmt: skip
        self.cli("gateway", "limits", key["id"], "--rate-limit", GATEWAY_RATE_LIMIT)
        return {"limited_key": key["key"], "limited_key_id": key["id"]}

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        command = [
            AUTHSERVER, "serve", "--port", str(self.port),
            "--workers", str(self.workers), "--threads", str(self.threads), *self.serve_args,
        ]  # fmt: skip
        with self.log_path.open("w") as log:
            proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.pid = proc.pid
        try:
            _harness("wait", self.base_url + "/readyz", "--timeout", "60")
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _measure_ours(server: Server, seed: dict[str, str], config: str, env: dict) -> None:
    common = ["--server", "authserver", "--config", config, "--server-pid", str(server.pid)]
    _harness(
        "target", *common,
        "--base-url", server.base_url,
        "--token-path", "/oauth/token",
        "--introspect-path", "/oauth/introspect",
        "--jwks-path", "/.well-known/jwks.json",
        "--discovery-path", "/.well-known/openid-configuration",
        "--client-id", seed["client_id"], "--client-secret", seed["secret"], "--scope", SCOPE,
        env=env,
    )  # fmt: skip
    # Same endpoint, same client authentication, an API key instead of a JWT (issue: API-key
    # introspection must cost about what JWT introspection costs).
    _harness(
        "url", *common,
        "--endpoint", "introspect api key",
        "--url", server.base_url + "/oauth/introspect",
        "--method", "POST",
        "--body", f"token={seed['key']}&token_type_hint={API_KEY_HINT}",
        "--auth", _basic(seed["client_id"], seed["secret"]),
        "--expect", '"active": true',
        env=env,
    )  # fmt: skip


def _measure_token(server: Server, seed: dict[str, str], config: str, env: dict) -> None:
    """client_credentials alone, as `_measure_ours` measures it (with the server's CPU)."""
    _harness(
        "target", "--server", "authserver", "--config", config, "--server-pid", str(server.pid),
        "--base-url", server.base_url,
        "--token-path", "/oauth/token",
        "--client-id", seed["client_id"], "--client-secret", seed["secret"], "--scope", SCOPE,
        "--endpoints", "token",
        env=env,
    )  # fmt: skip


def _measure_introspection(server: Server, seed: dict[str, str], config: str, env: dict) -> None:
    """Introspection of a fresh client_credentials JWT alone, as `_measure_ours` measures it."""
    _harness(
        "target", "--server", "authserver", "--config", config, "--server-pid", str(server.pid),
        "--base-url", server.base_url,
        "--token-path", "/oauth/token",
        "--introspect-path", "/oauth/introspect",
        "--client-id", seed["client_id"], "--client-secret", seed["secret"], "--scope", SCOPE,
        "--endpoints", "introspect",
        env=env,
    )  # fmt: skip


def _gateway_scenarios(token: str, seed: dict[str, str]) -> list[tuple[str, dict[str, str], str]]:
    """(endpoint label, the credential's header, the X-Auth-Credential an allow names)."""
    return [
        ("gateway jwt", {"Authorization": f"Bearer {token}"}, "jwt"),
        ("gateway api key", {"X-API-Key": seed["key"]}, "api_key"),
        ("gateway api key, rate limit", {"X-API-Key": seed["limited_key"]}, "api_key"),
    ]


def _measure_gateway(server: Server, seed: dict[str, str], config: str, env: dict) -> None:
    """The gateway's decision (`GET /gateway/check` with nginx `auth_request`'s headers) for a
    client_credentials JWT, for the API key, and for the key with a rate limit that never
    refuses. Each is checked first for what a gateway relies on: a 200 naming the rule and the
    credential, and for the limited key the RateLimit fields its buckets' bookkeeping adds."""
    token = _client_credentials(server, seed)
    for label, credential, kind in _gateway_scenarios(token, seed):
        answer = requests.get(
            server.base_url + GATEWAY_PATH, headers={**GATEWAY_ORIGINAL, **credential}, timeout=10
        )
        limited = "rate limit" in label
        if (
            answer.status_code != 200
            or answer.headers.get("X-Auth-Rule") != "orders"
            or answer.headers.get("X-Auth-Credential") != kind
            or limited != ("RateLimit-Policy" in answer.headers)
        ):
            sys.exit(f"{label}: not the decision expected: {answer.status_code} "
                     f"{dict(answer.headers)}")  # fmt: skip
        _gateway_harness(server, config, label, credential, env)


def _gateway_harness(
    server: Server, config: str, label: str, credential: dict[str, str], env: dict
) -> None:
    """One gateway scenario through the peers' harness, with the headers wrk's stock script
    cannot send (bench/harness_headers.py, bench/wrk/headers.lua)."""
    headers = {**GATEWAY_ORIGINAL, **credential}
    auth = headers.pop("Authorization", None)
    lines = "\n".join(f"{name}: {value}" for name, value in headers.items())
    args = [
        "url", "--server", "authserver", "--config", config, "--server-pid", str(server.pid),
        "--endpoint", label, "--url", server.base_url + GATEWAY_PATH, "--method", "GET",
        *(["--auth", auth] if auth else []),
    ]  # fmt: skip
    subprocess.run(
        [sys.executable, str(Path(__file__).parent / "harness_headers.py"), *args],
        env={**env, "WRK_HEADERS": lines, "PEERS_HARNESS": str(PEERS)},
        check=True,
    )


def _measure_gateway_pairs(
    server: Server, seed: dict[str, str], env: dict, rounds: int, prefix: str
) -> None:
    """JWT introspection and the three gateway decisions in alternating short runs (as
    `_measure_introspection_pairs`: this VM's speed drifts), each decision's rate over the
    introspection's of its round kept; and the server's CPU per request, which does not move
    when one worker happens to take every connection and the other core idles."""
    token = _client_credentials(server, seed)
    out = RESULTS / f"{prefix}gateway_pairs.jsonl"
    out.unlink(missing_ok=True)
    pair_env = {**env, "BENCH_OUT": str(out), "BENCH_RUNS": "1", "BENCH_WARMUP": "1"}
    pair_env.setdefault("BENCH_DURATION", "5")
    for round_ in range(rounds):
        config = f"gateway pair {round_}"
        _harness(
            "url", "--server", "authserver", "--config", config,
            "--server-pid", str(server.pid), "--endpoint", "introspect jwt",
            "--url", server.base_url + "/oauth/introspect", "--method", "POST",
            "--body", f"token={token}&token_type_hint=access_token",
            "--auth", _basic(seed["client_id"], seed["secret"]), "--expect", '"active": true',
            env=pair_env,
        )  # fmt: skip
        for label, credential, _ in _gateway_scenarios(token, seed):
            _gateway_harness(server, config, label, credential, pair_env)
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    rates: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, int]] = {}
    for r in records:
        rates.setdefault(r["config"], {})[r["endpoint"]] = r.get("rps", 0.0)
        if r.get("rps") and r.get("server_cores"):
            cpu.setdefault(r["config"], {})[r["endpoint"]] = round(
                r["server_cores"] / r["rps"] * 1e6
            )
    labels = [label for label, _, _ in _gateway_scenarios(token, seed)]
    over_jwt = {
        label: [
            round(v[label] / v["introspect jwt"], 2)
            for v in rates.values()
            if v.get("introspect jwt") and v.get(label)
        ]
        for label in labels
    }
    summary = {
        "pairs_req_per_s": rates,
        "server_cpu_us_per_request": cpu,
        "over_introspect_jwt": over_jwt,
    }
    (RESULTS / f"{prefix}gateway_pairs.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(summary)


def _measure_more(server: Server, seed: dict[str, str], config: str, env: dict) -> None:
    """Revocation (the same token again and again: after the first, an already revoked token,
    which RFC 7009 answers 200 all the same) and the API-key exchange for a JWT (RFC 8693)."""
    common = ["--server", "authserver", "--config", config, "--server-pid", str(server.pid),
              "--auth", _basic(seed["client_id"], seed["secret"]), "--method", "POST"]  # fmt: skip
    token = _client_credentials(server, seed)
    _harness(
        "url", *common, "--endpoint", "revoke",
        "--url", server.base_url + "/oauth/revoke",
        "--body", f"token={token}&token_type_hint=access_token",
        env=env,
    )  # fmt: skip
    _harness(
        "url", *common, "--endpoint", "token exchange (API key)",
        "--url", server.base_url + "/oauth/token",
        "--body", f"grant_type={TOKEN_EXCHANGE}&subject_token={seed['key']}"
                  f"&subject_token_type={API_KEY_TOKEN_TYPE}",
        "--expect", '"access_token"',
        env=env,
    )  # fmt: skip


def _measure_memory(
    server: Server, seed: dict[str, str], config: str, env: dict, minutes: float, prefix: str
) -> None:
    """Load the token endpoint for ``minutes`` in 30 s slices; after each, every worker's RSS."""
    slices = max(1, round(minutes * 2))
    slice_env = {
        **env,
        "BENCH_OUT": str(RESULTS / f"{prefix}memory.jsonl"),
        "BENCH_RUNS": "1",
        "BENCH_WARMUP": "0",
        "BENCH_DURATION": env.get("BENCH_MEMORY_SLICE", "30"),
    }
    (RESULTS / f"{prefix}memory.jsonl").unlink(missing_ok=True)
    samples = []
    for index in range(slices):
        _harness(
            "url", "--server", "authserver", "--config", f"{config}, memory slice {index}",
            "--endpoint", "token", "--url", server.base_url + "/oauth/token", "--method", "POST",
            "--body", f"grant_type=client_credentials&scope={SCOPE}",
            "--auth", _basic(seed["client_id"], seed["secret"]), "--expect", '"access_token"',
            env=slice_env,
        )  # fmt: skip
        samples.append({"after_seconds": (index + 1) * int(slice_env["BENCH_DURATION"]),
                        "worker_rss_mib": _worker_rss_mib(server.pid)})  # fmt: skip
    first, last = samples[0]["worker_rss_mib"], samples[-1]["worker_rss_mib"]
    growth = [round(b - a, 1) for a, b in zip(first, last, strict=False)]
    record = {"config": config, "samples": samples, "growth_mib_after_first_slice": growth}
    (RESULTS / f"{prefix}memory.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record)


def _worker_rss_mib(pid: int) -> list[float]:
    """RSS of each child process of the server (Granian's workers), in MiB."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    sizes = []
    for child in children:
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sizes


def _client_credentials(server: Server, seed: dict[str, str]) -> str:
    return requests.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(seed["client_id"], seed["secret"]),
        timeout=10,
    ).json()["access_token"]


def _measure_introspection_pairs(
    server: Server, seed: dict, env: dict, rounds: int, prefix: str
) -> None:
    """JWT and API-key introspection in alternating short runs, so that a machine whose speed
    drifts during a run (this VM's does) affects both alike; the ratio of each pair is kept."""
    token = requests.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(seed["client_id"], seed["secret"]),
        timeout=10,
    ).json()["access_token"]
    out = RESULTS / f"{prefix}introspection_pairs.jsonl"
    out.unlink(missing_ok=True)
    pair_env = {**env, "BENCH_OUT": str(out), "BENCH_RUNS": "1", "BENCH_WARMUP": "1"}
    pair_env.setdefault("BENCH_DURATION", "5")
    for round_ in range(rounds):
        for label, body in (
            ("jwt", f"token={token}&token_type_hint=access_token"),
            ("api key", f"token={seed['key']}&token_type_hint={API_KEY_HINT}"),
        ):
            _harness(
                "url", "--server", "authserver", "--config", f"pair {round_}",
                "--endpoint", f"introspect {label}",
                "--url", server.base_url + "/oauth/introspect", "--method", "POST",
                "--body", body, "--auth", _basic(seed["client_id"], seed["secret"]),
                "--expect", '"active": true',
                env=pair_env,
            )  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    by_round: dict[str, dict[str, float]] = {}
    for r in records:
        by_round.setdefault(r["config"], {})[r["endpoint"]] = r.get("rps", 0.0)
    ratios = [
        round(v["introspect api key"] / v["introspect jwt"], 2)
        for v in by_round.values()
        if v.get("introspect jwt") and v.get("introspect api key")
    ]
    summary = {"pairs_req_per_s": by_round, "api_key_over_jwt": ratios}
    (RESULTS / f"{prefix}introspection_pairs.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(summary)


def _measure_verify(server: Server, seed: dict[str, str], seconds: float, prefix: str) -> None:
    """`authserver_verify.verify_access_token` with a warm JWKS cache, one thread."""
    from authserver_verify import JWKSCache, verify_access_token

    token = requests.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(seed["client_id"], seed["secret"]),
        timeout=10,
    ).json()["access_token"]
    jwks = JWKSCache(server.base_url + "/.well-known/jwks.json")
    verify = functools.partial(
        verify_access_token, token, jwks=jwks, issuer=server.base_url, audience=server.base_url
    )
    verify()  # warms the cache: the loop below never fetches
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            verify()
        count += 100
    record = {
        "what": "authserver_verify.verify_access_token, warm JWKS cache, one thread",
        "alg": json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"],
        "verifications_per_second": round(count / elapsed),
        "jwks_fetches": jwks.fetches,
    }
    (RESULTS / f"{prefix}verify.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record)


def _measure_peers(env: dict) -> None:
    """The Flask ceiling and node-oidc-provider, measured by the peers' script into our file."""
    peer_env = {
        **env,
        "OIDC_VARIANTS": env.get("OIDC_VARIANTS", "jwt-es256 opaque"),
        "OIDC_WORKERS": env.get("OIDC_WORKERS", "1 2"),
    }
    subprocess.run(
        [str(PEERS / "run_all.sh"), "install", "flask", "oidc"], env=peer_env, check=True
    )


def _report(out: Path) -> None:
    table = subprocess.run(
        [sys.executable, str(PEERS / "bench.py"), "report", "--results", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    report = out.with_suffix(".md")
    report.write_text(table)
    print(table)
    print(f"written: {out} and {report}")


def _harness(*args: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, str(PEERS / "bench.py"), *args], env=env, check=True)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
