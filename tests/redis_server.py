"""A throwaway Redis server for the tests that need one (Debian's `redis-server`, installed by
`make test`): started in a temporary directory on a free loopback port, no persistence."""

from __future__ import annotations

import shutil

import pytest

from tests.services import REDIS_SERVER, redis_server


@pytest.fixture(scope="session")
def redis_url():
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is missing (make test installs Debian's redis-server)")
    with redis_server() as url:
        yield url
