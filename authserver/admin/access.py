"""Who may see an admin page: a signed-in user whose roles grant the page's permission, with a
second factor used within ``AUTHSERVER_ADMIN_REAUTH`` (else a step-up first)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from urllib.parse import urlencode

from flask import Response, abort, flash, make_response, redirect, render_template, request

from authserver.mfa.service import factors_of
from authserver.models import User, UserSession
from authserver.platform import acr, clock
from authserver.platform.durations import parse_duration
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.rbac.containment import Caller, caller_for
from authserver.rbac.permissions import Permission
from authserver.web.browser import current_session
from authserver.web.errors import roll_back
from authserver.web.paging import decode_cursor, encode_cursor, page
from authserver.web.problems import Problem
from authserver.web.signin import SECURITY, begin_second_factor

PAGE_SIZE = 50


def forbidden(message: str = "You do not have permission to see this page.") -> Response:
    return make_response(render_template("error.html", message=message), 403)


def _step_up(session: UserSession) -> Response | None:
    """None when the session used a second factor recently enough for administration."""
    age = (clock.now() - session.auth_time).total_seconds()
    if acr.level_of(session.amr) >= acr.MULTI_FACTOR and (
        age <= current_settings().admin_reauth_seconds
    ):
        return None
    back = request.full_path.rstrip("?") if request.method == "GET" else "/admin"
    if not factors_of(session.user).any:
        flash("Administration needs a second factor: set one up first.")
        return redirect(SECURITY + "?" + urlencode({"next": back}), code=303)
    return begin_second_factor(
        session.user, amr=list(session.amr), next_url=back, level=acr.MULTI_FACTOR
    )


def admin_page(permission: Permission) -> Callable:
    """The view gets the signed-in ``user`` as its first argument."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs) -> Response | str:
            session = current_session()
            if session is None:
                return redirect("/login?" + urlencode({"next": request.full_path}), code=303)
            if permission.value not in session.user.permissions:
                return forbidden()
            gate = _step_up(session)
            if gate is not None:
                return gate
            return view(session.user, *args, **kwargs)

        guarded.permission = permission  # for the tests that list every page's permission
        return guarded

    return decorate


def can(user: User, permission: Permission) -> bool:
    return permission.value in user.permissions


def require(user: User, permission: Permission) -> None:
    """Inside a page: a change needs its own permission (an auditor may look, not touch)."""
    if not can(user, permission):
        abort(forbidden("This change needs the " + permission.value + " permission."))


def paged(statement, id_column, *, newest_first: bool = False) -> tuple[list, str | None]:  # noqa: ANN001
    """One page of rows after ``?cursor=``: keyset paging, as in the admin API (a page costs
    the same however deep it is); ``newest_first`` walks the ids downwards."""
    try:
        if not newest_first:
            query = SimpleNamespace(cursor=request.args.get("cursor"), limit=PAGE_SIZE)
            return page(statement, id_column, query, to_item=lambda row: row)
        cursor = request.args.get("cursor")
        before = decode_cursor(cursor) if cursor else None
    except Problem:
        abort(make_response(render_template("error.html", message="Bad page cursor."), 400))
    if before is not None:
        statement = statement.where(id_column < before)
    rows = list(db.session.scalars(statement.order_by(id_column.desc()).limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, encode_cursor(rows[-1].id) if more else None


def actor_of(user: User) -> str:
    return user.actor


def caller_of(user: User) -> Caller:
    """A signed-in admin acts with what their roles permit (they stepped up to get here)."""
    return caller_for(user, actor_of(user))


def shown_once(*, heading: str, subject: str, secret: str, back: str,
               kept: str | None = None) -> Response:  # fmt: skip
    """The page that shows a new secret, the one time it is shown (ARCHITECTURE.md: shown
    once); ``kept`` says how long a replaced one keeps working."""
    return make_response(render_template("admin/secret_once.html", heading=heading,
                                         subject=subject, secret=secret, back=back,
                                         kept=kept))  # fmt: skip


GRACE_HELP = "Grace period: a duration such as 1d or 12h."


def rotated_with_grace(
    *, rotate: Callable[[int], Response], title: str, subject: str, action: str, back: str,
    explain: str,
) -> Response:  # fmt: skip
    """A rotation with a grace period (client secrets, API keys, webhook secrets): the form on
    GET; on a POST with its CSRF token and a duration, ``rotate(grace_seconds)``, which calls
    the service and returns the page that shows the new secret once. A refusal rolls back."""
    from authserver.admin.forms import GraceForm

    form = GraceForm()
    error = None
    if request.method == "POST":
        error = GRACE_HELP
        grace = _grace_seconds(form.grace.data) if form.validate_on_submit() else None
        if grace is not None:
            try:
                shown = rotate(grace)
            except AuthServerError as e:
                roll_back(e)
                error = e.description
            else:
                db.session.commit()
                return shown
    page = render_template("admin/grace.html", form=form, error=error, title=title,
                           subject=subject, action=action, button="Rotate", back=back,
                           explain=explain)  # fmt: skip
    return make_response(page, 400 if error else 200)


def _grace_seconds(text: str) -> int | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def _performed(perform: Callable[[], str], *, refused: str, done: str) -> Response:
    """Commit what ``perform`` changed and show its message, then go to ``done``; a refusal
    is rolled back and shown instead, then to ``refused``."""
    try:
        message = perform()
    except AuthServerError as e:
        roll_back(e)
        flash(e.description)
        return redirect(refused, code=303)
    db.session.commit()
    flash(message)
    return redirect(done, code=303)


def button_post(*, back: str, perform: Callable[[], str]) -> Response:
    """A change made by one button (its form holds only the CSRF token): ``perform`` calls the
    service and returns the message to show; back to ``back`` either way."""
    from authserver.admin.forms import ConfirmForm

    if not ConfirmForm().validate_on_submit():
        return make_response(render_template("error.html", message="The form expired."), 400)
    return _performed(perform, refused=back, done=back)


def confirmed(
    *, title: str, warning: str, action: str, button: str, back: str, done: str,
    perform: Callable[[], str],
) -> Response:  # fmt: skip
    """A destructive action: a confirmation page on GET; on a POST with its CSRF token,
    ``perform`` (which returns the message to show) and back to ``done``."""
    from authserver.admin.forms import ConfirmForm

    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        return _performed(perform, refused=back, done=done)
    page = render_template("admin/confirm.html", form=form, title=title, warning=warning,
                           action=action, button=button, back=back)  # fmt: skip
    return make_response(page, 400 if request.method == "POST" else 200)
