"""/api/v1/roles: roles bundle permissions; users and clients hold roles."""

from __future__ import annotations

from sqlalchemy import select

from authserver.api.v1.clients import get_client
from authserver.api.v1.framework import Principal, Reply, check_if_match, operation
from authserver.api.v1.schemas import (
    GrantQuery,
    PageQuery,
    RoleCreate,
    RoleList,
    RoleMembers,
    RoleOut,
    RoleUpdate,
)
from authserver.api.v1.users import get_user
from authserver.models import Client, Role, User, client_roles, user_roles
from authserver.platform.errors import NotFound
from authserver.platform.extensions import db
from authserver.rbac.permissions import Permission
from authserver.rbac.service import (
    create_role,
    delete_role,
    find_role,
    grant_role,
    revoke_role,
    update_role,
)
from authserver.web.paging import page

TAG = "roles"


def role_out(role: Role) -> RoleOut:
    return RoleOut(
        name=role.name,
        description=role.description,
        builtin=role.is_builtin,
        permissions=sorted(role.permission_names),
        requires_mfa=role.requires_mfa,
    )


def _get(name: str) -> Role:
    role = find_role(name)
    if role is None:
        raise NotFound("no such role")
    return role


@operation(
    "GET", "/roles", summary="List roles", tag=TAG, permission=Permission.ROLES_READ,
    query=PageQuery, response=RoleList,
)  # fmt: skip
def list_roles(principal: Principal, query: PageQuery) -> RoleList:
    items, next_cursor = page(select(Role), Role.id, query, to_item=role_out)
    return RoleList(items=items, next_cursor=next_cursor)


@operation(
    "POST", "/roles", summary="Create a role (of permissions the caller holds)", tag=TAG,
    permission=Permission.ROLES_WRITE, body=RoleCreate, response=RoleOut, status=201,
)  # fmt: skip
def create(principal: Principal, body: RoleCreate) -> Reply:
    role = create_role(
        body.name, list(body.permissions), body.description, requires_mfa=body.requires_mfa,
        caller=principal,
    )  # fmt: skip
    return Reply(role_out(role), location=f"/api/v1/roles/{role.name}", etag=True)


@operation(
    "GET", "/roles/{name}", summary="Read a role", tag=TAG, permission=Permission.ROLES_READ,
    response=RoleOut,
)  # fmt: skip
def read(principal: Principal, name: str) -> Reply:
    return Reply(role_out(_get(name)), etag=True)


@operation(
    "PATCH", "/roles/{name}", summary="Change a role's description or permissions", tag=TAG,
    permission=Permission.ROLES_WRITE, body=RoleUpdate, response=RoleOut, conditional=True,
)  # fmt: skip
def update(principal: Principal, name: str, body: RoleUpdate) -> Reply:
    role = _get(name)
    check_if_match(role_out(role))
    update_role(
        role,
        add=list(body.add_permissions),
        remove=list(body.remove_permissions),
        description=body.description,
        requires_mfa=body.requires_mfa,
        caller=principal,
    )
    return Reply(role_out(role), etag=True)


@operation(
    "DELETE", "/roles/{name}", summary="Delete a role (not a built-in one)", tag=TAG,
    permission=Permission.ROLES_WRITE, status=204,
)  # fmt: skip
def delete(principal: Principal, name: str) -> None:
    delete_role(_get(name), caller=principal)


@operation(
    "GET", "/roles/{name}/members", summary="Who holds a role", tag=TAG,
    permission=Permission.ROLES_READ, response=RoleMembers,
)  # fmt: skip
def members(principal: Principal, name: str) -> RoleMembers:
    role = _get(name)
    users = db.session.scalars(
        select(User.subject).join(user_roles).where(user_roles.c.role_id == role.id)
    )
    clients = db.session.scalars(
        select(Client.client_id).join(client_roles).where(client_roles.c.role_id == role.id)
    )
    return RoleMembers(users=sorted(users), clients=sorted(clients))


@operation(
    "PUT", "/roles/{name}/users/{user_id}",
    summary="Grant a role to a user (the caller must hold what the role and the user hold)",
    tag=TAG, permission=Permission.ROLES_WRITE, status=204,
)  # fmt: skip
def grant_to_user(principal: Principal, name: str, user_id: str) -> None:
    grant_role(_get(name).name, get_user(user_id), caller=principal)


@operation(
    "DELETE", "/roles/{name}/users/{user_id}", summary="Take a role from a user", tag=TAG,
    permission=Permission.ROLES_WRITE, status=204,
)  # fmt: skip
def revoke_from_user(principal: Principal, name: str, user_id: str) -> None:
    revoke_role(_get(name).name, get_user(user_id), caller=principal)


@operation(
    "PUT", "/roles/{name}/clients/{client_id}",
    summary="Grant a role to a client (the caller must hold what the role and the client hold)",
    tag=TAG, permission=Permission.ROLES_WRITE, status=204, query=GrantQuery,
)  # fmt: skip
def grant_to_client(principal: Principal, name: str, client_id: str, query: GrantQuery) -> None:
    grant_role(_get(name).name, get_client(client_id), caller=principal, force=query.force)


@operation(
    "DELETE", "/roles/{name}/clients/{client_id}", summary="Take a role from a client",
    tag=TAG, permission=Permission.ROLES_WRITE, status=204,
)  # fmt: skip
def revoke_from_client(principal: Principal, name: str, client_id: str) -> None:
    revoke_role(_get(name).name, get_client(client_id), caller=principal)
