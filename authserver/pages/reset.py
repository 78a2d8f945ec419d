"""Forgot password: /account/reset asks for the email and always answers the same; the mail
(sent off the request, so its time says nothing either) holds a single-use link to
/account/reset/<token>, where the new password is set. Asking needs AUTHSERVER_SMTP_URL; the
link page also takes the set-password links administrators hand out."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, abort, current_app, make_response, render_template

from authserver.accounts.resets import request_reset, reset_is_usable, use_reset
from authserver.outbound.mail import MailError, send_mail
from authserver.platform.config import Settings
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db
from authserver.platform.job_queue import JobQueue
from authserver.platform.runtime import current_settings
from authserver.web.forms import ResetForm, ResetRequestForm

bp = Blueprint("reset", __name__)
log = logging.getLogger(__name__)

SENT = ("If an account uses that email, a link to set a new password is on its way. It works "
        "once, for {minutes} minutes.")  # fmt: skip


def _send(jobs: list[tuple[Flask, str]]) -> None:
    """Off the request, so that its time is the same whether or not the email has an account:
    the lookup, the new link and the mail all happen here."""
    for app, email in jobs:
        with app.app_context():
            settings = current_settings()
            made = request_reset(settings, email)
            to = made[0].email if made is not None else None
            db.session.commit()
        if made is not None:
            _mail(settings, to, settings.url(f"/account/reset/{made[1]}"))


def _mail(settings: Settings, to: str, link: str) -> None:
    minutes = settings.password_reset_ttl_seconds // 60
    text = (
        f"Someone asked to set a new password for {to} at {settings.issuer}.\n\n"
        f"To choose one, open this link within {minutes} minutes (it works once):\n"
        f"{link}\n\nIf it was not you, ignore this mail: your password stays.\n"
    )
    try:
        send_mail(settings, to, "Set a new password", text)
    except MailError as e:
        log.error("password-reset mail not sent: %s", e)  # never the address or the link


MAIL = JobQueue("authserver-mail", _send)


def _available() -> Settings:
    settings = current_settings()
    if not settings.smtp_url:
        abort(404)  # no mail, no forgotten passwords: an administrator sets one instead
    return settings


@bp.route("/account/reset", methods=["GET", "POST"])
def ask() -> Response | str:
    settings = _available()
    form = ResetRequestForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return make_response(render_template("reset_request.html", form=form), status)
    MAIL.submit((current_app._get_current_object(), form.email.data))
    minutes = settings.password_reset_ttl_seconds // 60
    return render_template("reset_request.html", form=None, sent=SENT.format(minutes=minutes))


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
def choose(token: str) -> Response | str:
    # Not only with mail: an administrator's set-password link (resets.issue_password_link)
    # leads here too, and a token exists only if one of the two made it.
    if not reset_is_usable(token):
        return _gone()
    form = ResetForm()
    if not form.validate_on_submit():
        errors = [e for field in form for e in field.errors] if form.is_submitted() else []
        return make_response(render_template("reset.html", form=form, error=" ".join(errors)
                                             or None), 400 if errors else 200)  # fmt: skip
    try:
        user = use_reset(token, form.new_password.data)
    except InvalidInput as e:
        message = e.description.removeprefix("password: ").capitalize() + "."
        return make_response(render_template("reset.html", form=ResetForm(), error=message), 400)
    if user is None:  # spent by another request meanwhile
        return _gone()
    db.session.commit()
    return render_template("reset.html", form=None, done=True)


def _gone() -> Response:
    message = "This link was used already or has expired. Ask for a new one."
    return make_response(render_template("error.html", message=message), 400)
