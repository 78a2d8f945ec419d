"""/api/v1/audit-events: what happened, filtered and paged."""

from __future__ import annotations

import datetime as dt


def test_changes_are_audited_with_their_actor(admin):
    admin("POST", "/roles", {"name": "audited", "permissions": ["orders:read"]})
    events = admin("GET", "/audit-events", query_string={"event": "rbac:role:created"})
    assert events.status_code == 200
    last = events.get_json()["items"][-1]
    assert last["data"]["role"] == "audited" and last["actor"].startswith("client:")


def test_filters_and_pages(admin):
    everything = admin("GET", "/audit-events", query_string={"limit": 100}).get_json()["items"]
    assert any(e["event"].startswith("key:signing:") for e in everything)
    keys = admin("GET", "/audit-events", query_string={"event": "key:", "limit": 2}).get_json()
    assert len(keys["items"]) == 2 and keys["next_cursor"]
    assert all(e["event"].startswith("key:") for e in keys["items"])
    following = admin(
        "GET", "/audit-events",
        query_string={"event": "key:", "limit": 2, "cursor": keys["next_cursor"]},
    ).get_json()  # fmt: skip
    assert following["items"][0]["id"] > keys["items"][-1]["id"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert admin("GET", "/audit-events", query_string={"since": future}).get_json()["items"] == []
    naive = admin("GET", "/audit-events", query_string={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
