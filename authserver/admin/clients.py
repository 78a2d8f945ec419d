"""/admin/clients: registered clients, found by name or client_id and state; register one
with every setting ``authserver clients create`` has (the secret shown once), change what may
change after registration, give and take its roles, its request quotas and gateway limits
(token buckets and a quota of /gateway/check), rotate the secret with a grace period, disable
and enable it again. Every rule is the services' (``clients.service``, ``rbac.service``)."""

from __future__ import annotations

import json

from authserver_verify import json_input
from flask import flash, make_response, redirect, render_template, request
from werkzeug.wrappers import Response

from authserver.admin.access import (
    admin_page,
    button_post,
    caller_of,
    can,
    confirmed,
    paged,
    require,
    rotated_with_grace,
    shown_once,
)
from authserver.admin.blueprint import bp
from authserver.admin.forms import (
    ClientEditForm,
    ClientForm,
    ClientRoleForm,
    ConfirmForm,
    LimitsForm,
    choices,
)
from authserver.admin.limits import limits_form, save_limits
from authserver.clients.service import (
    ClientChanges,
    NewClient,
    clients_matching,
    create_client,
    disable_client,
    enable_client,
    find_client_any,
    rotate_client_secret,
    update_client,
)
from authserver.gateway.limits import limits_of
from authserver.models import Client, User
from authserver.platform.errors import AuthServerError, InvalidInput
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.platform.token_types import TOKEN_EXCHANGE_GRANT
from authserver.platform.vocabulary import DEVICE_CODE_GRANT, GRANT_TYPES
from authserver.rbac.permissions import PROTOCOL_SCOPES, Permission
from authserver.rbac.service import grant_role, known_scopes, list_roles, revoke_role
from authserver.web.errors import roll_back

#: How the grant types read on a form (the value sent is the grant type itself).
GRANT_LABELS = {
    "authorization_code": "authorization code",
    "refresh_token": "refresh token",
    "client_credentials": "client credentials",
    TOKEN_EXCHANGE_GRANT: "token exchange (RFC 8693)",
    DEVICE_CODE_GRANT: "device code (RFC 8628)",
}
#: ``?state=`` of the list: which clients it shows.
STATES = {"": None, "active": True, "disabled": False}


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _words(text: str | None) -> tuple[str, ...]:
    return tuple((text or "").replace(",", " ").split())


def _ticked(values: list[str] | None) -> tuple[str, ...]:
    """Ticked boxes; a value may also hold several words (a script posting "a b")."""
    return tuple(dict.fromkeys(word for value in values or [] for word in _words(value)))


def _scope(form: ClientEditForm) -> str:
    return " ".join(dict.fromkeys((*_ticked(form.scope.data), *_words(form.other_scopes.data))))


def _jwks(text: str | None) -> dict | None:
    """The pasted JWK Set, parsed; the service decides whether it is one."""
    if not (text or "").strip():
        return None
    try:
        return json_input.loads(text)
    except json_input.JSONInputError as e:
        raise InvalidInput(f"jwks: the JWK Set is {e}") from None


def _offered_scopes() -> list[str]:
    """The protocol scopes (openid first), then every permission a role holds or the server
    defines (``rbac.service.known_scopes``)."""
    return ["openid", *sorted(PROTOCOL_SCOPES - {"openid"}), *known_scopes()]


def _form_error(form: ClientEditForm) -> str:
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        return f"{label}: {errors[0]}"
    return "Check the form."


def _status(error: AuthServerError) -> int:
    return 403 if error.status == 403 else 400


