"""The device authorization grant (RFC 8628), as Authlib's endpoint and grant with our storage.

A device asks ``/oauth/device_authorization`` for a device code and a short user code; its user
types the user code at ``/device``, signs in (second factor included) and allows or denies; the
device polls the token endpoint meanwhile and gets ``authorization_pending``, ``slow_down`` when
it polls faster than the interval, ``access_denied``, ``expired_token``, or its tokens (once).
"""

from __future__ import annotations

import datetime as dt
import secrets

from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidGrantError, UnauthorizedClientError
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant
from authlib.oauth2.rfc8628.errors import (
    AuthorizationPendingError,
    ExpiredTokenError,
    SlowDownError,
)
from sqlalchemy import delete, select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.mfa.policy import without_step_up_scopes
from authserver.models import DeviceAuthorization, User, UserSession
from authserver.oauth.code_flow import TOKEN_AUTH_METHODS, remember_authentication
from authserver.oauth.consent import scope_to_grant
from authserver.oauth.grants import check_requested_scope
from authserver.oauth.resources import (
    check_resources,
    grant_resources,
    granted_resources,
    requested,
)
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime, current_settings
from authserver.platform.security import generate_secret, hash_secret
from authserver.single_use import claim, commit_now

DEVICE_PAGE = "/device"
#: RFC 8628 §6.1: no vowels (no words), no look-alikes; 8 letters of 20 ≈ 34.6 bits, and
#: guessing is bounded by the expiry and the page's rate limit.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
EXPIRES_IN_SECONDS = 600
INTERVAL_SECONDS = 5


def normalize_user_code(text: str) -> str:
    """What people type: any case, with or without the dash and spaces."""
    return "".join(c for c in text.upper() if c.isalnum())[:32]


def new_user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


class DeviceAuthorizationRequests(DeviceAuthorizationEndpoint):
    """``/oauth/device_authorization`` (RFC 8628 §3.1–3.2)."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS
    EXPIRES_IN = EXPIRES_IN_SECONDS
    INTERVAL = INTERVAL_SECONDS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings  # Authlib sets ``server`` when the endpoint is registered

    def authenticate_client(self, request):  # noqa: ANN001, ANN201
        client = super().authenticate_client(request)
        if not client.check_grant_type(DeviceCodeGrant.GRANT_TYPE):
            raise UnauthorizedClientError(description="The client may not use the device grant.")
        check_requested_scope(request.payload.scope, client)
        # RFC 8707 §2: as at the authorization endpoint; kept for save_device_credential,
        # which Authlib calls without the request.
        grant_resources(check_resources(requested(request.payload), client))
        return client

    def generate_device_code(self) -> str:
        return generate_secret()

    def generate_user_code(self) -> str:
        return new_user_code()

    def get_verification_uri(self) -> str:
        return self.settings.url(DEVICE_PAGE)

    def save_device_credential(self, client_id: str, scope: str, data: dict) -> None:
        now = clock.now()
        db.session.execute(delete(DeviceAuthorization).where(DeviceAuthorization.expires_at <= now))
        db.session.add(
            DeviceAuthorization(
                device_code_hash=hash_secret(data["device_code"]),
                user_code_hash=hash_secret(normalize_user_code(data["user_code"])),
                client_id=client_id,
                scope=scope or "",
                resources=granted_resources(),
                created_at=now,
                expires_at=now + dt.timedelta(seconds=EXPIRES_IN_SECONDS),
                interval_seconds=INTERVAL_SECONDS,
                amr=[],
            )
        )
        db.session.commit()


class DeviceCodeFlow(DeviceCodeGrant):
    """Polling at the token endpoint (RFC 8628 §3.4–3.5)."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        authorized = self.request.credential.resources
        # RFC 8707 §2.2: the token request may narrow the resources that were authorized.
        asked = requested(self.request.payload)
        check_resources(asked, self.request.client, allowed=authorized or None)
        grant_resources(asked or authorized)

    def query_device_credential(self, device_code: str) -> DeviceAuthorization | None:
        if not isinstance(device_code, str) or len(device_code) > 200:
            return None
        return db.session.scalar(
            select(DeviceAuthorization).where(
                DeviceAuthorization.device_code_hash == hash_secret(device_code)
            )
        )

    def validate_device_credential(self, credential: DeviceAuthorization) -> User:
        now = clock.now()
        if credential.consumed_at is not None:
            raise InvalidGrantError(description="The device code was used already.")
        if credential.is_expired_at(now):
            raise ExpiredTokenError()
        if credential.decision == "denied":
            raise AccessDeniedError()
        if credential.decision == "approved":
            user = db.session.get(User, credential.user_id)
            if user is None or not user.is_active:
                raise AccessDeniedError()
            remember_authentication(credential.auth_time, list(credential.amr))
            return user
        too_fast = credential.last_polled_at is not None and (
            (now - credential.last_polled_at).total_seconds() < credential.interval_seconds
        )
        credential.last_polled_at = now
        if too_fast:
            # §3.5: slow_down, and every later poll waits 5 s longer; added in the UPDATE itself,
            # so that two polls at once both count.
            credential.interval_seconds = DeviceAuthorization.interval_seconds + 5
        commit_now()  # the poll is remembered although the request fails
        raise SlowDownError() if too_fast else AuthorizationPendingError()

    def create_token_response(self):  # noqa: ANN201
        credential = self.request.credential
        # RFC 8628 §3.5: a device code is exchanged once. One conditional UPDATE decides among
        # polls racing with it; it commits with the tokens it buys (nothing fails after it but
        # the server itself, and then nothing was issued).
        now = clock.now()
        claimed = claim(
            update(DeviceAuthorization)
            .where(
                DeviceAuthorization.id == credential.id,
                DeviceAuthorization.decision == "approved",
                DeviceAuthorization.consumed_at.is_(None),
                DeviceAuthorization.expires_at > now,
            )
            .values(consumed_at=now)
        )
        if not claimed:
            raise InvalidGrantError(description="The device code was used already.")
        # A step-up scope is never granted without a second factor (the page asked for one).
        credential.scope = without_step_up_scopes(
            credential.scope, list(credential.amr), current_settings()
        )
        return super().create_token_response()


