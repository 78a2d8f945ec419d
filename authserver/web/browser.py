"""What browser-facing views share: the signed-in session from the cookie, the cookie itself,
safe `next` targets, and the key Flask-WTF signs CSRF tokens with."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import SQLAlchemyError

from authserver.accounts.sessions import COOKIE_NAME, find_session
from authserver.keys.kek import KekError
from authserver.keys.pepper import PepperMissing
from authserver.models import UserSession
from authserver.platform.config import ConfigError, Settings
from authserver.platform.request_state import NOT_LOOKED_UP, request_state
from authserver.platform.runtime import current_settings, runtime_of


def current_session() -> UserSession | None:
    """The live session of this request's cookie (looked up once per request)."""
    state = request_state()
    if state.browser_session is NOT_LOOKED_UP:
        cookie = request.cookies.get(session_cookie_name(current_settings()))
        state.browser_session = find_session(cookie)
    return state.browser_session


def cookie_name(settings: Settings, name: str) -> str:
    """Over https a cookie is ``__Host-`` prefixed: the browser then keeps it only if it is
    Secure, for path / and for this exact host (no Domain), so a sibling subdomain cannot plant
    or overwrite it (RFC 6265bis §4.1.3.2)."""
    return f"__Host-{name}" if settings.is_https else name


def session_cookie_name(settings: Settings) -> str:
    return cookie_name(settings, COOKIE_NAME)


def set_session_cookie(response: Response, cookie: str) -> None:
    settings = current_settings()
    response.set_cookie(
        session_cookie_name(settings),
        cookie,
        max_age=settings.session_ttl_seconds,
        secure=settings.is_https,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    settings = current_settings()
    response.delete_cookie(session_cookie_name(settings), path="/", secure=settings.is_https)


def safe_next(target: str | None, default: str = "/account") -> str:
    """Only a path on this server: never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 0x20 for c in target):
        return default
    return target


class DerivedKeySessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie (it only carries the CSRF token), keyed from the pepper when first
    needed, so every worker and every restart agrees without another secret to manage. The
    serializer is made once per key: Flask makes one per request, even for requests that carry no
    cookie (about 40 µs on the token endpoint's path)."""

    _serializer: tuple[str, object] | None = None

    def get_signing_serializer(self, app: Flask):  # noqa: ANN201
        if not app.secret_key:
            try:
                pepper = runtime_of(app).pepper()
            except (ConfigError, KekError, PepperMissing, SQLAlchemyError):
                return None  # not initialised yet: no cookie session (forms then fail CSRF)
            key = hmac.new(pepper, b"authserver:flask-session", hashlib.sha256)
            app.secret_key = key.hexdigest()
        cached = self._serializer
        if cached is None or cached[0] != app.secret_key:
            cached = self._serializer = (app.secret_key, super().get_signing_serializer(app))
        return cached[1]


def configure_browser(app: Flask) -> None:
    settings = runtime_of(app).settings
    app.session_interface = DerivedKeySessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=cookie_name(settings, "authserver_csrf"),
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_https,
        WTF_CSRF_TIME_LIMIT=3600,
    )

    @app.context_processor
    def signed_in_context() -> dict:
        """Every page of a signed-in browser shows who is signed in and a Sign out button."""
        from authserver.web.forms import SignOutForm

        try:
            session = current_session()
        except SQLAlchemyError:
            return {"signed_in": None}
        if session is None:
            return {"signed_in": None}
        return {"signed_in": session, "sign_out_form": SignOutForm()}
