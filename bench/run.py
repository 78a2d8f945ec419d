"""Benchmark authserver as production runs it, with the peer yardstick's harness.

Starts `authserver serve` (Granian, 2 workers x 4 threads) on a fresh database (SQLite in a
temporary directory, or a fresh PostgreSQL server with --database postgresql), seeds a client and
an API key through the CLI (and, with --scale N, N more clients, API keys and revoked jtis by bulk
insert), and drives wrk through `../shared/bench/peers/bench.py` against: client_credentials (JWT
ES256), introspection of that JWT, introspection of an API key, JWKS, discovery, revocation and
the API-key token exchange. With --peers it also runs the Flask hello-world ceiling and
node-oidc-provider through the peers' own `run_all.sh`, into the same results file, so every
ratio comes from one run on one machine.

    .venv/bin/python bench/run.py                          # ours only, 3 x 10 s per endpoint
    .venv/bin/python bench/run.py --peers                  # ours, Flask ceiling, oidc-provider
    .venv/bin/python bench/run.py --database postgresql    # the same on PostgreSQL
    .venv/bin/python bench/run.py --database postgresql --redis   # ... with Redis beside it
    .venv/bin/python bench/run.py --scale 1000000          # with a million rows of each kind
    .venv/bin/python bench/run.py --memory-minutes 5       # then 5 min of tokens, RSS per worker
    .venv/bin/python bench/run.py --smoke                  # seconds: proves the suite still runs
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


def main() -> None:
    args = _parse_args()
    _ensure_wrk()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("smoke.jsonl" if args.smoke else "results.jsonl")
    if args.smoke:
        out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_OUT": str(out), **(_SMOKE_LOAD if args.smoke else {})}
    # A smoke run writes beside the real results, never over them; so does a tagged run.
    prefix = "smoke-" if args.smoke else (f"{args.tag}-" if args.tag else "")

    with (
        tempfile.TemporaryDirectory(prefix="authserver-bench-") as tmp,
        _database(args.database, Path(tmp)) as database_url,
        _redis(args.redis) as redis_url,
    ):
        server = Server(Path(tmp), database_url, workers=args.workers, threads=args.threads)
        if redis_url:
            server.env["AUTHSERVER_REDIS_URL"] = redis_url
        seed = server.seed()
        config = f"granian {args.workers}w x {args.threads}t, {_DATABASE_LABELS[args.database]}"
        config += " + Redis" if redis_url else ""
        if os.environ.get("AUTHSERVER_REVOCATION_CACHE_TTL") == "0":
            config += ", TTL 0"  # no jti or API-key memory: each introspection reads the database
        if args.scale:
            from scale import seed as seed_rows

            timings = seed_rows(database_url, args.scale)
            print(f"seeded {args.scale:,} clients, API keys and revoked jtis: {timings}")
            config += f", {args.scale:,} stored rows"
        with server.running():
            _measure_ours(server, seed, config, env)
            _measure_more(server, seed, config, env)
            _measure_introspection_pairs(server, seed, env, 1 if args.smoke else 3, prefix)
            _measure_verify(server, seed, 1 if args.smoke else 5, prefix)
            if args.memory_minutes:
                _measure_memory(server, seed, config, env, args.memory_minutes, prefix)
    if args.peers:
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
