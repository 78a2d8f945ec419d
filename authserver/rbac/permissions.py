"""The permissions the server itself checks, the built-in roles, and the scopes that are not
permissions at all. Operators may define API scopes of their own (``orders:read``)."""

from __future__ import annotations

import enum


class Permission(enum.StrEnum):
    KEYS_READ = "keys:read"
    KEYS_ROTATE = "keys:rotate"
    APIKEYS_READ = "apikeys:read"
    APIKEYS_WRITE = "apikeys:write"
    CLIENTS_READ = "clients:read"
    CLIENTS_WRITE = "clients:write"
    CLIENTS_REGISTER = "clients:register"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    # A person's whole record (GDPR Art. 15): sessions with addresses, the audit trail about them.
    USERS_EXPORT = "users:export"
    # Erasing a person (GDPR Art. 17): cannot be undone.
    USERS_ERASE = "users:erase"
    ROLES_READ = "roles:read"
    ROLES_WRITE = "roles:write"
    AUDIT_READ = "audit:read"
    # Security-event webhooks: subscriptions and their delivery logs. Creating or changing a
    # subscription also needs audit:read (it receives audit records: no escalation).
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    TOKENS_INTROSPECT = "tokens:introspect"
    # The gateway's route rules (/gateway/check) and its usage analytics.
    GATEWAY_READ = "gateway:read"
    GATEWAY_WRITE = "gateway:write"


_READ = frozenset(p for p in Permission if p.value.endswith(":read"))

#: Roles that exist after `init`; they cannot be deleted, and their permissions can only grow.
BUILTIN_ROLES: dict[str, tuple[str, frozenset[Permission]]] = {
    "admin": ("Everything", frozenset(Permission)),
    "key-manager": (
        "Reads, rotates and revokes signing keys",
        frozenset({Permission.KEYS_READ, Permission.KEYS_ROTATE}),
    ),
    "auditor": ("Reads everything, the audit trail included; changes nothing", _READ),
    "resource-server": (
        "May introspect any token",
        frozenset({Permission.TOKENS_INTROSPECT}),
    ),
    "user": ("Signs in; no administrative permission", frozenset()),
}

#: Built-in roles whose members must use a second factor, unless an operator turns it off.
MFA_REQUIRED_ROLES = frozenset({"admin", "key-manager"})

#: Scopes that ask for protocol behaviour or identity claims (OpenID Connect Core §5.4, §11),
#: not for a permission: a registered client gets them without any role.
PROTOCOL_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})
