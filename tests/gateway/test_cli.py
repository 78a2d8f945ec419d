"""`authserver gateway`: rules kept in a file (export, import: all or nothing), the dry run's
exit status, limits shown and set."""

from __future__ import annotations

import json


def test_rules_round_trip_through_a_file(runner, tmp_path):
    assert runner("gateway", "rules", "add", "orders", "--path", "/orders", "--scope",
                  "orders:read", "--method", "GET").exit_code == 0  # fmt: skip
    assert runner("gateway", "rules", "add", "health", "--path", "/health", "--credential",
                  "anonymous", "--position", "1").exit_code == 0  # fmt: skip
    exported = runner("gateway", "rules", "export")
    assert exported.exit_code == 0
    data = json.loads(exported.stdout)
    assert [r["name"] for r in data["rules"]] == ["health", "orders"]
    data["rules"].reverse()
    file = tmp_path / "rules.json"
    file.write_text(json.dumps(data))
    imported = runner("gateway", "rules", "import", str(file), "--json")
    assert json.loads(imported.stdout) == {"rules": 2}
    listed = json.loads(runner("gateway", "rules", "list", "--json").stdout)
    assert [(r["position"], r["name"]) for r in listed] == [(1, "orders"), (2, "health")]
    assert listed[0]["methods"] == ["GET"] and listed[0]["scopes"] == ["orders:read"]
    # A file that does not check changes nothing.
    file.write_text(json.dumps({"rules": [{"name": "x", "path": "no-slash"}]}))
    refused = runner("gateway", "rules", "import", str(file))
    assert refused.exit_code == 1 and "path" in refused.output
    file.write_text("{not json")
    assert runner("gateway", "rules", "import", str(file)).exit_code == 1
    assert len(json.loads(runner("gateway", "rules", "list", "--json").stdout)) == 2


def test_the_dry_run_and_removal(runner):
    runner("gateway", "rules", "add", "write", "--path", "/orders", "--method", "POST")
    runner("gateway", "rules", "add", "read", "--path", "/orders/**", "--host", "api.example")
    found = runner("gateway", "rules", "test", "GET", "https://api.example/orders/7")
    assert found.exit_code == 0
    assert "skipped write: method GET is not one of POST" in found.output
    assert "matches read (position 2)" in found.output
    missing = runner("gateway", "rules", "test", "GET", "https://other.example/orders/7")
    assert missing.exit_code == 1 and "no rule matches: denied" in missing.output
    assert runner("gateway", "rules", "test", "GET", "https://api.example/a/../b").exit_code == 2
    removed = runner("gateway", "rules", "remove", "write", "--json")
    assert json.loads(removed.stdout)["removed"] is True
    assert runner("gateway", "rules", "remove", "write").exit_code == 1
    (left,) = json.loads(runner("gateway", "rules", "list", "--json").stdout)
    assert left["name"] == "read" and left["position"] == 1


def test_limits_are_shown_set_and_checked(runner, make_client):
    client = make_client("orders:read")
    shown = json.loads(runner("gateway", "limits", client.client_id, "--json").stdout)
    assert shown["rate_limit"] is None and shown["quota"] is None
    set_ = runner("gateway", "limits", client.client_id, "--rate-limit", "5/second burst 10",
                  "--quota", "100", "--quota-period", "month", "--json")  # fmt: skip
    value = json.loads(set_.stdout)
    assert value["rate_limit"] == "5/second burst 10" and value["quota_remaining"] == 100
    assert value["quota_resets_at"].endswith("-01T00:00:00Z")
    bad = runner("gateway", "limits", client.client_id, "--rate-limit", "lots")
    assert bad.exit_code == 1 and "rate_limit" in bad.output
    off = json.loads(runner("gateway", "limits", client.client_id, "--rate-limit", "off",
                            "--quota", "-1", "--json").stdout)  # fmt: skip
    assert off["rate_limit"] is None and off["quota"] is None and off["quota_period"] is None
    assert runner("gateway", "limits", "nobody").exit_code == 1
