"""What a boolean setting costs a token request: `authserver serve` with it on and off (by
default ``AUTHSERVER_ACCESS_LOG``, the access line; ``--setting AUTHSERVER_LEAN_PATH``, the lean
door), for this tree and, with ``--base``, another, in alternating runs.

    git archive HEAD | tar -x -C /tmp/access-base     # the tree to compare against
    .venv/bin/python bench/toggle.py --base /tmp/access-base [--seconds 8] [--rounds 5]
    .venv/bin/python bench/toggle.py --setting AUTHSERVER_LEAN_PATH --tag lean

Each configuration is its own `authserver serve` (Granian 2 workers x 4 threads, SQLite, its
stderr to a file as under a process manager), all started and seeded first, then loaded one at
a time by wrk (`-t2 -c32`, the peers' request script, client_credentials) in rounds A B C D A B
C D ..., so that this VM's drift, and whatever else runs on it, hits every configuration alike.
Beside the rate, the server's CPU a request (its processes' user and system time over the run,
divided by the requests answered): it moves less than the rate when another process takes a
core. Medians, and each round's on/off ratios, go to bench/results/[TAG-]access_log.json (the
access log) or [TAG-]<setting>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from budgets import _wrk  # noqa: E402
from run import RESULTS, SCOPE, Server, _basic  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User and system time of the process and its children (Granian's workers) so far."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the tree to compare against")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tag", default="", help="prefix of the results file")
    parser.add_argument("--setting", default="AUTHSERVER_ACCESS_LOG", help="the boolean setting")
    args = parser.parse_args()
    trees = {"this tree": HERE.parent}
    if args.base:
        trees = {"base": args.base.resolve(), **trees}
    runs: dict[str, list[dict]] = {}
    label = "access log" if args.setting == "AUTHSERVER_ACCESS_LOG" else args.setting
    with contextlib.ExitStack() as stack:
        servers = {}
        for tree_name, tree in trees.items():
            for state in ("on", "off"):
                home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                server = Server(home, f"sqlite:///{home / 'auth.db'}", workers=2, threads=4)
                server.env["PYTHONPATH"] = str(tree)
                server.env[args.setting] = "true" if state == "on" else "false"
                seed = server.seed()
                stack.enter_context(server.running())
                servers[f"{tree_name}, {label} {state}"] = (server, seed)
        body = f"grant_type=client_credentials&scope={SCOPE}"
        for round_ in range(args.rounds):
            for name, (server, seed) in servers.items():
                before = _cpu_seconds(server.pid)
                run = _wrk(server.base_url + "/oauth/token", body,
                           _basic(seed["client_id"], seed["secret"]), args.seconds)  # fmt: skip
                spent = _cpu_seconds(server.pid) - before
                run["server_cpu_us"] = round(spent / (run["rps"] * args.seconds) * 1e6)
                runs.setdefault(name, []).append(run)
                print(round_, name, run, flush=True)
    medians = {
        name: {key: statistics.median(r[key] for r in each)
               for key in ("rps", "p99_ms", "server_cpu_us")}
        for name, each in runs.items()
    }  # fmt: skip
    ratios = {}
    for tree_name in trees:
        pairs = list(zip(runs[f"{tree_name}, {label} on"], runs[f"{tree_name}, {label} off"],
                         strict=True))  # fmt: skip
        ratios[tree_name] = {
            "rps_on_over_off": [round(on["rps"] / off["rps"], 3) for on, off in pairs],
            "cpu_on_over_off": [round(on["server_cpu_us"] / off["server_cpu_us"], 3)
                                for on, off in pairs],
        }  # fmt: skip
    results = {"runs": runs, "medians": medians, "per_round": ratios}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "access_log" if args.setting == "AUTHSERVER_ACCESS_LOG" else args.setting.lower()
    out = RESULTS / f"{args.tag + '-' if args.tag else ''}{name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
