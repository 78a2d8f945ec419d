"""/admin/webhooks: security-event webhook subscriptions and their delivery logs. Subscribe an
https endpoint (the signing secret shown once), edit its URL, events and description, "Send test
event", rotate the secret with a grace period (the new one shown once), disable (after a
confirmation: what is queued is cancelled), enable, delete (after a confirmation)."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.admin.access import (
    admin_page,
    caller_of,
    can,
    confirmed,
    paged,
    require,
    rotated_with_grace,
    shown_once,
)
from authserver.admin.blueprint import bp
from authserver.admin.forms import ConfirmForm, WebhookForm
from authserver.audit.tags import Tag
from authserver.models import DeliveryState, User, WebhookDelivery, WebhookSubscription
from authserver.platform import clock
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.rbac.permissions import Permission
from authserver.web.errors import roll_back
from authserver.webhooks.service import (
    NewWebhook,
    create_webhook,
    delete_webhook,
    deliveries_of,
    delivery_counts,
    find_webhook,
    live_secrets,
    rotate_secret,
    send_test,
    update_webhook,
)

#: Shown beside the events field: every source, for prefixes, and every event type.
SOURCES = sorted({tag.value.split(":")[0] + ":" for tag in Tag})
EVENT_TYPES = sorted(tag.value for tag in Tag)
_KEPT = ("The server keeps it encrypted, to sign deliveries, and never shows it again; if it "
         "is lost, rotate it.")  # fmt: skip


_ROTATION = ("A new secret signs every delivery from now on; the current one signs too for the "
             "grace period (webhook-signature then carries both), so the receiver can switch "
             "without rejecting a delivery.")  # fmt: skip


def result_of(delivery: WebhookDelivery) -> str:
    """The last attempt in words: the status, or why there was none (never the body)."""
    if delivery.last_attempt_at is None:
        return "—"
    error = delivery.last_error or ""
    if delivery.last_status is not None:
        return f"HTTP {delivery.last_status}" + (" Gone" if error == "gone" else "")
    if error.startswith("refused:"):
        return f"refused by the outbound policy ({error.partition(':')[2]})"
    return {"timeout": "timed out", "unreachable": "connection refused",
            "unresolvable": "name does not resolve", "tls": "TLS failed",
            "too_large": "answer too large", "protocol": "no valid HTTP answer",
            "unsigned": "could not be signed"}.get(error, error or "—")  # fmt: skip


def _events(text: str | None) -> tuple[str, ...]:
    return tuple((text or "").replace(",", " ").split())


def _can_write(user: User) -> bool:
    return can(user, Permission.WEBHOOKS_WRITE)


def _not_found() -> Response:
    return make_response(render_template("error.html", message="No such webhook."), 404)


def _list_page(user: User, form: WebhookForm, error: str | None = None,
               status: int = 200) -> Response:  # fmt: skip
    rows, cursor = paged(select(WebhookSubscription), WebhookSubscription.id)
    counts = {s.id: delivery_counts(s) for s in rows}
    page = render_template(
        "admin/webhooks.html", webhooks=rows, counts=counts, next_cursor=cursor, form=form,
        error=error, can_write=_can_write(user), args=request.args, sources=SOURCES,
        event_types=EVENT_TYPES,
    )  # fmt: skip
    return make_response(page, status)


@bp.get("/webhooks")
@admin_page(Permission.WEBHOOKS_READ)
def webhooks(user: User) -> Response:
    return _list_page(user, WebhookForm(formdata=None))


@bp.post("/webhooks")
@admin_page(Permission.WEBHOOKS_READ)
def webhook_create(user: User) -> Response:
    require(user, Permission.WEBHOOKS_WRITE)
    form = WebhookForm()
    if not form.validate_on_submit():
        return _list_page(user, form, "Fill in the URL and the event types.", 400)
    spec = NewWebhook(url=form.url.data, events=_events(form.events.data),
                      description=form.description.data or "")  # fmt: skip
    try:
        secret, subscription = create_webhook(spec, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        return _list_page(user, form, e.description, e.status if e.status == 403 else 400)
    db.session.commit()
    return _shown_once(secret, subscription, "Webhook created")


def _shown_once(secret: str, subscription: WebhookSubscription, heading: str) -> Response:
    return shown_once(heading=heading, subject=f"Signing secret of {subscription.webhook_id}",
                      secret=secret, back=f"/admin/webhooks/{subscription.webhook_id}",
                      kept=_KEPT)  # fmt: skip


def _detail_page(user: User, subscription: WebhookSubscription, form: WebhookForm,
                 error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    state = request.args.get("state") or None
    if state not in {s.value for s in DeliveryState} | {None}:
        state = None
    rows, cursor = paged(deliveries_of(subscription, state), WebhookDelivery.id,
                         newest_first=True)  # fmt: skip
    page = render_template(
        "admin/webhook.html", webhook=subscription, form=form, error=error,
        deliveries=rows, next_cursor=cursor, args=request.args, state=state,
        states=[s.value for s in DeliveryState], counts=delivery_counts(subscription),
        secrets=live_secrets(subscription, clock.now()), can_write=_can_write(user),
        action=ConfirmForm(), sources=SOURCES, result_of=result_of,
    )  # fmt: skip
    return make_response(page, status)


@bp.route("/webhooks/<webhook_id>", methods=["GET", "POST"])
@admin_page(Permission.WEBHOOKS_READ)
def webhook_detail(user: User, webhook_id: str) -> Response:
    subscription = find_webhook(webhook_id)
    if subscription is None:
        return _not_found()
    if request.method == "GET":
        form = WebhookForm(formdata=None, url=subscription.url,
                           events=" ".join(subscription.events),
                           description=subscription.description)  # fmt: skip
        return _detail_page(user, subscription, form)
    require(user, Permission.WEBHOOKS_WRITE)
    form = WebhookForm()
    if not form.validate_on_submit():
        return _detail_page(user, subscription, form, "Fill in the URL and the event types.", 400)
    try:
        update_webhook(subscription, url=form.url.data, events=_events(form.events.data),
                       description=form.description.data or "",
                       caller=caller_of(user))  # fmt: skip
    except AuthServerError as e:
        roll_back(e)
        subscription = find_webhook(webhook_id)
        return _detail_page(user, subscription, form, e.description,
                            e.status if e.status == 403 else 400)  # fmt: skip
    db.session.commit()
    flash("Webhook saved.")
    return redirect(f"/admin/webhooks/{webhook_id}", code=303)


def _action(user: User, webhook_id: str, perform, done: str) -> Response:  # noqa: ANN001
    """A non-destructive action from a button on the detail page (a POST with its CSRF token)."""
    require(user, Permission.WEBHOOKS_WRITE)
    subscription = find_webhook(webhook_id)
    if subscription is None:
        return _not_found()
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; try again.")
        return redirect(f"/admin/webhooks/{webhook_id}", code=303)
    try:
        message = perform(subscription)
    except AuthServerError as e:
        roll_back(e)
        flash(e.description)
        return redirect(f"/admin/webhooks/{webhook_id}", code=303)
    db.session.commit()
    flash(message)
    return redirect(done, code=303)


@bp.post("/webhooks/<webhook_id>/test")
@admin_page(Permission.WEBHOOKS_READ)
def webhook_test(user: User, webhook_id: str) -> Response:
    def perform(subscription: WebhookSubscription) -> str:
        delivery = send_test(subscription, caller=caller_of(user))
        return f"Test event queued: {delivery.message_id}. Its outcome appears in the log below."

    return _action(user, webhook_id, perform, f"/admin/webhooks/{webhook_id}")


@bp.post("/webhooks/<webhook_id>/enable")
@admin_page(Permission.WEBHOOKS_READ)
def webhook_enable(user: User, webhook_id: str) -> Response:
    def perform(subscription: WebhookSubscription) -> str:
        update_webhook(subscription, enabled=True, caller=caller_of(user))
        return f"Webhook {webhook_id} enabled: events from now on are delivered."

    return _action(user, webhook_id, perform, f"/admin/webhooks/{webhook_id}")


@bp.route("/webhooks/<webhook_id>/rotate-secret", methods=["GET", "POST"])
@admin_page(Permission.WEBHOOKS_READ)
def webhook_rotate(user: User, webhook_id: str) -> Response:
    require(user, Permission.WEBHOOKS_WRITE)
    subscription = find_webhook(webhook_id)
    if subscription is None:
        return _not_found()

    def rotate(grace: int) -> Response:
        secret, _ = rotate_secret(subscription, grace_seconds=grace, caller=caller_of(user))
        return _shown_once(secret, subscription, f"Signing secret of {webhook_id} rotated")

    return rotated_with_grace(
        rotate=rotate,
        title="Rotate signing secret",
        subject=webhook_id,
        action=f"/admin/webhooks/{webhook_id}/rotate-secret",
        back=f"/admin/webhooks/{webhook_id}",
        explain=_ROTATION,
    )


@bp.route("/webhooks/<webhook_id>/disable", methods=["GET", "POST"])
@admin_page(Permission.WEBHOOKS_READ)
def webhook_disable(user: User, webhook_id: str) -> Response:
    require(user, Permission.WEBHOOKS_WRITE)
    subscription = find_webhook(webhook_id)
    if subscription is None:
        return _not_found()
    pending = delivery_counts(subscription)[DeliveryState.PENDING.value]

    def perform() -> str:
        update_webhook(subscription, enabled=False, caller=caller_of(user))
        return f"Webhook {webhook_id} disabled."

    warning = f"No event is delivered to {subscription.url} while it is disabled."
    if pending == 1:
        warning += (" The delivery waiting now is cancelled: enabling the webhook again does "
                    "not send it.")  # fmt: skip
    elif pending:
        warning += (f" The {pending} deliveries waiting now are cancelled: enabling the webhook "
                    "again does not send them.")  # fmt: skip
    return confirmed(title=f"Disable webhook {webhook_id}?", warning=warning,
                     action=f"/admin/webhooks/{webhook_id}/disable", button="Disable",
                     back=f"/admin/webhooks/{webhook_id}",
                     done=f"/admin/webhooks/{webhook_id}", perform=perform)  # fmt: skip


@bp.route("/webhooks/<webhook_id>/delete", methods=["GET", "POST"])
@admin_page(Permission.WEBHOOKS_READ)
def webhook_delete(user: User, webhook_id: str) -> Response:
    require(user, Permission.WEBHOOKS_WRITE)
    subscription = find_webhook(webhook_id)
    if subscription is None:
        return _not_found()

    def perform() -> str:
        delete_webhook(subscription, caller=caller_of(user))
        return f"Webhook {webhook_id} deleted."

    return confirmed(title=f"Delete webhook {webhook_id}?",
                     warning=f"{subscription.url} receives no more events, deliveries not yet "
                     "sent are dropped, and its secrets and delivery log are deleted. This "
                     "cannot be undone.",
                     action=f"/admin/webhooks/{webhook_id}/delete", button="Delete",
                     back=f"/admin/webhooks/{webhook_id}", done="/admin/webhooks",
                     perform=perform)  # fmt: skip
