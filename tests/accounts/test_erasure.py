"""Erasure of a person (GDPR Art. 17): nothing of them left in the database files, their tokens
dead, the audit chain verifiable, another person's export unchanged; the same from the CLI, the
admin API (its own permission) and the admin UI (the email typed again)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import select

from authserver.accounts.service import find_user, find_user_by_subject
from authserver.accounts.sessions import start_session
from authserver.audit.reading import ERASED_PERSON, readable
from authserver.audit.sealing import ERASED
from authserver.models import AuditEvent, PersonKey
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from tests.accounts.conftest import csrf_of
from tests.api.conftest import caller  # noqa: F401 (fixture)
from tests.conftest import BACKEND, PASSWORD
from tests.oauth.test_code_flow import Browser
from tests.services import postgres_binary

EMAIL = "ada@example.com"
NAME = "Ada Quellenbach-Lovelace"
IP = "198.51.100.77"
AGENT = "ErasureProbe/7.7 (the person's own browser)"


def _a_person_who_used_everything(http, runner, rp) -> dict:
    """Ada signs in from her own address and browser (once wrongly), consents, gets tokens,
    holds an API key, a role and a second session; Bob beside her."""
    http.environ_base.update(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)
    assert runner("users", "update", EMAIL, "--display-name", NAME).exit_code == 0
    runner("roles", "create", "orders", "--scope", "orders:read")
    runner("roles", "grant", "orders", "--user", EMAIL)
    page = http.get("/login").get_data(as_text=True)
    http.post("/login", data={"email": EMAIL, "password": "not it", "csrf_token": csrf_of(page)})
    browser = Browser(http, rp)
    tokens = browser.exchange(browser.code()["code"]).get_json()
    key = json.loads(runner("apikeys", "create", "--user", EMAIL, "--scope", "orders:read",
                            "--name", "laptop", "--json").stdout)  # fmt: skip
    start_session(current_runtime().settings, find_user(EMAIL), amr=["pwd"], ip=IP,
                  user_agent=AGENT)  # fmt: skip
    runner("users", "create", "bob@example.com", "--display-name", "Bob")
    start_session(current_runtime().settings, find_user("bob@example.com"), amr=["pwd"],
                  ip="203.0.113.9", user_agent="Bob's browser")  # fmt: skip
    db.session.commit()
    return {"tokens": tokens, "key": key["key"]}


def _export(runner, email: str) -> dict:
    document = json.loads(runner("users", "export", email, "--json").stdout)
    document.pop("exported_at")
    # Each export is itself audited: the records of earlier exports are not what is compared.
    document["audit_events"] = [
        e for e in document["audit_events"] if e["event"] != "account:data:exported"
    ]
    return document


def _introspect(http, rp, token: str) -> dict:
    answer = http.post("/oauth/introspect", data={"token": token},
                       auth=(rp["client_id"], rp["client_secret"]))  # fmt: skip
    assert answer.status_code == 200
    return answer.get_json()


def test_erasure_leaves_no_byte_of_the_person_and_the_chain_verifies(
    app, http, runner, user, rp, tmp_path
):
    made = _a_person_who_used_everything(http, runner, rp)
    subject = find_user(EMAIL).subject
    assert _introspect(http, rp, made["tokens"]["access_token"])["active"] is True
    theirs = readable(db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor == f"user:{subject}")))  # fmt: skip
    # Before: the person's own records carry their address, opened from its box.
    assert any(e.data.get("ip") == IP and e.data.get("user_agent") == AGENT for e in theirs)
    bob_before = _export(runner, "bob@example.com")
    db.session.commit()  # no read of this test holds old pages of the WAL

    erased = runner("users", "erase", EMAIL, "--yes", "--json")
    assert erased.exit_code == 0, erased.output
    summary = json.loads(erased.stdout)
    assert summary["subject"] == subject and summary["audit_key_destroyed"] is True
    assert (
        summary["rows_removed"]["user_sessions"] == 2 and summary["rows_removed"]["api_keys"] == 1
    )

    verified = runner("audit", "verify", "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["intact"] is True
    for token in (made["tokens"]["access_token"], made["tokens"]["refresh_token"], made["key"]):
        assert _introspect(http, rp, token) == {"active": False}
    if BACKEND == "sqlite":  # the erasure checkpointed the WAL itself: no VACUUM needed
        raw = b"".join(f.read_bytes() for f in tmp_path.glob("auth.db*") if f.is_file())
        assert not any(needle.encode() in raw for needle in (EMAIL, NAME, IP, AGENT))
    for needle in (EMAIL, NAME, IP, AGENT):
        assert needle.encode() not in _database_bytes(tmp_path), needle
    refreshed = http.post("/oauth/token", data={"grant_type": "refresh_token",
                          "refresh_token": made["tokens"]["refresh_token"]},
                          auth=(rp["client_id"], rp["client_secret"]))  # fmt: skip
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    page = http.get("/login").get_data(as_text=True)
    again = http.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                      "csrf_token": csrf_of(page)})  # fmt: skip
    assert again.status_code == 401  # no such account any more
    assert EMAIL not in runner("users", "list", "--json").stdout

    # The records stay, the person's fields shown as erased; Bob's export is what it was.
    db.session.expire_all()
    after = readable(db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor == f"user:{subject}")))  # fmt: skip
    assert len(after) == len(theirs) + 1  # and the last session's end, by the erasure
    assert {e.actor_name for e in after} == {ERASED_PERSON}
    assert all("ip" not in e.data and "user_agent" not in e.data for e in after)
    assert sum(e.data.get("personal_data") == ERASED for e in after) >= 3  # sign-ins, sessions
    assert db.session.get(PersonKey, subject) is None
    assert find_user_by_subject(subject).erased_at is not None
    assert _export(runner, "bob@example.com") == bob_before
    (record,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "account:data:erased")
    )
    assert record.actor == "cli" and record.data == {"user": subject, "audit_key_destroyed": True}
    # The address typed after the erasure is recorded as a keyed hash, not as typed.
    db.session.commit()
    assert EMAIL.encode() not in _database_bytes(tmp_path)


def _database_bytes(tmp_path: Path) -> bytes:
    """Every byte the database holds: the SQLite file and its WAL after a checkpoint and a
    VACUUM, or a dump of every PostgreSQL table."""
    db.session.commit()
    if BACKEND == "postgresql":
        url = db.engine.url.set(drivername="postgresql")
        dump = subprocess.run([str(postgres_binary("pg_dump")), "--data-only",
                               url.render_as_string(hide_password=False)],
                              capture_output=True, check=True, timeout=60)  # fmt: skip
        return dump.stdout
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("VACUUM")
    files = [tmp_path / "auth.db", tmp_path / "auth.db-wal"]
    return b"".join(f.read_bytes() for f in files if f.exists())


def test_the_bytes_check_finds_the_person_before_erasure(app, http, runner, user, rp, tmp_path):
    """The check above can fail: before erasure the email, name and (in sessions) the address
    and user agent are in the files."""
    _a_person_who_used_everything(http, runner, rp)
    stored = _database_bytes(tmp_path)
    assert all(needle.encode() in stored for needle in (EMAIL, NAME, IP, AGENT))


def test_the_api_erases_with_its_own_permission_once(app, runner, user, caller):  # noqa: F811
    subject = find_user(EMAIL).subject
    writer = caller("users:write users:read")
    refused = writer("POST", f"/users/{subject}/erase")
    assert refused.status_code == 403 and "users:erase" in refused.get_json()["detail"]
    assert find_user(EMAIL) is not None
    eraser = caller("users:erase")
    answer = eraser("POST", f"/users/{subject}/erase")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["subject"] == subject and answer.get_json()["erased"] is True
    assert eraser("POST", f"/users/{subject}/erase").status_code == 404  # gone from the API
    assert find_user(EMAIL) is None


def test_the_cli_erases_only_when_the_email_is_typed_again(app, runner, user):
    refused = runner("users", "erase", EMAIL, input="bob@example.com\n")
    assert refused.exit_code != 0 and "does not match" in refused.output
    assert find_user(EMAIL) is not None
    assert runner("users", "erase", EMAIL, input=f"{EMAIL}\n").exit_code == 0
    assert find_user(EMAIL) is None


def test_records_older_than_the_audit_keys_are_counted_not_rewritten(app, runner, user):
    """A record of an installation upgraded from before migration 0021 names the person by
    email in the clear; the chain forbids changing it, so the erasure says how many remain."""
    from authserver.audit.chain import append
    from authserver.platform import clock

    append(clock.now(), "account:sign-in:succeeded", EMAIL, "success", {"ip": IP})
    db.session.commit()
    erased = runner("users", "erase", EMAIL, "--yes", "--json")
    assert erased.exit_code == 0 and json.loads(erased.stdout)["legacy_audit_records"] == 1
    assert "written before migration 0021" in erased.stderr
    assert runner("audit", "verify").exit_code == 0
