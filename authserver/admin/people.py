"""/admin/users: find and create users, give and take roles, set a password or hand out a
set-password link, sign a user out (one session or everywhere), disable and enable, reset
second factors, erase a person."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request
from werkzeug.wrappers import Response

from authserver.accounts.resets import issue_password_link
from authserver.accounts.service import (
    create_user,
    disable_user,
    end_session_of,
    find_user_by_subject,
    set_password,
    sign_out_everywhere,
    update_user,
    users_matching,
)
from authserver.accounts.sessions import live_sessions_of
from authserver.admin.access import (
    admin_page,
    button_post,
    caller_of,
    can,
    confirmed,
    paged,
    require,
    shown_once,
)
from authserver.admin.blueprint import bp
from authserver.admin.forms import (
    ConfirmForm,
    EraseForm,
    GrantRoleForm,
    SetPasswordForm,
    UserCreateForm,
    UserEditForm,
    choices,
)
from authserver.mfa.service import factors_of, reset_mfa
from authserver.models import User
from authserver.platform.durations import format_duration
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.privacy.erasure import erase_person
from authserver.rbac.permissions import Permission
from authserver.rbac.service import grant_role, list_roles, revoke_role
from authserver.web.errors import roll_back

STATES = {"active": True, "disabled": False}


@bp.get("/users")
@admin_page(Permission.USERS_READ)
def users(user: User) -> Response | str:
    search = (request.args.get("q") or "").strip()[:320]
    state = request.args.get("state") or ""
    if state and state not in STATES:
        return make_response(render_template("error.html", message="No such state."), 400)
    statement = users_matching(search)
    if state:
        statement = statement.where(User.is_active.is_(STATES[state]))
    rows, cursor = paged(statement, User.id)
    return render_template("admin/users.html", users=rows, next_cursor=cursor, search=search,
                           state=state, args=request.args,
                           can_write=can(user, Permission.USERS_WRITE))  # fmt: skip


def _new_user_page(user: User, form: UserCreateForm, error: str | None = None,
                   status: int = 200) -> Response:  # fmt: skip
    page = render_template("admin/user_new.html", form=form, error=error, roles=list_roles(),
                           mine=user.permissions, chosen=set(form.roles.data or []),
                           can_roles=can(user, Permission.ROLES_WRITE))  # fmt: skip
    return make_response(page, status)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_new(user: User) -> Response:
    """A new account with either a password typed now or a set-password link shown once
    (Keycloak's "create user", then "reset password" or "update password" action)."""
    require(user, Permission.USERS_WRITE)
    form = UserCreateForm()
    if request.method == "GET":
        return _new_user_page(user, form)
    if not form.validate_on_submit():
        return _new_user_page(user, form, "Fill in the email.", 400)
    by_link = form.password_choice.data != "password"
    if not by_link and not form.password.data:
        return _new_user_page(user, form, "Type the initial password, or choose a link.", 400)
    roles = tuple(form.roles.data or ()) if can(user, Permission.ROLES_WRITE) else ()
    settings = current_settings()
    try:
        person = create_user(form.email.data, None if by_link else form.password.data,
                             display_name=(form.display_name.data or "").strip(), roles=roles,
                             caller=caller_of(user))  # fmt: skip
        token = issue_password_link(settings, person, caller=caller_of(user)) if by_link else None
    except AuthServerError as e:
        roll_back(e)
        return _new_user_page(user, form, e.description, e.status)
    db.session.commit()
    if token is None:
        flash(f"{person.email} created with the password you typed.")
        return redirect(f"/admin/users/{person.subject}", code=303)
    return _link_page(settings, person, token, heading=f"{person.email} created")


def _link_page(settings, person: User, token: str, *, heading: str) -> Response:  # noqa: ANN001
    lasts = format_duration(settings.set_password_link_ttl_seconds)
    return shown_once(
        heading=heading, subject=f"Set-password link for {person.email}",
        secret=settings.url(f"/account/reset/{token}"), back=f"/admin/users/{person.subject}",
        kept=f"Hand it to {person.email} yourself: it works once, for {lasts}. The server keeps "
        "only a keyed hash of it; if it is lost, make another (this one then stops working).",
    )  # fmt: skip


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
    return _detail_page(user, person, form)


def _detail_page(user: User, person: User, form: GrantRoleForm, *, edit: UserEditForm | None = None,
                 error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    edit = edit or UserEditForm(formdata=None, display_name=person.display_name)
    page = render_template(
        "admin/user.html", person=person, factors=factors_of(person), form=form,
        action=ConfirmForm(), edit=edit, error=error, sessions=live_sessions_of(person),
        can_write=can(user, Permission.USERS_WRITE),
        can_roles=can(user, Permission.ROLES_WRITE), can_erase=can(user, Permission.USERS_ERASE),
    )  # fmt: skip
    return make_response(page, status)


@bp.post("/users/<subject>")
@admin_page(Permission.USERS_READ)
def user_edit(user: User, subject: str) -> Response:
    require(user, Permission.USERS_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    edit = UserEditForm()
    error = None if edit.validate_on_submit() else "Fill in the name."
    if error is None:
        try:
            update_user(person, display_name=edit.display_name.data, caller=caller_of(user))
        except AuthServerError as e:
            roll_back(e)
            error = e.description
    if error is not None:
        person = _get(subject)
        form = GrantRoleForm()
        form.role.choices = choices(r.name for r in list_roles() if r not in person.roles)
        return _detail_page(user, person, form, edit=edit, error=error, status=400)
    db.session.commit()
    flash("Saved.")
    return redirect(f"/admin/users/{subject}", code=303)


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

    def perform() -> str:
        revoke_role(role, person, caller=caller_of(user))
        return f"Role {role} taken from {person.email}."

    return button_post(back=f"/admin/users/{subject}", perform=perform)


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


@bp.route("/users/<subject>/enable", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_enable(user: User, subject: str) -> Response | str:
    def perform(person: User) -> str:
        update_user(person, is_active=True, caller=caller_of(user))
        return f"{person.email} enabled: they can sign in again."

    return _confirmed_action(
        user, subject, title="Enable {}?", button="Enable", path="enable", perform=perform,
        warning="They can sign in again with their password. Sessions, tokens and API keys "
        "ended when they were disabled stay ended.",
    )  # fmt: skip


@bp.route("/users/<subject>/sign-out", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_sign_out(user: User, subject: str) -> Response | str:
    def perform(person: User) -> str:
        ended = sign_out_everywhere(person, caller=caller_of(user))
        return f"{person.email} signed out everywhere: {ended} session(s) ended, their tokens dead."

    return _confirmed_action(
        user, subject, title="Sign {} out everywhere?", button="Sign out everywhere",
        path="sign-out", perform=perform,
        warning="Every session ends and every token issued to them stops working (refresh "
        "tokens revoked, access tokens inactive); their password and API keys stay.",
    )  # fmt: skip


@bp.post("/users/<subject>/sessions/<sid>/end")
@admin_page(Permission.USERS_READ)
def user_end_session(user: User, subject: str, sid: str) -> Response:
    require(user, Permission.USERS_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person

    def perform() -> str:
        ended = end_session_of(person, sid[:100], caller=caller_of(user))
        return "Session ended." if ended else "That session had ended already."

    return button_post(back=f"/admin/users/{subject}#sessions", perform=perform)


@bp.route("/users/<subject>/password", methods=["GET", "POST"])
@admin_page(Permission.USERS_READ)
def user_password(user: User, subject: str) -> Response:
    """Reset a password: type a new one, or make a set-password link to hand over."""
    require(user, Permission.USERS_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    form, error = SetPasswordForm(), None
    if request.method == "POST":
        if not form.validate_on_submit():
            error = "Type the new password."
        else:
            try:
                ended = set_password(person, form.password.data, caller=caller_of(user))
            except AuthServerError as e:
                roll_back(e)
                error = e.description.removeprefix("password: ").capitalize() + "."
            else:
                db.session.commit()
                flash(f"Password of {person.email} set; {ended} session(s) ended, their tokens "
                      "dead.")  # fmt: skip
                return redirect(f"/admin/users/{subject}", code=303)
    page = render_template("admin/user_password.html", person=person, form=form, error=error,
                           link=ConfirmForm(), lasts=format_duration(
                               current_settings().set_password_link_ttl_seconds))  # fmt: skip
    return make_response(page, 400 if error else 200)


@bp.post("/users/<subject>/password-link")
@admin_page(Permission.USERS_READ)
def user_password_link(user: User, subject: str) -> Response:
    require(user, Permission.USERS_WRITE)
    person = _get(subject)
    if isinstance(person, Response):
        return person
    if not ConfirmForm().validate_on_submit():
        return make_response(render_template("error.html", message="The form expired."), 400)
    settings = current_settings()
    try:
        token = issue_password_link(settings, person, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        flash(e.description)
        return redirect(f"/admin/users/{subject}", code=303)
    db.session.commit()
    return _link_page(settings, person, token, heading=f"A set-password link for {person.email}")
