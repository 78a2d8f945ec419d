"""The user's side of the device grant (RFC 8628 §3.3): ``/device`` takes the code shown on the
device ("Code", "Continue"), then sign-in (with the second factor, and step-up as for any
authorization) and the consent page ("Allow"/"Deny")."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, make_response, redirect, render_template, request
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from authserver.oauth.consent import describe_scopes, scope_to_grant
from authserver.oauth.device import DEVICE_PAGE, decide, find_by_user_code
from authserver.oauth.interaction import Asked, Step, next_step
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime, current_settings
from authserver.web.browser import current_session
from authserver.web.forms import ConsentForm
from authserver.web.signin import step_up

bp = Blueprint("device", __name__)

NOT_FOUND = "That code is not valid or has expired. Check the code on your device."


class DeviceCodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=32)])


def _code_page(form: DeviceCodeForm, error: str | None = None, status: int = 200) -> Response:
    return make_response(render_template("device.html", form=form, error=error), status)


@bp.route(DEVICE_PAGE, methods=["GET", "POST"])
def enter_code() -> Response:
    form = DeviceCodeForm()
    if request.method == "GET":
        form.code.data = (request.args.get("user_code") or "")[:32]
        return _code_page(form)
    if not form.validate_on_submit():
        return _code_page(form, "Enter the code shown on your device.", 400)
    if find_by_user_code(form.code.data) is None:
        return _code_page(form, NOT_FOUND, 400)
    return redirect(DEVICE_PAGE + "/confirm?" + urlencode({"user_code": form.code.data}), code=303)


@bp.route(DEVICE_PAGE + "/confirm", methods=["GET", "POST"])
def confirm() -> Response:
    user_code = (request.args.get("user_code") or "")[:32]
    row = find_by_user_code(user_code)
    if row is None:
        return _code_page(DeviceCodeForm(formdata=None), NOT_FOUND, 400)
    here = DEVICE_PAGE + "/confirm?" + urlencode({"user_code": user_code})
    session = current_session()
    # The same decision as the authorization endpoint's (roles and step-up scopes need MFA),
    # except that consent is always asked (RFC 8628 §5.4: the user confirms the device).
    asked = Asked(row.scope, row.client_id, always_consent=True)
    interaction = next_step(session, asked, current_settings())
    if interaction.step is Step.SIGN_IN:
        return redirect("/login?" + urlencode({"next": here}), code=303)
    if interaction.step is Step.SECOND_FACTOR:
        return step_up(session, interaction.level, here)
    client = current_runtime().clients.get(row.client_id)
    if client is None:
        return _code_page(DeviceCodeForm(formdata=None), NOT_FOUND, 400)
    form = ConsentForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return make_response(render_template("error.html", message="The form expired."), 400)
        if not decide(row, session, approved=bool(form.allow.data)):
            return _code_page(DeviceCodeForm(formdata=None), NOT_FOUND, 400)
        db.session.commit()
        return make_response(render_template("device_done.html", approved=bool(form.allow.data),
                                             client=client))  # fmt: skip
    page = render_template(
        "consent.html",
        form=form,
        client=client,
        action=here,
        scopes=describe_scopes(scope_to_grant(client, session.user, row.scope)),
    )
    return make_response(page)
