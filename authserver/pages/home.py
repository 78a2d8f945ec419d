"""The landing page: what this server is and where its machine-readable documents are."""

from __future__ import annotations

from flask import Blueprint, render_template

from authserver.oauth import paths
from authserver.platform.runtime import current_settings
from authserver.rbac.permissions import Permission
from authserver.web.browser import current_session

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    session = current_session()
    user = session.user if session is not None else None
    # The admin UI and its API reference for whoever holds a permission of the server's own.
    administers = user is not None and bool({p.value for p in Permission} & user.permissions)
    return render_template(
        "index.html",
        settings=current_settings(),
        metadata_path=paths.AS_METADATA,
        jwks_path=paths.JWKS,
        token_path=paths.TOKEN,
        user=user,
        administers=administers,
    )
