"""Roles and what they permit: the built-ins, lookup by name, grants, and the rule that a token
or API key never carries more than its subject's roles permit."""

from __future__ import annotations

import re

from sqlalchemy import delete, select

from authserver.errors import Conflict, InvalidInput, NotFound
from authserver.extensions import db
from authserver.models import Client, Role, RolePermission, User, client_roles, user_roles
from authserver.rbac.permissions import BUILTIN_ROLES, MFA_REQUIRED_ROLES, PROTOCOL_SCOPES
from authserver.rbac.scopes import validate_scope

_ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def ensure_builtin_roles() -> list[Role]:
    """Create missing built-in roles and add missing permissions to them; returns created roles."""
    created = []
    for name, (description, permissions) in BUILTIN_ROLES.items():
        role = db.session.scalar(select(Role).where(Role.name == name))
        if role is None:
            role = Role(
                name=name,
                description=description,
                is_builtin=True,
                requires_mfa=name in MFA_REQUIRED_ROLES,
            )
            db.session.add(role)
            created.append(role)
        missing = set(permissions) - role.permission_names
        for permission in sorted(missing):
            role.permissions.append(RolePermission(permission=permission.value))
    db.session.flush()
    return created


def roles_named(names: list[str]) -> list[Role]:
    unique = list(dict.fromkeys(names))
    roles = list(db.session.scalars(select(Role).where(Role.name.in_(unique))))
    unknown = set(unique) - {r.name for r in roles}
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(sorted(unknown))}")
    return roles


def permissions_of(subject: User | Client) -> set[str]:
    """A subject's permissions: the union over its roles."""
    return {p for role in subject.roles for p in role.permission_names}


def grantable_scope(scope: str, permissions: frozenset[str] | set[str]) -> str:
    """``scope`` narrowed to what the subject's roles permit (order kept). Protocol scopes
    (``openid``, ``offline_access``, ...) are not permissions and always pass; the caller has
    already intersected with the client's registration (RFC 6749 §3.3 lets the server grant
    less than asked, and the token response then names the granted scope)."""
    return " ".join(s for s in scope.split() if s in PROTOCOL_SCOPES or s in permissions)


def find_role(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


def list_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.name)))


def create_role(
    name: str, scopes: list[str], description: str = "", *, requires_mfa: bool = False
) -> Role:
    if not _ROLE_NAME.match(name):
        raise InvalidInput("a role name is 1-64 lowercase letters, digits, '-' or '_'")
    if find_role(name) is not None:
        raise Conflict(f"role {name} exists")
    role = Role(name=name, description=description, is_builtin=False, requires_mfa=requires_mfa)
    for scope in sorted(set(validate_scope(" ".join(scopes)).split())):
        role.permissions.append(RolePermission(permission=scope))
    db.session.add(role)
    db.session.flush()
    return role


def update_role(
    role: Role,
    *,
    add: list[str],
    remove: list[str],
    description: str | None,
    requires_mfa: bool | None = None,
) -> Role:
    """Change a role's permissions; a built-in role's permissions can grow, never shrink.
    ``requires_mfa``: whether members must sign in with a second factor."""
    remove_set = set(validate_scope(" ".join(remove)).split())
    if role.is_builtin and remove_set & role.permission_names:
        raise Conflict(f"{role.name} is built in: its permissions can be extended, not reduced")
    for permission in sorted(set(validate_scope(" ".join(add)).split()) - role.permission_names):
        role.permissions.append(RolePermission(permission=permission))
    role.permissions = [p for p in role.permissions if p.permission not in remove_set]
    if description is not None:
        role.description = description
    if requires_mfa is not None:
        role.requires_mfa = requires_mfa
    db.session.flush()
    return role


def delete_role(role: Role) -> None:
    if role.is_builtin:
        raise Conflict(f"{role.name} is built in and cannot be deleted")
    # The assignments go first and explicitly: SQLite enforces ON DELETE CASCADE only when
    # foreign keys are switched on, and the ORM sees roles only from the holders' side.
    db.session.execute(delete(user_roles).where(user_roles.c.role_id == role.id))
    db.session.execute(delete(client_roles).where(client_roles.c.role_id == role.id))
    db.session.expire_all()
    db.session.delete(role)
    db.session.flush()


def grant_role(role_name: str, subject: User | Client) -> None:
    role = find_role(role_name)
    if role is None:
        raise NotFound(f"no role {role_name}")
    if role not in subject.roles:
        subject.roles.append(role)
    db.session.flush()


def revoke_role(role_name: str, subject: User | Client) -> None:
    role = find_role(role_name)
    if role is None:
        raise NotFound(f"no role {role_name}")
    if role in subject.roles:
        subject.roles.remove(role)
    db.session.flush()
