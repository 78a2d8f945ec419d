"""Helpers for key-lifecycle tests: read keys, fetch JWKS and issue tokens in-process."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from authserver.models import SigningKey
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime


def kid_of(token: str) -> str:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))["kid"]


@pytest.fixture
def keys_of(app):
    def keys(alg="ES256") -> dict[str, str]:
        """kid → state, fresh from the database."""
        db.session.expire_all()
        rows = db.session.scalars(select(SigningKey).where(SigningKey.alg == alg))
        return {k.kid: k.state for k in rows}

    return keys


@pytest.fixture
def published(http):
    def kids() -> set[str]:
        current_runtime().keyring.invalidate()
        return {k["kid"] for k in http.get("/.well-known/jwks.json").get_json()["keys"]}

    return kids


@pytest.fixture
def short_schedule(runner):
    """Seconds instead of days, as the CLI sets it: rotate every 100 s, publish 20 s ahead,
    retire after 700 s (≥ 600 s token lifetime + 60 s skew + 1 s refresh)."""
    result = runner(
        "keys",
        "schedule",
        "--rotate-every",
        "100s",
        "--publish-ahead",
        "20s",
        "--retire-after",
        "700s",
    )
    assert result.exit_code == 0, result.output
