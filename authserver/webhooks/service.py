"""Webhook subscriptions: create, change, enable and disable, rotate the signing secret with an
overlap, delete, send a test event. One set of rules for the CLI, the admin API and the admin
UI; services flush, the face commits.

- The URL is checked by the outbound policy when it is registered (the refusal names the rule)
  and again, with every address it resolves to, at each send (``authserver.outbound``).
- Filters are event tags, prefixes of them ending in ``:`` (``key:``, ``apikey:``) or ``*``;
  one that names no event there is refused, so a typo does not subscribe to nothing.
- **No escalation**: a subscription receives audit records, so creating one, or changing,
  enabling or re-keying one, needs ``audit:read`` besides the face's ``webhooks:write``.
  Disabling and deleting stop the flow of data and need only ``webhooks:write``.
- The secret exists in plain text only in what ``create_webhook`` and ``rotate_secret``
  return; it is sealed under the KEK with its row id as associated data.
- Audit records name the subscription and its URL's origin, never the path or query (a
  receiver's URL may carry a token of its own).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import string
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import (
    DeliveryState,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)
from authserver.outbound import UrlRefused
from authserver.platform import clock
from authserver.platform.errors import Conflict, InvalidInput, NotFound
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from authserver.rbac.containment import Caller, require_can_confer
from authserver.rbac.permissions import Permission
from authserver.webhooks import outbox, signing

MAX_FILTERS = 50
_ID_ALPHABET = string.ascii_letters + string.digits
GONE_REASON = "the receiver answered 410 Gone"


def new_webhook_id() -> str:
    return "wh_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


# --- checks --------------------------------------------------------------------------------------


def check_events(events: list[str] | tuple[str, ...]) -> list[str]:
    """The filters, deduplicated in order; each must name at least one event."""
    cleaned = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    if not cleaned:
        raise InvalidInput("events: name at least one event type, a prefix ending in ':' or *")
    if len(cleaned) > MAX_FILTERS:
        raise InvalidInput(f"events: at most {MAX_FILTERS}")
    known = [t.value for t in Tag]
    for name in cleaned:
        if name != "*" and not any(outbox.matches([name], tag) for tag in known):
            raise InvalidInput(
                f"events: {name[:64]!r} names no event (a tag such as account:sign-in:failed, "
                "a prefix ending in ':' such as key:, or *)"
            )
    return cleaned


def check_url(url: str) -> str:
    """The URL as the outbound policy sees it; refused with the rule's name otherwise."""
    url = url.strip()
    try:
        current_runtime().outbound.policy.check_url(url)
    except UrlRefused as e:
        raise InvalidInput(f"url: refused by the outbound policy (rule {e.rule}): {e}") from None
    return url


def origin_of(url: str) -> str:
    """scheme://host:port of a stored URL: what audit records and logs may show of it."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{port}"


def _require_audit_read(caller: Caller, action: str, target: str) -> None:
    """Whoever points a subscription somewhere gets the audit records sent there: only someone
    who may read them (rbac.containment: no escalation through a webhook)."""
    require_can_confer(caller, [Permission.AUDIT_READ.value], action=action, target=target)


# --- reading -------------------------------------------------------------------------------------


def find_webhook(webhook_id: str) -> WebhookSubscription | None:
    return db.session.scalar(
        select(WebhookSubscription).where(WebhookSubscription.webhook_id == webhook_id)
    )


def get_webhook(webhook_id: str) -> WebhookSubscription:
    subscription = find_webhook(webhook_id)
    if subscription is None:
        raise NotFound(f"no webhook {webhook_id}")
    return subscription


def list_webhooks() -> list[WebhookSubscription]:
    return list(db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def live_secrets(subscription: WebhookSubscription, now: dt.datetime) -> list[WebhookSecret]:
    """The secrets that sign now, newest first."""
    live = [s for s in subscription.secrets if s.signs_at(now)]
    return sorted(live, key=lambda s: s.id, reverse=True)


def signing_keys(subscription: WebhookSubscription, now: dt.datetime) -> list[bytes]:
    envelope = current_runtime().envelope()
    return [envelope.decrypt(s.kek_id, s.ciphertext, s.associated_data)
            for s in live_secrets(subscription, now)]  # fmt: skip


def deliveries_of(subscription: WebhookSubscription, state: str | None = None):  # noqa: ANN201
    """The subscription's delivery log (a statement to page through)."""
    statement = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    if state:
        statement = statement.where(WebhookDelivery.state == state)
    return statement


