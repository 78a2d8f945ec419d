"""The permissions the server itself checks. Operators may define API scopes of their own."""

from __future__ import annotations

import enum


class Permission(enum.StrEnum):
    KEYS_READ = "keys:read"
    KEYS_ROTATE = "keys:rotate"
    APIKEYS_WRITE = "apikeys:write"
    CLIENTS_WRITE = "clients:write"
    USERS_WRITE = "users:write"
    AUDIT_READ = "audit:read"
    TOKENS_INTROSPECT = "tokens:introspect"


#: Roles that exist after `init`; they cannot be deleted.
BUILTIN_ROLES: dict[str, tuple[str, frozenset[Permission]]] = {
    "admin": ("Everything", frozenset(Permission)),
    "resource-server": (
        "May introspect any token",
        frozenset({Permission.TOKENS_INTROSPECT}),
    ),
}
