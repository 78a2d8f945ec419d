"""Second factors of a user: enrolment, use, removal, recovery codes, and the per-account
back-off after failed checks. Every rule about factors lives here; the pages only call it.

Services flush; the view owns the transaction. A failed check is recorded (counter and audit)
and the caller commits it even though the request fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac

from sqlalchemy import delete, func, select, update

from authserver.accounts.sessions import end_all_sessions
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.mfa import recovery, totp
from authserver.mfa.passkeys import Assertion, NewPasskey, is_sign_count_regression
from authserver.models import RecoveryCode, TotpCredential, User, WebAuthnCredential
from authserver.platform import clock
from authserver.platform.errors import AuthServerError, Conflict, InvalidInput, NotFound
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from authserver.platform.security import hash_secret
from authserver.rbac.containment import Caller, require_can_act_on
from authserver.single_use import claim

_BACKOFF_START_SECONDS = 30
_BACKOFF_MAX_SECONDS = 3600


class TooManyAttempts(AuthServerError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too_many_requests", "Too many failed attempts. Try again later.", 429)
        self.retry_after = retry_after


class SignCountRegressed(AuthServerError):
    def __init__(self) -> None:
        super().__init__("invalid_credential", "This passkey was refused.", 401)


@dataclasses.dataclass(frozen=True)
class Factors:
    totp: TotpCredential | None
    passkeys: list[WebAuthnCredential]
    recovery_codes_left: int

    @property
    def has_totp(self) -> bool:
        return self.totp is not None and self.totp.is_confirmed

    @property
    def any(self) -> bool:
        return self.has_totp or bool(self.passkeys)

    @property
    def attainable_level(self) -> int:
        """The strongest sign-in these factors allow (see mfa.policy levels)."""
        return 3 if self.passkeys else 2 if self.has_totp else 1


def factors_of(user: User) -> Factors:
    return Factors(
        totp=db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id)),
        passkeys=list(
            db.session.scalars(
                select(WebAuthnCredential)
                .where(WebAuthnCredential.user_id == user.id)
                .order_by(WebAuthnCredential.id)
            )
        ),
        recovery_codes_left=recovery_codes_left(user),
    )


def has_second_factor(user: User) -> bool:
    return factors_of(user).any


# --- back-off -------------------------------------------------------------------------------


def check_not_blocked(user: User) -> None:
    """Raise TooManyAttempts while the account's back-off lasts (whatever the caller's IP)."""
    if user.mfa_blocked_until is not None:
        remaining = (user.mfa_blocked_until - clock.now()).total_seconds()
        if remaining > 0:
            raise TooManyAttempts(int(remaining) + 1)


def _failed(user: User, method: str) -> None:
    """Count a failed check. One UPDATE increments the stored count (never a value read
    earlier, which a concurrent failure may have changed: no failure is lost), and the back-off
    it earns only ever moves later."""
    failures = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(mfa_failures=func.coalesce(User.mfa_failures, 0) + 1)
        .returning(User.mfa_failures)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    over = failures - current_runtime().settings.mfa_max_failures
    if over >= 0:
        seconds = min(_BACKOFF_START_SECONDS * 2 ** min(over, 20), _BACKOFF_MAX_SECONDS)
        until = clock.now() + dt.timedelta(seconds=seconds)
        db.session.execute(
            update(User)
            .where(
                User.id == user.id,
                (User.mfa_blocked_until.is_(None)) | (User.mfa_blocked_until < until),
            )
            .values(mfa_blocked_until=until)
            .execution_options(synchronize_session=False)
        )
    # What the session holds of these columns is stale now: read them again when next needed.
    db.session.expire(user, ["mfa_failures", "mfa_blocked_until"])
    record(
        Tag.MFA_FAILED,
        actor=user.actor,
        outcome="failure",
        method=method,
        failures=failures,
    )
    db.session.flush()


def _succeeded(user: User, method: str) -> None:
    user.mfa_failures = 0
    user.mfa_blocked_until = None
    record(Tag.MFA_SUCCEEDED, actor=user.actor, method=method)
    db.session.flush()


# --- authenticator app (TOTP) ---------------------------------------------------------------


def _seal(row: TotpCredential, secret: bytes) -> None:
    row.kek_id, row.secret_ciphertext = (
        current_runtime().envelope().encrypt(secret, row.associated_data)
    )


def totp_secret(row: TotpCredential) -> bytes:
    return (
        current_runtime().envelope().decrypt(row.kek_id, row.secret_ciphertext, row.associated_data)
    )


def begin_totp(user: User) -> TotpCredential:
    """A new, unconfirmed secret (replacing an unconfirmed one); refused if one is in use."""
    existing = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))
    if existing is not None:
        if existing.is_confirmed:
            raise Conflict("an authenticator app is already set up; remove it first")
        db.session.delete(existing)
        db.session.flush()
    row = TotpCredential(user_id=user.id, kek_id="", secret_ciphertext=b"", created_at=clock.now())
    db.session.add(row)
    db.session.flush()  # the row id is the ciphertext's associated data
    _seal(row, totp.new_secret())
    db.session.flush()
    return row


def pending_totp(user: User) -> TotpCredential | None:
    row = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))
    return row if row is not None and not row.is_confirmed else None


def confirm_totp(user: User, code: str) -> list[str] | None:
    """Finish enrolment with a valid code. Returns new recovery codes when this is the user's
    first factor (shown once), else None. A wrong code raises InvalidInput."""
    row = pending_totp(user)
    if row is None:
        raise NotFound("no authenticator app set-up in progress")
    check_not_blocked(user)
    step = totp.matching_step(totp_secret(row), code, clock.now(), None)
    if step is None:
        _failed(user, "otp")
        raise InvalidInput("That code is not right. Check the time on your device and try again.")
    first = not has_second_factor(user)
    # One conditional UPDATE: of two requests confirming with one code, one wins (and issues
    # the recovery codes); the step is used up as by a sign-in (RFC 6238 §5.2).
    confirmed = claim(
        update(TotpCredential)
        .where(TotpCredential.id == row.id, TotpCredential.confirmed_at.is_(None))
        .values(confirmed_at=clock.now(), last_used_step=step, last_used_at=clock.now())
    )
    if not confirmed:
        raise Conflict("the authenticator app was set up already")
    db.session.refresh(row)
    _succeeded(user, "otp")
    record(Tag.MFA_TOTP_ENROLLED, actor=user.actor)
    return issue_recovery_codes(user) if first else None


def verify_totp(user: User, code: str) -> bool:
    """Check a sign-in code: ±1 step, never a step already used. Counts failures."""
    check_not_blocked(user)
    row = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))
    if row is None or not row.is_confirmed:
        _failed(user, "otp")
        return False
    step = totp.matching_step(totp_secret(row), code, clock.now(), row.last_used_step)
    if step is None:
        _failed(user, "otp")
        return False
    # Claim the step with one conditional UPDATE (RFC 6238 §5.2): two requests racing with the
    # same code cannot both win. It commits with the sign-in it buys.
    claimed = claim(
        update(TotpCredential)
        .where(
            TotpCredential.id == row.id,
            (TotpCredential.last_used_step.is_(None)) | (TotpCredential.last_used_step < step),
        )
        .values(last_used_step=step, last_used_at=clock.now())
    )
    if not claimed:
        _failed(user, "otp")
        return False
    db.session.refresh(row)
    _succeeded(user, "otp")
    return True


def remove_totp(user: User, *, actor: str) -> None:
    row = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))
    if row is None:
        raise NotFound("no authenticator app is set up")
    db.session.delete(row)
    db.session.flush()
    record(Tag.MFA_TOTP_REMOVED, actor=actor, user=user.subject)
    _forget_recovery_codes_if_no_factor(user)


# --- recovery codes -------------------------------------------------------------------------


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def issue_recovery_codes(user: User) -> list[str]:
    """A new set of codes; the old set stops working. The plaintext is returned once."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = recovery.new_codes()
    now = clock.now()
    for code in codes:
        db.session.add(
            RecoveryCode(
                user_id=user.id, code_hash=hash_secret(recovery.normalize(code)), created_at=now
            )
        )
    db.session.flush()
    record(Tag.MFA_RECOVERY_CODES_ISSUED, actor=user.actor, count=len(codes))
    return codes