def delivery_counts(subscription: WebhookSubscription) -> dict[str, int]:
    rows = db.session.execute(
        select(WebhookDelivery.state, func.count())
        .where(WebhookDelivery.subscription_id == subscription.id)
        .group_by(WebhookDelivery.state)
    ).all()  # fmt: skip
    counts = {state.value: 0 for state in DeliveryState}
    counts.update({state: n for state, n in rows})
    return counts


# --- changes -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NewWebhook:
    url: str
    events: tuple[str, ...]
    description: str = ""


def _add_secret(subscription: WebhookSubscription) -> bytes:
    secret = signing.new_secret()
    row = WebhookSecret(subscription=subscription, kek_id="", ciphertext=b"",
                        created_at=clock.now())  # fmt: skip
    db.session.add(row)
    db.session.flush()  # the row id is the ciphertext's associated data
    row.kek_id, row.ciphertext = current_runtime().envelope().encrypt(secret, row.associated_data)
    db.session.flush()
    return secret


def create_webhook(spec: NewWebhook, *, caller: Caller) -> tuple[str, WebhookSubscription]:
    """(the signing secret, ``whsec_…``, shown once; the subscription)."""
    url = check_url(spec.url)
    events = check_events(spec.events)
    _require_audit_read(caller, "subscribing a webhook to", "audit events")
    now = clock.now()
    subscription = WebhookSubscription(
        webhook_id=new_webhook_id(), url=url, events=events,
        description=spec.description.strip()[:200], is_enabled=True, created_at=now,
        updated_at=now, created_by=caller.actor[:200],
    )  # fmt: skip
    db.session.add(subscription)
    db.session.flush()
    secret = _add_secret(subscription)
    outbox.forget_subscriptions()
    record(Tag.WEBHOOK_CREATED, actor=caller.actor, webhook=subscription.webhook_id,
           origin=origin_of(url), events=events)  # fmt: skip
    return signing.secret_text(secret), subscription


def update_webhook(
    subscription: WebhookSubscription,
    *,
    url: str | None = None,
    events: list[str] | tuple[str, ...] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    caller: Caller,
) -> WebhookSubscription:
    """Change the URL, filters, description, or enable/disable. Anything but disabling needs
    ``audit:read``; disabling cancels the deliveries not yet sent."""
    changed: dict[str, object] = {}
    if url is not None and url.strip() != subscription.url:
        changed["url"] = check_url(url)
    if events is not None:
        checked = check_events(events)
        if checked != list(subscription.events):
            changed["events"] = checked
    if description is not None and description.strip()[:200] != subscription.description:
        changed["description"] = description.strip()[:200]
    if enabled is True and not subscription.is_enabled:
        changed["enabled"] = True
    if changed:
        _require_audit_read(caller, "changing", f"webhook {subscription.webhook_id}")
    if enabled is False and subscription.is_enabled:
        if changed:
            raise InvalidInput("enabled: disable a webhook on its own, not with other changes")
        disable_webhook(subscription, reason=f"disabled by {caller.actor}"[:200],
                        actor=caller.actor)  # fmt: skip
        return subscription
    if not changed:
        return subscription
    subscription.url = changed.get("url", subscription.url)
    subscription.events = changed.get("events", subscription.events)
    subscription.description = changed.get("description", subscription.description)
    if changed.get("enabled"):
        subscription.is_enabled, subscription.disabled_reason = True, None
    subscription.updated_at = clock.now()
    db.session.flush()
    outbox.forget_subscriptions()
    record(Tag.WEBHOOK_UPDATED, actor=caller.actor, webhook=subscription.webhook_id,
           changed=sorted(changed), origin=origin_of(subscription.url),
           events=list(subscription.events), enabled=subscription.is_enabled)  # fmt: skip
    return subscription


