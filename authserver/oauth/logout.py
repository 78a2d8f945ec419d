"""What RP-initiated logout ends: this browser's sign-in session."""

from __future__ import annotations

from authserver.accounts.sessions import end_session
from authserver.platform.request_state import request_state
from authserver.web.browser import current_session


def end_browser_session(end_session_request) -> None:  # noqa: ANN001
    session = current_session()
    if session is not None:
        end_session(session)
    request_state().clear_session_cookie = True
