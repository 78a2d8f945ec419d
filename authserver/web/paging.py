"""Keyset pagination, shared by the admin API and the admin UI: a page costs the same however
deep it is, and the cursor is the last id seen (opaque to the caller)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from authserver.platform.extensions import db
from authserver.web.problems import TITLES, Problem


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """0 for the first page; a Problem for a cursor this server did not hand out."""
    if not cursor:
        return 0
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not value.isdigit() or len(value) > 18:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeError):
        raise Problem(400, TITLES[400], "The cursor is not valid.") from None


def page(statement, id_column, query, *, to_item: Callable) -> tuple[list, str | None]:  # noqa: ANN001
    """One page of ``statement`` ordered by ``id_column``, after the query's cursor: keyset
    pagination, so a page costs the same however deep it is."""
    after = decode_cursor(query.cursor)
    rows = list(
        db.session.scalars(
            statement.where(id_column > after).order_by(id_column).limit(query.limit + 1)
        )
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(rows[-1].id) if more else None
    return [to_item(row) for row in rows], next_cursor
