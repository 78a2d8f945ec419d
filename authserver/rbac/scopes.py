"""Scope syntax (RFC 6749 §3.3)."""

from __future__ import annotations

import re

from authserver.platform.errors import InvalidInput

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def validate_scope(scope: str) -> str:
    """The scope normalised (duplicates dropped, order kept); InvalidInput if malformed."""
    tokens = scope.split()
    for token in tokens:
        if not _SCOPE_TOKEN.match(token):
            raise InvalidInput(f"invalid scope token {token!r} (RFC 6749 §3.3)")
    return " ".join(dict.fromkeys(tokens))
