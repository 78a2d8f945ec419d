"""Second-factor pages: /account/security (enrol and remove factors, recovery codes), the
second-factor step of sign-in (/login/mfa), and passwordless sign-in with a passkey.

WebAuthn options come from small JSON endpoints that passkeys.js calls with the page's CSRF
token; the authenticator's answer goes back in an ordinary form post. Everything except the
passkey buttons works without JavaScript.
"""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
)
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from authserver.mfa import passkeys, service, totp
from authserver.models import User, UserSession
from authserver.platform import acr, clock
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.web import challenges
from authserver.web.browser import current_session, safe_next
from authserver.web.forms import ActionForm, CodeForm, PasskeyForm, RecoveryCodeForm
from authserver.web.signin import SECURITY, finish_sign_in

bp = Blueprint("mfa", __name__)


# --- shared steps ---------------------------------------------------------------------------


def _page_error(message: str, status: int) -> Response:
    return make_response(render_template("error.html", message=message), status)


def _too_many(error: service.TooManyAttempts) -> Response:
    response = make_response(render_template("error.html", message=error.description), 429)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _require_session() -> UserSession | Response:
    session = current_session()
    if session is None:
        return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}), code=303)
    return session


def _is_fresh(session: UserSession) -> bool:
    age = (clock.now() - session.auth_time).total_seconds()
    return age <= current_settings().mfa_fresh_auth_seconds


def _changing_session(*, fresh: bool) -> UserSession | Response:
    """The session of a button that changes a factor: signed in, CSRF, and for removals a
    sign-in at most AUTHSERVER_MFA_FRESH_AUTH old."""
    session = _require_session()
    if isinstance(session, Response):
        return session
    if not ActionForm().validate_on_submit():
        return _page_error("The form expired. Go back and try again.", 400)
    if fresh and not _is_fresh(session):
        return _reauthenticate()
    return session


def _reauthenticate() -> Response:
    flash("Sign in again to change how you sign in.")
    return redirect("/login?" + urlencode({"next": SECURITY}), code=303)


def _check_json_csrf() -> None:
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except (ValidationError, CSRFError):
        abort(
            make_response(
                {"error": "invalid_request", "error_description": "CSRF token missing or invalid."},
                400,
            )
        )


def _options(body: str) -> Response:
    response = make_response(body, 200)
    response.mimetype = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


def _after_enrolment(session: UserSession, added: str, codes: list[str] | None) -> Response:
    """Enrolling proved the new factor: the session now counts it. New codes are shown once."""
    amr = acr.combined_amr(list(session.amr), [added])
    next_url = safe_next(request.args.get("next") or request.form.get("next"), SECURITY)
    response = finish_sign_in(session.user, amr, next_url)
    if codes is None:
        return response
    page = make_response(render_template("recovery_codes.html", codes=codes, next_url=next_url))
    for header in response.headers.getlist("Set-Cookie"):
        page.headers.add("Set-Cookie", header)
    return page


# --- /account/security ----------------------------------------------------------------------


@bp.get(SECURITY)
def security() -> Response | str:
    session = _require_session()
    if isinstance(session, Response):
        return session
    user = session.user
    factors = service.factors_of(user)
    return render_template(
        "security.html",
        user=user,
        factors=factors,
        action=ActionForm(),
        passkey_form=PasskeyForm(),
        required=user.requires_mfa and not factors.any,
        next_url=safe_next(request.args.get("next"), ""),
    )


@bp.post(SECURITY + "/totp")
def totp_begin() -> Response:
    session = _changing_session(fresh=False)
    if isinstance(session, Response):
        return session
    try:
        service.begin_totp(session.user)
    except AuthServerError as e:
        return _page_error(e.description, e.status)
    db.session.commit()
    return redirect(
        SECURITY + "/totp?" + urlencode({"next": request.args.get("next", "")}), code=303
    )


def _totp_page(user: User, form: CodeForm, error: str | None = None, status: int = 200) -> Response:
    row = service.pending_totp(user)
    if row is None:
        return redirect(SECURITY, code=303)
    secret = service.totp_secret(row)
    uri = totp.provisioning_uri(secret, user.email, "authserver")
    qr = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")
    page = render_template(
        "totp_setup.html",
        form=form,
        qr=qr,
        secret=totp.secret_text(secret),
        error=error,
        next_url=safe_next(request.args.get("next"), ""),
    )
    return make_response(page, status)


@bp.get(SECURITY + "/totp")
def totp_setup() -> Response:
    session = _require_session()
    if isinstance(session, Response):
        return session
    return _totp_page(session.user, CodeForm())


@bp.post(SECURITY + "/totp/verify")
def totp_verify() -> Response:
    session = _require_session()
    if isinstance(session, Response):
        return session
    form = CodeForm()
    if not form.validate_on_submit():
        return _totp_page(session.user, form, "Enter the 6-digit code from your app.", 400)
    try:
        codes = service.confirm_totp(session.user, form.code.data)
    except service.TooManyAttempts as e:
        db.session.commit()
        return _too_many(e)
    except AuthServerError as e:
        db.session.commit()  # the failure counts towards the back-off
        return _totp_page(session.user, CodeForm(formdata=None), e.description, e.status)
    flash("Authenticator app set up.")
    return _after_enrolment(session, "otp", codes)


