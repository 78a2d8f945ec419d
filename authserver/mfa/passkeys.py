"""WebAuthn ceremonies (W3C WebAuthn Level 3) through the ``webauthn`` package.

The relying-party ID is the issuer's host name and the expected origin the issuer's origin, so
``http://localhost:5000`` works locally (browsers treat localhost as a secure context); an IP
address cannot be an RP ID. Attestation is ``none``; user verification is preferred for a second
factor and required for passwordless sign-in, where the passkey is the only factor.

Callers see ``PasskeyError`` only, never the package's own exception types.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from authserver_verify import json_input

from authserver.platform.config import Settings

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

# webauthn is imported where a ceremony needs it: with pyasn1 under it, importing it costs
# a few hundred milliseconds, which every process (each CLI call, each worker) would pay.

TIMEOUT_MS = 120_000
_MAX_CREDENTIAL_JSON = 16_384


class PasskeyError(Exception):
    """The browser's answer does not verify, or is not an answer at all."""


@dataclasses.dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origin: str

    @classmethod
    def of(cls, settings: Settings) -> RelyingParty:
        parts = urlsplit(settings.issuer)
        return cls(
            id=parts.hostname or "", name="authserver", origin=f"{parts.scheme}://{parts.netloc}"
        )


@dataclasses.dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    public_key: bytes
    sign_count: int
    is_backup_eligible: bool
    transports: list[str]


@dataclasses.dataclass(frozen=True)
class Assertion:
    credential_id: str
    new_sign_count: int
    user_verified: bool
    # The authenticator's user handle (base64url), if it sent one; None for a non-discoverable one.
    user_handle: str | None = None


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn spells ids and handles."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _descriptor(credential_id: str, transports: list[str]) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    known = [
        AuthenticatorTransport(t)
        for t in transports
        if t in AuthenticatorTransport._value2member_map_
    ]
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(credential_id), transports=known or None
    )


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    existing: list[tuple[str, list[str]]],
) -> str:
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        # A discoverable credential, so that the same passkey also signs in without a password.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(cid, t) for cid, t in existing],
    )
    return options_to_json(options)


def authentication_options(
    rp: RelyingParty, *, challenge: bytes, allowed: list[tuple[str, list[str]]], passwordless: bool
) -> str:
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        # Passwordless: empty list, the authenticator offers its discoverable credentials.
        allow_credentials=[_descriptor(cid, t) for cid, t in allowed],
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if passwordless
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return options_to_json(options)


def _parse(credential_json: str) -> dict:
    if not isinstance(credential_json, str) or len(credential_json) > _MAX_CREDENTIAL_JSON:
        raise PasskeyError("the passkey answer is missing or too large")
    try:
        value = json_input.loads(credential_json)
    except ValueError as e:
        raise PasskeyError(f"the passkey answer is {e}") from None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise PasskeyError("the passkey answer has no credential id")
    return value


def credential_id_of(credential_json: str) -> str:
    """The credential id the browser names (to find the stored passkey before verifying)."""
    return _parse(credential_json)["id"][:1400]


def verify_registration(rp: RelyingParty, credential_json: str, challenge: bytes) -> NewPasskey:
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException
    from webauthn.helpers.structs import CredentialDeviceType

    value = _parse(credential_json)
    try:
        verified = verify_registration_response(
            credential=value,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as e:
        raise PasskeyError("the passkey could not be registered") from e
    transports = (value.get("response") or {}).get("transports") or []
    return NewPasskey(
        credential_id=b64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        is_backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        transports=[t for t in transports if isinstance(t, str)][:8],
    )


def verify_assertion(
    rp: RelyingParty,
    credential_json: str,
    challenge: bytes,
    *,
    public_key: bytes,
    require_user_verification: bool,
) -> Assertion:
    """Signature, challenge, origin, RP ID and flags. The sign count is returned for the caller
    to compare (WebAuthn §7.2 step 21), so that a regression can be told apart and audited."""
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    value = _parse(credential_json)
    try:
        verified = verify_authentication_response(
            credential=value,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as e:
        raise PasskeyError("the passkey did not verify") from e
    handle = (value.get("response") or {}).get("userHandle")
    return Assertion(
        credential_id=b64url(verified.credential_id),
        new_sign_count=verified.new_sign_count,
        user_verified=verified.user_verified,
        user_handle=handle if isinstance(handle, str) and handle else None,
    )


def user_handle_of(subject: str) -> bytes:
    """The WebAuthn user handle of a user: its opaque subject, never the email (§14.6.1)."""
    return subject.encode()


def is_sign_count_regression(stored: int, new: int) -> bool:
    """WebAuthn §7.2 step 21: with a counter in use, a count not above the stored one may mean
    a cloned authenticator."""
    return (stored != 0 or new != 0) and new <= stored
