"""/admin/keys: signing keys with their states and planned transitions; "Rotate now" (after a
confirmation), the rotation schedule per algorithm, and emergency revocation (typing the kid)."""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.admin.access import actor_of, admin_page, paged, require
from authserver.admin.blueprint import bp
from authserver.admin.forms import RevokeKeyForm, RotateForm, ScheduleForm
from authserver.keys.events import keys_changed
from authserver.keys.lifecycle import revoke_key, rotate_now
from authserver.keys.schedule import ScheduleChange, load_schedules, set_schedule
from authserver.keys.service import find_key, list_keys
from authserver.keys.timeline import planned_transitions
from authserver.models import SigningKey, User
from authserver.platform.config import SIGNING_ALGORITHMS
from authserver.platform.durations import format_duration, parse_duration
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from authserver.rbac.permissions import Permission


def _keys_page(user: User, *, forms: dict | None = None, errors: dict | None = None,
               status: int = 200) -> Response:  # fmt: skip
    settings = current_runtime().settings
    schedules = load_schedules(settings)
    # Newest first, a page at a time: expired keys accumulate with every rotation.
    rows, cursor = paged(select(SigningKey), SigningKey.id, newest_first=True)
    forms = forms or {}
    for alg, schedule in schedules.items():
        if alg not in forms:
            forms[alg] = ScheduleForm(
                formdata=None,
                rotate_every=format_duration(schedule.rotate_every_seconds),
                publish_ahead=format_duration(schedule.publish_ahead_seconds),
                retire_after=format_duration(schedule.retire_after_seconds),
            )
    page = render_template(
        "admin/keys.html",
        keys=rows,
        next_cursor=cursor,
        args=request.args,
        plans=planned_transitions(schedules, list_keys()),
        algorithms=SIGNING_ALGORITHMS,
        schedule_forms=forms,
        errors=errors or {},
        can_rotate=Permission.KEYS_ROTATE.value in user.permissions,
    )
    return make_response(page, status)


@bp.get("/keys")
@admin_page(Permission.KEYS_READ)
def keys(user: User) -> Response:
    return _keys_page(user)


@bp.route("/keys/rotate/<alg>", methods=["GET", "POST"])
@admin_page(Permission.KEYS_READ)
def rotate(user: User, alg: str) -> Response | str:
    require(user, Permission.KEYS_ROTATE)
    if alg not in SIGNING_ALGORITHMS:
        return make_response(render_template("error.html", message="No such algorithm."), 404)
    form = RotateForm()
    schedule = load_schedules(current_runtime().settings)[alg]
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        page = render_template(
            "admin/key_rotate.html", form=form, alg=alg,
            publish_ahead=format_duration(schedule.publish_ahead_seconds),
            emergency_publish=format_duration(current_runtime().settings.emergency_publish_seconds),
        )  # fmt: skip
        return make_response(page, status)
    runtime = current_runtime()
    try:
        performed = rotate_now(runtime.settings, runtime.envelope(), alg,
                               immediately=form.immediately.data)  # fmt: skip
    except AuthServerError as e:
        db.session.rollback()
        flash(f"Not rotated: {e.description}")
        return redirect("/admin/keys", code=303)
    db.session.commit()
    runtime.keyring.invalidate()
    keys_changed.send(current_app._get_current_object())
    flash(f"{alg} rotated: " + ", ".join(f"{p.action} {p.kid}" for p in performed))
    return redirect("/admin/keys", code=303)


@bp.post("/keys/schedule/<alg>")
@admin_page(Permission.KEYS_READ)
def schedule(user: User, alg: str) -> Response:
    require(user, Permission.KEYS_ROTATE)
    if alg not in SIGNING_ALGORITHMS:
        return make_response(render_template("error.html", message="No such algorithm."), 404)
    form = ScheduleForm()
    errors: dict[str, str] = {}
    values: dict[str, int] = {}
    if not form.validate_on_submit():
        errors["form"] = "The form expired or is incomplete; try again."
    for field in ("rotate_every", "publish_ahead", "retire_after"):
        try:
            values[field] = parse_duration(getattr(form, field).data or "")
        except ValueError:
            errors[field] = "A duration such as 30d, 12h or 90m."
    if not errors:
        change = ScheduleChange(values["rotate_every"], values["publish_ahead"],
                                values["retire_after"])  # fmt: skip
        try:
            set_schedule(current_runtime().settings, [alg], change, actor=actor_of(user))
        except AuthServerError as e:
            db.session.rollback()
            errors[_field_of(e.description)] = e.description
    if errors:
        return _keys_page(user, forms={alg: form}, errors={alg: errors}, status=400)
    db.session.commit()
    flash(f"Schedule of {alg} saved.")
    return redirect("/admin/keys", code=303)


def _field_of(description: str) -> str:
    """Which field a schedule rule names (its messages start with the field's name)."""
    for field in ("rotate_every", "publish_ahead", "retire_after"):
        if description.startswith(field):
            return field
    return "form"


@bp.route("/keys/<kid>/revoke", methods=["GET", "POST"])
@admin_page(Permission.KEYS_READ)
def revoke(user: User, kid: str) -> Response | str:
    require(user, Permission.KEYS_ROTATE)
    key = find_key(kid)
    if key is None:
        return make_response(render_template("error.html", message="No such key."), 404)
    form = RevokeKeyForm()
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            error = "Type the kid and a reason."
        elif form.confirm_kid.data.strip() != kid:
            error = "The kid you typed does not match this key. Nothing was revoked."
        else:
            runtime = current_runtime()
            try:
                revoke_key(runtime.settings, runtime.envelope(), kid,
                           reason=form.reason.data, actor=actor_of(user))  # fmt: skip
            except AuthServerError as e:
                db.session.rollback()
                error = e.description
            else:
                db.session.commit()
                runtime.keyring.invalidate()
                keys_changed.send(current_app._get_current_object())
                flash(f"Key {kid} revoked.")
                return redirect("/admin/keys", code=303)
    page = render_template("admin/key_revoke.html", key=key, form=form, error=error)
    return make_response(page, 400 if error else 200)
