"""An installation upgraded from before the audit keys: `init` rewrites its records once as
today's code writes them (people by subject, their address and user agent sealed), re-hashes the
chain, records that it did, and afterwards an erasure reaches those records too."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from authserver.accounts.service import find_user
from authserver.audit.chain import append, verify
from authserver.audit.reading import readable
from authserver.audit.tags import Tag
from authserver.models import AuditChain, AuditEvent
from authserver.platform import clock
from authserver.platform.extensions import db

EMAIL = "ada@example.com"
IP = "198.51.100.77"
AGENT = "OldBrowser/1.0 (legacy)"


def _legacy_trail(admin_subject: str) -> None:
    """Records as the server wrote them before migration 0021."""
    db.session.execute(text("UPDATE audit_chain SET format = 1"))
    now = clock.now()
    append(now, "account:sign-in:succeeded", EMAIL, "success", {"ip": IP, "user_agent": AGENT})
    append(now, "account:mfa:reset", f"user:{admin_subject}", "success",
           {"user": EMAIL, "ip": "203.0.113.5", "user_agent": "Admin/1"})  # fmt: skip
    append(now, "account:sign-in:failed", "nobody@example.com", "failure", {"ip": "192.0.2.1"})
    db.session.commit()


def test_init_reseals_old_records_once_and_erasure_then_reaches_them(app, runner, user):
    runner("users", "create", "root@example.com")
    admin = find_user("root@example.com")
    _legacy_trail(admin.subject)
    assert verify().intact
    before = db.session.get(AuditChain, 1).last_hash

    result = runner("init")
    assert result.exit_code == 0 and "resealed" in result.output
    db.session.expire_all()
    assert verify().intact and db.session.get(AuditChain, 1).format == 2
    stored = json.dumps([[e.actor, e.data] for e in db.session.scalars(select(AuditEvent))])
    for needle in (EMAIL, IP, AGENT, "nobody@example.com", "203.0.113.5"):
        assert needle not in stored, needle
    (resealed,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == Tag.AUDIT_RESEALED)
    )  # fmt: skip
    assert resealed.data["previous_head"] == before and resealed.data["records"] == 3
    ada = find_user(EMAIL)
    shown = readable(db.session.scalars(select(AuditEvent).where(AuditEvent.actor == ada.actor)))
    assert any(e.data.get("ip") == IP and e.actor_name == EMAIL for e in shown)
    ada_actor = ada.actor
    reset = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "account:mfa:reset"))
    assert reset.data["user"] == ada.subject

    again = runner("init")
    assert again.exit_code == 0 and "resealed" not in again.output  # once
    erased = json.loads(runner("users", "erase", EMAIL, "--yes", "--json").stdout)
    assert erased["legacy_audit_records"] == 0
    assert verify().intact
    db.session.expire_all()
    shown = readable(db.session.scalars(select(AuditEvent).where(AuditEvent.actor == ada_actor)))
    assert shown and all("ip" not in e.data for e in shown)


def test_a_trail_without_old_records_is_left_as_it_is(app, runner):
    assert db.session.get(AuditChain, 1).format == 2
    head = db.session.get(AuditChain, 1).last_hash
    assert runner("init").exit_code == 0
    db.session.expire_all()
    assert db.session.get(AuditChain, 1).last_hash == head