def find_by_user_code(text: str) -> DeviceAuthorization | None:
    """A live, undecided authorization for what the user typed."""
    code = normalize_user_code(text)
    if len(code) != USER_CODE_LENGTH:
        return None
    row = db.session.scalar(
        select(DeviceAuthorization).where(DeviceAuthorization.user_code_hash == hash_secret(code))
    )
    if row is None or row.is_expired_at(clock.now()) or row.decision is not None:
        return None
    return row


def decide(row: DeviceAuthorization, session: UserSession, *, approved: bool) -> bool:
    """Record the user's answer; False if the request was answered (or expired) meanwhile.

    One conditional UPDATE: two answers at once (two tabs, two people who both have the user
    code) cannot both stand, nor can the second change who approved (RFC 8628 §3.3, §5.1)."""
    now = clock.now()
    decision = "approved" if approved else "denied"
    # What the page showed (oauth.consent.scope_to_grant): a role given before the device
    # polls adds nothing the user did not see.
    client = current_runtime().clients.get(row.client_id)
    # (Empty, the request stays as it was: an empty scope would mean the client's default.)
    scope = (scope_to_grant(client, session.user, row.scope) if client else "") or row.scope
    decided = claim(
        update(DeviceAuthorization)
        .where(
            DeviceAuthorization.id == row.id,
            DeviceAuthorization.decision.is_(None),
            DeviceAuthorization.expires_at > now,
        )
        .values(decision=decision, user_id=session.user_id, sid=session.sid, scope=scope,
                auth_time=session.auth_time, amr=list(session.amr), decided_at=now)
    )  # fmt: skip
    if not decided:
        return False
    record(Tag.DEVICE_DECIDED, actor=session.user.actor, client=row.client_id,
           decision=decision, scope=scope)  # fmt: skip
    return True
