"""/api/v1/webhooks: security-event webhook subscriptions, their delivery logs, secret rotation
and test events. The signing secret appears in the answer that creates (or rotates) it only.
Creating, changing, enabling or re-keying a subscription also needs ``audit:read`` (its
deliveries carry audit records): a 403 with ``missing_permissions`` otherwise."""

from __future__ import annotations

from sqlalchemy import select

from authserver.api.v1.framework import Principal, Reply, check_if_match, operation
from authserver.api.v1.schemas import (
    DeliveryList,
    DeliveryOut,
    DeliveryQuery,
    PageQuery,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookSecretOut,
    WebhookSecretRotated,
    WebhookSecretRotation,
    WebhookUpdate,
)
from authserver.models import WebhookDelivery, WebhookSubscription
from authserver.platform import clock
from authserver.rbac.permissions import Permission
from authserver.web.paging import page
from authserver.webhooks.service import (
    NewWebhook,
    create_webhook,
    delete_webhook,
    deliveries_of,
    get_webhook,
    live_secrets,
    rotate_secret,
    send_test,
    update_webhook,
)

TAG = "webhooks"


def _secrets_out(subscription: WebhookSubscription) -> list[WebhookSecretOut]:
    return [WebhookSecretOut(created_at=s.created_at, expires_at=s.expires_at)
            for s in live_secrets(subscription, clock.now())]  # fmt: skip


def webhook_out(subscription: WebhookSubscription) -> WebhookOut:
    return WebhookOut(
        id=subscription.webhook_id,
        url=subscription.url,
        events=list(subscription.events),
        description=subscription.description,
        enabled=subscription.is_enabled,
        disabled_reason=subscription.disabled_reason,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
        created_by=subscription.created_by,
        signing_secrets=_secrets_out(subscription),
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.message_id,
        event=delivery.event,
        audit_event_id=delivery.audit_event_id,
        state=delivery.state,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        last_attempt_at=delivery.last_attempt_at,
        next_attempt_at=delivery.next_attempt_at,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        last_latency_seconds=delivery.last_latency_seconds,
        delivered_at=delivery.delivered_at,
    )


@operation(
    "GET", "/webhooks", summary="List webhook subscriptions (never their secrets)", tag=TAG,
    permission=Permission.WEBHOOKS_READ, query=PageQuery, response=WebhookList,
)  # fmt: skip
def list_webhooks(principal: Principal, query: PageQuery) -> WebhookList:
    statement = select(WebhookSubscription)
    items, next_cursor = page(statement, WebhookSubscription.id, query, to_item=webhook_out)
    return WebhookList(items=items, next_cursor=next_cursor)


@operation(
    "POST", "/webhooks",
    summary="Subscribe an https endpoint to audit events; the secret is in this answer only",
    tag=TAG, permission=Permission.WEBHOOKS_WRITE, body=WebhookCreate, response=WebhookCreated,
    status=201,
)  # fmt: skip
def create(principal: Principal, body: WebhookCreate) -> Reply:
    spec = NewWebhook(url=body.url, events=tuple(body.events), description=body.description)
    secret, subscription = create_webhook(spec, caller=principal)
    created = WebhookCreated(**webhook_out(subscription).model_dump(), secret=secret)
    return Reply(created, location=f"/api/v1/webhooks/{subscription.webhook_id}")


@operation(
    "GET", "/webhooks/{webhook_id}", summary="Read a webhook subscription", tag=TAG,
    permission=Permission.WEBHOOKS_READ, response=WebhookOut,
)  # fmt: skip
def read(principal: Principal, webhook_id: str) -> Reply:
    return Reply(webhook_out(get_webhook(webhook_id)), etag=True)


@operation(
    "PATCH", "/webhooks/{webhook_id}",
    summary="Change the URL, events or description; enable or disable", tag=TAG,
    permission=Permission.WEBHOOKS_WRITE, body=WebhookUpdate, response=WebhookOut,
    conditional=True,
)  # fmt: skip
def update(principal: Principal, webhook_id: str, body: WebhookUpdate) -> Reply:
    subscription = get_webhook(webhook_id)
    check_if_match(webhook_out(subscription))
    update_webhook(subscription, url=body.url, events=body.events, description=body.description,
                   enabled=body.enabled, caller=principal)  # fmt: skip
    return Reply(webhook_out(subscription), etag=True)


@operation(
    "DELETE", "/webhooks/{webhook_id}",
    summary="Delete a subscription, its secrets and its delivery log", tag=TAG,
    permission=Permission.WEBHOOKS_WRITE, status=204,
)  # fmt: skip
def delete(principal: Principal, webhook_id: str) -> None:
    delete_webhook(get_webhook(webhook_id), caller=principal)


@operation(
    "POST", "/webhooks/{webhook_id}/secret-rotations",
    summary="A new signing secret; the current one also signs for grace_seconds", tag=TAG,
    permission=Permission.WEBHOOKS_WRITE, body=WebhookSecretRotation,
    response=WebhookSecretRotated, status=201,
)  # fmt: skip
def rotate(principal: Principal, webhook_id: str, body: WebhookSecretRotation) -> Reply:
    subscription = get_webhook(webhook_id)
    secret, grace_end = rotate_secret(subscription, grace_seconds=body.grace_seconds,
                                      caller=principal)  # fmt: skip
    rotated = WebhookSecretRotated(secret=secret, previous_secrets_expire_at=grace_end,
                                   signing_secrets=_secrets_out(subscription))  # fmt: skip
    return Reply(rotated, location=f"/api/v1/webhooks/{webhook_id}")


@operation(
    "POST", "/webhooks/{webhook_id}/tests",
    summary="Send a test event (webhook:subscription:tested) to this subscription", tag=TAG,
    permission=Permission.WEBHOOKS_WRITE, response=DeliveryOut, status=202,
)  # fmt: skip
def test(principal: Principal, webhook_id: str) -> DeliveryOut:
    return delivery_out(send_test(get_webhook(webhook_id), caller=principal))


@operation(
    "GET", "/webhooks/{webhook_id}/deliveries",
    summary="The delivery log: state, attempts, next attempt, last status, latency, error",
    tag=TAG, permission=Permission.WEBHOOKS_READ, query=DeliveryQuery, response=DeliveryList,
)  # fmt: skip
def deliveries(principal: Principal, webhook_id: str, query: DeliveryQuery) -> DeliveryList:
    statement = deliveries_of(get_webhook(webhook_id), query.state)
    items, next_cursor = page(statement, WebhookDelivery.id, query, to_item=delivery_out)
    return DeliveryList(items=items, next_cursor=next_cursor)
