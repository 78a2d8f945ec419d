"""The sign-in flow every browser page shares: a sign-in parked until a second factor answers,
stepping a session up to a level, and finishing a sign-in with a new session and the browser's
device cookie. The pages (``authserver.pages``), the authorization and device pages
(``authserver.oauth``) and the admin UI all send people through it."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, redirect, request

from authserver.accounts.sessions import end_session, start_session
from authserver.mfa import service
from authserver.models import User, UserSession
from authserver.platform import acr
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.web import challenges
from authserver.web.browser import current_session, safe_next, set_session_cookie
from authserver.web.device_cookies import remember_device

#: Where a person enrols and removes factors (``pages.security``).
SECURITY = "/account/security"


def begin_second_factor(user: User, *, amr: list[str], next_url: str, level: int) -> Response:
    """Park a sign-in (or a step-up of a signed-in session) until a second factor answers."""
    challenges.open_challenge(
        challenges.SIGN_IN, user=user, data={"amr": amr, "next": next_url, "level": level}
    )
    db.session.commit()
    return redirect("/login/mfa", code=303)


def step_up(session: UserSession, target: int, next_url: str) -> Response | None:
    """None when the session's sign-in meets ``target`` (a policy level). Otherwise the user is
    sent through a second factor that can reach it and back to ``next_url``, or, with none
    enrolled that can, to /account/security to enrol one first."""
    if acr.level_of(session.amr) >= target:
        return None
    if service.factors_of(session.user).attainable_level < target:
        return redirect(SECURITY + "?" + urlencode({"next": next_url}), code=303)
    return begin_second_factor(session.user, amr=list(session.amr), next_url=next_url, level=target)


def finish_sign_in(user: User, amr: list[str], next_url: str) -> Response:
    """A new session (new id: no fixation) replacing the browser's current one, and the
    browser's device cookie for the account."""
    previous = current_session()
    if previous is not None:
        end_session(previous)
    cookie, _ = start_session(
        current_settings(),
        user,
        amr=amr,
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
    )
    db.session.commit()
    response = redirect(safe_next(next_url), code=303)
    set_session_cookie(response, cookie)
    # This browser has now signed in to the account: its later sign-ins to it are counted on
    # a budget of their own (authserver.web.ratelimit).
    remember_device(request, response, user.email)
    return response
