"""Security headers on every response, in one place.

What every response carries (``nosniff``, HSTS) is added by ``front_door``, for both doors.
Pages get a Content-Security-Policy with no inline script or style (they load theirs from
``authserver/static``), may not be framed (clickjacking of the login and consent pages), send no
Referer (an authorization URL carries state and PKCE challenges), and are not cached. HSTS when the
issuer is https. A view that needs a wider policy (the form_post page, which submits to the
client's origin) sets its own header, which is kept.
"""

from __future__ import annotations

from flask import Flask, Response, request

# No form-action here: browsers apply it to the redirects that follow a form (sign-in, consent),
# and those end at the client's redirect URI, on another origin.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def page_policy(form_action: str) -> str:
    """The page policy for a page whose only form goes to ``form_action``."""
    return f"{PAGE_POLICY}; form-action {form_action}"


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def secure(response: Response) -> Response:
        headers = response.headers
        if request.endpoint == "authorize.userinfo":
            headers["Cache-Control"] = "no-store"  # personal data: never in a shared cache
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Referrer-Policy", "no-referrer")
            headers.setdefault("Cache-Control", "no-store")
        return response