def _page(user: User, form: ClientForm, error: str | None = None, status: int = 200) -> Response:
    search = (request.args.get("q") or "").strip()[:200]
    state = request.args.get("state") or ""
    if state not in STATES:
        page = render_template("error.html", message="Unknown state: active or disabled.")
        return make_response(page, 400)
    matching = clients_matching(search)
    if STATES[state] is not None:
        matching = matching.where(Client.is_active == STATES[state])
    rows, cursor = paged(matching, Client.id)
    offered = _offered_scopes()
    page = render_template("admin/clients.html", clients=rows, next_cursor=cursor, form=form,
                           error=error, can_write=can(user, Permission.CLIENTS_WRITE),
                           can_roles=can(user, Permission.ROLES_WRITE), search=search,
                           state=state, grant_labels=GRANT_LABELS, grant_types=GRANT_TYPES,
                           offered_scopes=offered, roles=list_roles(),
                           ticked_scopes=set(_ticked(form.scope.data)),
                           args=request.args)  # fmt: skip
    return make_response(page, status)


@bp.get("/clients")
@admin_page(Permission.CLIENTS_READ)
def clients(user: User) -> Response:
    return _page(user, ClientForm(formdata=None))


def _new_client(form: ClientForm) -> NewClient:
    return NewClient(
        name=form.name.data or "",
        grant_types=_ticked(form.grant_types.data),
        redirect_uris=_lines(form.redirect_uris.data),
        scope=_scope(form),
        public=form.public.data,
        auth_method=form.auth_method.data,
        roles=_ticked(form.roles.data),
        force_mfa_roles=form.force_mfa_roles.data,
        jwks=_jwks(form.jwks.data),
        jwks_uri=(form.jwks_uri.data or "").strip() or None,
        post_logout_redirect_uris=_lines(form.post_logout_redirect_uris.data),
        id_token_alg=form.id_token_alg.data or "RS256",
        skip_consent=form.skip_consent.data,
        require_par=form.require_par.data,
        require_dpop=form.require_dpop.data,
        backchannel_logout_uri=(form.backchannel_logout_uri.data or "").strip() or None,
        resources=_lines(form.resources.data),
        token_quota=form.token_quota.data,
        introspection_quota=form.introspection_quota.data,
    )


@bp.post("/clients")
@admin_page(Permission.CLIENTS_READ)
def client_create(user: User) -> Response:
    require(user, Permission.CLIENTS_WRITE)
    form = ClientForm()
    if not form.validate_on_submit():
        return _page(user, form, _form_error(form), 400)
    try:
        client, secret = create_client(current_settings(), _new_client(form),
                                       caller=caller_of(user))  # fmt: skip
    except AuthServerError as e:
        roll_back(e)
        return _page(user, form, e.description, _status(e))
    db.session.commit()
    if secret is None:
        flash(f"Client {client.name} registered: {client.client_id}.")
        return redirect(f"/admin/clients/{client.client_id}", code=303)
    return shown_once(heading=f"Client {client.name} registered",
                      subject=f"client_secret of {client.client_id}", secret=secret,
                      back=f"/admin/clients/{client.client_id}")  # fmt: skip


def _get(client_id: str) -> Client | Response:
    client = find_client_any(client_id)
    if client is None:
        return make_response(render_template("error.html", message="No such client."), 404)
    return client


def _changes(form: ClientEditForm) -> ClientChanges:
    return ClientChanges(
        name=form.name.data,
        scope=_scope(form),
        redirect_uris=_lines(form.redirect_uris.data),
        grant_types=_ticked(form.grant_types.data),
        auth_method=form.auth_method.data or None,
        post_logout_redirect_uris=_lines(form.post_logout_redirect_uris.data),
        skip_consent=form.skip_consent.data,
        require_par=form.require_par.data,
        require_dpop=form.require_dpop.data,
        # Empty removes the URI, the quota.
        backchannel_logout_uri=(form.backchannel_logout_uri.data or "").strip(),
        resources=_lines(form.resources.data),
        id_token_alg=form.id_token_alg.data or None,
        jwks=_jwks(form.jwks.data),
        jwks_uri=(form.jwks_uri.data or "").strip(),
        token_quota=(form.token_quota.data or "").strip(),
        introspection_quota=(form.introspection_quota.data or "").strip(),
    )