@bp.post(SECURITY + "/totp/remove")
def totp_remove() -> Response:
    session = _changing_session(fresh=True)
    if isinstance(session, Response):
        return session
    try:
        service.remove_totp(session.user, actor=session.user.actor)
    except AuthServerError as e:
        return _page_error(e.description, e.status)
    db.session.commit()
    flash("Authenticator app removed.")
    return redirect(SECURITY, code=303)


@bp.post(SECURITY + "/recovery-codes")
def recovery_codes_regenerate() -> Response:
    session = _changing_session(fresh=True)
    if isinstance(session, Response):
        return session
    if not service.has_second_factor(session.user):
        return _page_error("Set up a second factor first.", 409)
    codes = service.issue_recovery_codes(session.user)
    db.session.commit()
    return make_response(render_template("recovery_codes.html", codes=codes, next_url=SECURITY))


@bp.post(SECURITY + "/passkeys/options")
def passkey_registration_options() -> Response:
    session = current_session()
    if session is None:
        return make_response(
            {"error": "login_required", "error_description": "Sign in first."}, 401
        )
    _check_json_csrf()
    user = session.user
    row = challenges.open_challenge(challenges.PASSKEY_REGISTRATION, user=user)
    existing = [(p.credential_id, p.transports) for p in service.factors_of(user).passkeys]
    body = passkeys.registration_options(
        passkeys.RelyingParty.of(current_settings()),
        user_handle=passkeys.user_handle_of(user.subject),
        user_name=user.email,
        display_name=user.display_name,
        challenge=row.challenge,
        existing=existing,
    )
    db.session.commit()
    return _options(body)


@bp.post(SECURITY + "/passkeys")
def passkey_register() -> Response:
    session = _require_session()
    if isinstance(session, Response):
        return session
    form = PasskeyForm()
    if not form.validate_on_submit():
        return _page_error("The passkey form was incomplete or expired. Try again.", 400)
    row = challenges.take_challenge(challenges.PASSKEY_REGISTRATION)
    if row is None or row.user_id != session.user_id:
        db.session.commit()
        return _page_error("The passkey request expired. Try again.", 400)
    try:
        new = passkeys.verify_registration(
            passkeys.RelyingParty.of(current_settings()), form.credential.data, row.challenge
        )
        codes = service.add_passkey(session.user, new, form.name.data or "")
    except passkeys.PasskeyError:
        db.session.commit()
        return _page_error("The passkey could not be registered. Try again.", 400)
    except AuthServerError as e:
        db.session.commit()
        return _page_error(e.description, e.status)
    flash("Passkey added.")
    return _after_enrolment(session, "hwk" if not new.is_backup_eligible else "swk", codes)


@bp.post(SECURITY + "/passkeys/<int:passkey_id>/remove")
def passkey_remove(passkey_id: int) -> Response:
    session = _changing_session(fresh=True)
    if isinstance(session, Response):
        return session
    try:
        service.remove_passkey(session.user, passkey_id, actor=session.user.actor)
    except AuthServerError as e:
        return _page_error(e.description, e.status)
    db.session.commit()
    flash("Passkey removed.")
    return redirect(SECURITY, code=303)


# --- the second-factor step of sign-in ------------------------------------------------------


def _pending() -> tuple[challenges.MfaChallenge, User] | None:
    row = challenges.current_challenge(challenges.SIGN_IN)
    if row is None:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def _second_factor_page(
    row, user: User, *, error: str | None = None, status: int = 200
) -> Response:
    factors = service.factors_of(user)
    phishing_resistant_only = row.data.get("level", 2) >= acr.PHISHING_RESISTANT
    page = render_template(
        "second_factor.html",
        factors=factors,
        totp_allowed=factors.has_totp and not phishing_resistant_only,
        recovery_allowed=factors.recovery_codes_left > 0 and not phishing_resistant_only,
        code_form=CodeForm(formdata=None),
        recovery_form=RecoveryCodeForm(formdata=None),
        passkey_form=PasskeyForm(formdata=None),
        error=error,
    )
    return make_response(page, status)


def _complete(row, user: User, added: str) -> Response:
    if challenges.take_challenge(challenges.SIGN_IN) is None:
        # Answered meanwhile by another request of this browser: one sign-in per password step.
        # Nothing is committed, so the factor this request claimed stays unspent.
        return redirect("/login", code=303)
    amr = acr.combined_amr(row.data.get("amr", []), [added])
    return finish_sign_in(user, amr, row.data.get("next", "/account"))


