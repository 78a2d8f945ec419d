"""The landing page: what this server is and where its machine-readable documents are."""

from __future__ import annotations

from flask import Blueprint, render_template

from authserver.oauth import paths
from authserver.runtime import current_settings

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    return render_template(
        "index.html",
        settings=current_settings(),
        metadata_path=paths.AS_METADATA,
        jwks_path=paths.JWKS,
        token_path=paths.TOKEN,
    )
