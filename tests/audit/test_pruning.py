"""Retention: the oldest audit records pruned behind a signed checkpoint, the chain verifiable
across it, tampering before and after it still found; sessions', tokens' and usage rows pruned;
all with a moved clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import func, select, text

from authserver.accounts.service import find_user
from authserver.accounts.sessions import end_session, start_session
from authserver.audit.chain import verify
from authserver.audit.pruning import prune_before
from authserver.audit.tags import Tag
from authserver.cli import cli
from authserver.models import AuditEvent, UsageCount, UserSession
from authserver.ops.scheduler import Scheduler
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from authserver.privacy.retention import prune
from tests.conftest import make_app

DAY = 86400


def _roles(runner, *names: str) -> None:
    for name in names:
        assert runner("roles", "create", name, "--scope", "x:y").exit_code == 0


def _rows() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _an_old_and_a_new_part(runner) -> int:
    """Three records ten days old, then two of today; returns how many records are old."""
    clock.freeze()
    _roles(runner, "old-1", "old-2", "old-3")
    old = db.session.scalar(select(func.count()).select_from(AuditEvent))
    clock.advance(10 * DAY)
    _roles(runner, "new-1", "new-2")
    return old


def test_pruning_leaves_a_checkpoint_and_the_chain_verifies(app, runner):
    old = _an_old_and_a_new_part(runner)
    total = len(_rows())
    pruned = prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    assert pruned.removed == old
    first, *rest = _rows()
    assert first.event == Tag.AUDIT_CHECKPOINT and first.data["records"] == old
    assert [r.data.get("role") for r in rest[:2]] == ["new-1", "new-2"]
    assert rest[-1].event == Tag.AUDIT_PRUNED and rest[-1].data["records"] == old
    verdict = verify()
    assert verdict.intact and verdict.checked == total + 1 and verdict.pruned == old
    shown = runner("audit", "verify")
    assert (
        shown.exit_code == 0
        and f"({old} of them pruned behind a signed checkpoint)" in shown.output
    )

    # A second pruning later: the new checkpoint stands for the old one's records as well.
    clock.advance(10 * DAY)
    _roles(runner, "newest")
    before = len(_rows()) - 1 + old  # rows now, the checkpoint counting for what it stands for
    again = prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    first = _rows()[0]
    assert first.event == Tag.AUDIT_CHECKPOINT and first.data["records"] == before - 1
    assert again.removed == before - 1 - old + 1
    assert verify().intact and verify().checked == before + 1
    assert prune_before(clock.now() - dt.timedelta(days=7)).removed == 0  # nothing more


def _sql(statement: str, **params) -> None:
    db.session.execute(text(statement), params)
    db.session.commit()


def test_tampering_after_the_checkpoint_is_found(app, runner):
    _an_old_and_a_new_part(runner)
    prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    victim = _rows()[1]
    _sql("UPDATE audit_events SET actor = 'someone else' WHERE id = :id", id=victim.id)
    verdict = verify()
    assert verdict.broken_at == victim.id and verdict.reason == "its content was changed"


def test_a_changed_checkpoint_is_found(app, runner):
    _an_old_and_a_new_part(runner)
    prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    checkpoint = _rows()[0]
    forged = json.dumps({**checkpoint.data, "records": 1})
    _sql("UPDATE audit_events SET data = :data WHERE id = :id", data=forged, id=checkpoint.id)
    verdict = verify()
    assert verdict.broken_at == checkpoint.id and "signature" in verdict.reason


def test_a_removed_checkpoint_or_a_forged_one_further_on_is_found(app, runner):
    _an_old_and_a_new_part(runner)
    prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    checkpoint, following, *_ = _rows()
    _sql("DELETE FROM audit_events WHERE id = :id", id=checkpoint.id)
    assert verify().broken_at == following.id  # it follows nothing now
    # Made into a checkpoint without the key (deleting more of the history): refused.
    forged = json.dumps({"records": 3, "signature": "0" * 64})
    _sql(
        "UPDATE audit_events SET event = :event, prev_hash = 'checkpoint', data = :data "
        "WHERE id = :id",
        event=Tag.AUDIT_CHECKPOINT.value, data=forged, id=following.id,
    )  # fmt: skip
    verdict = verify()
    assert verdict.broken_at == following.id and "signature" in verdict.reason


def test_a_checkpoint_inside_the_chain_is_found(app, runner):
    _an_old_and_a_new_part(runner)
    prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    checkpoint, following, later, *_ = _rows()
    # A valid checkpoint row copied further on (its signature names its own id: it fails there)
    _sql("UPDATE audit_events SET event = :event WHERE id = :id",
         event=Tag.AUDIT_CHECKPOINT.value, id=later.id)  # fmt: skip
    verdict = verify()
    assert verdict.broken_at == later.id and verdict.reason == "a checkpoint inside the chain"


def test_retention_prunes_sessions_tokens_usage_and_audit_with_the_cli(tmp_path, app, runner, user):
    clock.freeze()
    settings = current_runtime().settings
    person = find_user(user)
    ended = start_session(settings, person, amr=["pwd"], ip="198.51.100.1", user_agent="a")[1]
    end_session(ended)
    db.session.add(UsageCount(hour=clock.now().replace(minute=0, second=0, microsecond=0),
                              name="tokens", count=3))  # fmt: skip
    db.session.commit()
    clock.advance(100 * DAY)
    kept = start_session(settings, person, amr=["pwd"], ip="198.51.100.2", user_agent="b")[1]
    db.session.commit()

    # The defaults keep audit records for ever: nothing of the chain is pruned.
    removed = prune(settings)
    db.session.commit()
    assert "audit_events" not in removed and removed["user_sessions"] == 1
    assert [s.sid for s in db.session.scalars(select(UserSession))] == [kept.sid]
    clock.advance(400 * DAY)
    assert prune(settings)["usage_counts"] == 1
    db.session.commit()

    keeping = make_app(tmp_path, audit_retention_seconds=30 * DAY)
    with keeping.app_context():
        result = keeping.test_cli_runner().invoke(cli, ["retention", "prune", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["audit_events"] > 0
        verified = keeping.test_cli_runner().invoke(cli, ["audit", "verify", "--json"])
        assert json.loads(verified.output)["intact"] is True


def test_the_scheduler_prunes_once_per_interval(app, runner):
    clock.freeze()
    _roles(runner, "old")
    clock.advance(400 * DAY)
    runtime = current_runtime()
    runtime.settings = dataclasses.replace(runtime.settings, audit_retention_seconds=30 * DAY)
    scheduler = Scheduler(app)
    scheduler.run_once()
    db.session.commit()  # read what the scheduler's own session committed
    assert _rows()[0].event == Tag.AUDIT_CHECKPOINT
    pruned_records = len([r for r in _rows() if r.event == Tag.AUDIT_PRUNED])
    clock.advance(60)
    scheduler.run_once()  # within the hour: no second pruning
    db.session.commit()
    assert len([r for r in _rows() if r.event == Tag.AUDIT_PRUNED]) == pruned_records == 1


def test_a_chain_rewritten_without_its_checkpoint_and_a_matching_head_is_found(app, runner):
    """Delete the checkpoint and more, re-hash the rest from the start, fix the head's hash and
    length: every link holds, but the head's signature (under the pepper) does not."""
    from authserver.audit.chain import GENESIS, content_hash

    _an_old_and_a_new_part(runner)
    prune_before(clock.now() - dt.timedelta(days=7))
    db.session.commit()
    checkpoint, dropped, *kept = _rows()
    _sql("DELETE FROM audit_events WHERE id IN (:a, :b)", a=checkpoint.id, b=dropped.id)
    prev = GENESIS
    for row in kept:
        digest = content_hash(prev, row.at, row.event, row.actor, row.outcome, row.data)
        _sql("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id",
             p=prev, h=digest, id=row.id)  # fmt: skip
        prev = digest
    _sql("UPDATE audit_chain SET last_hash = :h, length = :n", h=prev, n=len(kept))
    verdict = verify()
    assert verdict.broken_at == -1 and verdict.reason == "the head's signature does not hold"