@bp.route("/clients/<client_id>", methods=["GET", "POST"])
@admin_page(Permission.CLIENTS_READ)
def client_edit(user: User, client_id: str) -> Response | str:
    client = _get(client_id)
    if isinstance(client, Response):
        return client
    error, status = None, 200
    if request.method == "POST":
        require(user, Permission.CLIENTS_WRITE)
        form = ClientEditForm()
        if not form.validate_on_submit():
            error, status = _form_error(form), 400
        else:
            try:
                update_client(client, _changes(form), caller=caller_of(user),
                              settings=current_settings())  # fmt: skip
            except AuthServerError as e:
                roll_back(e)
                error, status = e.description, _status(e)
            else:
                db.session.commit()
                flash("Client saved.")
                return redirect(f"/admin/clients/{client_id}", code=303)
    else:
        form = _edit_form(client)
    return _client_page(user, client, form, error, status=status)


def _client_page(user: User, client: Client, form: ClientEditForm, error: str | None = None,
                 limits: LimitsForm | None = None, limits_error: str | None = None,
                 status: int = 200) -> Response:  # fmt: skip
    role_form = ClientRoleForm(formdata=None)
    role_form.role.choices = choices(r.name for r in list_roles() if r not in client.roles)
    page = render_template("admin/client.html", client=client, form=form, error=error,
                           can_write=can(user, Permission.CLIENTS_WRITE),
                           can_roles=can(user, Permission.ROLES_WRITE), role_form=role_form,
                           action=ConfirmForm(formdata=None), grant_labels=GRANT_LABELS,
                           grant_types=GRANT_TYPES, offered_scopes=_offered_scopes(),
                           ticked_scopes=set(_ticked(form.scope.data)),
                           limits=limits_of(client), limits_form=limits or limits_form(client),
                           limits_error=limits_error,
                           can_see_usage=can(user, Permission.GATEWAY_READ))  # fmt: skip
    return make_response(page, status)


def _edit_form(client: Client) -> ClientEditForm:
    offered = set(_offered_scopes())
    scopes = client.scope.split()
    return ClientEditForm(
        formdata=None, name=client.name,
        scope=[s for s in scopes if s in offered],
        other_scopes=" ".join(s for s in scopes if s not in offered),
        redirect_uris="\n".join(client.redirect_uris),
        grant_types=list(client.grant_types), auth_method=client.token_endpoint_auth_method,
        jwks_uri=client.jwks_uri or "",
        jwks=json.dumps(client.jwks, indent=2) if client.jwks else "",
        post_logout_redirect_uris="\n".join(client.post_logout_redirect_uris or []),
        id_token_alg=client.id_token_signed_response_alg, skip_consent=client.skip_consent,
        require_par=client.require_pushed_authorization_requests,
        require_dpop=client.dpop_bound_access_tokens,
        backchannel_logout_uri=client.backchannel_logout_uri or "",
        resources="\n".join(client.resources or []),
        token_quota=client.token_quota or "",
        introspection_quota=client.introspection_quota or "",
    )  # fmt: skip


@bp.post("/clients/<client_id>/roles")
@admin_page(Permission.CLIENTS_READ)
def client_grant_role(user: User, client_id: str) -> Response:
    """Give the client a role: roles:write, as on a user's page, and no escalation."""
    require(user, Permission.ROLES_WRITE)
    client = _get(client_id)
    if isinstance(client, Response):
        return client
    form = ClientRoleForm()
    if not form.validate_on_submit() or not form.role.data:
        flash("Choose a role.")
        return redirect(f"/admin/clients/{client_id}#roles", code=303)
    try:
        grant_role(form.role.data, client, caller=caller_of(user), force=form.force.data)
    except AuthServerError as e:
        roll_back(e)
        flash(e.description)
        return redirect(f"/admin/clients/{client_id}#roles", code=303)
    db.session.commit()
    flash(f"Role {form.role.data} given to {client.name}.")
    return redirect(f"/admin/clients/{client_id}#roles", code=303)


