"""The browser side of OAuth: the authorization endpoint with sign-in and consent
(RFC 6749 §4.1.1, OIDC Core §3.1.2), UserInfo, and RP-initiated logout.

Nothing redirects before Authlib has matched the client and its exact redirect URI: an
unknown client or an unregistered redirect URI gets an error page, never a redirect (no
open redirect). Errors after that go back to the client (RFC 6749 §4.1.2.1) with ``iss``
(RFC 9207).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
)
from werkzeug.datastructures import MultiDict

from authserver.oauth import paths
from authserver.oauth.authorization_request import validated_grant
from authserver.oauth.consent import describe_scopes, remember_consent, scope_to_grant
from authserver.oauth.interaction import Asked, Step, next_step
from authserver.oauth.par import consume, find_pushed
from authserver.oauth.server import oauth_server
from authserver.platform.extensions import db
from authserver.platform.headers import page_policy
from authserver.platform.request_state import request_state
from authserver.platform.runtime import current_runtime, current_settings
from authserver.web.browser import clear_session_cookie, current_session
from authserver.web.forms import ConsentForm, SignOutForm
from authserver.web.signin import step_up
from authserver.web.wording import page_words

bp = Blueprint("authorize", __name__)

_MAX_QUERY = 4096


def _pushed_request():  # noqa: ANN202
    """(the pushed request behind request_uri, or None; an error page, or None)."""
    request_uri = request.args.get("request_uri")
    client_id = request.args.get("client_id")
    if request_uri is None:
        client = current_runtime().clients.get(client_id) if client_id else None
        if current_settings().require_par or (
            client is not None and client.require_pushed_authorization_requests
        ):
            return None, _error_page(
                "This application must send its authorization request to the PAR endpoint "
                "first (RFC 9126)."
            )
        return None, None
    row = find_pushed(request_uri, client_id)
    if row is None:
        return None, _error_page("The authorization request is unknown, used or expired.")
    return row, None


def _error_page(message: str, status: int = 400) -> Response:
    return make_response(render_template("error.html", message=message), status)


def _to_client(error: OAuth2Error) -> Response:
    response = oauth_server(current_app).handle_error_response(request, error)
    if response.location:
        response.location = add_params_to_uri(response.location, {"iss": current_settings().issuer})
    return response


def _login_redirect(login_hint: str | None) -> Response:
    # After signing in the user comes back here; prompt=login has then been satisfied.
    query = [(k, v) for k, v in parse_qsl(request.query_string.decode()) if k != "prompt"]
    back = paths.AUTHORIZATION + "?" + urlencode(query)
    params = {"next": back}
    if login_hint:
        params["login_hint"] = login_hint
    return redirect("/login?" + urlencode(params), code=303)


def _form_post(response: Response) -> Response:
    """OAuth 2.0 Form Post Response Mode: the parameters as an auto-submitted form."""
    target = urlsplit(response.location)
    action = target._replace(query="").geturl()
    fields = parse_qsl(target.query, keep_blank_values=True)
    page = make_response(render_template("form_post.html", action=action, fields=fields))
    page.headers["Cache-Control"] = "no-store"
    # The page posts to the client's redirect URI, and nowhere else.
    origin = f"{target.scheme}://{target.netloc}" if target.netloc else f"{target.scheme}:"
    page.headers["Content-Security-Policy"] = page_policy(form_action=origin)
    return page


@bp.route(paths.AUTHORIZATION, methods=["GET", "POST"])
def authorize() -> Response:
    if len(request.query_string) > _MAX_QUERY:
        return _error_page("The authorization request is too long.")
    pushed, refusal = _pushed_request()
    if refusal is not None:
        return refusal
    if pushed is not None:
        # RFC 9126 §4: the pushed parameters are the request; the URL only points at them.
        request_state().pushed_params = MultiDict(pushed.params)
    args = request_state().pushed_params if pushed is not None else request.args
    server = oauth_server(current_app)
    session = current_session()
    user = session.user if session is not None else None
    try:
        grant = validated_grant(server, server.create_oauth2_request(None), end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _to_client(error)
        return _error_page(page_words(error))

    response_mode = args.get("response_mode", "query")
    client = grant.client
    scope = grant.request.scope or ""
    if user is not None:
        scope = scope_to_grant(client, user, scope)
    prompt = frozenset(args.get("prompt", "").split())
    asked = Asked(scope, client.client_id, args.get("acr_values"), prompt, args.get("max_age"),
                  skip_consent=client.skip_consent)  # fmt: skip
    interaction = next_step(session, asked, current_settings())
    if "none" in prompt and interaction.step is not Step.PROCEED:
        return _to_client(_error(grant, interaction.step.error))
    if interaction.step is Step.SIGN_IN:
        if pushed is not None and "login" in prompt:
            # Satisfied by the sign-in this redirect starts (as dropping it from a URL would).
            pushed.params = {k: v for k, v in pushed.params.items() if k != "prompt"}
            db.session.commit()
        return _login_redirect(args.get("login_hint"))
    if interaction.step is Step.SECOND_FACTOR:
        here = paths.AUTHORIZATION + "?" + request.query_string.decode()
        return step_up(session, interaction.level, here)
    needs_consent = interaction.step is Step.CONSENT

    form = ConsentForm()
    if request.method == "GET" and needs_consent:
        return render_template(
            "consent.html",
            form=form,
            client=client,
            scopes=describe_scopes(scope),
            action=request.full_path,
        )
    if request.method == "POST":
        if not form.validate_on_submit():
            return _error_page("The form expired; start again from the application.")
        if not form.allow.data:
            if pushed is not None and not consume(pushed):
                return _error_page("The authorization request was used already.")
            denied = server.create_authorization_response(grant=grant, grant_user=None)
            db.session.commit()
            return _finish(denied, response_mode)
        remember_consent(user, client.client_id, scope)
    if pushed is not None and not consume(pushed):
        return _error_page("The authorization request was used already.")
    result = server.create_authorization_response(grant=grant, grant_user=user)
    db.session.commit()
    return _finish(result, response_mode)


def _finish(response: Response, response_mode: str) -> Response:
    if response_mode == "form_post" and response.status_code == 302 and response.location:
        return _form_post(response)
    return response


def _error(grant, code: str) -> OAuth2Error:  # noqa: ANN001
    error = OAuth2Error(redirect_uri=grant.redirect_uri)
    error.error = code
    error.state = grant.request.payload.state
    return error


@bp.route(paths.USERINFO, methods=["GET", "POST"])
def userinfo() -> Response:
    return oauth_server(current_app).create_endpoint_response("userinfo")


@bp.route(paths.END_SESSION, methods=["GET", "POST"])
def end_session() -> Response:
    server = oauth_server(current_app)
    try:
        logout = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return _error_page(page_words(error))
    form = SignOutForm()
    confirmed = request.method == "POST" and form.validate_on_submit()
    if logout.needs_confirmation and not confirmed:
        return render_template("logout.html", form=form, action=request.full_path)
    response = server.create_endpoint_response("end_session", logout)
    db.session.commit()
    if response is None:
        response = make_response(render_template("logged_out.html"))
    if request_state().clear_session_cookie:
        clear_session_cookie(response)
    return response
