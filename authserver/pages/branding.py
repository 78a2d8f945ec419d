"""The operator's branding on every page: the name in titles and the header, a logo served from
here (/branding/logo), an accent colour as custom properties in a stylesheet made from the
setting (/branding.css: the pages' Content-Security-Policy allows no inline style).

With the defaults the pages are as without branding: no logo, no extra stylesheet, and the name
"authserver".
"""

from __future__ import annotations

import dataclasses
import hashlib

from flask import Blueprint, Flask, Response, current_app, request

from authserver.platform.branding import (
    DARK_SURFACES,
    LIGHT_SURFACES,
    Logo,
    parse_color,
    read_logo,
    readable_on,
)
from authserver.platform.config import Settings

bp = Blueprint("branding", __name__)

DEFAULT_NAME = Settings.brand_name
# An SVG opened on its own is a document: no script, nothing fetched, in a sandbox.
LOGO_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_CACHE = "public, max-age=86400"


@dataclasses.dataclass(frozen=True)
class Branding:
    name: str = DEFAULT_NAME
    logo: Logo | None = None
    stylesheet: str | None = None

    @property
    def shown(self) -> bool:
        """Whether the pages carry a brand header (not with the defaults)."""
        return self.logo is not None or self.name != DEFAULT_NAME

    @property
    def logo_url(self) -> str | None:
        return f"/branding/logo?v={self.logo.version}" if self.logo else None

    @property
    def stylesheet_url(self) -> str | None:
        if self.stylesheet is None:
            return None
        return "/branding.css?v=" + hashlib.sha256(self.stylesheet.encode()).hexdigest()[:16]


def branding_of(settings: Settings) -> Branding:
    """Read at start-up (config has validated the settings already)."""
    logo = read_logo(settings.brand_logo) if settings.brand_logo else None
    css = stylesheet(parse_color(settings.brand_color)) if settings.brand_color else None
    return Branding(settings.brand_name.strip(), logo, css)


def stylesheet(accent: str) -> str:
    """site.css's accent properties for ``accent``: buttons in the colour itself (white text on
    it reads at 4.5:1, config made sure), links and the focus outline in the nearest shade of
    it that reads at 4.5:1 on each theme's backgrounds."""
    light = readable_on(accent, LIGHT_SURFACES)
    dark = readable_on(accent, DARK_SURFACES)
    return (
        "/* Made from AUTHSERVER_BRAND_COLOR. */\n"
        f":root {{ --accent: {accent}; --on-accent: #fff; --accent-text: {light}; "
        f"--focus: {light}; }}\n"
        "a { color: var(--accent-text); }\n"
        "@media (prefers-color-scheme: dark) {\n"
        f"  :root {{ --accent: {accent}; --accent-text: {dark}; --focus: {dark}; }}\n"
        "}\n"
    )


def _branding() -> Branding:
    return current_app.extensions["authserver.branding"]


@bp.get("/branding/logo")
def logo() -> Response:
    found = _branding().logo
    if found is None:
        return Response("No logo.\n", 404, mimetype="text/plain")
    response = Response(found.data, content_type=found.content_type)
    response.headers["Content-Security-Policy"] = LOGO_POLICY
    return _cached(response, found.version)


@bp.get("/branding.css")
def css() -> Response:
    text = _branding().stylesheet
    if text is None:
        return Response("/* no branding */\n", 404, mimetype="text/css")
    response = Response(text, mimetype="text/css")
    return _cached(response, hashlib.sha256(text.encode()).hexdigest()[:16])


def _cached(response: Response, version: str) -> Response:
    response.headers["Cache-Control"] = _CACHE
    response.set_etag(version)
    return response.make_conditional(request)


def install_branding(app: Flask, settings: Settings) -> None:
    app.extensions["authserver.branding"] = branding_of(settings)
    app.register_blueprint(bp)

    @app.context_processor
    def brand_context() -> dict:
        """``brand`` on every page: its name, and the logo and stylesheet URLs if set."""
        return {"brand": _branding()}
