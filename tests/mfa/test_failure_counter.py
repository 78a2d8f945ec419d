"""The per-account count of failed second factors under concurrency: every failure is counted
(one UPDATE increments the stored count; no request writes back a count it read earlier), and
the back-off it earns only moves later. Threads, each with its own app context and database
session, as concurrent requests in one worker would; the same on PostgreSQL in that pass."""

from __future__ import annotations

import threading

from sqlalchemy import select

from authserver.mfa import service
from authserver.models import User
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.mfa.conftest import app_code, enrol_totp

THREADS = 8  # within the connection pool (5 + 5 overflow), the test holding one


def _concurrently(app, user_id: int, attempt) -> None:  # noqa: ANN001
    barrier = threading.Barrier(THREADS)
    errors = []

    def one() -> None:
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                barrier.wait(timeout=30)
                attempt(user)
                db.session.commit()  # as the views commit a failure
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def _stored(user_id: int) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.id == user_id))


def test_concurrent_wrong_codes_are_each_counted(app, ada):
    enrol_totp(ada)
    user_id = ada.id
    wrong = "000000" if app_code(ada) != "000000" else "111111"
    _concurrently(app, user_id, lambda user: service.verify_totp(user, wrong))
    stored = _stored(user_id)
    assert stored.mfa_failures == THREADS
    # The back-off of the last failure: 30 s doubling from the 5th, at most an hour.
    over = THREADS - app.extensions["authserver"].settings.mfa_max_failures
    remaining = (stored.mfa_blocked_until - clock.now()).total_seconds()
    assert min(30 * 2**over, 3600) - 5 < remaining <= min(30 * 2**over, 3600)


def test_concurrent_wrong_recovery_codes_are_each_counted(app, ada):
    enrol_totp(ada)
    user_id = ada.id
    _concurrently(app, user_id, lambda user: service.use_recovery_code(user, "AAAA-BBBB-CCCC"))
    assert _stored(user_id).mfa_failures == THREADS
