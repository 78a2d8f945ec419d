"""A throwaway Redis server for the tests that need one (Debian's `redis-server`, installed by
`make test`): started in a temporary directory on a free loopback port, no persistence."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import pytest

from tests.server_process import free_port

REDIS_SERVER = "/usr/bin/redis-server"


@pytest.fixture(scope="session")
def redis_url():
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is missing (make test installs Debian's redis-server)")
    import redis

    workdir = tempfile.mkdtemp(prefix="authserver-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    try:
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)