@bp.route("/login/mfa", methods=["GET", "POST"])
def second_factor() -> Response:
    pending = _pending()
    if pending is None:
        return redirect("/login", code=303)
    row, user = pending
    if request.method == "GET":
        return _second_factor_page(row, user)
    level = row.data.get("level", 2)
    code_form, recovery_form = CodeForm(), RecoveryCodeForm()
    try:
        if "recovery_code" in request.form and level < acr.PHISHING_RESISTANT:
            if not recovery_form.validate_on_submit():
                return _second_factor_page(row, user, error="Enter a recovery code.", status=400)
            left = service.use_recovery_code(user, recovery_form.recovery_code.data)
            if left is None:
                db.session.commit()
                return _second_factor_page(
                    row, user, error="That recovery code is not valid.", status=401
                )
            flash(f"Recovery code used. {left} of 10 left.")
            return _complete(row, user, "otp")
        if level >= acr.PHISHING_RESISTANT:
            return _second_factor_page(row, user, error="Use a passkey.", status=400)
        if not code_form.validate_on_submit():
            return _second_factor_page(row, user, error="Enter the 6-digit code.", status=400)
        if not service.verify_totp(user, code_form.code.data):
            db.session.commit()
            return _second_factor_page(row, user, error="That code is not right.", status=401)
        return _complete(row, user, "otp")
    except service.TooManyAttempts as e:
        db.session.commit()
        return _too_many(e)


@bp.post("/login/mfa/passkey/options")
def second_factor_passkey_options() -> Response:
    pending = _pending()
    if pending is None:
        return make_response(
            {"error": "login_required", "error_description": "Sign in first."}, 401
        )
    _check_json_csrf()
    _, user = pending
    row = challenges.open_challenge(challenges.PASSKEY_SECOND_FACTOR, user=user)
    allowed = [(p.credential_id, p.transports) for p in service.factors_of(user).passkeys]
    body = passkeys.authentication_options(
        passkeys.RelyingParty.of(current_settings()),
        challenge=row.challenge,
        allowed=allowed,
        passwordless=False,
    )
    db.session.commit()
    return _options(body)


def _verify_passkey(purpose: str, expected_user: User | None, require_uv: bool):
    """(user, credential, assertion) for a verified answer, or an error page."""
    form = PasskeyForm()
    if not form.validate_on_submit():
        return _page_error("The passkey form was incomplete or expired. Try again.", 400)
    row = challenges.take_challenge(purpose)
    if row is None or (expected_user is not None and row.user_id != expected_user.id):
        db.session.commit()
        return _page_error("The passkey request expired. Try again.", 400)
    try:
        credential = service.find_passkey(passkeys.credential_id_of(form.credential.data))
        if credential is None or (
            expected_user is not None and credential.user_id != expected_user.id
        ):
            raise passkeys.PasskeyError("unknown passkey")
        user = db.session.get(User, credential.user_id)
        if user is None or not user.is_active:
            raise passkeys.PasskeyError("unknown passkey")
        service.check_not_blocked(user)
        assertion = passkeys.verify_assertion(
            passkeys.RelyingParty.of(current_settings()),
            form.credential.data,
            row.challenge,
            public_key=credential.public_key,
            require_user_verification=require_uv,
        )
        # WebAuthn §7.2 step 6: a user handle, when given, must name the credential's owner.
        expected_handle = passkeys.b64url(passkeys.user_handle_of(user.subject))
        if assertion.user_handle is not None and assertion.user_handle != expected_handle:
            raise passkeys.PasskeyError("the user handle does not match the passkey's owner")
        service.accept_assertion(credential, assertion, user)
    except service.TooManyAttempts as e:
        db.session.commit()
        return _too_many(e)
    except (passkeys.PasskeyError, service.SignCountRegressed):
        db.session.commit()
        return _page_error("That passkey was not accepted.", 401)
    return user, credential, assertion, form


@bp.post("/login/mfa/passkey")
def second_factor_passkey() -> Response:
    pending = _pending()
    if pending is None:
        return redirect("/login", code=303)
    row, user = pending
    result = _verify_passkey(challenges.PASSKEY_SECOND_FACTOR, user, require_uv=False)
    if isinstance(result, Response):
        return result
    _, credential, _, _ = result
    return _complete(row, user, service.passkey_amr(credential))


@bp.post("/login/passkey/options")
def passwordless_options() -> Response:
    _check_json_csrf()
    row = challenges.open_challenge(challenges.PASSKEY_SIGN_IN)
    body = passkeys.authentication_options(
        passkeys.RelyingParty.of(current_settings()),
        challenge=row.challenge,
        allowed=[],
        passwordless=True,
    )
    db.session.commit()
    return _options(body)


@bp.post("/login/passkey")
def passwordless_sign_in() -> Response:
    result = _verify_passkey(challenges.PASSKEY_SIGN_IN, None, require_uv=True)
    if isinstance(result, Response):
        return result
    user, credential, _, form = result
    # User verification (PIN or biometric) on a passkey: two factors in one gesture.
    amr = acr.combined_amr([service.passkey_amr(credential)], ["mfa"])
    return finish_sign_in(user, amr, form.next.data or "/account")
