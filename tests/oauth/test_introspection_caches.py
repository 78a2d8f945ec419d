"""The introspection caches: what one process remembers (a verified token, "not revoked", an API
key that authenticated) ends as soon as another process changes the truth.

Two apps on one database stand for two worker processes: each has its own memory. On SQLite they
hear of changes through the stamp file beside the database (at once); in the PostgreSQL pass
through Redis pub/sub (within moments), hence the bounded wait."""

from __future__ import annotations

import json
import time

import pytest

from authserver.cli import cli
from authserver.platform import clock
from authserver.platform.revocation_cache import RevocationCache
from authserver.platform.runtime import current_runtime
from tests.conftest import init_app, make_app
from tests.keys.conftest import kid_of

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
API_KEY_TYPE = "urn:authserver:params:oauth:token-type:api_key"


class Worker:
    """One app standing for one worker process: its own caches, the shared database."""

    def __init__(self, app) -> None:
        self.app = app
        self.http = app.test_client()

    def cli(self, *args: str) -> str:
        with self.app.app_context():
            result = self.app.test_cli_runner().invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    def introspect(self, auth, token: str) -> dict:
        with self.app.app_context():
            return self.http.post("/oauth/introspect", data={"token": token}, auth=auth).get_json()


@pytest.fixture
def workers(tmp_path):
    # A second's emergency publication: `keys rotate --now` below waits for it (for real).
    first = make_app(tmp_path, keyring_refresh_seconds=0, emergency_publish_seconds=1)
    init_app(first)
    second = make_app(tmp_path, keyring_refresh_seconds=0, emergency_publish_seconds=1)
    return Worker(first), Worker(second)


@pytest.fixture
def service(workers):
    one, _ = workers
    one.cli("roles", "create", "api-user", "--scope", "api:read")
    client = json.loads(one.cli("clients", "create", "--name", "svc", "--scope", "api:read",
                                "--role", "resource-server", "--role", "api-user",
                                "--json"))  # fmt: skip
    return client, (client["client_id"], client["client_secret"])


def _token(worker: Worker, auth) -> str:
    with worker.app.app_context():
        response = worker.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
        )
    return response.get_json()["access_token"]


def _becomes_inactive(worker: Worker, auth, token: str) -> bool:
    """Inactive at once on SQLite; Redis delivers its message within moments (bounded wait)."""
    deadline = time.monotonic() + 5
    while True:
        if worker.introspect(auth, token) == {"active": False}:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_revocation_in_one_process_ends_what_another_remembered(workers, service):
    one, two = workers
    _, auth = service
    token = _token(one, auth)
    assert one.introspect(auth, token)["active"] is True  # now remembered by the first
    assert one.introspect(auth, token)["active"] is True
    with two.app.app_context():
        assert two.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert _becomes_inactive(one, auth, token)


def test_a_revoked_api_key_or_disabled_owner_ends_the_remembered_key(workers, service):
    one, two = workers
    client, auth = service
    created = [
        json.loads(
            one.cli(
                "apikeys",
                "create",
                "--client",
                client["client_id"],
                "--scope",
                "api:read",
                "--json",
            )
        )  # fmt: skip
        for _ in range(2)
    ]
    for key in created:
        answer = one.introspect(auth, key["key"])
        assert answer["active"] is True and answer["token_type"] == "api_key"
        assert one.introspect(auth, key["key"]) == answer  # the second answer from memory
    two.cli("apikeys", "revoke", created[0]["id"])
    assert _becomes_inactive(one, auth, created[0]["key"])
    assert one.introspect(auth, created[1]["key"])["active"] is True

    other = json.loads(one.cli("clients", "create", "--name", "owner", "--scope", "api:read",
                               "--role", "api-user", "--json"))  # fmt: skip
    owned = json.loads(one.cli("apikeys", "create", "--client", other["client_id"],
                               "--scope", "api:read", "--json"))  # fmt: skip
    assert one.introspect(auth, owned["key"])["active"] is True
    two.cli("clients", "disable", other["client_id"])
    assert _becomes_inactive(one, auth, owned["key"])


def test_a_remembered_token_ends_with_its_signing_key_and_at_its_expiry(workers, service):
    one, two = workers
    _, auth = service
    token = _token(one, auth)
    assert one.introspect(auth, token)["active"] is True
    two.cli("keys", "rotate", "--now")  # a new active key, so the old one may be revoked
    assert one.introspect(auth, token)["active"] is True
    two.cli("keys", "revoke", kid_of(token), "--reason", "test")
    assert one.introspect(auth, token) == {"active": False}

    fresh = _token(one, auth)
    assert kid_of(fresh) != kid_of(token)
    assert one.introspect(auth, fresh)["active"] is True
    clock.advance(3600)  # past the default access-token lifetime
    try:
        assert one.introspect(auth, fresh) == {"active": False}
    finally:
        clock.reset()


