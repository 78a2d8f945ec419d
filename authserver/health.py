"""Liveness (/healthz: the process answers) and readiness (/readyz: it can issue tokens)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from authserver.extensions import db
from authserver.models import KeyState, SigningKey
from authserver.runtime import current_settings

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # noqa: ANN201
    alg = current_settings().access_token_alg
    try:
        db.session.execute(text("SELECT 1"))
        active = db.session.scalar(
            select(SigningKey.kid).where(SigningKey.alg == alg, SigningKey.state == KeyState.ACTIVE)
        )
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    if active is None:
        return jsonify(status="unavailable", database="ok", signing_key=f"no active {alg} key"), 503
    return jsonify(status="ok", database="ok", signing_key="ok")
