"""Sign-in pages: /login, /logout, /account (sessions, sign out everywhere, download my data)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, Response, make_response, redirect, render_template, request

from authserver.accounts.service import authenticate, change_password
from authserver.accounts.sessions import (
    end_all_sessions,
    end_session,
    find_session_by_sid,
    live_sessions_of,
)
from authserver.mfa.service import factors_of
from authserver.oauth.consent import consents_of, describe_scopes, withdraw_consent
from authserver.platform import acr
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.privacy.export import export_person
from authserver.rbac.containment import caller_for
from authserver.web.browser import (
    clear_session_cookie,
    current_session,
    safe_next,
)
from authserver.web.forms import (
    ActionForm,
    ExportForm,
    LoginForm,
    PasskeyForm,
    PasswordChangeForm,
    SignOutEverywhereForm,
    SignOutForm,
)
from authserver.web.signin import SECURITY, begin_second_factor, finish_sign_in, step_up

bp = Blueprint("accounts", __name__)

LOGIN_FAILED = "The email or password is not right."


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        hint = request.args.get("login_hint", "")
        if hint and len(hint) <= 320:
            form.email.data = hint
        return _login_page(form)
    if not form.validate_on_submit():
        return _login_page(form, status=400)
    user = authenticate(form.email.data, form.password.data)
    if user is None:
        db.session.commit()  # the audit of the failure; nothing else was written
        form.password.data = ""
        return _login_page(form, error=LOGIN_FAILED, status=401)
    next_url = safe_next(form.next.data)
    if factors_of(user).any:
        return begin_second_factor(user, amr=["pwd"], next_url=next_url, level=acr.MULTI_FACTOR)
    if user.requires_mfa:
        # Enrolment before anything else; the session it starts is good for nothing more.
        next_url = SECURITY + "?" + urlencode({"next": next_url})
    return finish_sign_in(user, ["pwd"], next_url)


def _login_page(form: LoginForm, *, error: str | None = None, status: int = 200) -> Response:
    page = render_template("login.html", form=form, passkey_form=PasskeyForm(), error=error,
                           password_reset=bool(current_settings().smtp_url))  # fmt: skip
    return make_response(page, status)


@bp.post("/logout")
def logout() -> Response:
    form = SignOutForm()
    if not form.validate_on_submit():
        return make_response(render_template("error.html", message="The form expired."), 400)
    session = current_session()
    if session is not None:
        end_session(session)
        db.session.commit()
    response = redirect("/login", code=303)
    clear_session_cookie(response)
    return response


def _signed_in(back: str = "/account"):  # noqa: ANN202
    """(session, None), or (None, the answer that sends the person to sign in or step up)."""
    session = current_session()
    if session is None:
        return None, redirect(f"/login?next={back}", code=303)
    if session.user.requires_mfa:
        gate = step_up(session, acr.MULTI_FACTOR, back)
        if gate is not None:
            return None, gate
    return session, None


def _expired() -> Response:
    return make_response(render_template("error.html", message="The form expired."), 400)


@bp.route("/account", methods=["GET", "POST"])
def account() -> Response | str:
    session, elsewhere = _signed_in()
    if session is None:
        return elsewhere
    everywhere = SignOutEverywhereForm()
    if request.method == "POST":
        if not everywhere.validate_on_submit():
            return _expired()
        end_all_sessions(session.user)
        db.session.commit()
        response = redirect("/login", code=303)
        clear_session_cookie(response)
        return response
    return render_template(
        "account.html",
        user=session.user,
        session=session,
        sign_out=SignOutForm(),
        everywhere=everywhere,
        export=ExportForm(),
        action=ActionForm(),
        sessions=live_sessions_of(session.user),
        consents=[
            (grant, name, describe_scopes(grant.scope)) for grant, name in consents_of(session.user)
        ],  # fmt: skip
    )


@bp.post("/account/sessions/<sid>/end")
def end_one_session(sid: str) -> Response:
    """Sign out one of the person's other devices (their own sessions only)."""
    session, elsewhere = _signed_in()
    if session is None:
        return elsewhere
    if not ActionForm().validate_on_submit():
        return _expired()
    row = None if "\x00" in sid else find_session_by_sid(sid[:64])
    if row is None or row.user_id != session.user_id:
        return make_response(render_template("error.html", message="No such session."), 404)
    end_session(row)
    db.session.commit()
    return redirect("/account", code=303)


@bp.post("/account/consents/<client_id>/withdraw")
def withdraw(client_id: str) -> Response:
    """Take back what the person allowed an application (its refresh tokens go with it)."""
    session, elsewhere = _signed_in()
    if session is None:
        return elsewhere
    if not ActionForm().validate_on_submit():
        return _expired()
    if "\x00" in client_id or not withdraw_consent(session.user, client_id[:64]):
        return make_response(render_template("error.html", message="No such application."), 404)
    db.session.commit()
    return redirect("/account", code=303)


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> Response | str:
    """Change one's own password: the current one, a new one twice; other devices are signed
    out and apps must sign in again (the tokens they hold die)."""
    session, elsewhere = _signed_in("/account/password")
    if session is None:
        return elsewhere
    form = PasswordChangeForm()
    if request.method == "GET":
        return render_template("password.html", form=form)
    if not form.validate_on_submit():
        errors = [e for field in form for e in field.errors]
        return make_response(render_template("password.html", form=form,
                                             error=" ".join(errors) or None), 400)  # fmt: skip
    try:
        ended = change_password(session.user, form.current_password.data,
                                form.new_password.data, keep=session)  # fmt: skip
    except InvalidInput as e:
        db.session.commit()  # the audit of a wrong current password; nothing else was written
        message = ("The current password is not right." if e.description.startswith("current")
                   else e.description.removeprefix("password: ").capitalize() + ".")  # fmt: skip
        return make_response(render_template("password.html", form=PasswordChangeForm(),
                                             error=message), 400)  # fmt: skip
    db.session.commit()
    return render_template("password.html", form=PasswordChangeForm(), done=ended)


@bp.post("/account/export")
def export_my_data() -> Response:
    """GDPR Art. 15 and 20: the signed-in person's data, as a JSON file (a form with a CSRF
    token, not a link: the export is audited, and a cross-site page must not start one)."""
    session, elsewhere = _signed_in()
    if session is None:
        return elsewhere
    if not ExportForm().validate_on_submit():
        return _expired()
    user = session.user
    document = export_person(user, caller=caller_for(user, user.actor))
    db.session.commit()
    response = make_response(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = 'attachment; filename="my-authserver-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response
