"""Bulk-insert N stored clients, N API keys and N revoked `jti`s, so that a benchmark shows whether
any per-request cost grows with the data (it must not: every hot lookup is by an index).

Rows go straight into the tables with SQLAlchemy Core, in chunks of 20,000; the models' column
defaults fill the rest. None of them is usable: the clients have no secret, the keys' secrets are
random HMACs nobody knows, and the revoked jtis belong to no token.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import time

from sqlalchemy import create_engine, func, insert, select

CHUNK = 20_000


def seed(database_url: str, count: int) -> dict[str, float]:
    """Insert ``count`` rows of each kind; returns the seconds each table took."""
    from authserver.models import ApiKey, Client, RevokedAccessToken

    engine = create_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(days=1)  # revoked jtis: tokens still within their lifetime
    next_year = now + dt.timedelta(days=365)  # keys: outside the expiry-warning window
    timings = {}

    def client(i: int) -> dict:
        return {"client_id": f"scale-{i:08d}", "name": f"scale {i}", "created_at": now,
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["client_credentials"]}  # fmt: skip

    timings["clients"] = _insert(engine, Client.__table__, count, client)
    with engine.begin() as conn:
        # One bulk insert into an empty range: the seeded clients' ids are consecutive.
        first_pk = conn.scalar(select(func.min(Client.id)).where(Client.client_id.like("scale-%")))

    def api_key(i: int) -> dict:
        return {"key_id": secrets.token_hex(8), "prefix": "ask", "last4": "0000",
                "secret_hash": secrets.token_hex(32), "owner_client_pk": first_pk + i,
                "scope": "api:read", "created_at": now, "expires_at": next_year}  # fmt: skip

    def revoked(i: int) -> dict:
        return {"jti": secrets.token_urlsafe(16), "expires_at": later}

    timings["api_keys"] = _insert(engine, ApiKey.__table__, count, api_key)
    timings["revoked_access_tokens"] = _insert(engine, RevokedAccessToken.__table__, count, revoked)
    engine.dispose()
    return timings


def _insert(engine, table, count: int, row) -> float:  # noqa: ANN001
    started = time.perf_counter()
    for start in range(0, count, CHUNK):
        with engine.begin() as conn:
            conn.execute(insert(table), [row(i) for i in range(start, min(start + CHUNK, count))])
    return round(time.perf_counter() - started, 1)


if __name__ == "__main__":
    print(seed(sys.argv[1], int(sys.argv[2])))
