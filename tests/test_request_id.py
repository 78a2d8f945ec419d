"""Every response carries X-Request-Id; a sane inbound id is kept; audit records and log lines
of the request carry it too, with the caller's address and user agent."""

from __future__ import annotations

import logging

from tests.api.conftest import ALL


def test_an_id_is_made_or_kept(http):
    made = http.get("/healthz").headers["X-Request-Id"]
    assert len(made) == 16 and made != http.get("/healthz").headers["X-Request-Id"]
    kept = http.get("/healthz", headers={"X-Request-Id": "proxy-1234abcd"})
    assert kept.headers["X-Request-Id"] == "proxy-1234abcd"
    odd = http.get("/healthz", headers={"X-Request-Id": "bad id; with spaces"})
    assert odd.headers["X-Request-Id"] != "bad id; with spaces"


def test_audit_records_and_log_lines_carry_it(make_client, get_token, http, caplog):
    client = make_client(ALL, "--role", "admin", "--force-mfa-roles", permitted=False)
    token = get_token(client)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "ops-script/1.0",
               "X-Request-Id": "req-0000feedbeef"}  # fmt: skip
    with caplog.at_level(logging.INFO, logger="authserver.audit"):
        created = http.post("/api/v1/roles", json={"name": "traced"}, headers=headers)
    assert created.status_code == 201
    events = http.get(
        "/api/v1/audit-events", query_string={"event": "rbac:role:created"}, headers=headers
    ).get_json()["items"]
    data = events[-1]["data"]
    assert data["request_id"] == "req-0000feedbeef"
    assert data["user_agent"] == "ops-script/1.0" and data["ip"] == "127.0.0.1"
    assert any(getattr(r, "audit", {}).get("request_id") == "req-0000feedbeef"
               for r in caplog.records)  # fmt: skip