def use_recovery_code(user: User, code: str) -> int | None:
    """Spend one code; returns how many remain, or None if the code is not one of them."""
    check_not_blocked(user)
    unused = list(
        db.session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
    )
    candidate = hash_secret(recovery.normalize(code))
    match = None
    for row in unused:  # every stored hash is compared, in constant time each
        if hmac.compare_digest(candidate, row.code_hash):
            match = row
    if match is None:
        _failed(user, "recovery-code")
        return None
    # One conditional UPDATE decides: of two requests spending one code at once, the second
    # waits for the first's lock and then finds it used. It commits with the sign-in it buys.
    claimed = claim(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=clock.now())
    )
    if not claimed:
        _failed(user, "recovery-code")
        return None
    _succeeded(user, "recovery-code")
    left = recovery_codes_left(user)
    record(Tag.MFA_RECOVERY_CODE_USED, actor=user.actor, remaining=left)
    return left


def _forget_recovery_codes_if_no_factor(user: User) -> None:
    # Recovery codes stand in for a factor; with none left they would be a password of their own.
    if not has_second_factor(user):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        db.session.flush()


# --- passkeys -------------------------------------------------------------------------------


def add_passkey(user: User, new: NewPasskey, name: str) -> list[str] | None:
    """Store a registered passkey. Returns recovery codes when it is the first factor."""
    name = " ".join(name.split())[:100] or "Passkey"
    if db.session.scalar(
        select(WebAuthnCredential.id).where(WebAuthnCredential.credential_id == new.credential_id)
    ):
        raise Conflict("this passkey is registered already")
    first = not has_second_factor(user)
    db.session.add(
        WebAuthnCredential(
            user_id=user.id,
            credential_id=new.credential_id,
            public_key=new.public_key,
            sign_count=new.sign_count,
            name=name,
            transports=new.transports,
            is_backup_eligible=new.is_backup_eligible,
            created_at=clock.now(),
        )
    )
    db.session.flush()
    record(Tag.MFA_PASSKEY_ADDED, actor=user.actor, name=name, synced=new.is_backup_eligible,
           personal=("name",))  # fmt: skip
    return issue_recovery_codes(user) if first else None


