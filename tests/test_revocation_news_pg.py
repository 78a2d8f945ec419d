"""Revocation news on PostgreSQL without Redis (authserver.platform.pg_news): two apps on one
database, as two processes. A token remembered in one is inactive there as soon as the other
revokes it (NOTIFY); a notification lost on the way costs at most a second (the generation
counter); while the listener is down every check reads the database, and a database that is
down gives 503."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
from sqlalchemy import event, text

from authserver.cli import cli
from authserver.platform import clock, pg_news
from authserver.platform.extensions import db
from tests.conftest import init_app, make_app
from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.services import free_port

pytestmark = pytest.mark.postgres


class Process:
    """One app on the shared database, as one served process would be."""

    def __init__(self, tmp_path, url: str) -> None:
        # No Redis (the PostgreSQL pass has one): PostgreSQL carries the news.
        self.app = make_app(tmp_path, database_url=url, redis_address=None)
        self.http = self.app.test_client()
        self.news = self.app.extensions["authserver"].revocations.news

    def introspect(self, auth: tuple, token: str):
        return self.http.post("/oauth/introspect", data={"token": token}, auth=auth)

    def active(self, auth: tuple, token: str) -> bool:
        answer = self.introspect(auth, token)
        assert answer.status_code == 200, answer.text
        return answer.get_json()["active"]

    def statements(self, work) -> list[str]:  # noqa: ANN001
        """The SQL ``work()`` sent through this app's pool."""
        seen: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
            seen.append(statement)

        with self.app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            work()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return seen

    def generation(self) -> int:
        with self.app.app_context():
            return db.session.execute(text("SELECT generation FROM revocation_news")).scalar()


@pytest.fixture
def two(tmp_path, postgres_url):  # noqa: F811
    clock.freeze()  # the generation's second passes only when a test moves the clock
    url = postgres_url()
    a, b = Process(tmp_path, url), Process(tmp_path, url)  # one keys folder: one deployment
    init_app(a.app)
    created = a.app.test_cli_runner().invoke(cli, ["clients", "create", "--name", "rs", "--json"])
    client = json.loads(created.stdout)
    auth = (client["client_id"], client["client_secret"])
    yield a, b, auth
    # The listeners stop with their apps' pools (as conftest disposes them): none outlives them.
    for process in (a, b):
        with process.app.app_context():
            db.engine.dispose()
    names = [thread.name for thread in threading.enumerate()]
    assert "authserver-revocation-news" not in names


def _token(process: Process, auth: tuple) -> str:
    answer = process.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    return answer.get_json()["access_token"]


def _remembered(process: Process, auth: tuple, token: str) -> None:
    """Introspected until ``process`` answers from memory (the first answer starts listening)."""
    assert process.active(auth, token)
    assert process.news.listening.wait(10), "the listener did not subscribe"
    assert process.active(auth, token)  # read once more, now remembered
    assert process.statements(lambda: process.active(auth, token)) == []