def test_an_answer_read_while_a_revocation_arrived_is_not_remembered():
    cache = RevocationCache(ttl_seconds=30)
    generation = cache.generation()  # taken before the database read
    cache.revoked("jti-1")  # a revocation lands while the read is under way
    cache.remember_unrevoked("jti-1", generation)
    assert not cache.known_unrevoked("jti-1")
    cache.remember_unrevoked("jti-1", cache.generation())
    assert cache.known_unrevoked("jti-1")


def test_a_revocation_noted_before_a_failed_savepoint_is_announced_at_the_commit(app):
    from authserver.platform.extensions import db
    from authserver.platform.revocation_cache import note_revoked

    announced: list[str] = []
    current_runtime().revocations.revoked = announced.append
    db.session.execute(db.text("SELECT 1"))
    note_revoked("revoked-in-the-outer-transaction")
    with pytest.raises(RuntimeError), db.session.begin_nested():
        note_revoked("noted-inside-the-savepoint")
        raise RuntimeError
    with db.session.begin_nested():
        pass  # a savepoint that is released announces nothing yet
    assert announced == []
    db.session.commit()
    # Over-announcing (the savepoint's jti, rolled back) costs a read; never announcing would
    # let another process answer active.
    assert "revoked-in-the-outer-transaction" in announced


def test_the_stamp_file_tells_every_process(tmp_path):
    stamp = tmp_path / "auth.db.revocations"
    first, second = RevocationCache(30, stamp=stamp), RevocationCache(30, stamp=stamp)
    second.remember_unrevoked("jti-1", second.generation())
    second.remember_key(("key", "hmac"), "facts", second.generation())
    assert second.known_unrevoked("jti-1") and second.known_key(("key", "hmac")) == "facts"
    first.revoked("jti-2")  # any revocation: the other process forgets everything it knew
    assert not second.known_unrevoked("jti-1")
    assert second.known_key(("key", "hmac")) is None


def test_every_backend_remembers_by_default(tmp_path):
    # Each has its channel for revocation news: a stamp file beside SQLite, PostgreSQL's
    # LISTEN/NOTIFY (platform/pg_news.py) without Redis, Redis's pub/sub with it.
    from authserver.platform.config import load_settings

    settings = load_settings(overrides={"database_url": "postgresql+psycopg://h/db",
                                        "keys_dir": str(tmp_path)})  # fmt: skip
    assert settings.revocation_cache_ttl == 30
    sqlite = load_settings(overrides={"database_url": f"sqlite:///{tmp_path}/a.db",
                                      "keys_dir": str(tmp_path)})  # fmt: skip
    assert sqlite.revocation_cache_ttl == 30 and sqlite.sqlite_file == tmp_path / "a.db"


def test_a_remembered_api_key_is_not_exchanged_once_revoked_elsewhere(workers, service):
    one, two = workers
    client, _ = service
    exchanger = json.loads(one.cli("clients", "create", "--name", "exchanger", "--scope",
                                   "api:read", "--grant-type", EXCHANGE, "--json"))  # fmt: skip
    auth = (exchanger["client_id"], exchanger["client_secret"])
    key = json.loads(one.cli("apikeys", "create", "--client", client["client_id"],
                             "--scope", "api:read", "--json"))  # fmt: skip

    def exchange() -> int:
        form = {"grant_type": EXCHANGE, "subject_token": key["key"],
                "subject_token_type": API_KEY_TYPE}  # fmt: skip
        with one.app.app_context():
            return one.http.post("/oauth/token", data=form, auth=auth).status_code

    assert exchange() == 200 and exchange() == 200  # the second from memory
    two.cli("apikeys", "revoke", key["id"])
    deadline = time.monotonic() + 5
    while exchange() != 400:
        assert time.monotonic() < deadline, "the revoked key was still exchanged"
        time.sleep(0.05)


def test_with_redis_the_cache_is_trusted_only_while_subscribed_and_redis_answers(redis_url):
    import time

    from authserver.platform.redis_link import RedisLink

    link = RedisLink(redis_url)
    cache = RevocationCache(30, link)
    cache.remember_unrevoked("jti-1", cache.generation())  # starts listening; not yet trusted
    assert not cache.known_unrevoked("jti-1")
    assert cache.subscribed.wait(10)
    cache.remember_unrevoked("jti-1", cache.generation())
    assert cache.known_unrevoked("jti-1")
    link._degraded_since = time.monotonic()  # as when a call to Redis has just failed
    assert not cache.known_unrevoked("jti-1")  # every check goes to the database meanwhile
    cache.revoked("jti-2")  # cannot be published: owed
    assert cache._owed
    link._recovered()  # Redis answers again: the revocation is announced as "forget all"
    assert not cache._owed


def test_a_redis_that_is_not_there_means_no_cache_and_no_error():
    from authserver.platform.redis_link import RedisLink
    from tests.services import free_port

    cache = RevocationCache(30, RedisLink(f"redis://127.0.0.1:{free_port()}/0"))
    cache.remember_unrevoked("jti-1", cache.generation())
    cache.revoked("jti-1")
    assert not cache.known_unrevoked("jti-1")
