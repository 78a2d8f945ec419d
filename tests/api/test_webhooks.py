"""/api/v1/webhooks: the secret appears once; URLs are refused naming the outbound policy's
rule; a subscription is pointed anywhere only by a caller holding audit:read (no escalation,
audited); updates need If-Match; the delivery log, secret rotation, test events and deletion;
every operation is in the OpenAPI document with its permission."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from authserver.models import AuditEvent
from authserver.platform.extensions import db

HOOK = "https://hooks.example.com/security"


def _create(api, **body):
    body = {"url": HOOK, "events": ["account:sign-in:failed", "key:"], **body}
    return api("POST", "/webhooks", body)


def test_create_read_list_the_secret_once(admin):
    created = _create(admin, description="SIEM")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    secret, webhook_id = body["secret"], body["id"]
    assert secret.startswith("whsec_") and webhook_id.startswith("wh_")
    assert created.headers["Location"] == f"/api/v1/webhooks/{webhook_id}"
    assert body["events"] == ["account:sign-in:failed", "key:"] and body["enabled"] is True
    assert len(body["signing_secrets"]) == 1 and body["signing_secrets"][0]["expires_at"] is None
    read = admin("GET", f"/webhooks/{webhook_id}")
    assert read.status_code == 200 and read.headers["ETag"]
    assert secret not in read.get_data(as_text=True)
    listed = admin("GET", "/webhooks")
    assert [w["id"] for w in listed.get_json()["items"]] == [webhook_id]
    assert secret not in listed.get_data(as_text=True)


def test_a_refused_url_is_422_naming_the_rule(admin):
    for url, rule in [("http://hooks.example.com/x", "scheme"), ("https://10.1.2.3/x", "address"),
                      ("https://a:b@hooks.example.com/", "credentials")]:  # fmt: skip
        response = _create(admin, url=url)
        assert response.status_code == 422, url
        (error,) = response.get_json()["errors"]
        assert error["field"] == "url" and f"(rule {rule})" in error["message"]
    unknown = _create(admin, events=["account:sign-in:faild"])
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "events"


def test_without_audit_read_a_subscription_cannot_be_pointed_anywhere(caller, admin):
    writer = caller("webhooks:write webhooks:read")
    refused = _create(writer)
    assert refused.status_code == 403
    assert refused.get_json()["missing_permissions"] == ["audit:read"]
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "rbac:escalation:refused")
    )
    assert audit.data["missing"] == ["audit:read"] and audit.actor.startswith("client:")
    assert admin("GET", "/webhooks").get_json()["items"] == []
    # One made by an administrator: the writer may not redirect it, but may stop it.
    webhook_id = _create(admin).get_json()["id"]
    current = admin("GET", f"/webhooks/{webhook_id}")
    etag = {"If-Match": current.headers["ETag"]}
    redirect = writer("PATCH", f"/webhooks/{webhook_id}", {"url": "https://mine.example.org/"},
                      headers=etag)  # fmt: skip
    assert redirect.status_code == 403
    rekey = writer("POST", f"/webhooks/{webhook_id}/secret-rotations", {})
    assert rekey.status_code == 403
    stop = writer("PATCH", f"/webhooks/{webhook_id}", {"enabled": False}, headers=etag)
    assert stop.status_code == 200 and stop.get_json()["enabled"] is False
    assert stop.get_json()["disabled_reason"].startswith("disabled by client:")
    fresh = {"If-Match": stop.headers["ETag"]}
    again = writer("PATCH", f"/webhooks/{webhook_id}", {"enabled": True}, headers=fresh)
    assert again.status_code == 403
    assert writer("DELETE", f"/webhooks/{webhook_id}").status_code == 204


def test_a_reader_reads_and_changes_nothing(caller, admin):
    webhook_id = _create(admin).get_json()["id"]
    # The built-in auditor role: every *:read permission, webhooks:read included (the token
    # carries what the client asks for and its role permits: not webhooks:write).
    auditor = caller("webhooks:read webhooks:write audit:read", role="auditor")
    assert auditor("GET", f"/webhooks/{webhook_id}").status_code == 200
    assert auditor("GET", f"/webhooks/{webhook_id}/deliveries").status_code == 200
    assert auditor("POST", f"/webhooks/{webhook_id}/tests").status_code == 403
    assert _create(auditor).status_code == 403


def test_updates_need_the_current_etag(admin):
    webhook_id = _create(admin).get_json()["id"]
    path = f"/webhooks/{webhook_id}"
    assert admin("PATCH", path, {"events": ["*"]}).status_code == 428
    stale = admin("PATCH", path, {"events": ["*"]}, headers={"If-Match": '"stale"'})
    assert stale.status_code == 412
    etag = admin("GET", path).headers["ETag"]
    changed = admin("PATCH", path, {"events": ["*"], "description": "all"},
                    headers={"If-Match": etag})  # fmt: skip
    assert changed.status_code == 200
    assert changed.get_json()["events"] == ["*"] and changed.get_json()["description"] == "all"
    updated = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "webhook:subscription:updated")
    )
    assert updated.data["changed"] == ["description", "events"]


def test_rotation_test_events_and_the_delivery_log(admin):
    webhook_id = _create(admin).get_json()["id"]
    rotated = admin("POST", f"/webhooks/{webhook_id}/secret-rotations", {"grace_seconds": 600})
    assert rotated.status_code == 201
    body = rotated.get_json()
    assert body["secret"].startswith("whsec_")
    current, previous = body["signing_secrets"]
    assert current["expires_at"] is None and previous["expires_at"] is not None
    assert previous["expires_at"] == body["previous_secrets_expire_at"]

    queued = admin("POST", f"/webhooks/{webhook_id}/tests")
    assert queued.status_code == 202
    delivery = queued.get_json()
    assert delivery["event"] == "webhook:subscription:tested" and delivery["state"] == "pending"
    assert delivery["id"].startswith("msg_") and delivery["attempts"] == 0

    log = admin("GET", f"/webhooks/{webhook_id}/deliveries").get_json()
    assert [d["id"] for d in log["items"]] == [delivery["id"]]
    assert admin("GET", f"/webhooks/{webhook_id}/deliveries?state=failed").get_json()["items"] == []
    bad = admin("GET", f"/webhooks/{webhook_id}/deliveries?state=lost")
    assert bad.status_code == 422


def test_delete_then_404(admin):
    webhook_id = _create(admin).get_json()["id"]
    assert admin("DELETE", f"/webhooks/{webhook_id}").status_code == 204
    assert admin("GET", f"/webhooks/{webhook_id}").status_code == 404
    deleted = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "webhook:subscription:deleted")
    )
    assert deleted.data["webhook"] == webhook_id
    assert deleted.data["origin"] == "https://hooks.example.com:443"


def test_the_openapi_document_has_every_webhook_operation_and_its_permission(http):
    document = http.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    expected = {
        ("/webhooks", "get"): "webhooks:read",
        ("/webhooks", "post"): "webhooks:write",
        ("/webhooks/{webhook_id}", "get"): "webhooks:read",
        ("/webhooks/{webhook_id}", "patch"): "webhooks:write",
        ("/webhooks/{webhook_id}", "delete"): "webhooks:write",
        ("/webhooks/{webhook_id}/secret-rotations", "post"): "webhooks:write",
        ("/webhooks/{webhook_id}/tests", "post"): "webhooks:write",
        ("/webhooks/{webhook_id}/deliveries", "get"): "webhooks:read",
    }
    for (path, method), permission in expected.items():
        assert paths[path][method]["x-permission"] == permission, (path, method)
    assert "202" in paths["/webhooks/{webhook_id}/tests"]["post"]["responses"]
    assert "If-Match" in {p["name"] for p in paths["/webhooks/{webhook_id}"]["patch"][
        "parameters"]}  # fmt: skip
    schemas = document["components"]["schemas"]
    assert "secret" in schemas["WebhookCreated"]["required"]
    assert "secret" not in schemas["WebhookOut"]["properties"]
    assert schemas["WebhookCreate"]["additionalProperties"] is False
    assert "last_error" in schemas["DeliveryOut"]["properties"]


_urls = st.one_of(
    st.sampled_from([HOOK, "https://[::1]/x", "https://[fe80::1%25eth0]/", "https://xn--e1a/",
                     "https://a..b/", "https://h.example.com:0/", "https://h.example.com:99999/",
                     "https://h.example.com/\u0000", "https://%00/", "http://localhost/x"]),
    st.text(max_size=80),
)  # fmt: skip
_events = st.lists(st.one_of(st.sampled_from(["*", "key:", "account:sign-in:failed", ":",
                                              "webhook:"]), st.text(max_size=20)),
                   max_size=5)  # fmt: skip


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(url=_urls, events=_events, enabled=st.none() | st.booleans())
def test_odd_urls_and_filters_never_give_a_5xx(admin, url, events, enabled):
    created = admin("POST", "/webhooks", {"url": url, "events": events})
    assert created.status_code in (201, 400, 422), created.get_data(as_text=True)[:300]
    if created.status_code != 201:
        return
    path = f"/webhooks/{created.get_json()['id']}"
    etag = {"If-Match": admin("GET", path).headers["ETag"]}
    body = {"url": url + "/y", "events": events[::-1] or ["*"], "enabled": enabled}
    changed = admin("PATCH", path, body, headers=etag)
    assert changed.status_code in (200, 400, 422), changed.get_data(as_text=True)[:300]
