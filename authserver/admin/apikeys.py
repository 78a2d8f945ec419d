"""/admin/apikeys: API keys with owner, scopes, expiry, last use and gateway limits; the list
searched by name, key id or owner and filtered by state; create in two steps (search and pick the
owner, then tick the scopes it may carry, the key shown once), rotate with a grace period (the
new key shown once), revoke (after a confirmation).

The pages offer only what ``apikeys.service.offerable_scopes`` says would pass; the service's
``create_api_key`` still decides every key (a posted scope beyond the offer is refused there)."""

from __future__ import annotations

from flask import make_response, render_template, request
from werkzeug.wrappers import Response

from authserver.accounts.service import find_user, users_matching
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
from authserver.admin.forms import ApiKeyForm, LimitsForm
from authserver.admin.limits import form_error, summary
from authserver.apikeys.service import (
    KEY_STATES,
    NEVER,
    NewApiKey,
    api_keys_matching,
    create_api_key,
    find_api_key,
    key_state,
    offerable_scopes,
    owner_by_ref,
    owner_ref,
    revoke_api_key,
    rotate_api_key,
)
from authserver.clients.service import clients_matching, find_client
from authserver.gateway.limits import Limits, set_limits
from authserver.models import ApiKey, Client, User
from authserver.platform import clock
from authserver.platform.durations import format_duration, parse_duration
from authserver.platform.errors import AuthServerError, InvalidInput
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.rbac.permissions import Permission
from authserver.web.errors import roll_back

#: Owners listed per kind on the picker: enough to pick from, few enough to read.
PICK_LIMIT = 20


def _bad_request(message: str) -> Response:
    return make_response(render_template("error.html", message=message), 400)


@bp.get("/apikeys")
@admin_page(Permission.APIKEYS_READ)
def apikeys(user: User) -> Response:
    search = (request.args.get("q") or "").strip()[:320]
    state = request.args.get("state") or ""
    owner = (request.args.get("owner") or "").strip()[:320]
    if state and state not in KEY_STATES:
        return _bad_request(f"State: one of {', '.join(KEY_STATES)}.")
    try:
        matching = api_keys_matching(search, state=state or None, owner=owner or None)
    except InvalidInput as e:
        return _bad_request(e.description)
    rows, cursor = paged(matching, ApiKey.id)
    now = clock.now()
    page = render_template(
        "admin/apikeys.html", keys=rows, next_cursor=cursor, search=search, state=state,
        owner=owner, states=KEY_STATES, state_of=lambda key: key_state(key, now),
        can_write=can(user, Permission.APIKEYS_WRITE), args=request.args, limits_text=summary,
        can_see_usage=can(user, Permission.GATEWAY_READ),
    )  # fmt: skip
    return make_response(page)


def _matches(user: User, search: str) -> tuple[list[User], list[Client]]:
    """Active users and clients matching ``search``, one more than are listed (to say so).
    The directory is browsed only with the permission to read it (users:read, clients:read);
    without, only the exact email or client_id is found."""
    if not search:
        return [], []
    exact = not can(user, Permission.USERS_READ)
    users = users_matching(search, exact=exact).where(User.is_active).order_by(User.email)
    clients = clients_matching(search).where(Client.is_active).order_by(Client.name, Client.id)
    if not can(user, Permission.CLIENTS_READ):
        clients = clients.where(Client.client_id == search)
    return (list(db.session.scalars(users.limit(PICK_LIMIT + 1))),
            list(db.session.scalars(clients.limit(PICK_LIMIT + 1))))  # fmt: skip


def _pick_page(user: User, search: str, error: str | None = None,
               status: int = 200) -> Response:  # fmt: skip
    users, clients = _matches(user, search)
    page = render_template("admin/apikey_owner.html", search=search, users=users,
                           clients=clients, limit=PICK_LIMIT, error=error,
                           owner_ref=owner_ref)  # fmt: skip
    return make_response(page, status)


