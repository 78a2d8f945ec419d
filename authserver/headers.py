"""Security headers on every response, in one place.

Pages get a Content-Security-Policy with no inline script or style (they load theirs from
``authserver/static``), may not be framed (clickjacking of the login and consent pages), send no
Referer (an authorization URL carries state and PKCE challenges), and are not cached. HSTS when the
issuer is https. A view that needs a wider policy (the form_post page, which submits to the
client's origin) sets its own header, which is kept.
"""

from __future__ import annotations

from flask import Flask, Response, request

from authserver.runtime import runtime_of

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
    hsts = runtime_of(app).settings.issuer.startswith("https://")

    @app.after_request
    def secure(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint == "authorize.userinfo":
            headers["Cache-Control"] = "no-store"  # personal data: never in a shared cache
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Referrer-Policy", "no-referrer")
            headers.setdefault("Cache-Control", "no-store")
        return response
