"""Roles and what they permit: the built-ins, lookup by name, grants, and the rule that a token
or API key never carries more than its subject's roles permit. Every change obeys the
no-escalation rule (``containment``) and is audited here, whichever face asked for it."""

from __future__ import annotations

import re

from sqlalchemy import delete, select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import (
    Client,
    PasswordReset,
    Role,
    RolePermission,
    User,
    client_roles,
    user_roles,
)
from authserver.platform import clock
from authserver.platform.errors import Conflict, InvalidInput, NotFound
from authserver.platform.extensions import db
from authserver.rbac.containment import (
    Caller,
    describe,
    require_can_act_on,
    require_can_confer,
    require_permission,
)
from authserver.rbac.permissions import (
    BUILTIN_ROLES,
    MFA_REQUIRED_ROLES,
    PROTOCOL_SCOPES,
    Permission,
)
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


def grantable_scope(scope: str, permissions: frozenset[str] | set[str]) -> str:
    """``scope`` narrowed to what the subject's roles permit (order kept). Protocol scopes
    (``openid``, ``offline_access``, ...) are not permissions and always pass; the caller has
    already intersected with the client's registration (RFC 6749 §3.3 lets the server grant
    less than asked, and the token response then names the granted scope)."""
    return " ".join(s for s in scope.split() if s in PROTOCOL_SCOPES or s in permissions)


def known_scopes() -> list[str]:
    """Every scope a picker may offer: the server's own permissions and those any role holds
    (roles are few; clients are not read, there may be millions). Protocol scopes such as
    ``openid`` are not permissions and are left out."""
    held = db.session.scalars(select(RolePermission.permission).distinct())
    return sorted(({p.value for p in Permission} | set(held)) - PROTOCOL_SCOPES)


def find_role(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


def list_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.name)))


def create_role(
    name: str,
    scopes: list[str],
    description: str = "",
    *,
    requires_mfa: bool = False,
    caller: Caller,
) -> Role:
    if not _ROLE_NAME.match(name):
        raise InvalidInput("a role name is 1-64 lowercase letters, digits, '-' or '_'")
    permissions = sorted(set(validate_scope(" ".join(scopes)).split()))
    require_can_confer(caller, permissions, action="creating", target=f"role {name}")
    if find_role(name) is not None:
        raise Conflict(f"role {name} exists")
    role = Role(name=name, description=description, is_builtin=False, requires_mfa=requires_mfa)
    for scope in permissions:
        role.permissions.append(RolePermission(permission=scope))
    db.session.add(role)
    db.session.flush()
    record(Tag.ROLE_CREATED, actor=caller.actor, role=role.name,
           permissions=sorted(role.permission_names), requires_mfa=role.requires_mfa)  # fmt: skip
    return role


def update_role(
    role: Role,
    *,
    add: list[str],
    remove: list[str],
    description: str | None,
    requires_mfa: bool | None = None,
    caller: Caller,
) -> Role:
    """Change a role's permissions; a built-in role's permissions can grow, never shrink.
    ``requires_mfa``: whether members must sign in with a second factor. Changing a role acts
    on every member, so the caller must hold all it permits, and all it adds."""
    require_can_act_on(caller, role, action="changing")
    added = set(validate_scope(" ".join(add)).split())
    require_can_confer(caller, added, action="adding permissions to", target=describe(role))
    if requires_mfa is False and role.requires_mfa:
        # Dropping the second factor weakens every member's sign-in, whatever else they hold:
        # the caller must be able to act on each of them, not only on this role.
        require_can_confer(
            caller, _members_permissions(role), action="dropping the second factor of",
            target=describe(role),
        )  # fmt: skip
    remove_set = set(validate_scope(" ".join(remove)).split())
    if role.is_builtin and remove_set & role.permission_names:
        raise Conflict(f"{role.name} is built in: its permissions can be extended, not reduced")
    if added - role.permission_names:
        _void_password_links(select(user_roles.c.user_id).where(user_roles.c.role_id == role.id))
    for permission in sorted(added - role.permission_names):
        role.permissions.append(RolePermission(permission=permission))
    role.permissions = [p for p in role.permissions if p.permission not in remove_set]
    if description is not None:
        role.description = description
    if requires_mfa is not None:
        role.requires_mfa = requires_mfa
    db.session.flush()
    record(Tag.ROLE_UPDATED, actor=caller.actor, role=role.name,
           permissions=sorted(role.permission_names), requires_mfa=role.requires_mfa)  # fmt: skip
    return role


