"""Shared fixtures: an initialised app on a temporary SQLite file, its test client and CLI
runner, a frozen and movable clock, and factories for clients."""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json
import os
import secrets

import pytest

from authserver import clock
from authserver.app import create_app
from authserver.cli import cli
from authserver.rbac.permissions import PROTOCOL_SCOPES
from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.redis_server import redis_url  # noqa: F401 (fixture)

# Overrides are setting names (authserver.config.Settings fields).
Overrides = dict

#: ``make test`` runs the suite twice: on SQLite with in-memory rate limits, then with
#: AUTHSERVER_TEST_BACKEND=postgresql on real PostgreSQL and Redis servers the tests start.
BACKEND = os.environ.get("AUTHSERVER_TEST_BACKEND", "sqlite")
_shared_services: dict = {}


@pytest.fixture(scope="session", autouse=True)
def _backend(request):
    if BACKEND == "postgresql":
        _shared_services["database"] = request.getfixturevalue("postgres_url")
        _shared_services["redis"] = request.getfixturevalue("redis_url")
    elif BACKEND != "sqlite":
        raise pytest.UsageError("AUTHSERVER_TEST_BACKEND is sqlite or postgresql")
    yield


_databases: dict[str, str] = {}


def backend_overrides(tmp_path) -> dict:
    """The database and rate-limit storage of this pass: in the PostgreSQL pass one fresh
    database per test directory (as the SQLite file would be) and a Redis emptied at a test's
    first app; nothing (SQLite under tmp_path, memory) otherwise."""
    if not _shared_services:
        return {}
    key = str(tmp_path)
    if key not in _databases:
        import redis

        with redis.Redis.from_url(_shared_services["redis"]) as connection:
            connection.flushdb()  # rate-limit counters of earlier tests must not count here
        _databases[key] = _shared_services["database"]()
    return {
        "database_url": _databases[key],
        "rate_limit_storage": _shared_services["redis"],
        # The host's counters beside the test's other files (by default they would go into
        # instance/, named after the database).
        "rate_limit_file": str(tmp_path / "budgets"),
    }


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()


_apps: list = []


@pytest.fixture(autouse=True)
def _close_databases():
    """Close every connection pool a test's apps opened (PostgreSQL warns about open ones)."""
    yield
    from authserver.extensions import db

    while _apps:
        with _apps.pop().app_context():
            db.engine.dispose()


def make_app(tmp_path, **overrides):
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'auth.db'}",
        "keys_dir": str(tmp_path / "keys"),
        "issuer": "http://localhost:5000",
        # No background writer outliving its test: tests flush usage counts themselves.
        "usage_flush_seconds": 0,
        **backend_overrides(tmp_path),
    }
    settings.update(overrides)
    app = create_app(settings)
    app.wsgi_app = _OwnContext(app.wsgi_app)
    _apps.append(app)
    return app


class _OwnContext:
    """Each request runs as under a server: in an empty context, so with its own app context
    and database session rather than the test's (Flask would reuse the test's app context).
    A write the request forgets to commit is then gone after it, as it would be in production."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, environ, start_response):
        return contextvars.Context().run(self._answer, environ, start_response)

    def _answer(self, environ, start_response):
        chunks = self.inner(environ, start_response)
        try:
            return [b"".join(chunks)]
        finally:
            if hasattr(chunks, "close"):
                chunks.close()


def init_app(app) -> None:
    result = app.test_cli_runner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    init_app(app)
    with app.app_context():
        yield app


@pytest.fixture
def http(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    def invoke(*args, input=None):
        return app.test_cli_runner().invoke(cli, list(args), input=input)

    return invoke


@dataclasses.dataclass
class RegisteredClient:
    client_id: str
    client_secret: str | None

    def basic(self) -> dict:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def make_client(runner):
    """Register a client through the CLI, as an operator would."""

    def make(scope="api:read api:write", *extra, permitted=True) -> RegisteredClient:
        """``permitted``: also give the client a role carrying its API scopes, without which
        its tokens would carry none of them."""
        name = f"client-{secrets.token_hex(4)}"
        api_scopes = [s for s in scope.split() if s not in PROTOCOL_SCOPES]
        if permitted and api_scopes:
            role = runner("roles", "create", f"{name}-scopes", "--scope", " ".join(api_scopes))
            assert role.exit_code == 0, role.output
            extra = (*extra, "--role", f"{name}-scopes")
        result = runner("clients", "create", "--name", name, "--scope", scope, "--json", *extra)
        assert result.exit_code == 0, result.output
        value = json.loads(result.output)
        return RegisteredClient(value["client_id"], value["client_secret"])

    return make


@pytest.fixture
def get_token(http):
    def get(client: RegisteredClient, **form) -> dict:
        form.setdefault("grant_type", "client_credentials")
        response = http.post("/oauth/token", data=form, headers=client.basic())
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return get


PASSWORD = "correct horse battery staple"


@pytest.fixture
def user(runner):
    """ada@example.com with PASSWORD."""
    result = runner(
        "users",
        "create",
        "ada@example.com",
        "--password-stdin",
        "--display-name",
        "Ada",
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    return "ada@example.com"