def find_passkey(credential_id: str) -> WebAuthnCredential | None:
    return db.session.scalar(
        select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential_id)
    )


def accept_assertion(credential: WebAuthnCredential, assertion: Assertion, user: User) -> None:
    """Record a verified assertion; a sign-count regression is refused and audited."""
    if is_sign_count_regression(credential.sign_count, assertion.new_sign_count):
        record(
            Tag.MFA_PASSKEY_SIGN_COUNT_REGRESSED,
            actor=user.actor,
            outcome="failure",
            passkey=credential.name,
            personal=("passkey",),
            stored=credential.sign_count,
            presented=assertion.new_sign_count,
        )
        _failed(user, "passkey")
        raise SignCountRegressed()
    credential.sign_count = assertion.new_sign_count
    credential.last_used_at = clock.now()
    _succeeded(user, "passkey")


def passkey_amr(credential: WebAuthnCredential) -> str:
    return "swk" if credential.is_backup_eligible else "hwk"


def remove_passkey(user: User, passkey_id: int, *, actor: str) -> None:
    row = db.session.get(WebAuthnCredential, passkey_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such passkey")
    db.session.delete(row)
    db.session.flush()
    record(Tag.MFA_PASSKEY_REMOVED, actor=actor, user=user.subject, name=row.name,
           personal=("name",))  # fmt: skip
    _forget_recovery_codes_if_no_factor(user)


# --- administration -------------------------------------------------------------------------


def reset_mfa(user: User, *, caller: Caller) -> None:
    """Remove every factor and recovery code (a user who lost them all); sessions end.
    Whoever resets them could then sign in as the user with a password alone: the caller must
    hold everything the user holds."""
    require_can_act_on(caller, user, action="resetting the second factors of")
    db.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    db.session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.mfa_failures = 0
    user.mfa_blocked_until = None
    end_all_sessions(user)
    record(Tag.MFA_RESET, actor=caller.actor, user=user.subject)
    db.session.flush()
