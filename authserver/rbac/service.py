"""Roles: the built-ins, lookup by name."""

from __future__ import annotations

from sqlalchemy import select

from authserver.errors import InvalidInput
from authserver.extensions import db
from authserver.models import Role, RolePermission
from authserver.rbac.permissions import BUILTIN_ROLES


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
