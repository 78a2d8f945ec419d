"""Slow and idle clients against `authserver serve`: do normal requests still get answered?

Starts `authserver serve` (the shipped settings, plus any `--serve-arg`) on a fresh SQLite
database, seeds a client, then opens ``--idle`` keep-alive connections (each sends one request,
reads the answer and then sits silent) and ``--slow`` slow-header connections (a request line,
then one header line every ``--trickle`` seconds, never the blank line that ends the head: the
slowloris pattern). Meanwhile a probe opens a fresh connection every ``--interval`` seconds, as
a new client would, and alternates `GET /healthz` and a client_credentials token request, each
with a 10 s deadline. With ``--reopen`` the attacker opens a new connection of the same kind
whenever the server closes one (the attack keeps its strength; timeouts alone cannot win then).

    .venv/bin/python bench/slow_clients.py                         # 500 idle + 100 slow, 45 s
    .venv/bin/python bench/slow_clients.py --reopen --seconds 60
    .venv/bin/python bench/slow_clients.py --serve-arg=--backpressure=64   # a setting to compare

Prints, per 5 s window, the probes answered / failed and their median and worst latency, and
how many attacker connections the server still holds; appends one JSON record to
`bench/results/slow-clients.jsonl` (git-ignored). Loopback only; every socket is closed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from run import RESULTS, Server, _database, _worker_rss_mib

PROBE_DEADLINE_SECONDS = 10.0
WINDOW_SECONDS = 5


def main() -> None:
    args = _parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="authserver-slow-") as tmp,
        _database("sqlite", Path(tmp)) as database_url,
    ):
        server = Server(Path(tmp), database_url, workers=args.workers, threads=args.threads)
        server.serve_args = list(args.serve_arg)
        seed = server.seed()
        with server.running():
            record = asyncio.run(_attack_and_probe(server, seed, args))
        if record["failures"] and args.log_tail:
            print(server.log_path.read_text()[-args.log_tail :])
    record.update(
        idle=args.idle, slow=args.slow, silent=args.silent, slow_body=args.slow_body,
        reopen=args.reopen,
        trickle=args.trickle, serve_args=args.serve_arg, tag=args.tag, workers=args.workers,
        threads=args.threads,
        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )  # fmt: skip
    with (RESULTS / "slow-clients.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")
    _print(record)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=500, help="idle keep-alive connections")
    parser.add_argument("--slow", type=int, default=100, help="slow-header connections")
    parser.add_argument("--silent", type=int, default=0, help="connections that send nothing")
    parser.add_argument(
        "--slow-body", type=int, default=0, help="connections that trickle a request body"
    )
    parser.add_argument("--trickle", type=float, default=2.0, help="seconds between header lines")
    parser.add_argument("--seconds", type=float, default=45, help="how long to probe")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between probes")
    parser.add_argument(
        "--reopen", action="store_true", help="replace the connections the server closes"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `serve` option")
    parser.add_argument("--tag", default="", help="a label for the record")
    parser.add_argument("--log-tail", type=int, default=0, help="print this much of the log")
    return parser.parse_args()


class Attack:
    """The idle and slow connections, and how many of them the server holds."""

    def __init__(self, port: int, trickle: float, reopen: bool) -> None:
        self.port, self.trickle, self.reopen = port, trickle, reopen
        self.host = f"127.0.0.1:{port}".encode()
        self.open = {"idle": 0, "slow": 0, "silent": 0, "slow-body": 0}
        self.closed_by_server = {"idle": 0, "slow": 0, "silent": 0, "slow-body": 0}
        self.writers: set[asyncio.StreamWriter] = set()
        self.stopping = False

    async def connection(self, kind: str) -> None:
        while not self.stopping:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 10
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(0.5)
                continue
            self.writers.add(writer)
            self.open[kind] += 1
            try:
                if kind == "silent":
                    await reader.read(1)  # sends nothing at all; waits for the server to close
                elif kind == "slow-body":
                    # A complete head, then the body one byte per trickle: the app's thread
                    # reading it waits for each byte (no header timeout applies any more).
                    writer.write(b"POST /oauth/token HTTP/1.1\r\nHost: " + self.host + b"\r\n"
                                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                                 b"Content-Length: 1000\r\n\r\n")  # fmt: skip
                    while not reader.at_eof():
                        try:
                            await asyncio.wait_for(reader.read(4096), self.trickle)
                        except TimeoutError:
                            writer.write(b"a")
                            await writer.drain()
                elif kind == "idle":
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: " + self.host + b"\r\n\r\n")
                    await writer.drain()
                    while await reader.read(4096):  # the answer, then silence until EOF
                        pass
                else:
                    writer.write(b"POST /oauth/token HTTP/1.1\r\nHost: " + self.host + b"\r\n")
                    await writer.drain()
                    line = 0
                    while not reader.at_eof():
                        try:
                            await asyncio.wait_for(reader.read(4096), self.trickle)
                        except TimeoutError:
                            line += 1
                            writer.write(b"X-Slow-%d: 1\r\n" % line)
                            await writer.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                self.open[kind] -= 1
                self.writers.discard(writer)
                writer.close()
            if self.stopping:
                return
            self.closed_by_server[kind] += 1
            if not self.reopen:
                return

    def close_all(self) -> None:
        self.stopping = True
        for writer in list(self.writers):
            writer.close()


async def _probe(port: int, request: bytes, expect: bytes) -> tuple[bool, float, str]:
    started = time.monotonic()
    writer = None
    try:

        async def exchange() -> bytes:
            nonlocal writer
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            return await reader.read()  # Connection: close, so the whole answer, then EOF

        answer = await asyncio.wait_for(exchange(), PROBE_DEADLINE_SECONDS)
        ok = answer.startswith(b"HTTP/1.1 200") and expect in answer
        return ok, time.monotonic() - started, "" if ok else answer[:40].decode("latin-1")
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
        return False, time.monotonic() - started, type(error).__name__
    finally:
        if writer is not None:
            writer.close()


async def _attack_and_probe(server: Server, seed: dict, args: argparse.Namespace) -> dict:
    # A loopback Host: Authlib refuses plain http to any other name.
    host = f"127.0.0.1:{server.port}".encode()
    basic = base64.b64encode(f"{seed['client_id']}:{seed['secret']}".encode()).decode()
    body = b"grant_type=client_credentials&scope=api%3Aread"
    token_request = (
        b"POST /oauth/token HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n"
        b"Authorization: Basic " + basic.encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    healthz_request = b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    probes = {
        "healthz": (healthz_request, b"ok"),
        "token": (token_request, b"access_token"),
    }
    rss_quiet = _worker_rss_mib(server.pid)
    # Before the attack: the same probes on a quiet server, for comparison.
    quiet = {name: [] for name in probes}
    for _ in range(10):
        for name, (request, expect) in probes.items():
            ok, seconds, _ = await _probe(server.port, request, expect)
            quiet[name].append(seconds if ok else None)

    attack = Attack(server.port, args.trickle, args.reopen)
    tasks = [asyncio.create_task(attack.connection("idle")) for _ in range(args.idle)]
    tasks += [asyncio.create_task(attack.connection("slow")) for _ in range(args.slow)]
    tasks += [asyncio.create_task(attack.connection("silent")) for _ in range(args.silent)]
    tasks += [asyncio.create_task(attack.connection("slow-body")) for _ in range(args.slow_body)]
    await asyncio.sleep(2)  # let them connect (and the idle ones get their first answer)
    windows: list[dict] = []
    started = time.monotonic()
    results: list[tuple[float, str, bool, float, str]] = []
    names = list(probes)
    index = 0
    pending: set[asyncio.Task] = set()

    async def one(name: str) -> None:
        at = time.monotonic() - started
        ok, seconds, why = await _probe(server.port, *probes[name])
        results.append((at, name, ok, seconds, why))

    next_window = WINDOW_SECONDS
    while time.monotonic() - started < args.seconds:
        task = asyncio.create_task(one(names[index % len(names)]))
        pending.add(task)
        task.add_done_callback(pending.discard)
        index += 1
        await asyncio.sleep(args.interval)
        if time.monotonic() - started >= next_window:
            windows.append({"at": next_window, "held": dict(attack.open),
                            "closed_by_server": dict(attack.closed_by_server),
                            "worker_rss_mib": _worker_rss_mib(server.pid)})  # fmt: skip
            next_window += WINDOW_SECONDS
    await asyncio.gather(*pending, return_exceptions=True)
    attack.close_all()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    for window in windows:
        start = window["at"] - WINDOW_SECONDS
        for name in names:
            rows = [r for r in results if r[1] == name and start <= r[0] < window["at"]]
            window[name] = _summary(rows)
    return {
        "worker_rss_mib_quiet": rss_quiet,
        "quiet": {n: _latencies([s for s in v if s is not None], len(v)) for n, v in quiet.items()},
        "under_attack": {n: _summary([r for r in results if r[1] == n]) for n in names},
        "windows": windows,
        "failures": sorted({r[4] for r in results if not r[2]}),
    }


def _summary(rows: list) -> dict:
    answered = [r[3] for r in rows if r[2]]
    return _latencies(answered, len(rows))


def _latencies(answered: list[float], total: int) -> dict:
    if not answered:
        return {"ok": 0, "failed": total}
    answered.sort()
    return {
        "ok": len(answered),
        "failed": total - len(answered),
        "p50_ms": round(statistics.median(answered) * 1000, 1),
        "p99_ms": round(answered[min(len(answered) - 1, int(len(answered) * 0.99))] * 1000, 1),
        "max_ms": round(answered[-1] * 1000, 1),
    }


def _print(record: dict) -> None:
    print(f"serve args: {record['serve_args'] or '(shipped settings)'}; idle {record['idle']}, "
          f"slow {record['slow']}, silent {record['silent']}, "
          f"slow-body {record['slow_body']}, "
          f"reopen {record['reopen']}")  # fmt: skip
    print("quiet:", json.dumps(record["quiet"]), "rss", record["worker_rss_mib_quiet"])
    print("under attack:", json.dumps(record["under_attack"]))
    for window in record["windows"]:
        print(f"  {window['at'] - WINDOW_SECONDS:>3}-{window['at']:<3}s held {window['held']} "
              f"closed {window['closed_by_server']} rss {window['worker_rss_mib']} "
              f"healthz {window['healthz']} token {window['token']}")  # fmt: skip
    if record["failures"]:
        print("failures:", record["failures"])


if __name__ == "__main__":
    sys.exit(main())
