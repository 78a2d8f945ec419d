"""Sign-in pages: /login, /logout, /account (sessions, sign out everywhere)."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, redirect, render_template, request

from authserver.accounts.forms import LoginForm, SignOutEverywhereForm, SignOutForm
from authserver.accounts.service import authenticate
from authserver.accounts.sessions import end_all_sessions, end_session, start_session
from authserver.browser import (
    clear_session_cookie,
    current_session,
    safe_next,
    set_session_cookie,
)
from authserver.extensions import db
from authserver.runtime import current_settings

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
        return render_template("login.html", form=form)
    if not form.validate_on_submit():
        return make_response(render_template("login.html", form=form), 400)
    user = authenticate(form.email.data, form.password.data)
    if user is None:
        db.session.commit()  # the audit of the failure; nothing else was written
        form.password.data = ""
        return make_response(render_template("login.html", form=form, error=LOGIN_FAILED), 401)
    previous = current_session()
    if previous is not None:
        end_session(previous)
    cookie, _ = start_session(
        current_settings(),
        user,
        amr=["pwd"],
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
    )
    db.session.commit()
    response = redirect(safe_next(form.next.data), code=303)
    set_session_cookie(response, cookie)
    return response


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


@bp.route("/account", methods=["GET", "POST"])
def account() -> Response | str:
    session = current_session()
    if session is None:
        return redirect("/login?next=/account", code=303)
    everywhere = SignOutEverywhereForm()
    if request.method == "POST":
        if not everywhere.validate_on_submit():
            return make_response(render_template("error.html", message="The form expired."), 400)
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
    )
