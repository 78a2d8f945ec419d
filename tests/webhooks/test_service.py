"""Subscriptions and deliveries in-process, against a real HTTPS receiver on loopback: the
payload is the audit record, signed as Standard Webhooks says (checked with the reference
package); the secret is sealed under the KEK and survives `kek rotate`; rotation signs with both
secrets during the overlap and with the new one only after it; URLs are refused by the
outbound policy's rules at registration and at send time; filters must name events; and no
one without audit:read points a subscription anywhere."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import AuditEvent, WebhookDelivery, WebhookSecret
from authserver.outbound import Outbound
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.errors import Conflict, InvalidInput
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from authserver.rbac.containment import OPERATOR, Caller, NotPermitted
from authserver.webhooks.service import (
    NewWebhook,
    create_webhook,
    delete_webhook,
    find_webhook,
    get_webhook,
    rotate_secret,
    send_test,
    update_webhook,
)
from tests.webhooks.test_outbox import deliveries, failed_sign_in


def test_a_failed_sign_in_arrives_signed_with_the_audit_record(http, worker, receiver, subscribe):
    secret, webhook_id = subscribe(receiver.url, "account:sign-in:failed")
    failed_sign_in(http, "mallory@example.com")
    assert worker.run_once() == 1
    (got,) = receiver.received
    assert got.path == "/hooks/security" and got.headers["content-type"] == "application/json"
    assert got.verifies(secret)  # the reference implementation agrees
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.event ==
                                                       "account:sign-in:failed"))  # fmt: skip
    body = got.json()
    assert body["type"] == "account:sign-in:failed"
    assert body["timestamp"] == audit.at.isoformat().replace("+00:00", "Z")
    # The record as stored: the same fields, the same values; an address of no account is
    # named by its keyed hash, never as typed.
    assert body["data"] == {"id": audit.id, "at": body["timestamp"], "event": audit.event,
                            "actor": audit.actor, "outcome": "failure",
                            "data": audit.data}  # fmt: skip
    assert audit.actor.startswith("address:") and "mallory" not in got.body.decode()
    assert {"ip", "user_agent", "request_id"} <= set(body["data"]["data"])
    assert "not the password at all" not in got.body.decode()
    (row,) = deliveries()
    assert row.message_id == got.message_id and row.state == "delivered"
    assert row.last_status == 200 and row.last_latency_seconds > 0 and row.attempts == 1


def test_a_commit_that_queues_a_delivery_wakes_the_worker_and_a_rollback_does_not(
    http, worker, receiver, subscribe
):
    _, webhook_id = subscribe(receiver.url, "account:sign-in:failed")
    worker._wake.clear()
    failed_sign_in(http, "mallory@example.com")  # its own request: queued and committed
    assert worker._wake.is_set()
    worker._wake.clear()
    send_test(find_webhook(webhook_id), caller=OPERATOR)
    db.session.rollback()
    assert not worker._wake.is_set()
    send_test(find_webhook(webhook_id), caller=OPERATOR)
    db.session.commit()
    assert worker._wake.is_set()


def test_the_secret_is_sealed_under_the_kek_and_survives_kek_rotation(
    runner, worker, receiver, subscribe
):
    secret, webhook_id = subscribe(receiver.url, "key:")
    (stored,) = db.session.scalars(select(WebhookSecret))
    raw = secret.removeprefix("whsec_").encode()
    assert raw not in stored.ciphertext and secret.encode() not in stored.ciphertext
    before = stored.kek_id
    # Moved to another row, the ciphertext does not open (the row id is associated data).
    envelope = current_runtime().envelope()
    with pytest.raises(Exception, match="does not open"):
        envelope.decrypt(stored.kek_id, stored.ciphertext, b"webhook_secrets:999")
    rotated = runner("kek", "rotate", "--json")
    assert rotated.exit_code == 0, rotated.output
    current_runtime().envelope(reload=True)
    db.session.expire_all()
    assert db.session.scalars(select(WebhookSecret)).one().kek_id != before
    # key:kek:rotated itself is a key: event, signed with the secret under the new KEK.
    assert worker.run_once() == 1
    (got,) = receiver.received
    assert got.json()["type"] == "key:kek:rotated" and got.verifies(secret)


def test_rotation_signs_with_both_secrets_during_the_overlap_then_the_new_one(
    worker, receiver, subscribe
):
    clock.freeze(dt.datetime.now(dt.UTC))
    old, webhook_id = subscribe(receiver.url, "webhook:subscription:tested")
    new, grace_end = rotate_secret(get_webhook(webhook_id), grace_seconds=3600, caller=OPERATOR)
    db.session.commit()
    assert grace_end == clock.now() + dt.timedelta(hours=1) and new != old

    send_test(get_webhook(webhook_id), caller=OPERATOR)
    db.session.commit()
    worker.run_once()
    during = receiver.received[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verifies(new) and during.verifies(old)  # either receiver config accepts it

    clock.advance(3601)
    send_test(get_webhook(webhook_id), caller=OPERATOR)
    db.session.commit()
    worker.run_once()
    after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.signed_by(new) and not after.signed_by(old)


def test_rotation_without_grace_replaces_the_secret_at_once(worker, receiver, subscribe):
    old, webhook_id = subscribe(receiver.url, "webhook:")
    new, _ = rotate_secret(get_webhook(webhook_id), grace_seconds=0, caller=OPERATOR)
    db.session.commit()
    assert len(db.session.scalars(select(WebhookSecret)).all()) == 1  # the old one is gone
    worker.run_once()
    assert all(r.verifies(new) and not r.verifies(old) for r in receiver.received)


def test_a_pending_retry_is_signed_with_the_secret_current_at_the_attempt(
    worker, receiver, subscribe
):
    clock.freeze(dt.datetime.now(dt.UTC))
    answers = iter(["500 Internal Server Error", "200 OK"])
    receiver.answer = lambda received: (next(answers), {})
    old, webhook_id = subscribe(receiver.url, "webhook:subscription:tested")
    send_test(get_webhook(webhook_id), caller=OPERATOR)
    db.session.commit()
    worker.run_once()
    new, _ = rotate_secret(get_webhook(webhook_id), grace_seconds=0, caller=OPERATOR)
    db.session.commit()
    clock.advance(60)
    worker.run_once()
    first, second = receiver.received[-2:]
    assert first.message_id == second.message_id and first.body == second.body
    assert first.signed_by(old) and second.signed_by(new) and not second.signed_by(old)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://hooks.example.com/x", "scheme"),
        ("ftp://hooks.example.com/x", "scheme"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://10.0.0.7/hooks", "address"),
        ("https://169.254.169.254/latest/meta-data/", "address"),
        ("https://metadata.google.internal/x", "address"),
        ("https://hooks.example.com/x#frag", "syntax"),
        ("not a url", "syntax"),
    ],
)
def test_a_url_the_outbound_policy_refuses_is_refused_naming_the_rule(app, url, rule):
    with pytest.raises(InvalidInput) as refused:
        create_webhook(NewWebhook(url=url, events=("key:",)), caller=OPERATOR)
    assert refused.value.description.startswith(
        f"url: refused by the outbound policy (rule {rule})"
    )


def test_a_url_that_resolves_inside_is_refused_at_send_time_and_logged(
    app, worker, receiver, subscribe
):
    # Public-looking at registration; by the time of the send its name resolves to a private
    # address (the outbound client's resolver hook plays the DNS).
    _, webhook_id = subscribe("https://hooks.example.net/security", "key:")
    runtime = current_runtime()
    runtime.outbound = Outbound(Settings(outbound_ca_file=runtime.settings.outbound_ca_file),
                                resolve=lambda host, port: ["10.1.2.3"])  # fmt: skip
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    worker.run_once()
    (row,) = deliveries(event="key:schedule:changed")
    assert row.state == "pending" and row.last_error == "refused:address"
    assert row.last_status is None
    assert receiver.received == []


@pytest.mark.parametrize("events", [["key:signing:created"], ["key:"], ["*"], ["apikey:",
                                    "oauth:refresh-token:reused"]])  # fmt: skip
def test_filters_that_name_events_are_accepted(app, events):
    _, subscription = create_webhook(NewWebhook("https://hooks.example.com/x", tuple(events)),
                                     caller=OPERATOR)  # fmt: skip
    assert subscription.events == events


@pytest.mark.parametrize("events", [[], ["key"], ["kye:"], ["account:sign-in:faild"], ["key:*"]])
def test_filters_that_name_no_event_are_refused(app, events):
    with pytest.raises(InvalidInput) as refused:
        create_webhook(NewWebhook("https://hooks.example.com/x", tuple(events)), caller=OPERATOR)
    assert refused.value.description.startswith("events: ")


def test_without_audit_read_no_one_creates_redirects_widens_enables_or_rekeys(app):
    holder = Caller("client:a", frozenset({"webhooks:write", "webhooks:read"}))
    with pytest.raises(NotPermitted) as refused:
        create_webhook(NewWebhook("https://hooks.example.com/x", ("*",)), caller=holder)
    assert refused.value.missing == ["audit:read"] and refused.value.status == 403
    _, subscription = create_webhook(NewWebhook("https://hooks.example.com/x", ("key:",)),
                                     caller=OPERATOR)  # fmt: skip
    for change in ({"url": "https://mine.example.org/"}, {"events": ["*"]},
                   {"description": "mine now"}):  # fmt: skip
        with pytest.raises(NotPermitted):
            update_webhook(subscription, caller=holder, **change)
    with pytest.raises(NotPermitted):
        rotate_secret(subscription, grace_seconds=0, caller=holder)
    # Stopping the flow of data gives nothing away: disabling needs no audit:read ...
    update_webhook(subscription, enabled=False, caller=holder)
    assert not subscription.is_enabled
    # ... and enabling it again does.
    with pytest.raises(NotPermitted):
        update_webhook(subscription, enabled=True, caller=holder)
    reader = Caller("client:b", frozenset({"webhooks:write", "audit:read"}))
    update_webhook(subscription, enabled=True, url="https://other.example.org/", caller=reader)
    assert subscription.is_enabled and subscription.url == "https://other.example.org/"


def test_a_test_event_goes_to_its_subscription_whatever_its_filters(worker, receiver, subscribe):
    secret, webhook_id = subscribe(receiver.url, "oauth:refresh-token:reused")
    delivery = send_test(get_webhook(webhook_id), caller=OPERATOR)
    db.session.commit()
    assert delivery.event == "webhook:subscription:tested" and delivery.state == "pending"
    worker.run_once()
    (got,) = receiver.received
    assert got.verifies(secret) and got.message_id == delivery.message_id
    body = got.json()
    assert body["type"] == "webhook:subscription:tested"
    assert body["data"]["data"]["webhook"] == webhook_id and body["data"]["actor"] == "cli"
    update_webhook(get_webhook(webhook_id), enabled=False, caller=OPERATOR)
    with pytest.raises(Conflict):
        send_test(get_webhook(webhook_id), caller=OPERATOR)


def test_audit_records_name_the_origin_never_the_path_or_query(subscribe):
    subscribe("https://hooks.example.com:8443/in/T0KEN-in-path?key=s3cret", "key:")
    created = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "webhook:subscription:created")
    )
    assert created.data["origin"] == "https://hooks.example.com:8443"
    assert "T0KEN" not in json.dumps(created.data) and "s3cret" not in json.dumps(created.data)


def test_deleting_removes_the_secrets_and_the_log(subscribe):
    _, webhook_id = subscribe("https://hooks.example.com/x", "webhook:")
    assert db.session.scalar(select(WebhookDelivery)) is not None  # its own creation event
    delete_webhook(get_webhook(webhook_id), caller=OPERATOR)
    db.session.commit()
    assert db.session.scalar(select(WebhookDelivery)) is None
    assert db.session.scalar(select(WebhookSecret)) is None
