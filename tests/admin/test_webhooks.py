"""/admin/webhooks through the Flask test client: subscribe (the secret shown once), a refused
URL named by its rule, "Send test event" and the delivery log it fills, rotation with a grace
period, disable and delete behind confirmation pages, CSRF on every change, an auditor who
looks but cannot touch, and an administrator without audit:read who cannot point one anywhere."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from authserver.models import AuditEvent, WebhookSubscription
from authserver.platform.extensions import db
from authserver.webhooks.worker import webhook_worker
from tests.admin.conftest import form_of, make_person, sign_in_with_code
from tests.webhooks.receiver import Receiver

HOOK = "https://siem.example.com/hooks/authserver"


@pytest.fixture
def receiver():
    # Plain http to loopback: what the server sends to in development (tests/webhooks and
    # tests/e2e cover https with a certificate of the test's own CA).
    with Receiver(None) as server:
        yield server


def _create(http, url: str = HOOK, events: str = "account:sign-in:failed key:"):
    token = form_of(http, "/admin/webhooks")
    return http.post("/admin/webhooks", data={"csrf_token": token, "url": url, "events": events,
                                              "description": "SIEM"})  # fmt: skip


def _secret_on(page: str) -> str:
    return re.search(r'class="secret-value" value="(whsec_[^"]+)"', page).group(1)


def _only_webhook() -> WebhookSubscription:
    db.session.expire_all()
    return db.session.scalars(select(WebhookSubscription)).one()


def test_subscribe_the_secret_shown_once(as_admin):
    page = as_admin.get("/admin/webhooks")
    assert page.status_code == 200 and "Subscribe an endpoint" in page.get_data(as_text=True)
    created = _create(as_admin)
    assert created.status_code == 200
    text = created.get_data(as_text=True)
    secret = _secret_on(text)
    assert "shown only once" in text and "keeps it encrypted" in text
    assert 'data-copy="secret-value"' in text  # the copy button, from copy.js
    webhook = _only_webhook()
    assert webhook.url == HOOK and webhook.events == ["account:sign-in:failed", "key:"]
    for path in ("/admin/webhooks", f"/admin/webhooks/{webhook.webhook_id}"):
        shown = as_admin.get(path).get_data(as_text=True)
        assert webhook.webhook_id in shown and secret not in shown


def test_a_refused_url_is_shown_with_its_rule_and_nothing_is_made(as_admin):
    refused = _create(as_admin, url="https://10.9.8.7/in")
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "refused by the outbound policy (rule address)" in text
    assert db.session.scalar(select(WebhookSubscription)) is None
    unknown = _create(as_admin, events="accounts:")
    assert unknown.status_code == 400 and "names no event" in unknown.get_data(as_text=True)


def test_send_test_event_fills_the_delivery_log(app, as_admin, receiver):
    secret = _secret_on(_create(as_admin, url=receiver.url).get_data(as_text=True))
    webhook_id = _only_webhook().webhook_id
    detail = f"/admin/webhooks/{webhook_id}"
    sent = as_admin.post(f"{detail}/test", data={"csrf_token": form_of(as_admin, detail)})
    assert sent.status_code == 303 and sent.headers["Location"] == detail
    queued = as_admin.get(detail).get_data(as_text=True)
    assert "Test event queued: msg_" in queued and "badge-pending" in queued
    assert webhook_worker(app).run_once() == 1
    (got,) = receiver.received
    assert got.verifies(secret) and got.json()["type"] == "webhook:subscription:tested"
    log = as_admin.get(detail).get_data(as_text=True)
    assert got.message_id in log and "badge-delivered" in log and "HTTP 200" in log
    assert " ms<" in log  # the latency column
    only_failed = as_admin.get(f"{detail}?state=failed").get_data(as_text=True)
    assert got.message_id not in only_failed and "No deliveries failed." in only_failed


def test_rotation_shows_the_new_secret_once_and_the_overlap(as_admin):
    old = _secret_on(_create(as_admin).get_data(as_text=True))
    webhook_id = _only_webhook().webhook_id
    path = f"/admin/webhooks/{webhook_id}/rotate-secret"
    token = form_of(as_admin, path)
    bad = as_admin.post(path, data={"csrf_token": token, "grace": "soon"})
    assert bad.status_code == 400 and "a duration" in bad.get_data(as_text=True)
    rotated = as_admin.post(path, data={"csrf_token": form_of(as_admin, path), "grace": "2h"})
    assert rotated.status_code == 200
    new = _secret_on(rotated.get_data(as_text=True))
    assert new != old
    detail = as_admin.get(f"/admin/webhooks/{webhook_id}").get_data(as_text=True)
    assert "previous, made" in detail and "signs until" in detail and new not in detail


def test_disable_and_delete_need_a_confirmation_and_csrf(as_admin):
    _create(as_admin, events="webhook:")  # its own creation event waits to be sent
    webhook_id = _only_webhook().webhook_id
    detail = f"/admin/webhooks/{webhook_id}"
    confirm = as_admin.get(f"{detail}/disable")
    assert confirm.status_code == 200
    assert "The delivery waiting now is cancelled" in confirm.get_data(as_text=True)
    assert as_admin.post(f"{detail}/disable", data={}).status_code == 400  # no CSRF token
    assert _only_webhook().is_enabled
    done = as_admin.post(f"{detail}/disable", data={"csrf_token": form_of(as_admin, detail)})
    assert done.status_code == 303 and not _only_webhook().is_enabled
    page = as_admin.get(detail).get_data(as_text=True)
    assert "Disabled: disabled by user:" in page and "Send test event" not in page
    assert as_admin.post(f"{detail}/enable", data={}).status_code == 303  # refused: no token
    assert not _only_webhook().is_enabled
    as_admin.post(f"{detail}/enable", data={"csrf_token": form_of(as_admin, detail)})
    assert _only_webhook().is_enabled

    sure = as_admin.get(f"{detail}/delete")
    assert sure.status_code == 200 and "cannot be undone" in sure.get_data(as_text=True)
    gone = as_admin.post(f"{detail}/delete", data={"csrf_token": form_of(as_admin, detail)})
    assert gone.status_code == 303 and gone.headers["Location"] == "/admin/webhooks"
    assert db.session.scalar(select(WebhookSubscription)) is None
    assert as_admin.get(detail).status_code == 404


def test_edit_changes_the_url_and_events(as_admin):
    _create(as_admin)
    webhook_id = _only_webhook().webhook_id
    detail = f"/admin/webhooks/{webhook_id}"
    saved = as_admin.post(detail, data={"csrf_token": form_of(as_admin, detail),
                                        "url": "https://other.example.com/x", "events": "*",
                                        "description": "all of it"})  # fmt: skip
    assert saved.status_code == 303
    webhook = _only_webhook()
    assert (webhook.url, webhook.events, webhook.description) == (
        "https://other.example.com/x", ["*"], "all of it")  # fmt: skip
    plain = {"url": "http://other.example.com/x", "events": "*"}
    bad = as_admin.post(detail, data={"csrf_token": form_of(as_admin, detail), **plain})
    assert bad.status_code == 400 and "(rule scheme)" in bad.get_data(as_text=True)


def test_an_auditor_reads_but_cannot_change(app, http, runner, as_admin):
    _create(as_admin)
    webhook_id = _only_webhook().webhook_id
    http.post("/logout", data={"csrf_token": form_of(http, "/admin")})
    auditor = make_person(app, runner, "audit@example.com", "auditor")
    sign_in_with_code(http, auditor)
    listing = http.get("/admin/webhooks")
    assert listing.status_code == 200 and "Subscribe an endpoint" not in listing.get_data(
        as_text=True)  # fmt: skip
    detail = http.get(f"/admin/webhooks/{webhook_id}").get_data(as_text=True)
    assert "Send test event" not in detail and "Rotate secret" not in detail
    token = form_of(http, "/admin/webhooks")
    refused = http.post("/admin/webhooks", data={"csrf_token": token, "url": HOOK,
                                                 "events": "*"})  # fmt: skip
    assert refused.status_code == 403
    assert http.get(f"/admin/webhooks/{webhook_id}/delete").status_code == 403


def test_an_administrator_without_audit_read_cannot_point_a_webhook_anywhere(app, http, runner):
    result = runner("roles", "create", "hooks-clerk", "--scope", "webhooks:read webhooks:write")
    assert result.exit_code == 0, result.output
    clerk = make_person(app, runner, "clerk@example.com", "hooks-clerk")
    sign_in_with_code(http, clerk, next_url="/admin/webhooks")
    refused = _create(http)
    assert refused.status_code == 403
    assert "audit:read" in refused.get_data(as_text=True)
    assert db.session.scalar(select(WebhookSubscription)) is None
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "rbac:escalation:refused")
    )
    assert audit.data["missing"] == ["audit:read"] and audit.actor.startswith("user:")
