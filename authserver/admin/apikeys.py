"""/admin/apikeys: API keys with owner, scopes, expiry, last use and gateway limits (changed on
the key's gateway usage page); create (the key shown once), rotate with a grace period (the new
key shown once), revoke (after a confirmation)."""

from __future__ import annotations

from flask import make_response, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.accounts.service import find_user
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
from authserver.admin.forms import ApiKeyForm
from authserver.admin.limits import summary
from authserver.apikeys.service import (
    NEVER,
    NewApiKey,
    create_api_key,
    find_api_key,
    revoke_api_key,
    rotate_api_key,
)
from authserver.clients.service import find_client
from authserver.models import ApiKey, User
from authserver.platform import clock
from authserver.platform.durations import parse_duration
from authserver.platform.errors import AuthServerError, InvalidInput
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.rbac.permissions import Permission
from authserver.web.errors import roll_back


def state_of(key: ApiKey) -> str:
    now = clock.now()
    if key.revoked_at is not None:
        return "revoked"
    if key.is_expired_at(now):
        return "expired"
    if key.replaced_by_key_id is not None:
        return "rotated"
    return "active"


def _page(user: User, form: ApiKeyForm, error: str | None = None, status: int = 200) -> Response:
    rows, cursor = paged(select(ApiKey), ApiKey.id)
    page = render_template(
        "admin/apikeys.html", keys=rows, next_cursor=cursor, form=form, error=error,
        state_of=state_of, can_write=can(user, Permission.APIKEYS_WRITE), args=request.args,
        limits_text=summary, can_see_usage=can(user, Permission.GATEWAY_READ),
    )  # fmt: skip
    return make_response(page, status)


@bp.get("/apikeys")
@admin_page(Permission.APIKEYS_READ)
def apikeys(user: User) -> Response:
    return _page(user, ApiKeyForm(formdata=None, expires_in="90d"))


def _owner(text: str):  # noqa: ANN202
    owner = find_user(text) if "@" in text else find_client(text.strip())
    if owner is None:
        raise InvalidInput("owner: no such user or client")
    return owner


def _expires_in(text: str | None) -> int | str | None:
    text = (text or "").strip().lower()
    if not text:
        return None
    if text == NEVER:
        return NEVER
    try:
        return parse_duration(text)
    except ValueError:
        raise InvalidInput("expires in: a duration such as 30d or 90d") from None


@bp.post("/apikeys")
@admin_page(Permission.APIKEYS_READ)
def apikey_create(user: User) -> Response:
    require(user, Permission.APIKEYS_WRITE)
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(user, form, "Fill in the owner and the scopes.", 400)
    try:
        spec = NewApiKey(
            owner=_owner(form.owner.data),
            scopes=tuple(form.scopes.data.replace(",", " ").split()),
            name=form.name.data or "",
            expires_in=_expires_in(form.expires_in.data),
        )
        plaintext, key = create_api_key(current_settings(), spec, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        return _page(user, form, e.description, e.status if e.status == 403 else 400)
    db.session.commit()
    return _shown_once(plaintext, key, "API key created")


def _shown_once(plaintext: str, key: ApiKey, heading: str) -> Response:
    return shown_once(heading=heading, subject=key.key_id, secret=plaintext, back="/admin/apikeys")


@bp.route("/apikeys/<key_id>/rotate", methods=["GET", "POST"])
@admin_page(Permission.APIKEYS_READ)
def apikey_rotate(user: User, key_id: str) -> Response | str:
    require(user, Permission.APIKEYS_WRITE)
    key = find_api_key(key_id)
    if key is None:
        return make_response(render_template("error.html", message="No such API key."), 404)

    def rotate(grace: int) -> Response:
        plaintext, new = rotate_api_key(current_settings(), key_id, grace_seconds=grace,
                                        caller=caller_of(user))  # fmt: skip
        return _shown_once(plaintext, new, f"API key {key_id} rotated")

    return rotated_with_grace(rotate=rotate, title="Rotate API key", subject=key_id,
                              action=f"/admin/apikeys/{key_id}/rotate", back="/admin/apikeys",
                              explain="A new key with the same owner, scopes and lifetime is "
                              "made; this one keeps working for the grace period, so the holder "
                              "can switch without downtime.")  # fmt: skip


@bp.route("/apikeys/<key_id>/revoke", methods=["GET", "POST"])
@admin_page(Permission.APIKEYS_READ)
def apikey_revoke(user: User, key_id: str) -> Response | str:
    require(user, Permission.APIKEYS_WRITE)
    key = find_api_key(key_id)
    if key is None:
        return make_response(render_template("error.html", message="No such API key."), 404)

    def perform() -> str:
        revoke_api_key(key_id, reason="revoked in the admin UI", caller=caller_of(user))
        return f"API key {key_id} revoked."

    return confirmed(title=f"Revoke API key {key_id}?",
                     warning="Every request with this key fails from now on.",
                     action=f"/admin/apikeys/{key_id}/revoke", button="Revoke",
                     back="/admin/apikeys", done="/admin/apikeys", perform=perform)  # fmt: skip
