"""Liveness (/healthz: the process answers) and readiness (/readyz: it can issue tokens).

With Redis configured, /readyz also asks it: unreachable, the answer says
``"status": "degraded", "redis": "unreachable"`` (the server works on: budgets per host,
revocations and DPoP proofs checked in the database), with 200, or 503 when
``AUTHSERVER_READYZ_REQUIRES_REDIS`` says a server without Redis should take no traffic."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from authserver.keys.kek import KekError
from authserver.keys.pepper import PepperMissing
from authserver.models import KeyState, SigningKey
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # noqa: ANN201
    runtime = current_runtime()
    settings = runtime.settings
    alg = settings.access_token_alg
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
    try:
        runtime.pepper()  # sealed under the KEK, like the signing keys
    except (KekError, PepperMissing):
        return jsonify(status="unavailable", database="ok",
                       kek="cannot open the database's sealed secrets"), 503  # fmt: skip
    if runtime.redis is not None and not runtime.redis.ping():
        status = 503 if settings.readyz_requires_redis else 200
        return jsonify(status="degraded", database="ok", signing_key="ok",
                       redis="unreachable"), status  # fmt: skip
    extra = {"redis": "ok"} if runtime.redis is not None else {}
    return jsonify(status="ok", database="ok", signing_key="ok", **extra)
