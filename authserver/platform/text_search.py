"""Substring search in SQL: the one way a typed search term becomes a LIKE pattern, its ``%``,
``_`` and ``\\`` taken literally (both SQLite and PostgreSQL honour ``ESCAPE '\\'``)."""

from __future__ import annotations

ESCAPE = "\\"


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def containing(text: str) -> str:
    """The pattern of a value containing ``text`` anywhere; use with ``escape=ESCAPE``."""
    return f"%{like_escaped(text)}%"
