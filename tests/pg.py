"""A throwaway PostgreSQL server for the tests that need one (Debian's `postgresql` package,
installed by `make test`). Session-scoped: one server, a fresh database per request."""

from __future__ import annotations

import pytest

from tests.services import postgres, postgres_binary


@pytest.fixture(scope="session")
def postgres_url():
    """``postgres_url()`` makes a fresh database; ``.stop()``/``.start()`` for fault tests."""
    if postgres_binary("initdb") is None or postgres_binary("pg_ctl") is None:
        pytest.skip("PostgreSQL binaries are missing (make test installs Debian's postgresql)")
    with postgres(fsync=False) as server:
        yield server
