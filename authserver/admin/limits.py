"""The gateway limits of an API key or a client as the admin pages show and change them: its
token buckets (``rate_limit``), its quota (what is left of it, how often and when it is next
refilled). A change goes through ``gateway.limits.set_limits``, which refuses an admin who holds
less than the key's owner or the client (no escalation); it needs apikeys:write for a key and
clients:write for a client, as every other change to them does."""

from __future__ import annotations

from authserver.admin.access import caller_of, require
from authserver.admin.forms import LimitsForm
from authserver.gateway.limits import Limits, set_limits
from authserver.models import ApiKey, Client, User
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.rbac.permissions import Permission
from authserver.web.errors import roll_back


def write_permission(owner: ApiKey | Client) -> Permission:
    return Permission.APIKEYS_WRITE if isinstance(owner, ApiKey) else Permission.CLIENTS_WRITE


def summary(owner: ApiKey | Client) -> str:
    """The limits in a few words, for a table cell."""
    parts = [owner.rate_limit] if owner.rate_limit else []
    if owner.quota_limit is not None:
        every = {"day": " a day", "month": " a month"}.get(owner.quota_period or "", "")
        parts.append(f"quota {owner.quota_remaining or 0:,} of {owner.quota_limit:,}{every} left")
    return "; ".join(parts) or "none"


def limits_form(owner: ApiKey | Client) -> LimitsForm:
    """The form filled with the owner's limits as they are."""
    return LimitsForm(formdata=None, rate_limit=owner.rate_limit or "", quota=owner.quota_limit,
                      quota_period=owner.quota_period or "none")  # fmt: skip


def form_error(form: LimitsForm) -> str:
    """The first thing wrong with a submitted form, named by its field."""
    for name, messages in form.errors.items():
        if name == "csrf_token":
            return "The form expired; try again."
        return f"{form[name].label.text}: {messages[0]}"
    return "Check the limits."


def save_limits(user: User, owner: ApiKey | Client, form: LimitsForm) -> tuple[str, int] | None:
    """The submitted limits given to ``owner`` and committed (None); else (what is wrong, the
    status to answer with), nothing changed."""
    require(user, write_permission(owner))
    if not form.validate_on_submit():
        return form_error(form), 400
    period = None if form.quota_period.data == "none" else form.quota_period.data
    rate = (form.rate_limit.data or "").strip() or None
    try:
        set_limits(owner, Limits(rate, form.quota.data, period), caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        return e.description, (e.status if e.status == 403 else 400)
    db.session.commit()
    return None
