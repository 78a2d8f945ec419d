"""/api/v1/keys and /api/v1/key-schedules."""

from __future__ import annotations


def test_list_read_rotate_and_revoke(admin, http):
    keys = admin("GET", "/keys").get_json()["items"]
    active = [k for k in keys if k["state"] == "active"]
    assert {k["alg"] for k in active} == {"ES256", "RS256", "Ed25519"}
    assert "private" not in admin("GET", "/keys").get_data(as_text=True)
    es256 = next(k for k in active if k["alg"] == "ES256")
    assert admin("GET", f"/keys/{es256['kid']}").get_json()["kid"] == es256["kid"]

    rotated = admin("POST", "/key-rotations", {"alg": "ES256"})
    assert rotated.status_code == 201
    pending = rotated.get_json()["items"][0]
    assert pending["alg"] == "ES256"
    jwks = {k["kid"] for k in http.get("/.well-known/jwks.json").get_json()["keys"]}
    assert pending["kid"] in jwks  # published ahead

    # Not the ES256 key: it signed the caller's own token, which would stop working.
    ed25519 = next(k for k in active if k["alg"] == "Ed25519")
    path = f"/keys/{ed25519['kid']}/revocation"
    revoked = admin("POST", path, {"reason": "leaked in a test"})
    assert revoked.status_code == 200
    assert admin("GET", f"/keys/{ed25519['kid']}").get_json()["state"] == "revoked"
    assert admin("POST", path, {"reason": "twice"}).status_code == 409


def test_schedules_are_validated_and_need_if_match(admin):
    schedules = admin("GET", "/key-schedules")
    assert {s["alg"] for s in schedules.get_json()["items"]} == {"ES256", "RS256", "Ed25519"}
    current = admin("GET", "/key-schedules").get_json()
    path = "/key-schedules/ES256"
    from authserver.api.v1.framework import etag_of
    from authserver.api.v1.schemas import ScheduleList

    only = ScheduleList(items=[s for s in current["items"] if s["alg"] == "ES256"])
    etag = etag_of(only)
    too_short = admin("PATCH", path, {"retire_after_seconds": 1}, headers={"If-Match": etag})
    assert too_short.status_code == 422
    ok = admin("PATCH", path, {"rotate_every_seconds": 7 * 86400}, headers={"If-Match": etag})
    assert ok.status_code == 200
    assert ok.get_json()["items"][0]["rotate_every_seconds"] == 7 * 86400
    assert admin("PATCH", "/key-schedules/HS256", {}, headers={"If-Match": "*"}).status_code == 404
