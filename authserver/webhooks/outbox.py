"""The outbox of webhook deliveries (the transactional outbox pattern).

- **Written with the event.** ``route`` listens to ``audit.service.recorded``: each audit
  record gets one delivery row per enabled subscription whose filters match it, in the same
  transaction. A change that rolls back leaves neither record nor delivery; one that commits
  leaves both, whatever happens to the process afterwards.
- **Claimed once per attempt.** A worker takes a due row with one conditional UPDATE
  (``pending`` and due, or ``sending`` whose lease ran out) that sets ``sending``, a random
  claim token and a lease; the row count decides, so of any number of workers on any number of
  hosts exactly one sends each attempt. The outcome is written only under the same token.
- **At least once.** A worker that dies mid-send leaves its row ``sending``; when the lease
  (the send's deadline and a margin) has passed, another worker claims it again. The receiver
  deduplicates by ``webhook-id``, which never changes.
- **Bounded retries.** After failed attempt n the next is due ``base · 4^(n-1)`` later (at most
  12 h), plus up to 10 % jitter, and never before a ``Retry-After`` the receiver sent (up to
  12 h); after ``AUTHSERVER_WEBHOOK_MAX_ATTEMPTS`` attempts the delivery has failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import secrets

from blinker import Namespace
from sqlalchemy import and_, delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from authserver.audit.sealing import SEALED
from authserver.audit.service import recorded
from authserver.audit.tags import Tag
from authserver.models import (
    AuditEvent,
    DeliveryState,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)
from authserver.models.webhook import UNDELIVERED
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.single_use import claim

_SUBSCRIPTIONS = "authserver.webhooks.subscriptions"
_ENQUEUED = "authserver.webhooks.enqueued"
#: Sent after a commit that queued deliveries: this process's workers send them at once (other
#: processes find them by polling). A signal, so that the outbox knows nothing of its worker.
deliveries_queued = Namespace().signal("webhook-deliveries-queued")

RETRY_FACTOR = 4
RETRY_CAP_SECONDS = 12 * 3600
JITTER = 0.1
#: Final states, pruned from the log after AUTHSERVER_WEBHOOK_LOG_RETENTION.
FINAL = (DeliveryState.DELIVERED.value, DeliveryState.FAILED.value,
         DeliveryState.CANCELLED.value)  # fmt: skip


# --- which subscriptions want an event ---------------------------------------------------------


def matches(filters: list[str], event_name: str) -> bool:
    """A filter is ``*``, an event tag, or a prefix of tags ending in ``:`` (``key:``)."""
    for f in filters:
        if not isinstance(f, str):
            continue
        if f == "*" or f == event_name or (f.endswith(":") and event_name.startswith(f)):
            return True
    return False


@dataclasses.dataclass(frozen=True)
class _Routable:
    id: int
    webhook_id: str
    events: tuple[str, ...]


def _enabled_subscriptions() -> list[_Routable]:
    """Read once per transaction (an audit batch may record hundreds of events)."""
    cached = db.session.info.get(_SUBSCRIPTIONS)
    if cached is None:
        rows = db.session.execute(
            select(WebhookSubscription.id, WebhookSubscription.webhook_id,
                   WebhookSubscription.events).where(WebhookSubscription.is_enabled.is_(True))
        ).all()  # fmt: skip
        cached = [_Routable(r.id, r.webhook_id, tuple(r.events or ())) for r in rows]
        db.session.info[_SUBSCRIPTIONS] = cached
    return cached


def forget_subscriptions() -> None:
    """A subscription changed in this transaction: route by the new set from now on."""
    db.session.info.pop(_SUBSCRIPTIONS, None)


@recorded.connect
def route(row: AuditEvent, **_: object) -> None:
    """One delivery per enabled subscription that wants ``row``, in the caller's transaction.
    A ``webhook:subscription:tested`` record also goes to the subscription it tests."""
    tested = (row.data or {}).get("webhook") if row.event == Tag.WEBHOOK_TESTED else None
    for subscription in _enabled_subscriptions():
        if matches(list(subscription.events), row.event) or subscription.webhook_id == tested:
            enqueue(row, subscription.id)


def new_message_id() -> str:
    """``msg_`` + 128 random bits, base64url: no '.' (Standard Webhooks signs id.timestamp.body)."""
    return "msg_" + secrets.token_urlsafe(16)


def enqueue(row: AuditEvent, subscription_id: int) -> WebhookDelivery:
    now = clock.now()
    delivery = WebhookDelivery(
        subscription_id=subscription_id, message_id=new_message_id(), audit_event=row,
        event=row.event, state=DeliveryState.PENDING.value, attempts=0, created_at=now,
        next_attempt_at=now,
    )  # fmt: skip
    db.session.add(delivery)
    db.session.info[_ENQUEUED] = True
    return delivery


@event.listens_for(Session, "after_transaction_end")
def _forget_cache(session: Session, transaction) -> None:  # noqa: ANN001
    # The transaction or a savepoint ended (not the inner scope every flush opens).
    if transaction.parent is None or transaction.nested:
        session.info.pop(_SUBSCRIPTIONS, None)


@event.listens_for(Session, "after_commit")
def _wake_worker(session: Session) -> None:
    """This process's worker sends what was just committed at once (others find it by polling)."""
    if session.info.pop(_ENQUEUED, None):
        deliveries_queued.send(session)


@event.listens_for(Session, "after_rollback")
def _nothing_enqueued(session: Session) -> None:
    session.info.pop(_ENQUEUED, None)


