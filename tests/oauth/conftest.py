"""Fixtures shared by the protocol tests."""

import pytest

from tests.oauth.test_code_flow import rp  # noqa: F401 (fixture)


@pytest.fixture(params=[True, False], ids=["lean", "authlib"])
def both_doors(request, monkeypatch):
    """The test twice: with the lean door (``oauth.lean``) and with every request on the
    Authlib path (AUTHSERVER_LEAN_PATH=false), for the modules that ask for it."""
    monkeypatch.setenv("AUTHSERVER_LEAN_PATH", "true" if request.param else "false")
    return request.param
