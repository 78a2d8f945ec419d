"""No escalation: the one rule every service that mints, rotates or assigns calls.

- What a caller creates, rotates, enables or assigns may confer only permissions the caller
  holds itself (``requested ⊆ caller``).
- A caller may act on another principal (change it, disable or enable it, rotate its secret or
  its keys, change its roles, reset its second factors) only if that principal holds no
  permission the caller lacks.

So the built-in ``admin`` role (every server permission) can be given only by someone who holds
every server permission, and a delegated administrator (``apikeys:write`` alone, say) cannot
mint itself a wider credential through somebody else. The local CLI is the operator: it may do
everything, and is audited as ``cli``. This is the rule of Keycloak's fine-grained admin
permissions (``map-roles`` needs the role, ``manage`` a user needs authority over it) stated
once, over permissions rather than role names.

A refusal is ``NotPermitted`` (403 on every face, naming what is missing). The change it stopped
is rolled back by the face, which then records the refusal with ``audit_refusal``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from authserver.audit.sealing import as_recorded_actor
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import Client, Role, User
from authserver.platform.errors import AuthServerError
from authserver.rbac.permissions import PROTOCOL_SCOPES, Permission


def permissions_of(subject: User | Client) -> set[str]:
    """A subject's permissions: the union over its roles."""
    return {p for role in subject.roles for p in role.permission_names}


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who asks for a change: ``actor`` names it in the audit trail; ``permissions`` are what
    its credential carries now (a token's scopes, an API key's scopes narrowed by its owner's
    roles, a signed-in admin's roles). ``unrestricted`` is the local operator only."""

    actor: str
    permissions: frozenset[str]
    unrestricted: bool = False

    def lacks(self, permissions: Iterable[str]) -> set[str]:
        """The permissions among ``permissions`` this caller does not hold (protocol scopes such
        as ``openid`` are not permissions: nobody needs to hold them)."""
        if self.unrestricted:
            return set()
        return {p for p in permissions if p not in PROTOCOL_SCOPES} - self.permissions


#: The local CLI: whoever runs it on the server's host owns the server (it reads the KEK).
OPERATOR = Caller("cli", frozenset(), unrestricted=True)


def caller_for(subject: User | Client, actor: str) -> Caller:
    """A principal acting with everything its roles permit (a signed-in admin in the UI, a
    client managing its own registration)."""
    return Caller(actor, frozenset(permissions_of(subject)))


class NotPermitted(AuthServerError):
    """The change would give away, or act on, permissions the caller does not hold."""

    def __init__(self, caller: Caller, action: str, target: str, missing: set[str]) -> None:
        names = " ".join(sorted(missing))
        super().__init__(
            "forbidden", f"{action} {target} needs permissions you do not hold: {names}", 403
        )
        self.caller, self.action, self.target = caller, action, target
        self.missing = sorted(missing)


def describe(subject: User | Client | Role) -> str:
    if isinstance(subject, User):
        return f"user {subject.email}"
    if isinstance(subject, Client):
        return f"client {subject.client_id}"
    return f"role {subject.name}"


def require_permission(caller: Caller, permission: Permission, *, action: str,
                       target: str) -> None:  # fmt: skip
    """The caller holds ``permission`` itself (assigning roles at creation needs roles:write,
    as any assignment does)."""
    missing = caller.lacks([permission.value])
    if missing:
        raise NotPermitted(caller, action, target, missing)


def require_can_confer(caller: Caller, permissions: Iterable[str], *, action: str,
                       target: str) -> None:  # fmt: skip
    """Every permission the new or changed thing would carry is one the caller holds."""
    missing = caller.lacks(permissions)
    if missing:
        raise NotPermitted(caller, action, target, missing)


def require_can_act_on(caller: Caller, subject: User | Client | Role, *, action: str) -> None:
    """The principal (or role) acted on holds no permission the caller lacks."""
    held = subject.permission_names if isinstance(subject, Role) else permissions_of(subject)
    require_can_confer(caller, held, action=action, target=describe(subject))


def audit_refusal(error: NotPermitted) -> None:
    """Record a refusal; the face calls it after rolling back the change it refused."""
    record(
        Tag.ESCALATION_REFUSED,
        actor=error.caller.actor,
        outcome="failure",
        action=error.action,
        target=_as_recorded(error.target),
        missing=error.missing,
    )


_USER_NAMED = re.compile(r"\buser (\S+@\S+)")


def _as_recorded(target: str) -> str:
    """The refusal's message names a user by email; the record names them as records name an
    actor (audit/sealing.py: by subject, never by email)."""
    return _USER_NAMED.sub(lambda match: as_recorded_actor(match.group(1)), target)
