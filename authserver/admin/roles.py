"""/admin/roles: roles with their permissions; create one, change its permissions, description
and second-factor requirement, delete one that is not built in. The rbac service decides (no
permission the admin lacks, a built-in role never shrinks) and audits; this page only offers
the known permissions as checkboxes (a permission no role holds yet can only come from the
operator, ``authserver roles``: an admin confers only what they hold)."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.admin.access import admin_page, caller_of, can, confirmed, paged, require
from authserver.admin.blueprint import bp
from authserver.admin.forms import RoleForm
from authserver.models import Role, User
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.text_search import ESCAPE, containing
from authserver.rbac.permissions import Permission
from authserver.rbac.service import create_role, delete_role, find_role, known_scopes, update_role
from authserver.web.errors import roll_back


def _matching(search: str):  # noqa: ANN202
    statement = select(Role)
    if search:
        statement = statement.where(Role.name.like(containing(search.lower()), escape=ESCAPE))
    return statement


@bp.get("/roles")
@admin_page(Permission.ROLES_READ)
def roles(user: User) -> str:
    search = (request.args.get("q") or "").strip()[:64]
    rows, cursor = paged(_matching(search), Role.id)
    return render_template("admin/roles.html", roles=rows, next_cursor=cursor, args=request.args,
                           search=search, can_write=can(user, Permission.ROLES_WRITE))  # fmt: skip


def _chosen(form: RoleForm) -> list[str]:
    return list(dict.fromkeys(form.permissions.data or []))


def _page(user: User, form: RoleForm, *, role: Role | None, error: str | None,
          status: int = 200) -> Response:  # fmt: skip
    held = set(role.permission_names) if role is not None else set()
    page = render_template(
        "admin/role.html", form=form, role=role, error=error, known=sorted(set(known_scopes())
        | held), held=held, chosen=set(form.permissions.data or []),
        mine=user.permissions, can_write=can(user, Permission.ROLES_WRITE),
    )  # fmt: skip
    return make_response(page, status)


@bp.route("/roles/new", methods=["GET", "POST"])
@admin_page(Permission.ROLES_READ)
def role_new(user: User) -> Response:
    require(user, Permission.ROLES_WRITE)
    form = RoleForm()
    if request.method == "GET":
        return _page(user, form, role=None, error=None)
    if not form.validate_on_submit():
        return _page(user, form, role=None, error="Give the role a name.", status=400)
    try:
        role = create_role(form.name.data.strip(), _chosen(form), form.description.data or "",
                           requires_mfa=form.requires_mfa.data, caller=caller_of(user))  # fmt: skip
    except AuthServerError as e:
        roll_back(e)
        return _page(user, form, role=None, error=e.description, status=e.status)
    db.session.commit()
    flash(f"Role {role.name} created.")
    return redirect(f"/admin/roles/{role.name}", code=303)


def _get(name: str) -> Role | Response:
    role = find_role(name) if len(name) <= 64 and "\x00" not in name else None
    if role is None:
        return make_response(render_template("error.html", message="No such role."), 404)
    return role


@bp.route("/roles/<name>", methods=["GET", "POST"])
@admin_page(Permission.ROLES_READ)
def role_edit(user: User, name: str) -> Response:
    role = _get(name)
    if isinstance(role, Response):
        return role
    if request.method == "GET":
        form = RoleForm(formdata=None, name=role.name, description=role.description,
                        permissions=sorted(role.permission_names),
                        requires_mfa=role.requires_mfa)  # fmt: skip
        return _page(user, form, role=role, error=None)
    require(user, Permission.ROLES_WRITE)
    form = RoleForm()
    form.name.data = role.name  # a role is renamed by no one: holders and tokens name it
    if not form.validate_on_submit():
        return _page(user, form, role=role, error="The form expired: try again.", status=400)
    wanted = set(_chosen(form))
    try:
        update_role(role, add=sorted(wanted - role.permission_names),
                    remove=sorted(role.permission_names - wanted),
                    description=form.description.data or "",
                    requires_mfa=form.requires_mfa.data, caller=caller_of(user))  # fmt: skip
    except AuthServerError as e:
        roll_back(e)
        role = _get(name)
        return _page(user, form, role=role, error=e.description, status=e.status)
    db.session.commit()
    flash(f"Role {role.name} saved.")
    return redirect(f"/admin/roles/{role.name}", code=303)


@bp.route("/roles/<name>/delete", methods=["GET", "POST"])
@admin_page(Permission.ROLES_READ)
def role_delete(user: User, name: str) -> Response | str:
    require(user, Permission.ROLES_WRITE)
    role = _get(name)
    if isinstance(role, Response):
        return role

    def perform() -> str:
        delete_role(role, caller=caller_of(user))
        return f"Role {name} deleted; whoever held it no longer does."

    return confirmed(title=f"Delete role {name}?", button="Delete role",
                     warning="Users and clients holding it lose its permissions at once; tokens "
                     "already issued keep their scope until they expire.",
                     action=f"/admin/roles/{name}/delete", back=f"/admin/roles/{name}",
                     done="/admin/roles", perform=perform)  # fmt: skip