def _members_permissions(role: Role) -> set[str]:
    """Every permission the role's members hold through any of their roles."""
    members = select(user_roles.c.user_id).where(user_roles.c.role_id == role.id)
    return set(db.session.scalars(
        select(RolePermission.permission).distinct()
        .join(user_roles, user_roles.c.role_id == RolePermission.role_id)
        .where(user_roles.c.user_id.in_(members))
    ))  # fmt: skip


def _void_password_links(user_ids) -> None:  # noqa: ANN001
    """Set-password and reset links of people who just gained permissions stop working: a link
    issued by someone allowed to act on the person as they were must not take over the person
    they have become (an administrator's helpdesk link to a user later made admin)."""
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id.in_(user_ids), PasswordReset.used_at.is_(None))
        .values(used_at=clock.now())
    )


def delete_role(role: Role, *, caller: Caller) -> None:
    if role.is_builtin:
        raise Conflict(f"{role.name} is built in and cannot be deleted")
    require_can_act_on(caller, role, action="deleting")
    name = role.name
    # The assignments go first and explicitly: SQLite enforces ON DELETE CASCADE only when
    # foreign keys are switched on, and the ORM sees roles only from the holders' side.
    db.session.execute(delete(user_roles).where(user_roles.c.role_id == role.id))
    db.session.execute(delete(client_roles).where(client_roles.c.role_id == role.id))
    db.session.expire_all()
    db.session.delete(role)
    db.session.flush()
    record(Tag.ROLE_DELETED, actor=caller.actor, role=name)


def _holder(subject: User | Client) -> dict[str, str]:
    return {"user": subject.subject} if isinstance(subject, User) else {"client": subject.client_id}


def check_assignable(roles: list[Role], subject: User | Client, *, caller: Caller,
                     force: bool = False) -> None:  # fmt: skip
    """Giving ``roles`` to ``subject``: an assignment (roles:write), of permissions the caller
    holds, to a principal it may act on. A role that requires a second factor binds people
    who sign in; a client never signs in with one, so it gets such a role only when forced."""
    if not roles:
        return
    target = describe(subject)
    require_permission(caller, Permission.ROLES_WRITE, action="assigning roles to", target=target)
    for role in roles:
        require_can_confer(caller, role.permission_names, action=f"giving role {role.name} to",
                           target=target)  # fmt: skip
    if isinstance(subject, Client) and not force:
        bound = sorted(r.name for r in roles if r.requires_mfa)
        if bound:
            raise InvalidInput(
                f"role: {', '.join(bound)} require(s) a second factor, which only binds users "
                "who sign in; a client would hold it without one (force to assign it anyway)"
            )


def grant_role(role_name: str, subject: User | Client, *, caller: Caller,
               force: bool = False) -> None:  # fmt: skip
    role = find_role(role_name)
    if role is None:
        raise NotFound(f"no role {role_name}")
    require_can_act_on(caller, subject, action="changing the roles of")
    check_assignable([role], subject, caller=caller, force=force)
    if role not in subject.roles:
        subject.roles.append(role)
        if isinstance(subject, User) and subject.id is not None:
            _void_password_links([subject.id])
    db.session.flush()
    record(Tag.ROLE_GRANTED, actor=caller.actor, role=role.name, **_holder(subject))


def revoke_role(role_name: str, subject: User | Client, *, caller: Caller) -> None:
    role = find_role(role_name)
    if role is None:
        raise NotFound(f"no role {role_name}")
    require_can_act_on(caller, subject, action="changing the roles of")
    require_permission(caller, Permission.ROLES_WRITE, action="taking roles from",
                       target=describe(subject))  # fmt: skip
    if role in subject.roles:
        subject.roles.remove(role)
    db.session.flush()
    record(Tag.ROLE_REVOKED, actor=caller.actor, role=role.name, **_holder(subject))
