"""``authserver webhooks``: security-event webhook subscriptions, their delivery logs, secret
rotation and test events. The CLI is the operator (it holds everything, ``audit:read``
included)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.cli.keys import Duration
from authserver.cli.output import emit, iso, json_option, split_multi, transaction
from authserver.models import WebhookDelivery, WebhookSubscription
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.rbac.containment import OPERATOR
from authserver.webhooks.service import (
    NewWebhook,
    create_webhook,
    delete_webhook,
    deliveries_of,
    delivery_counts,
    get_webhook,
    list_webhooks,
    live_secrets,
    rotate_secret,
    send_test,
    update_webhook,
)

group = AppGroup("webhooks", help="Security-event webhooks (Standard Webhooks).")


def _describe(subscription: WebhookSubscription) -> dict:
    return {
        "id": subscription.webhook_id,
        "url": subscription.url,
        "events": list(subscription.events),
        "description": subscription.description,
        "enabled": subscription.is_enabled,
        "disabled_reason": subscription.disabled_reason,
        "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
        "created_by": subscription.created_by,
        "signing_secrets": [
            {"created_at": iso(s.created_at), "expires_at": iso(s.expires_at)}
            for s in live_secrets(subscription, clock.now())
        ],  # fmt: skip
        "deliveries": delivery_counts(subscription),
    }


def _delivery(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.message_id,
        "event": delivery.event,
        "audit_event_id": delivery.audit_event_id,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "created_at": iso(delivery.created_at),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "last_latency_seconds": delivery.last_latency_seconds,
        "delivered_at": iso(delivery.delivered_at),
    }


def _line(value: dict) -> str:
    state = "enabled" if value["enabled"] else f"DISABLED ({value['disabled_reason']})"
    return f"{value['id']}  {value['url']}  {' '.join(value['events'])}  {state}"


@group.command("create")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              help="An event tag, a prefix ending in ':' (key:), or '*'. Repeatable.")  # fmt: skip
@click.option("--description", default="")
@json_option
def create_command(url: str, events: tuple[str, ...], description: str, as_json: bool) -> None:
    """Subscribe URL to audit events; the signing secret is printed once."""
    with transaction():
        secret, subscription = create_webhook(
            NewWebhook(url=url, events=split_multi(events), description=description),
            caller=OPERATOR,
        )
    value = {"secret": secret, **_describe(subscription)}
    emit(value, as_json, f"{secret}\n(shown once: give it to the receiver now; id "
                         f"{subscription.webhook_id})")  # fmt: skip


@group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every subscription (never a secret)."""
    value = [_describe(s) for s in list_webhooks()]
    emit(value, as_json, "\n".join(_line(v) for v in value) or "no webhooks")


@group.command("show")
@click.argument("webhook_id")
@json_option
def show_command(webhook_id: str, as_json: bool) -> None:
    """One subscription, with its deliveries counted by state."""
    with transaction():
        value = _describe(get_webhook(webhook_id))
    counts = ", ".join(f"{n} {state}" for state, n in value["deliveries"].items())
    emit(value, as_json, f"{_line(value)}\ndeliveries: {counts}")


@group.command("update")
@click.argument("webhook_id")
@click.option("--url")
@click.option("--event", "events", multiple=True, help="Replaces the filters. Repeatable.")
@click.option("--description")
@json_option
def update_command(webhook_id: str, url: str | None, events: tuple[str, ...],
                   description: str | None, as_json: bool) -> None:  # fmt: skip
    """Change the URL, the event filters or the description."""
    with transaction():
        subscription = update_webhook(get_webhook(webhook_id), url=url,
                                      events=split_multi(events) if events else None,
                                      description=description, caller=OPERATOR)  # fmt: skip
        value = _describe(subscription)
    emit(value, as_json, _line(value))


@group.command("enable")
@click.argument("webhook_id")
@json_option
def enable_command(webhook_id: str, as_json: bool) -> None:
    """Deliver to it again (events from now on)."""
    with transaction():
        update_webhook(get_webhook(webhook_id), enabled=True, caller=OPERATOR)
    emit({"id": webhook_id, "enabled": True}, as_json, f"enabled {webhook_id}")


@group.command("disable")
@click.argument("webhook_id")
@json_option
def disable_command(webhook_id: str, as_json: bool) -> None:
    """Stop delivering to it; deliveries not yet sent are cancelled."""
    with transaction():
        update_webhook(get_webhook(webhook_id), enabled=False, caller=OPERATOR)
    emit({"id": webhook_id, "enabled": False}, as_json, f"disabled {webhook_id}")


@group.command("delete")
@click.argument("webhook_id")
@json_option
def delete_command(webhook_id: str, as_json: bool) -> None:
    """Delete it with its secrets and delivery log."""
    with transaction():
        delete_webhook(get_webhook(webhook_id), caller=OPERATOR)
    emit({"id": webhook_id, "deleted": True}, as_json, f"deleted {webhook_id}")


@group.command("rotate-secret")
@click.argument("webhook_id")
@click.option("--grace", type=Duration(), default="24h", show_default=True,
              help="How long the current secret keeps signing beside the new one.")  # fmt: skip
@json_option
def rotate_command(webhook_id: str, grace: int, as_json: bool) -> None:
    """A new signing secret, printed once; the current one also signs for the grace period."""
    with transaction():
        secret, grace_end = rotate_secret(get_webhook(webhook_id), grace_seconds=grace,
                                          caller=OPERATOR)  # fmt: skip
    value = {"id": webhook_id, "secret": secret, "previous_secrets_expire_at": iso(grace_end)}
    emit(value, as_json, f"{secret}\n(shown once; the previous secret signs until "
                         f"{iso(grace_end)})")  # fmt: skip


@group.command("test")
@click.argument("webhook_id")
@json_option
def test_command(webhook_id: str, as_json: bool) -> None:
    """Queue a test event (webhook:subscription:tested) for it; a running server sends it."""
    with transaction():
        delivery = send_test(get_webhook(webhook_id), caller=OPERATOR)
        value = _delivery(delivery)
    emit(value, as_json, f"queued test event {value['id']} for {webhook_id}")


@group.command("deliveries")
@click.argument("webhook_id")
@click.option("-n", "limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--state", type=click.Choice(["pending", "sending", "delivered", "failed",
                                            "cancelled"]))  # fmt: skip
@json_option
def deliveries_command(webhook_id: str, limit: int, state: str | None, as_json: bool) -> None:
    """The delivery log, newest first: state, attempts, next attempt, last status and error."""
    with transaction():
        statement = deliveries_of(get_webhook(webhook_id), state)
        rows = db.session.scalars(statement.order_by(WebhookDelivery.id.desc()).limit(limit))
        value = [_delivery(d) for d in rows]
    lines = [
        f"{v['created_at']}  {v['id']}  {v['event']}  {v['state']}  attempts {v['attempts']}"
        + (f"  last {v['last_status'] or v['last_error']}" if v["last_attempt_at"] else "")
        + (f"  next {v['next_attempt_at']}" if v["next_attempt_at"] else "")
        for v in value
    ]
    emit(value, as_json, "\n".join(lines) or "no deliveries")
