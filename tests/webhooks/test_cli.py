"""`authserver webhooks`: every --json command prints exactly one JSON value; the secret is printed
by create and rotate-secret only; a refused URL names the rule; the delivery log shows what the
worker did; test, enable, disable, delete."""

from __future__ import annotations

import json

from authserver.platform.extensions import db


def _json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_list_show_the_secret_once(runner):
    created = _json(runner("webhooks", "create", "https://hooks.example.com/in", "--event",
                           "account:sign-in:failed key:", "--description", "SIEM",
                           "--json"))  # fmt: skip
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["id"].startswith("wh_")
    assert created["events"] == ["account:sign-in:failed", "key:"]
    assert created["enabled"] is True and created["created_by"] == "cli"
    listed = runner("webhooks", "list", "--json")
    assert [w["id"] for w in _json(listed)] == [created["id"]] and secret not in listed.output
    shown = runner("webhooks", "show", created["id"], "--json")
    assert _json(shown)["deliveries"]["pending"] == 0 and secret not in shown.output
    text = runner("webhooks", "create", "https://hooks.example.com/other", "--event", "key:")
    assert text.exit_code == 0 and text.output.startswith("whsec_") and "shown once" in text.output


def test_a_refused_url_names_the_rule_and_creates_nothing(runner):
    refused = runner("webhooks", "create", "https://192.168.1.10/in", "--event", "key:")
    assert refused.exit_code == 1
    assert "refused by the outbound policy (rule address)" in refused.output
    assert _json(runner("webhooks", "list", "--json")) == []
    unknown = runner("webhooks", "create", "https://hooks.example.com/in", "--event", "keys:")
    assert unknown.exit_code == 1 and "names no event" in unknown.output


def test_test_event_delivery_log_rotation(runner, worker, receiver):
    created = _json(runner("webhooks", "create", receiver.url, "--event", "key:", "--json"))
    webhook_id, secret = created["id"], created["secret"]
    queued = _json(runner("webhooks", "test", webhook_id, "--json"))
    assert queued["event"] == "webhook:subscription:tested" and queued["state"] == "pending"
    assert worker.run_once() == 1
    (got,) = receiver.received
    assert got.verifies(secret) and got.message_id == queued["id"]
    (entry,) = _json(runner("webhooks", "deliveries", webhook_id, "--json"))
    assert entry["id"] == queued["id"] and entry["state"] == "delivered"
    assert entry["last_status"] == 200 and entry["attempts"] == 1
    assert entry["last_latency_seconds"] > 0 and entry["next_attempt_at"] is None
    text = runner("webhooks", "deliveries", webhook_id)
    assert queued["id"] in text.output and "delivered" in text.output

    rotated = _json(runner("webhooks", "rotate-secret", webhook_id, "--grace", "1h", "--json"))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    assert rotated["previous_secrets_expire_at"]
    shown = _json(runner("webhooks", "show", webhook_id, "--json"))
    assert len(shown["signing_secrets"]) == 2
    runner("webhooks", "test", webhook_id)
    worker.run_once()
    last = receiver.received[-1]
    assert last.verifies(secret) and last.verifies(rotated["secret"])


def test_update_disable_enable_delete(runner):
    webhook_id = _json(runner("webhooks", "create", "https://hooks.example.com/in", "--event",
                              "key:", "--json"))["id"]  # fmt: skip
    updated = _json(runner("webhooks", "update", webhook_id, "--event", "apikey:", "--event",
                           "oauth:refresh-token:reused", "--url", "https://siem.example.org/x",
                           "--json"))  # fmt: skip
    assert updated["events"] == ["apikey:", "oauth:refresh-token:reused"]
    assert updated["url"] == "https://siem.example.org/x"
    assert runner("webhooks", "disable", webhook_id).exit_code == 0
    shown = _json(runner("webhooks", "show", webhook_id, "--json"))
    assert shown["enabled"] is False and shown["disabled_reason"] == "disabled by cli"
    refused = runner("webhooks", "test", webhook_id)
    assert refused.exit_code == 1 and "disabled" in refused.output
    assert runner("webhooks", "enable", webhook_id).exit_code == 0
    assert _json(runner("webhooks", "show", webhook_id, "--json"))["enabled"] is True
    assert runner("webhooks", "delete", webhook_id).exit_code == 0
    db.session.expire_all()
    gone = runner("webhooks", "show", webhook_id)
    assert gone.exit_code == 1 and "no webhook" in gone.output