# --- the payload -------------------------------------------------------------------------------


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def payload(row: AuditEvent) -> bytes:
    """Standard Webhooks' recommended shape: ``type``, ``timestamp`` (when the event happened)
    and ``data``, which is the audit record as stored (``GET /api/v1/audit-events`` shows the
    same, with a person's name and sealed fields opened, which a delivery never carries). The
    record is immutable (hash-chained), so every attempt sends the same bytes."""
    at = iso(row.at)
    # A person's sealed fields stay sealed: the box is dropped (a receiver could not open it,
    # and a delivery log must not keep what erasure is to destroy).
    data = {k: v for k, v in (row.data or {}).items() if k != SEALED}
    record = {"id": row.id, "at": at, "event": row.event, "actor": row.actor,
              "outcome": row.outcome, "data": data}  # fmt: skip
    body = {"type": row.event, "timestamp": at, "data": record}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")  # fmt: skip


# --- claiming ----------------------------------------------------------------------------------


def _claimable(now: dt.datetime):  # noqa: ANN202
    return or_(
        and_(WebhookDelivery.state == DeliveryState.PENDING.value,
             WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.state == DeliveryState.SENDING.value,
             WebhookDelivery.lease_until <= now),
    )  # fmt: skip


def claim_one(delivery_id: int, token: str, lease_seconds: float) -> bool:
    """Take one due delivery for an attempt: one conditional UPDATE, the row count decides."""
    now = clock.now()
    return claim(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, _claimable(now))
        .values(
            state=DeliveryState.SENDING.value,
            claim=token,
            attempts=WebhookDelivery.attempts + 1,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            last_attempt_at=now,
        )
    )


def claim_due(limit: int, lease_seconds: float) -> tuple[str, list[int]]:
    """(the claim token, the ids of up to ``limit`` due deliveries this caller took). The caller
    commits at once, so other workers see the claims."""
    now = clock.now()
    candidates = db.session.scalars(
        select(WebhookDelivery.id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookSubscription.is_enabled.is_(True), _claimable(now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ).all()
    token = secrets.token_hex(16)
    return token, [i for i in candidates if claim_one(i, token, lease_seconds)]


# --- outcomes ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Attempt:
    """What one attempt came to: the receiver's status (None when there was no answer), why it
    failed (None when it did not), how long it took, and the receiver's Retry-After."""

    status: int | None
    error: str | None
    latency_seconds: float | None
    retry_after_seconds: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def retry_delay_seconds(attempts: int, base_seconds: int, *, jitter: float | None = None) -> float:
    """The wait after ``attempts`` failed attempts: base · 4^(attempts-1), at most 12 h, plus
    ``jitter`` (a fraction, random in [0, 10 %) when not given)."""
    delay = min(base_seconds * RETRY_FACTOR ** max(attempts - 1, 0), RETRY_CAP_SECONDS)
    spread = random.uniform(0, JITTER) if jitter is None else jitter  # noqa: S311 - not a secret
    return delay * (1 + spread)


def record_attempt(delivery_id: int, token: str, attempts: int, attempt: Attempt, *,
                   max_attempts: int, base_seconds: int) -> str | None:  # fmt: skip
    """Write the outcome of the attempt held under ``token``: ``delivered``, ``retry`` (another
    attempt is scheduled), ``failed`` (no more attempts; also after 410 Gone), or None when the
    claim was lost (its lease ran out and another worker took the row)."""
    now = clock.now()
    values: dict = {"claim": None, "lease_until": None, "last_status": attempt.status,
                    "last_error": attempt.error,
                    "last_latency_seconds": attempt.latency_seconds}  # fmt: skip
    if attempt.ok:
        outcome = "delivered"
        values |= {"state": DeliveryState.DELIVERED.value, "delivered_at": now,
                   "next_attempt_at": None}  # fmt: skip
    elif attempt.error == "gone" or attempts >= max_attempts:
        outcome = "failed"
        values |= {"state": DeliveryState.FAILED.value, "next_attempt_at": None}
    else:
        outcome = "retry"
        delay = retry_delay_seconds(attempts, base_seconds)
        if attempt.retry_after_seconds:
            delay = max(delay, min(attempt.retry_after_seconds, RETRY_CAP_SECONDS))
        values |= {"state": DeliveryState.PENDING.value,
                   "next_attempt_at": now + dt.timedelta(seconds=delay)}  # fmt: skip
    held = claim(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.claim == token,
               WebhookDelivery.state == DeliveryState.SENDING.value)
        .values(**values)
    )  # fmt: skip
    return outcome if held else None


def cancel_pending(subscription_id: int) -> int:
    """A disabled subscription's deliveries not yet sent are cancelled (not sent later)."""
    return db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id,
               WebhookDelivery.state == DeliveryState.PENDING.value)
        .values(state=DeliveryState.CANCELLED.value, next_attempt_at=None,
                last_error="disabled")
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip


# --- the queue, for metrics and the log ----------------------------------------------------------


def queue_stats() -> tuple[int, float]:
    """(deliveries not yet delivered, failed or cancelled; the age in seconds of the oldest)."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(WebhookDelivery.created_at))
        .where(WebhookDelivery.state.in_(UNDELIVERED))
    ).one()  # fmt: skip
    age = 0.0 if oldest is None else max((clock.now() - oldest).total_seconds(), 0.0)
    return count, age


def prune(retention_seconds: int, batch: int = 500) -> int:
    """Forget finished deliveries older than the retention (a bounded batch per call) and
    secrets whose overlap has ended."""
    now = clock.now()
    cutoff = now - dt.timedelta(seconds=retention_seconds)
    old = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state.in_(FINAL), WebhookDelivery.created_at < cutoff)
        .limit(batch)
    )
    removed = db.session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.id.in_(old.scalar_subquery()))
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    db.session.execute(
        delete(WebhookSecret).where(WebhookSecret.expires_at.is_not(None),
                                    WebhookSecret.expires_at <= now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return removed