def _until(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_revocation_in_one_process_ends_the_memory_of_another_at_once(two):
    a, b, auth = two
    token = _token(a, auth)
    _remembered(b, auth, token)
    before = a.generation()
    assert a.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert a.generation() == before + 1  # bumped in the revoking transaction
    # The clock stands still, so the generation's second never passes: only the notification
    # can end B's memory (delivered within milliseconds; the loop only absorbs that).
    _until(lambda: not b.active(auth, token))
    assert b.introspect(auth, token).get_json() == {"active": False}


def test_the_listener_hears_on_a_connection_past_descriptor_1024(two):
    # A long-lived process holds many descriptors (a full test run did: select() then failed
    # on every wait and the listener never stayed subscribed).
    a, b, auth = two
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        token = _token(a, auth)
        _remembered(b, auth, token)  # the listener connects now, past descriptor 1100
        assert a.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
        _until(lambda: not b.active(auth, token))
    finally:
        for fd in held:
            os.close(fd)


def test_a_lost_notification_costs_at_most_the_generations_second(two, monkeypatch):
    a, b, auth = two
    token, other = _token(a, auth), _token(a, auth)
    _remembered(b, auth, token)
    _remembered(b, auth, other)
    dropped = threading.Event()

    def drop(payload: str) -> None:  # the notification never reaches B's memory
        dropped.set()

    monkeypatch.setattr(b.news, "_heard_news", drop)
    assert a.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert dropped.wait(10)
    assert b.active(auth, token)  # stale, within the bound
    clock.advance(1.1)
    # The next check reads the generation: it moved past one B did not hear, so B forgets all.
    assert b.introspect(auth, token).get_json() == {"active": False}
    assert b.active(auth, other)  # read again from the database, still active
    # Now current: memory answers again without a query until the next second.
    assert b.statements(lambda: b.active(auth, other)) == []
    one_read = b.statements(lambda: (clock.advance(1.1), b.active(auth, other)))
    assert one_read == ["SELECT generation FROM revocation_news"]


def test_a_revocation_written_without_a_notification_is_seen_within_a_second(two):
    # As if the NOTIFY had been lost: the revocation and the generation, in raw SQL.
    a, b, auth = two
    token = _token(a, auth)
    _remembered(b, auth, token)
    with a.app.app_context():
        answer = a.introspect(auth, token).get_json()
        db.session.execute(text("INSERT INTO revoked_access_tokens (jti, expires_at) "
                                "VALUES (:jti, :exp)"),
                           {"jti": answer["jti"], "exp": clock.now()})  # fmt: skip
        db.session.execute(text("UPDATE revocation_news SET generation = generation + 1"))
        db.session.commit()
    assert b.active(auth, token)  # the clock has not moved: memory still vouched for
    clock.advance(1.1)
    assert not b.active(auth, token)


def test_a_heard_revocation_does_not_make_others_forget_everything(two):
    a, b, auth = two
    token, other = _token(a, auth), _token(a, auth)
    _remembered(b, auth, token)
    _remembered(b, auth, other)
    assert a.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    _until(lambda: not b.active(auth, token))
    clock.advance(1.1)
    # The generation moved, but B heard every step: only the generation is read.
    assert b.statements(lambda: b.active(auth, other)) == ["SELECT generation FROM revocation_news"]


def test_a_rolled_back_revocation_announces_nothing(two):
    a, b, auth = two
    before = a.generation()
    with a.app.app_context():
        from authserver.platform.revocation_cache import note_revoked

        note_revoked("some-jti")
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        note_revoked("other-jti")
        db.session.commit()
    assert a.generation() == before + 1


def test_a_database_not_migrated_yet_still_revokes_and_notifies(two):
    # This release started before `authserver db upgrade` made the counter: a revocation is not
    # refused for it, and the notification still goes out.
    a, b, auth = two
    token = _token(a, auth)
    _remembered(b, auth, token)
    with a.app.app_context():
        db.session.execute(text("DROP TABLE revocation_news"))
        db.session.commit()
    assert a.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    _until(lambda: not b.active(auth, token))


def test_while_the_listener_is_down_every_check_reads_the_database(two, monkeypatch, caplog):
    a, b, auth = two
    # B's listener cannot connect (a port nobody listens on), and retries fast.
    monkeypatch.setitem(pg_news._CONNECT_OPTIONS, "port", free_port())
    monkeypatch.setattr(pg_news, "BACKOFF_MAX_SECONDS", 0.02)
    token = _token(a, auth)
    with caplog.at_level(logging.INFO, logger="authserver.platform.pg_news"):
        for _ in range(3):
            assert b.statements(lambda: b.active(auth, token)) != []  # read every time
        time.sleep(0.2)  # some ten failed attempts more
    assert not b.news.is_listening
    warnings = [r for r in caplog.records if r.name == "authserver.platform.pg_news"]
    assert len(warnings) == 1 and "every check reads the database" in warnings[0].getMessage()
    assert a.http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert not b.active(auth, token)


def test_a_database_that_is_down_gives_503_not_500(two, postgres_url):  # noqa: F811
    a, b, auth = two
    token = _token(a, auth)
    _remembered(b, auth, token)
    postgres_url.stop()
    try:
        clock.advance(1.1)  # memory may not answer without reading the generation
        answer = b.introspect(auth, token)
        assert answer.status_code == 503, answer.text
        assert answer.get_json()["error"] == "temporarily_unavailable"
    finally:
        postgres_url.start()
    _until(lambda: b.news.is_listening, seconds=30)  # reconnected by itself
    assert b.active(auth, token)


def test_the_migration_makes_the_one_counter_row(tmp_path, postgres_url):  # noqa: F811
    from flask_migrate import upgrade

    from authserver.app import MIGRATIONS_DIR

    app = make_app(tmp_path, database_url=postgres_url(), redis_address=None)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        rows = db.session.execute(text("SELECT id, generation FROM revocation_news")).all()
        db.session.rollback()
        with pytest.raises(Exception, match="ck_revocation_news_one_row"):  # noqa: B017, PT011
            db.session.execute(text("INSERT INTO revocation_news VALUES (2, 0)"))
        db.session.rollback()
    assert [tuple(row) for row in rows] == [(1, 0)]


def test_on_postgresql_the_cache_is_on_by_default(tmp_path):
    from authserver.platform.config import load_settings

    settings = load_settings(overrides={"database_url": "postgresql+psycopg://h/db",
                                        "keys_dir": str(tmp_path)})  # fmt: skip
    assert settings.revocation_cache_ttl == 30