def _create_page(user: User, owner: User | Client, form: ApiKeyForm, limits: LimitsForm,
                 error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    offered, none_because = offerable_scopes(caller_of(user), owner)
    settings = current_settings()
    page = render_template(
        "admin/apikey_new.html", owner=owner, is_user=isinstance(owner, User),
        ref=owner_ref(owner), offered=offered, none_because=none_because,
        ticked=set(_scopes_of(form)), form=form, limits=limits, error=error,
        default_ttl=format_duration(settings.apikey_default_ttl_seconds),
        max_days=settings.apikey_max_ttl_seconds // 86400, allow_never=settings.apikey_allow_never,
    )  # fmt: skip
    return make_response(page, status)


@bp.get("/apikeys/new")
@admin_page(Permission.APIKEYS_READ)
def apikey_new(user: User) -> Response:
    """Step 1 (``?owner_q=``): search for the owner; step 2 (``?owner=user:<subject>`` or
    ``client:<client_id>``): the key's scopes, name, lifetime and limits."""
    require(user, Permission.APIKEYS_WRITE)
    ref = request.args.get("owner")
    if ref is None:
        return _pick_page(user, (request.args.get("owner_q") or "").strip()[:320])
    owner = owner_by_ref(ref)
    if owner is None:
        return _pick_page(user, "", "No such user or client: search for the owner again.", 400)
    default = format_duration(current_settings().apikey_default_ttl_seconds)
    form = ApiKeyForm(formdata=None, owner=owner_ref(owner), expires_in=default)
    return _create_page(user, owner, form, LimitsForm(formdata=None))


def _owner(text: str) -> User | Client | None:
    """The owner the form names: as the picker does (``user:…``/``client:…``), or, from a
    script that posts the form, by email or client_id."""
    text = text.strip()
    if text.startswith(("user:", "client:")):
        return owner_by_ref(text)
    return find_user(text) if "@" in text else find_client(text)


def _scopes_of(form: ApiKeyForm) -> list[str]:
    return [s for value in (form.scopes.data or []) for s in value.replace(",", " ").split()]


def _expires_in(text: str | None) -> int | str | None:
    text = (text or "").strip().lower()
    if not text:
        return None
    if text == NEVER:
        return NEVER
    try:
        return parse_duration(text)
    except ValueError:
        raise InvalidInput("Expires in: a duration such as 30d or 90d") from None


def _limits(form: LimitsForm) -> Limits | None:
    """The limits given at creation; None when none were (nothing to set, nothing audited)."""
    rate = (form.rate_limit.data or "").strip() or None
    period = None if form.quota_period.data in (None, "", "none") else form.quota_period.data
    if rate is None and form.quota.data is None and period is None:
        return None
    return Limits(rate, form.quota.data, period)


@bp.post("/apikeys")
@admin_page(Permission.APIKEYS_READ)
def apikey_create(user: User) -> Response:
    require(user, Permission.APIKEYS_WRITE)
    form, limits = ApiKeyForm(), LimitsForm()
    owner = _owner(form.owner.data or "")
    if owner is None:
        return _pick_page(user, "", "No such user or client: search for the owner again.", 400)
    if not form.validate_on_submit():
        return _create_page(user, owner, form, limits, form_error(form), 400)
    if not limits.validate():
        return _create_page(user, owner, form, limits, form_error(limits), 400)
    try:
        spec = NewApiKey(owner=owner, scopes=tuple(_scopes_of(form)), name=form.name.data or "",
                         expires_in=_expires_in(form.expires_in.data))  # fmt: skip
        caller = caller_of(user)
        plaintext, key = create_api_key(current_settings(), spec, caller=caller)
        wanted = _limits(limits)
        if wanted is not None:
            set_limits(key, wanted, caller=caller)
    except AuthServerError as e:
        roll_back(e)  # neither the key nor its limits: nothing half-made
        return _create_page(user, owner, form, limits, e.description,
                            e.status if e.status == 403 else 400)  # fmt: skip
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
