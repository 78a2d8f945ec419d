"""/api/v1/users: people who sign in."""

from __future__ import annotations

from authserver.accounts.service import (
    create_user,
    find_user_by_subject,
    update_user,
    users_matching,
)
from authserver.api.v1.framework import Principal, Reply, check_if_match, operation
from authserver.api.v1.schemas import (
    ErasureOut,
    PersonExport,
    UserCreate,
    UserList,
    UserOut,
    UserQuery,
    UserUpdate,
)
from authserver.mfa.service import reset_mfa
from authserver.models import User
from authserver.platform.errors import NotFound
from authserver.privacy.erasure import erase_person
from authserver.privacy.export import export_person
from authserver.rbac.permissions import Permission
from authserver.web.paging import page

TAG = "users"


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.subject,
        email=user.email,
        display_name=user.display_name,
        is_active=user.is_active,
        roles=user.role_names,
        created_at=user.created_at,
    )


def get_user(user_id: str) -> User:
    """The user with this id (subject), or 404."""
    user = find_user_by_subject(user_id)
    if user is None or user.erased_at is not None:
        raise NotFound("no such user")
    return user


@operation(
    "GET", "/users", summary="List users, or those whose email contains ?email=", tag=TAG,
    permission=Permission.USERS_READ, query=UserQuery, response=UserList,
)  # fmt: skip
def list_users(principal: Principal, query: UserQuery) -> UserList:
    matching = users_matching(query.email or "", exact=query.exact)
    items, next_cursor = page(matching, User.id, query, to_item=user_out)
    return UserList(items=items, next_cursor=next_cursor)


@operation(
    "POST", "/users", summary="Create a user", tag=TAG, permission=Permission.USERS_WRITE,
    body=UserCreate, response=UserOut, status=201,
)  # fmt: skip
def create(principal: Principal, body: UserCreate) -> Reply:
    user = create_user(
        body.email,
        body.password,
        display_name=body.display_name,
        roles=tuple(body.roles),
        caller=principal,
    )
    return Reply(user_out(user), location=f"/api/v1/users/{user.subject}", etag=True)


@operation(
    "GET", "/users/{user_id}", summary="Read a user", tag=TAG,
    permission=Permission.USERS_READ, response=UserOut,
)  # fmt: skip
def read(principal: Principal, user_id: str) -> Reply:
    return Reply(user_out(get_user(user_id)), etag=True)


@operation(
    "PATCH", "/users/{user_id}", summary="Change a user's name, or disable or enable it",
    tag=TAG, permission=Permission.USERS_WRITE, body=UserUpdate, response=UserOut,
    conditional=True,
)  # fmt: skip
def update(principal: Principal, user_id: str, body: UserUpdate) -> Reply:
    user = get_user(user_id)
    check_if_match(user_out(user))
    update_user(user, display_name=body.display_name, is_active=body.is_active, caller=principal)
    return Reply(user_out(user), etag=True)


@operation(
    "POST", "/users/{user_id}/mfa-reset",
    summary="Remove a user's second factors and recovery codes; their sessions end",
    tag=TAG, permission=Permission.USERS_WRITE, status=204,
)  # fmt: skip
def mfa_reset(principal: Principal, user_id: str) -> None:
    reset_mfa(get_user(user_id), caller=principal)


@operation(
    "GET", "/users/{user_id}/export",
    summary="Everything the server holds about a user, as one JSON document (GDPR Art. 15, 20)",
    tag=TAG, permission=Permission.USERS_EXPORT, response=PersonExport,
)  # fmt: skip
def export(principal: Principal, user_id: str) -> PersonExport:
    return PersonExport(**export_person(get_user(user_id), caller=principal))


@operation(
    "POST", "/users/{user_id}/erase",
    summary="Erase a person (GDPR Art. 17): their data goes, the audit chain stays verifiable",
    tag=TAG, permission=Permission.USERS_ERASE, response=ErasureOut,
)  # fmt: skip
def erase(principal: Principal, user_id: str) -> ErasureOut:
    erased = erase_person(get_user(user_id), caller=principal)
    return ErasureOut(subject=erased.subject, erased=True, rows_removed=erased.rows_removed,
                      audit_key_destroyed=erased.audit_key_destroyed,
                      legacy_audit_records=erased.legacy_audit_records)  # fmt: skip