def disable_webhook(subscription: WebhookSubscription, *, reason: str, actor: str) -> int:
    """Stop a subscription: nothing new is queued for it and what was queued is cancelled;
    returns how many deliveries were cancelled."""
    if not subscription.is_enabled:
        return 0
    subscription.is_enabled = False
    subscription.disabled_reason = reason[:200]
    subscription.updated_at = clock.now()
    db.session.flush()
    cancelled = outbox.cancel_pending(subscription.id)
    outbox.forget_subscriptions()
    record(Tag.WEBHOOK_DISABLED, actor=actor, webhook=subscription.webhook_id, reason=reason,
           cancelled=cancelled)  # fmt: skip
    return cancelled


def disable_gone(subscription_id: int) -> bool:
    """Standard Webhooks: a receiver answering 410 Gone wants no more; the subscription is
    disabled (once, whichever worker saw it first)."""
    taken = db.session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id,
               WebhookSubscription.is_enabled.is_(True))
        .values(is_enabled=False, disabled_reason=GONE_REASON, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    if taken != 1:
        return False
    webhook_id = db.session.scalar(
        select(WebhookSubscription.webhook_id).where(WebhookSubscription.id == subscription_id)
    )
    cancelled = outbox.cancel_pending(subscription_id)
    outbox.forget_subscriptions()
    record(Tag.WEBHOOK_DISABLED, webhook=webhook_id, reason=GONE_REASON, cancelled=cancelled)
    return True


def rotate_secret(subscription: WebhookSubscription, *, grace_seconds: int,
                  caller: Caller) -> tuple[str, dt.datetime]:  # fmt: skip
    """A new signing secret (shown once); the ones signing now keep signing beside it for
    ``grace_seconds`` (0: at once replaced). Returns (the secret, when the overlap ends)."""
    if grace_seconds < 0:
        raise InvalidInput("grace: must not be negative")
    _require_audit_read(caller, "re-keying", f"webhook {subscription.webhook_id}")
    now = clock.now()
    grace_end = now + dt.timedelta(seconds=grace_seconds)
    for old in live_secrets(subscription, now):
        old.expires_at = grace_end if old.expires_at is None else min(old.expires_at, grace_end)
    for done in [s for s in subscription.secrets if not s.signs_at(now)]:
        subscription.secrets.remove(done)
    secret = _add_secret(subscription)
    subscription.updated_at = now
    db.session.flush()
    record(Tag.WEBHOOK_SECRET_ROTATED, actor=caller.actor, webhook=subscription.webhook_id,
           grace_seconds=grace_seconds)  # fmt: skip
    return signing.secret_text(secret), grace_end


def delete_webhook(subscription: WebhookSubscription, *, caller: Caller) -> None:
    """Delete a subscription with its secrets and its delivery log."""
    webhook_id, origin = subscription.webhook_id, origin_of(subscription.url)
    # Explicitly, children first: SQLite enforces ON DELETE CASCADE only with foreign keys on.
    db.session.execute(delete(WebhookDelivery)
                       .where(WebhookDelivery.subscription_id == subscription.id))  # fmt: skip
    db.session.execute(delete(WebhookSecret)
                       .where(WebhookSecret.subscription_id == subscription.id))  # fmt: skip
    db.session.expire(subscription)
    db.session.delete(subscription)
    db.session.flush()
    outbox.forget_subscriptions()
    record(Tag.WEBHOOK_DELETED, actor=caller.actor, webhook=webhook_id, origin=origin)


def send_test(subscription: WebhookSubscription, *, caller: Caller) -> WebhookDelivery:
    """Record a ``webhook:subscription:tested`` event; it goes to this subscription whatever its
    filters (and to any other that wants it), through the outbox like every event."""
    if not subscription.is_enabled:
        raise Conflict(f"webhook {subscription.webhook_id} is disabled; enable it first")
    row = record(Tag.WEBHOOK_TESTED, actor=caller.actor, webhook=subscription.webhook_id)
    db.session.flush()
    return db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.audit_event_id == row.id,
                                      WebhookDelivery.subscription_id == subscription.id)
    )  # fmt: skip
