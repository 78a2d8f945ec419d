"""Roles: the built-ins, lookup by name."""

from __future__ import annotations

import re

from sqlalchemy import select

from authserver.errors import Conflict, InvalidInput, NotFound
from authserver.extensions import db
from authserver.models import Client, Role, RolePermission, User
from authserver.rbac.permissions import BUILTIN_ROLES
from authserver.rbac.scopes import validate_scope

_ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def ensure_builtin_roles() -> list[Role]:
    """Create missing built-in roles and add missing permissions to them; returns created roles."""
    created = []
    for name, (description, permissions) in BUILTIN_ROLES.items():
        role = db.session.scalar(select(Role).where(Role.name == name))
        if role is None:
            role = Role(name=name, description=description, is_builtin=True)
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


def find_role(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


def list_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.name)))


def create_role(name: str, scopes: list[str], description: str = "") -> Role:
    if not _ROLE_NAME.match(name):
        raise InvalidInput("a role name is 1-64 lowercase letters, digits, '-' or '_'")
    if find_role(name) is not None:
        raise Conflict(f"role {name} exists")
    role = Role(name=name, description=description, is_builtin=False)
    for scope in sorted(set(validate_scope(" ".join(scopes)).split())):
        role.permissions.append(RolePermission(permission=scope))
    db.session.add(role)
    db.session.flush()
    return role


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
