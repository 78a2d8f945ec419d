"""/admin/users and /admin/roles: find users, give and take roles, disable a user (sessions end,
API keys revoked), reset a user's second factors, erase a person; roles with their permissions."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.accounts.service import disable_user, find_user_by_subject, users_matching
from authserver.admin.access import admin_page, caller_of, can, confirmed, paged, require
from authserver.admin.blueprint import bp
from authserver.admin.forms import ConfirmForm, EraseForm, GrantRoleForm, choices
from authserver.mfa.service import factors_of, reset_mfa
from authserver.models import Role, User
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.privacy.erasure import erase_person
from authserver.rbac.permissions import Permission
from authserver.rbac.service import grant_role, list_roles, revoke_role
from authserver.web.errors import roll_back


@bp.get("/users")
@admin_page(Permission.USERS_READ)
def users(user: User) -> str:
    search = (request.args.get("q") or "").strip()[:320]
    rows, cursor = paged(users_matching(search), User.id)
    return render_template("admin/users.html", users=rows, next_cursor=cursor, search=search,
                           args=request.args)  # fmt: skip


def _get(subject: str) -> User | Response:
    found = find_user_by_subject(subject)
    if found is None or found.erased_at is not None:
        return make_response(render_template("error.html", message="No such user."), 404)
    return found


@bp.get("/users/<subject>")
@admin_page(Permission.USERS_READ)
def user_detail(user: User, subject: str) -> Response | str:
    person = _get(subject)
    if isinstance(person, Response):
        return person
    form = GrantRoleForm()
    form.role.choices = choices(r.name for r in list_roles() if r not in person.roles)
    return render_template(
        "admin/user.html", person=person, factors=factors_of(person), form=form,
        action=ConfirmForm(), can_write=can(user, Permission.USERS_WRITE),
        can_roles=can(user, Permission.ROLES_WRITE), can_erase=can(user, Permission.USERS_ERASE),
    )  # fmt: skip


@bp.post("/users/<subject>/roles")
@admin_page(Permission.USERS_READ)
def user_grant_role(user: User, subject: str) -> Response:
    require(user, Permission.ROLES_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    form = GrantRoleForm()
    form.role.choices = choices(r.name for r in list_roles())
    if not form.validate_on_submit():
        flash("Choose a role.")
        return redirect(f"/admin/users/{subject}", code=303)
    try:
        grant_role(form.role.data, person, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        flash(e.description)
        return redirect(f"/admin/users/{subject}", code=303)
    db.session.commit()
    flash(f"Role {form.role.data} given to {person.email}.")
    return redirect(f"/admin/users/{subject}", code=303)


@bp.post("/users/<subject>/roles/<role>/revoke")
@admin_page(Permission.USERS_READ)
def user_revoke_role(user: User, subject: str, role: str) -> Response:
    require(user, Permission.ROLES_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    if not ConfirmForm().validate_on_submit():
        return make_response(render_template("error.html", message="The form expired."), 400)
    try:
        revoke_role(role, person, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        flash(e.description)
        return redirect(f"/admin/users/{subject}", code=303)
    db.session.commit()
    flash(f"Role {role} taken from {person.email}.")
    return redirect(f"/admin/users/{subject}", code=303)


def _confirmed_action(user: User, subject: str, *, title: str, warning: str, button: str,
                      path: str, perform) -> Response | str:  # noqa: ANN001  # fmt: skip
    require(user, Permission.USERS_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    return confirmed(title=title.format(person.email), warning=warning,
                     action=f"/admin/users/{subject}/{path}", button=button,
                     back=f"/admin/users/{subject}", done=f"/admin/users/{subject}",
                     perform=lambda: perform(person))  # fmt: skip


@bp.route("/users/<subject>/disable", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_disable(user: User, subject: str) -> Response | str:
    def perform(person: User) -> str:
        revoked = disable_user(person, caller=caller_of(user))
        return f"{person.email} disabled; sessions ended, {revoked} API key(s) revoked."

    return _confirmed_action(
        user, subject, title="Disable {}?", button="Disable", path="disable", perform=perform,
        warning="The user can no longer sign in; their sessions end and their API keys are "
        "revoked at once. Tokens already issued expire within their lifetime.",
    )  # fmt: skip


@bp.route("/users/<subject>/reset-mfa", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_reset_mfa(user: User, subject: str) -> Response | str:
    def perform(person: User) -> str:
        reset_mfa(person, caller=caller_of(user))
        return f"Second factors of {person.email} removed; their sessions ended."

    return _confirmed_action(
        user, subject, title="Reset the second factors of {}?", button="Reset MFA",
        path="reset-mfa", perform=perform,
        warning="Their authenticator app, passkeys and recovery codes are removed and their "
        "sessions end; they sign in with the password alone (and set up a factor again if a "
        "role requires one). Do this only after checking who is asking.",
    )  # fmt: skip


@bp.route("/users/<subject>/erase", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_erase(user: User, subject: str) -> Response | str:
    """Two steps, as revoking a signing key: this page, then the email typed again."""
    require(user, Permission.USERS_ERASE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    form = EraseForm()
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            error = "Type the email to confirm."
        elif form.confirm_email.data.strip().lower() != person.email:
            error = "The email typed does not match: nothing was erased."
        else:
            try:
                erase_person(person, caller=caller_of(user))
            except AuthServerError as e:
                roll_back(e)
                error = e.description
            else:
                db.session.commit()
                flash(f"{form.confirm_email.data.strip().lower()} erased; their audit records "
                      "stay, their personal fields unreadable.")  # fmt: skip
                return redirect("/admin/users", code=303)
    page = render_template("admin/user_erase.html", person=person, form=form, error=error)
    return make_response(page, 400 if error else 200)


@bp.get("/roles")
@admin_page(Permission.ROLES_READ)
def roles(user: User) -> str:
    rows, cursor = paged(select(Role), Role.id)
    return render_template("admin/roles.html", roles=rows, next_cursor=cursor, args=request.args)
