"""OpenID Connect Back-Channel Logout 1.0: when a sign-in session ends, each client that received
tokens in it, and registered a ``backchannel_logout_uri``, gets a signed logout token by POST.

Notifications are gathered while the request runs and handed over when its transaction commits
(a session end that rolls back notifies nobody); one thread per process sends them, with bounded
retries, so the user's request never waits on a client. Each outcome is audited.
"""

from __future__ import annotations

import logging
import secrets
import time
import urllib.parse

from flask import Flask, current_app, has_app_context
from joserfc import jwt
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from authserver.accounts.sessions import sessions_ended
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import AuthorizationCode, RefreshToken
from authserver.outbound import Outbound, OutboundError
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.job_queue import JobQueue
from authserver.platform.process_exit import at_exit

log = logging.getLogger(__name__)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type (§2.4)
_PENDING = "authserver.backchannel"
_EXTENSION = "authserver.backchannel"
ATTEMPTS = 3
TIMEOUT_SECONDS = 5


def session_ended(subject: str, sids: list[str]) -> None:
    """Queue logout tokens for the clients that got tokens in these sessions (sent at commit);
    it receives ``accounts.sessions.sessions_ended``."""
    if not sids or not has_app_context():
        return
    clients = set(db.session.scalars(
        select(AuthorizationCode.client_id).where(AuthorizationCode.sid.in_(sids)).distinct()
    )) | set(db.session.scalars(
        select(RefreshToken.client_id).where(RefreshToken.sid.in_(sids)).distinct()
    ))  # fmt: skip
    if not clients:
        return
    pending = db.session.info.setdefault(_PENDING, [])
    for client_id in sorted(clients):
        for sid in sids:
            pending.append((client_id, subject, sid))


@event.listens_for(Session, "after_commit")
def _hand_over(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending and has_app_context():
        sender = current_app.extensions.get(_EXTENSION)
        if sender is not None:
            for job in pending:
                sender.submit(job)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


class BackchannelSender:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._jobs = JobQueue("authserver-backchannel", self._send)

    def submit(self, job: tuple[str, str, str]) -> None:
        self._jobs.submit(job)

    def wait_idle(self, timeout: float) -> bool:
        """Until everything submitted so far was sent or given up (tests, shutdown)."""
        return self._jobs.wait_idle(timeout)

    def _send(self, jobs: list[tuple[str, str, str]]) -> None:
        for client_id, subject, sid in jobs:
            try:
                with self._app.app_context():
                    self._deliver(client_id, subject, sid)
            except Exception:
                log.exception("back-channel logout to %s failed", client_id)

    def _deliver(self, client_id: str, subject: str, sid: str) -> None:
        from authserver.platform.runtime import runtime_of

        runtime = runtime_of(self._app)
        client = runtime.clients.get(client_id)
        if client is None or not client.backchannel_logout_uri:
            return
        token = logout_token(runtime, client, subject, sid)
        status, reason = None, None
        for attempt in range(ATTEMPTS):
            status, reason = _post(runtime.outbound, client.backchannel_logout_uri, token)
            if status is not None and 200 <= status < 300:
                break
            if reason == "refused":
                break  # the policy will refuse it again: the URL, not the host, is the problem
            time.sleep(0.5 * 2**attempt)
        ok = status is not None and 200 <= status < 300
        # The status only: the answer's body (the target's content) is never recorded.
        record(Tag.BACKCHANNEL_LOGOUT, client=client_id, sid=sid, status=status, error=reason,
               outcome="success" if ok else "failure", attempts=attempt + 1)  # fmt: skip
        db.session.commit()


def logout_token(runtime, client, subject: str, sid: str) -> str:  # noqa: ANN001
    """Back-Channel Logout 1.0 §2.4, signed like the client's ID tokens."""
    alg = client.id_token_signed_response_alg
    kid, key = runtime.keyring.signer(alg)
    now = clock.timestamp()
    claims = {
        "iss": runtime.settings.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "sub": subject,
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
    }
    return jwt.encode({"typ": LOGOUT_TOKEN_TYPE, "alg": alg, "kid": kid}, claims, key,
                      algorithms=[alg])  # fmt: skip


def _post(outbound: Outbound, uri: str, token: str) -> tuple[int | None, str | None]:
    """(the HTTP status, or None and why it failed). Through ``authserver.outbound``: no
    redirect followed (a 3xx is a failure), a total deadline, internal addresses refused."""
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    try:
        response = outbound.post(
            uri, body, headers={"Content-Type": "application/x-www-form-urlencoded"},
            deadline_seconds=TIMEOUT_SECONDS, max_bytes=4096,
        )  # fmt: skip
    except OutboundError as e:
        return None, e.reason
    return response.status, None


def install_backchannel(app: Flask) -> BackchannelSender:
    sender = BackchannelSender(app)
    app.extensions[_EXTENSION] = sender
    # Every process's apps share the one receiver; it notifies through the app of the moment.
    sessions_ended.connect(session_ended)
    # A short-lived process (the CLI disabling a user) lets its notifications go out first.
    at_exit(sender.wait_idle, ATTEMPTS * (TIMEOUT_SECONDS + 2))
    return sender


def backchannel_sender(app: Flask) -> BackchannelSender:
    return app.extensions[_EXTENSION]
