"""Second factors in the service layer: encrypted TOTP secrets, replay, per-account back-off,
single-use recovery codes, sign-count regressions, KEK rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.keys.kek import KekError
from authserver.mfa import recovery, service, totp
from authserver.mfa.passkeys import Assertion, NewPasskey
from authserver.models import AuditEvent, RecoveryCode, TotpCredential, WebAuthnCredential
from authserver.platform import clock
from authserver.platform.errors import Conflict, InvalidInput
from authserver.platform.extensions import db
from authserver.rbac.containment import OPERATOR
from tests.mfa.conftest import app_code, enrol_totp


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context("/"):
        yield


def _events(prefix: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event.startswith(prefix))))


def test_the_totp_secret_is_stored_encrypted_and_bound_to_its_row(ada):
    row = service.begin_totp(ada)
    secret = service.totp_secret(row)
    assert len(secret) == 20 and secret not in row.secret_ciphertext
    other = TotpCredential(id=row.id + 1, user_id=ada.id, kek_id=row.kek_id, secret_ciphertext=b"")
    other.secret_ciphertext = row.secret_ciphertext
    with pytest.raises(KekError):
        service.totp_secret(other)  # the ciphertext copied into another row does not open


def test_enrolment_completes_only_with_a_valid_code_and_then_gives_ten_recovery_codes(ada):
    service.begin_totp(ada)
    with pytest.raises(InvalidInput):
        service.confirm_totp(ada, "000000" if app_code(ada) != "000000" else "111111")
    assert not service.factors_of(ada).has_totp
    codes = service.confirm_totp(ada, app_code(ada))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert service.factors_of(ada).has_totp and service.recovery_codes_left(ada) == 10
    assert [e.event for e in _events("account:mfa-totp")] == ["account:mfa-totp:enrolled"]
    with pytest.raises(Conflict):
        service.begin_totp(ada)  # one app at a time: remove it first


def test_a_sign_in_code_works_once(ada):
    clock.freeze()
    enrol_totp(ada)
    code = app_code(ada, steps_ahead=1)  # the enrolment used the current step
    assert service.verify_totp(ada, code) is True
    assert service.verify_totp(ada, code) is False
    clock.advance(30)
    assert service.verify_totp(ada, app_code(ada, steps_ahead=1)) is True


def test_failures_earn_an_exponential_back_off_for_the_account(ada):
    clock.freeze()
    enrol_totp(ada)
    wrong = str((int(app_code(ada, 1)) + 1) % 1_000_000).zfill(6)
    for _ in range(4):
        assert service.verify_totp(ada, wrong) is False
    assert ada.mfa_blocked_until is None
    assert service.verify_totp(ada, wrong) is False  # the fifth: 30 s
    with pytest.raises(service.TooManyAttempts) as blocked:
        service.verify_totp(ada, app_code(ada, 1))  # even the right code waits
    assert 25 <= blocked.value.retry_after <= 31
    clock.advance(31)
    assert service.verify_totp(ada, wrong) is False  # the sixth: 60 s
    with pytest.raises(service.TooManyAttempts) as blocked:
        service.use_recovery_code(ada, "anything")
    assert 55 <= blocked.value.retry_after <= 61
    clock.advance(61)
    assert service.verify_totp(ada, app_code(ada, 1)) is True
    assert ada.mfa_failures == 0 and ada.mfa_blocked_until is None
    failed = _events("account:mfa:failed")
    assert len(failed) == 6 and all(e.outcome == "failure" for e in failed)


def test_recovery_codes_are_single_use_and_hashed_and_a_new_set_replaces_the_old(ada):
    codes = enrol_totp(ada)
    stored = list(db.session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not any(recovery.normalize(c) in h or c in h for c in codes for h in stored)
    assert service.use_recovery_code(ada, codes[0].upper().replace("-", " ")) == 9
    assert service.use_recovery_code(ada, codes[0]) is None
    new = service.issue_recovery_codes(ada)
    assert service.use_recovery_code(ada, codes[1]) is None
    assert service.use_recovery_code(ada, new[0]) == 9
    used = _events("account:mfa-recovery-code:used")
    assert [e.data["remaining"] for e in used] == [9, 9]


def _passkey(credential_id="cred-1", sign_count=5) -> NewPasskey:
    return NewPasskey(
        credential_id=credential_id,
        public_key=b"cose-key",
        sign_count=sign_count,
        is_backup_eligible=False,
        transports=["internal"],
    )


def test_a_sign_count_that_does_not_grow_is_refused_and_audited(ada):
    codes = service.add_passkey(ada, _passkey(), "Laptop")
    assert codes is not None and len(codes) == 10  # the first factor brings recovery codes
    credential = service.find_passkey("cred-1")
    service.accept_assertion(credential, Assertion("cred-1", 6, True), ada)
    assert credential.sign_count == 6 and credential.last_used_at is not None
    with pytest.raises(service.SignCountRegressed):
        service.accept_assertion(credential, Assertion("cred-1", 6, True), ada)
    assert credential.sign_count == 6
    (event,) = _events("account:mfa-passkey:sign-count-regressed")
    assert event.outcome == "failure" and event.data["stored"] == 6
    # Authenticators without a counter always send 0: that is not a regression.
    service.add_passkey(ada, _passkey("cred-2", sign_count=0), "Key")
    counterless = service.find_passkey("cred-2")
    service.accept_assertion(counterless, Assertion("cred-2", 0, True), ada)


def test_removing_the_last_factor_also_removes_the_recovery_codes(ada):
    enrol_totp(ada)
    service.add_passkey(ada, _passkey(), "Laptop")
    service.remove_totp(ada, actor=ada.email)
    assert service.recovery_codes_left(ada) == 10  # the passkey is still a factor
    passkey = db.session.scalar(select(WebAuthnCredential))
    service.remove_passkey(ada, passkey.id, actor=ada.email)
    assert service.recovery_codes_left(ada) == 0 and not service.has_second_factor(ada)


def test_reset_removes_every_factor_and_ends_sessions(ada):
    enrol_totp(ada)
    service.add_passkey(ada, _passkey(), "Laptop")
    service.reset_mfa(ada, caller=OPERATOR)
    factors = service.factors_of(ada)
    assert not factors.any and factors.recovery_codes_left == 0
    assert _events("account:mfa:reset")[0].actor == "cli"


def test_a_kek_rotation_rewraps_totp_secrets(app, ada, runner):
    enrol_totp(ada)
    row = db.session.scalar(select(TotpCredential))
    before = row.kek_id
    secret = service.totp_secret(row)
    result = runner("kek", "rotate", "--json")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    app.extensions["authserver"].envelope(reload=True)
    row = db.session.scalar(select(TotpCredential))
    assert row.kek_id != before
    assert service.totp_secret(row) == secret
    assert totp.code_at(secret, 1) == totp.code_at(service.totp_secret(row), 1)
