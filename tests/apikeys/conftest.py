"""API-key fixtures: a role carrying API scopes, a client and a user that hold it."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def api_role(runner):
    result = runner("roles", "create", "api-user", "--scope", "orders:read orders:write")
    assert result.exit_code == 0, result.output
    return "api-user"


@pytest.fixture
def owner_client(make_client, runner, api_role):
    client = make_client("orders:read orders:write")
    assert runner("roles", "grant", api_role, "--client", client.client_id).exit_code == 0
    return client


@pytest.fixture
def make_key(runner):
    def make(*args) -> dict:
        result = runner("apikeys", "create", *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return make
