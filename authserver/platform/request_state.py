"""What one request carries from the step that learns it to the steps that use it, typed and
in one place. It lives in the WSGI environ under one key, so it is the same object whichever
door answers the request (Flask's request context or the direct door, ``current_request``),
and it ends with the request.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from authserver.platform.current_request import current_request

_KEY = "authserver.state"
#: ``browser_session`` before the cookie was looked up (None means: looked up, no session).
NOT_LOOKED_UP: Any = object()


@dataclasses.dataclass
class RequestState:
    # RFC 9126 §4: the parameters of a pushed authorization request are the request.
    pushed_params: Any = None
    # RFC 9449: the thumbprint of the key of a verified DPoP proof.
    dpop_jkt: str | None = None
    # RFC 8707: the resources (audiences) of the token this request issues.
    granted_resources: list[str] | None = None
    # RFC 9068 §2.2.1: (auth_time, amr) of the user the token is issued for.
    authentication: tuple[int, list[str]] | None = None
    # The access token issued, for its audit record.
    issued_jti: str | None = None
    # The sign-in session of this request's cookie (web.browser looks it up once).
    browser_session: Any = NOT_LOOKED_UP
    # RP-initiated logout ended the session: the response clears the cookie.
    clear_session_cookie: bool = False
    # (policy, verdict) of each budget charged, for the RateLimit fields of the response.
    budgets: list = dataclasses.field(default_factory=list)


def state_of(environ: dict) -> RequestState:
    state = environ.get(_KEY)
    if state is None:
        state = environ[_KEY] = RequestState()
    return state


def request_state() -> RequestState:
    """This request's state; outside a request, an empty one that nothing keeps."""
    answering = current_request()
    return state_of(answering.environ) if answering is not None else RequestState()