@bp.post("/clients/<client_id>/roles/<role>/revoke")
@admin_page(Permission.CLIENTS_READ)
def client_revoke_role(user: User, client_id: str, role: str) -> Response:
    require(user, Permission.ROLES_WRITE)
    client = _get(client_id)
    if isinstance(client, Response):
        return client

    def perform() -> str:
        revoke_role(role, client, caller=caller_of(user))
        return f"Role {role} taken from {client.name}."

    return button_post(back=f"/admin/clients/{client_id}#roles", perform=perform)


@bp.post("/clients/<client_id>/enable")
@admin_page(Permission.CLIENTS_READ)
def client_enable(user: User, client_id: str) -> Response:
    """A disabled client may authenticate again (its revoked API keys and tokens stay dead)."""
    require(user, Permission.CLIENTS_WRITE)
    client = _get(client_id)
    if isinstance(client, Response):
        return client

    def perform() -> str:
        enable_client(client, caller=caller_of(user))
        return f"Client {client.name} enabled."

    return button_post(back=f"/admin/clients/{client_id}", perform=perform)


@bp.post("/clients/<client_id>/limits")
@admin_page(Permission.CLIENTS_READ)
def client_limits(user: User, client_id: str) -> Response:
    """The client's gateway limits (token buckets and quota of /gateway/check)."""
    client = _get(client_id)
    if isinstance(client, Response):
        return client
    form = LimitsForm()
    failed = save_limits(user, client, form)
    if failed is not None:
        client = _get(client_id)
        return _client_page(user, client, _edit_form(client), limits=form,
                            limits_error=failed[0], status=failed[1])  # fmt: skip
    flash("Gateway limits saved.")
    return redirect(f"/admin/clients/{client_id}", code=303)


@bp.route("/clients/<client_id>/rotate-secret", methods=["GET", "POST"])
@admin_page(Permission.CLIENTS_READ)
def client_rotate_secret(user: User, client_id: str) -> Response | str:
    require(user, Permission.CLIENTS_WRITE)
    client = _get(client_id)
    if isinstance(client, Response):
        return client

    def rotate(grace: int) -> Response:
        secret, _ = rotate_client_secret(client, grace_seconds=grace, caller=caller_of(user))
        return shown_once(heading=f"New secret for {client.name}",
                          subject=f"client_secret of {client.client_id}", secret=secret,
                          back=f"/admin/clients/{client_id}")  # fmt: skip

    return rotated_with_grace(rotate=rotate, title=f"Rotate the secret of {client.name}",
                              subject=client_id, action=f"/admin/clients/{client_id}/rotate-secret",
                              back=f"/admin/clients/{client_id}",
                              explain="A new secret is made; the current one keeps working for "
                              "the grace period while you deploy the new one.")  # fmt: skip


@bp.route("/clients/<client_id>/disable", methods=["GET", "POST"])
@admin_page(Permission.CLIENTS_READ)
def client_disable(user: User, client_id: str) -> Response | str:
    require(user, Permission.CLIENTS_WRITE)
    client = _get(client_id)
    if isinstance(client, Response):
        return client

    def perform() -> str:
        revoked = disable_client(client, caller=caller_of(user))
        return f"Client {client.name} disabled; {revoked} API key(s) revoked."

    return confirmed(title=f"Disable {client.name}?",
                     warning="The client can no longer authenticate or get tokens, and its API "
                     "keys are revoked. Enabling it later does not bring its tokens or keys "
                     "back.",
                     action=f"/admin/clients/{client_id}/disable", button="Disable",
                     back=f"/admin/clients/{client_id}", done=f"/admin/clients/{client_id}",
                     perform=perform)  # fmt: skip
