"""/admin/clients: registered clients; create (the secret shown once), edit redirect URIs, scopes,
grant types, authentication method and request quotas, the gateway limits (token buckets and a
quota of /gateway/check), rotate the secret with a grace period, disable."""

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
from authserver.admin.forms import ClientEditForm, ClientForm, LimitsForm
from authserver.admin.limits import limits_form, save_limits
from authserver.clients.service import (
    ClientChanges,
    NewClient,
    create_client,
    disable_client,
    find_client_any,
    rotate_client_secret,
    update_client,
)
from authserver.gateway.limits import limits_of
from authserver.models import Client, User
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.rbac.permissions import Permission
from authserver.web.errors import roll_back


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _words(text: str | None) -> tuple[str, ...]:
    return tuple((text or "").replace(",", " ").split())


def _page(user: User, form: ClientForm, error: str | None = None, status: int = 200) -> Response:
    rows, cursor = paged(select(Client), Client.id)
    page = render_template("admin/clients.html", clients=rows, next_cursor=cursor, form=form,
                           error=error, can_write=can(user, Permission.CLIENTS_WRITE),
                           args=request.args)  # fmt: skip
    return make_response(page, status)


@bp.get("/clients")
@admin_page(Permission.CLIENTS_READ)
def clients(user: User) -> Response:
    return _page(user, ClientForm(formdata=None))


@bp.post("/clients")
@admin_page(Permission.CLIENTS_READ)
def client_create(user: User) -> Response:
    require(user, Permission.CLIENTS_WRITE)
    form = ClientForm()
    if not form.validate_on_submit():
        return _page(user, form, "Fill in the name and the grant types.", 400)
    spec = NewClient(
        name=form.name.data,
        grant_types=_words(form.grant_types.data),
        redirect_uris=_lines(form.redirect_uris.data),
        scope=" ".join(_words(form.scope.data)),
        public=form.auth_method.data == "none",
        auth_method=form.auth_method.data,
    )
    try:
        client, secret = create_client(current_settings(), spec, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        return _page(user, form, e.description, e.status if e.status == 403 else 400)
    db.session.commit()
    if secret is None:
        flash(f"Client {client.name} registered: {client.client_id}.")
        return redirect(f"/admin/clients/{client.client_id}", code=303)
    return shown_once(heading=f"Client {client.name} registered",
                      subject=f"client_secret of {client.client_id}", secret=secret,
                      back="/admin/clients")  # fmt: skip


def _get(client_id: str) -> Client | Response:
    client = find_client_any(client_id)
    if client is None:
        return make_response(render_template("error.html", message="No such client."), 404)
    return client


@bp.route("/clients/<client_id>", methods=["GET", "POST"])
@admin_page(Permission.CLIENTS_READ)
def client_edit(user: User, client_id: str) -> Response | str:
    client = _get(client_id)
    if isinstance(client, Response):
        return client
    error = None
    if request.method == "POST":
        require(user, Permission.CLIENTS_WRITE)
        form = ClientEditForm()
        if not form.validate_on_submit():
            error = "Fill in the name and the grant types."
        else:
            changes = ClientChanges(
                name=form.name.data,
                scope=" ".join(_words(form.scope.data)),
                redirect_uris=_lines(form.redirect_uris.data),
                grant_types=_words(form.grant_types.data),
                auth_method=form.auth_method.data,
                # Empty removes the quota.
                token_quota=(form.token_quota.data or "").strip(),
                introspection_quota=(form.introspection_quota.data or "").strip(),
            )
            try:
                update_client(client, changes, caller=caller_of(user))
            except AuthServerError as e:
                roll_back(e)
                error = e.description
            else:
                db.session.commit()
                flash("Client saved.")
                return redirect(f"/admin/clients/{client_id}", code=303)
    else:
        form = _edit_form(client)
    return _client_page(user, client, form, error, status=400 if error else 200)


def _client_page(user: User, client: Client, form: ClientEditForm, error: str | None = None,
                 limits: LimitsForm | None = None, limits_error: str | None = None,
                 status: int = 200) -> Response:  # fmt: skip
    page = render_template("admin/client.html", client=client, form=form, error=error,
                           can_write=can(user, Permission.CLIENTS_WRITE),
                           limits=limits_of(client), limits_form=limits or limits_form(client),
                           limits_error=limits_error,
                           can_see_usage=can(user, Permission.GATEWAY_READ))  # fmt: skip
    return make_response(page, status)


def _edit_form(client: Client) -> ClientEditForm:
    return ClientEditForm(
        formdata=None, name=client.name, scope=client.scope,
        redirect_uris="\n".join(client.redirect_uris),
        grant_types=" ".join(client.grant_types), auth_method=client.token_endpoint_auth_method,
        token_quota=client.token_quota or "",
        introspection_quota=client.introspection_quota or "",
    )  # fmt: skip


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
                     "keys are revoked. This cannot be undone.",
                     action=f"/admin/clients/{client_id}/disable", button="Disable",
                     back=f"/admin/clients/{client_id}", done="/admin/clients",
                     perform=perform)  # fmt: skip
