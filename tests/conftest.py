"""Shared fixtures: an initialised app on a temporary SQLite file, its test client and CLI
runner, a frozen and movable clock, and factories for clients."""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json
import os
import secrets
import shutil
import sqlite3

import pytest

from authserver.app import create_app
from authserver.cli import cli
from authserver.platform import clock
from authserver.rbac.permissions import PROTOCOL_SCOPES
from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.redis_server import redis_url  # noqa: F401 (fixture)

# Overrides are setting names (authserver.platform.config.Settings fields).
Overrides = dict

#: ``make test`` runs the suite twice: on SQLite with in-memory rate limits, then with
#: AUTHSERVER_TEST_BACKEND=postgresql on real PostgreSQL and Redis servers the tests start.
BACKEND = os.environ.get("AUTHSERVER_TEST_BACKEND", "sqlite")
#: The cheapest argon2id cost the server accepts (OWASP's minimum, 7 MiB × 5 passes, one lane):
#: a fifth of the default's work for every password a test hashes or checks. The default
#: itself is tested in tests/accounts/test_passwords.py.
PASSWORD_COST = "m=7168,t=5,p=1"
_shared_services: dict = {}


def _share_url_builders() -> None:
    """Werkzeug compiles two Python functions per URL rule for ``url_for`` (an AST through
    ``compile``), nine tenths of ``create_app``'s time with this app's rules, and the suite
    makes an app per test. A builder is a pure function of its rule (the function takes the
    rule as its first argument), so the same rule in the next app gets the same function.
    Matching and building are unchanged; without the private method this does nothing."""
    from werkzeug.routing.rules import Rule

    original = getattr(Rule, "_compile_builder", None)
    if original is None:
        return
    made: dict = {}

    def shared(self, append_unknown=True):
        domain = self.host if self.map.host_matching else self.subdomain
        defaults = tuple(sorted((k, repr(v)) for k, v in (self.defaults or {}).items()))
        key = (self.rule, domain, tuple(self._trace), defaults, append_unknown)
        if key not in made:
            made[key] = original(self, append_unknown)
        return made[key]

    Rule._compile_builder = shared


_share_url_builders()


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
        _empty_redis()
        _databases[key] = _shared_services["database"]()
    return {
        "database_url": _databases[key],
        "redis_address": _shared_services["redis"],
        # The host's counters beside the test's other files (by default they would go into
        # instance/, named after the database).
        "rate_limit_file": str(tmp_path / "budgets"),
    }


def _empty_redis() -> None:
    """Counters and revocation news of earlier tests must not count in this one."""
    import redis

    with redis.Redis.from_url(_shared_services["redis"]) as connection:
        connection.flushdb()


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()


_apps: list = []


@pytest.fixture(autouse=True)
def _close_databases(request):
    """Close every connection pool a test's apps opened (PostgreSQL warns about open ones) and
    their budgets' file (else the suite's process held a thousand of them open), and on
    PostgreSQL drop the test's own database."""
    yield
    from authserver.platform.extensions import db
    from authserver.platform.runtime import runtime_of

    while _apps:
        app = _apps.pop()
        with app.app_context():
            db.engine.dispose()
        host = runtime_of(app).counters.host
        if hasattr(host, "close"):  # HostCounters (ProcessCounters hold no file)
            host.close()
    tmp_path = request.node.funcargs.get("tmp_path")
    url = _databases.pop(str(tmp_path), None) if _shared_services and tmp_path else None
    if url is not None:
        _shared_services["database"].drop(url)


def make_app(tmp_path, **overrides):
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'auth.db'}",
        "keys_dir": str(tmp_path / "keys"),
        "issuer": "http://localhost:5000",
        # No background writer outliving its test: tests flush usage counts themselves.
        "usage_flush_seconds": 0,
        "password_hash": PASSWORD_COST,
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


class Initialised:
    """One database migrated and initialised (pepper, built-in roles, a signing key per
    algorithm) with its KEK, made once per session: a test's ``app`` starts from a copy of it,
    which costs milliseconds where ``init`` costs half a second (migrations, key generation)."""

    def __init__(self, home) -> None:
        app = make_app(home)
        init_app(app)
        from authserver.platform.extensions import db

        with app.app_context():
            db.engine.dispose()  # a PostgreSQL template must have no connection left
        self.home = home
        self.database = _databases.get(str(home))

    def copy_to(self, tmp_path) -> bool:
        """Into a test's folder, unless another app of the test made one there already."""
        if (tmp_path / "keys").exists() or str(tmp_path) in _databases:
            return False
        shutil.copytree(self.home / "keys", tmp_path / "keys")
        if self.database is not None:  # PostgreSQL: CREATE DATABASE ... TEMPLATE
            _empty_redis()
            _databases[str(tmp_path)] = _shared_services["database"](self.database.rsplit("/")[-1])
            return True
        source = sqlite3.connect(self.home / "auth.db")
        target = sqlite3.connect(tmp_path / "auth.db")
        try:
            source.backup(target)  # consistent, whatever sits in the WAL
        finally:
            source.close()
            target.close()
        os.chmod(tmp_path / "auth.db", 0o600)
        return True


@pytest.fixture(scope="session")
def _initialised(tmp_path_factory) -> Initialised:
    return Initialised(tmp_path_factory.mktemp("initialised"))


def _keys_made_now() -> None:
    """The copied keys as if ``init`` had just made them: rotation schedules count from there."""
    from sqlalchemy import update

    from authserver.models import SigningKey
    from authserver.platform.extensions import db

    now = clock.now()
    db.session.execute(update(SigningKey).values(created_at=now, activated_at=now))
    db.session.commit()


@pytest.fixture
def app(tmp_path, _initialised):
    copied = _initialised.copy_to(tmp_path)
    app = make_app(tmp_path)
    if not copied:
        init_app(app)
    # Otherwise no `init` again: the copy is what `init` made on these very settings, and a
    # second `init` finds nothing to do (tests/test_cli.py's test_init_is_idempotent).
    with app.app_context():
        _keys_made_now()
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
