"""The outbox: a delivery is written in the transaction of its audit record (and rolled back
with it), routed by the subscriptions' filters; a delivery is claimed by one worker only, even
when many claim at once; a lost lease is reclaimed; the retry schedule follows the movable
clock; 410 Gone disables the subscription; and the request that caused an event never waits."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import AuditEvent, DeliveryState, WebhookDelivery, WebhookSubscription
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.rbac.containment import OPERATOR
from authserver.webhooks import outbox
from authserver.webhooks.service import get_webhook, update_webhook
from tests.accounts.conftest import csrf_of
from tests.webhooks.conftest import MAX_ATTEMPTS, RETRY_BASE
from tests.webhooks.receiver import always

EXAMPLE = "https://receiver.example/hooks"


def deliveries(**where) -> list[WebhookDelivery]:
    statement = select(WebhookDelivery).order_by(WebhookDelivery.id)
    for name, value in where.items():
        statement = statement.where(getattr(WebhookDelivery, name) == value)
    db.session.expire_all()
    return list(db.session.scalars(statement))


def failed_sign_in(http, email: str = "nobody@example.com") -> None:
    page = http.get("/login").get_data(as_text=True)
    form = {"email": email, "password": "not the password at all", "csrf_token": csrf_of(page)}
    assert http.post("/login", data=form).status_code == 401


# --- written with the audit record -----------------------------------------------------------


def test_a_delivery_is_written_in_the_audit_records_transaction(subscribe):
    subscribe(EXAMPLE, "key:")
    row = record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    # Not committed yet: the delivery is pending in the same session, tied to the record.
    (pending,) = [o for o in db.session.new if isinstance(o, WebhookDelivery)]
    assert pending.audit_event is row and pending.state == "pending"
    db.session.commit()
    (stored,) = deliveries()
    assert stored.audit_event_id == row.id and stored.event == "key:schedule:changed"
    assert stored.message_id.startswith("msg_") and "." not in stored.message_id


def test_rolling_back_the_change_rolls_back_its_record_and_its_delivery(subscribe):
    subscribe(EXAMPLE, "*")  # (which gets its own creation event)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.flush()
    assert len(deliveries(event="key:schedule:changed")) == 1  # inside the transaction
    db.session.rollback()
    assert deliveries(event="key:schedule:changed") == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_failed_request_that_rolls_back_delivers_nothing(http, runner, subscribe):
    subscribe(EXAMPLE, "apikey:")
    # An API key for a user that does not exist: the command fails and rolls back.
    result = runner("apikeys", "create", "--user", "ghost@example.com", "--scope", "x:y")
    assert result.exit_code != 0
    assert deliveries() == []


def test_filters_route_events_and_disabled_subscriptions_get_nothing(http, subscribe):
    _, exact = subscribe(EXAMPLE, "account:sign-in:failed")
    _, prefix = subscribe(EXAMPLE, "account:")
    _, other = subscribe(EXAMPLE, "key:")
    _, everything = subscribe(EXAMPLE, "*")
    _, disabled = subscribe(EXAMPLE, "*")
    update_webhook(get_webhook(disabled), enabled=False, caller=OPERATOR)
    db.session.commit()
    failed_sign_in(http)  # a real request records account:sign-in:failed and commits
    got = {d.subscription.webhook_id for d in deliveries(event="account:sign-in:failed")}
    assert got == {exact, prefix, everything}
    assert other not in got and disabled not in got


def test_a_subscription_made_in_the_same_transaction_gets_the_events_after_it(subscribe):
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])  # routes (and caches) first
    subscribe(EXAMPLE, "key:")  # then a subscription in the same transaction
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["RS256"])
    db.session.commit()
    assert [d.audit_event.data["algs"] for d in deliveries()] == [["RS256"]]


# --- claimed once ----------------------------------------------------------------------------


def _queue(subscribe, n: int = 1) -> list[int]:
    subscribe(EXAMPLE, "key:")
    for i in range(n):
        record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=[f"A{i}"])
    db.session.commit()
    return [d.id for d in deliveries()]


def _together(app, threads: int, work):
    """Run ``work(i)`` on ``threads`` threads at once, each with its own app context, session
    and connection, committing its claims; returns their results."""
    barrier = threading.Barrier(threads)
    results: list = [None] * threads
    errors: list = []

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                results[i] = work(i)
                db.session.commit()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                db.session.rollback()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert errors == []
    return results


def test_concurrent_claimers_of_one_delivery_one_wins(app, subscribe):
    (delivery_id,) = _queue(subscribe)
    won = _together(app, 8, lambda i: outbox.claim_one(delivery_id, f"token-{i}", 60))
    assert won.count(True) == 1
    (row,) = deliveries()
    assert row.state == "sending" and row.attempts == 1
    assert row.claim == f"token-{won.index(True)}"


def test_concurrent_workers_share_a_queue_without_sending_anything_twice(app, subscribe):
    queued = _queue(subscribe, 12)
    claimed = _together(app, 6, lambda i: outbox.claim_due(12, 60)[1])
    everything = [i for batch in claimed for i in batch]
    assert sorted(everything) == sorted(queued)  # each one once, by exactly one worker
    assert {d.attempts for d in deliveries()} == {1}


def test_a_lease_that_ran_out_is_claimed_again_and_the_first_claim_is_lost(subscribe):
    clock.freeze()
    (delivery_id,) = _queue(subscribe)
    assert outbox.claim_one(delivery_id, "first", lease_seconds=45)
    db.session.commit()
    assert not outbox.claim_one(delivery_id, "second", lease_seconds=45)  # held
    clock.advance(46)  # the first worker died mid-send
    assert outbox.claim_one(delivery_id, "second", lease_seconds=45)
    late = outbox.Attempt(status=200, error=None, latency_seconds=0.1)
    assert outbox.record_attempt(delivery_id, "first", 1, late, max_attempts=4,
                                 base_seconds=10) is None  # fmt: skip
    assert outbox.record_attempt(delivery_id, "second", 2, late, max_attempts=4,
                                 base_seconds=10) == "delivered"  # fmt: skip
    db.session.commit()
    (row,) = deliveries()
    assert row.state == "delivered" and row.attempts == 2


# --- sent, retried on the movable clock, given up ---------------------------------------------


def test_a_failing_receiver_is_retried_on_the_schedule_then_given_up(
    app, worker, receiver, subscribe
):
    clock.freeze(dt.datetime.now(dt.UTC))
    receiver.answer = always("500 Internal Server Error")
    subscribe(receiver.url, "key:")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    started = clock.now()
    assert worker.run_once() == 1
    waited = 0.0
    for attempt in range(1, MAX_ATTEMPTS):
        (row,) = deliveries()
        assert row.state == "pending" and row.attempts == attempt
        assert (row.last_status, row.last_error) == (500, "status")
        delay = RETRY_BASE * 4 ** (attempt - 1)
        due_in = (row.next_attempt_at - clock.now()).total_seconds()
        assert delay <= due_in < delay * 1.1 + 0.001  # base · 4^(n-1), plus < 10 % jitter
        clock.advance(delay - 1)  # not yet due: nothing is sent
        assert worker.run_once() == 0 and len(receiver.received) == attempt
        clock.advance(due_in - delay + 1)
        waited += due_in
        assert worker.run_once() == 1 and len(receiver.received) == attempt + 1
    (row,) = deliveries()
    assert row.state == "failed" and row.attempts == MAX_ATTEMPTS and row.next_attempt_at is None
    clock.advance(86400 * 30)
    assert worker.run_once() == 0
    assert len(receiver.received) == MAX_ATTEMPTS
    assert (clock.now() - started).total_seconds() >= waited
    # Every attempt carried the same id and body; the timestamp is the attempt's.
    assert len(receiver.by_message()) == 1
    assert len({r.body for r in receiver.received}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert stamps == sorted(stamps) and len(set(stamps)) == MAX_ATTEMPTS


def test_retry_after_from_the_receiver_is_honoured(worker, receiver, subscribe):
    clock.freeze(dt.datetime.now(dt.UTC))
    receiver.answer = always("503 Service Unavailable", **{"Retry-After": "3600"})
    subscribe(receiver.url, "key:")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    worker.run_once()
    (row,) = deliveries()
    assert (row.next_attempt_at - clock.now()).total_seconds() >= 3600


def test_410_gone_disables_the_subscription_and_cancels_what_was_queued(
    worker, receiver, subscribe
):
    receiver.answer = always("410 Gone")
    _, webhook_id = subscribe(receiver.url, "key:")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    clock.freeze(dt.datetime.now(dt.UTC))
    assert worker.run_once() == 1
    # A second event queued before anyone saw the 410 ...
    db.session.expire_all()
    subscription = get_webhook(webhook_id)
    assert not subscription.is_enabled and subscription.disabled_reason == (
        "the receiver answered 410 Gone"
    )
    (row,) = deliveries()
    assert row.state == "failed" and row.last_error == "gone" and row.attempts == 1
    disabled = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "webhook:subscription:disabled")
    )
    assert disabled.actor == "system" and disabled.data["webhook"] == webhook_id
    # ... and nothing more is queued for it.
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["RS256"])
    db.session.commit()
    assert len(deliveries()) == 1 and len(receiver.received) == 1


def test_disabling_cancels_deliveries_not_yet_sent(subscribe):
    _, webhook_id = subscribe(EXAMPLE, "key:")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    update_webhook(get_webhook(webhook_id), enabled=False, caller=OPERATOR)
    db.session.commit()
    (row,) = deliveries()
    assert row.state == DeliveryState.CANCELLED and row.last_error == "disabled"
    assert outbox.claim_due(10, 60)[1] == []


def test_the_request_never_waits_for_the_receiver(http, worker, receiver, subscribe):
    receiver.hang.set()  # accepts, reads, never answers
    subscribe(receiver.url, "account:sign-in:failed")
    started = time.monotonic()
    failed_sign_in(http)
    assert time.monotonic() - started < 3  # the sign-in page answered without sending
    assert receiver.received == []
    (row,) = deliveries()
    assert row.state == "pending" and row.attempts == 0


def test_finished_deliveries_are_pruned_after_the_retention(worker, receiver, subscribe):
    clock.freeze(dt.datetime.now(dt.UTC))
    subscribe(receiver.url, "key:")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    worker.run_once()
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["RS256"])  # still pending
    db.session.commit()
    clock.advance(31 * 86400)
    assert outbox.prune(30 * 86400) == 1
    db.session.commit()
    assert [d.state for d in deliveries()] == ["pending"]


@pytest.mark.parametrize("filters", [["*"], ["webhook:"]])
def test_routing_reads_the_subscriptions_once_per_transaction(subscribe, filters):
    subscribe(EXAMPLE, *filters)
    queries = []

    from sqlalchemy import event

    def count(conn, cursor, statement, *args):  # noqa: ANN001
        if "FROM webhook_subscriptions" in statement:
            queries.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            record(Tag.WEBHOOK_TESTED, actor="cli", webhook="wh_none")
        db.session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(queries) == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookSubscription)) == 1
