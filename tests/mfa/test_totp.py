"""TOTP codes (RFC 6238): the ±1 step window, replay refusal, and what an app is given."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from authserver.mfa import totp

SECRET = bytes(range(20))
NOW = dt.datetime(2026, 11, 27, 12, 0, 15, tzinfo=dt.UTC)


def reference_code(when: dt.datetime) -> str:
    """The code an authenticator app shows at ``when`` (cryptography's own TOTP)."""
    return TOTP(SECRET, 6, SHA1(), 30).generate(int(when.timestamp())).decode()  # noqa: S303


@pytest.mark.parametrize("offset_steps", [-1, 0, 1])
def test_codes_of_the_current_step_and_one_either_side_are_accepted(offset_steps):
    code = reference_code(NOW + dt.timedelta(seconds=30 * offset_steps))
    assert totp.matching_step(SECRET, code, NOW, None) == totp.step_at(NOW) + offset_steps


@pytest.mark.parametrize("offset_steps", [-3, -2, 2, 3])
def test_codes_two_or_more_steps_away_are_refused(offset_steps):
    code = reference_code(NOW + dt.timedelta(seconds=30 * offset_steps))
    assert totp.matching_step(SECRET, code, NOW, None) is None


def test_a_code_is_refused_once_its_step_was_used():
    code = reference_code(NOW)
    step = totp.matching_step(SECRET, code, NOW, None)
    assert step is not None
    assert totp.matching_step(SECRET, code, NOW, last_used_step=step) is None
    # An older code is refused too, even inside the window.
    older = reference_code(NOW - dt.timedelta(seconds=30))
    assert totp.matching_step(SECRET, older, NOW, last_used_step=step) is None
    # The next step's code still works.
    newer = reference_code(NOW + dt.timedelta(seconds=30))
    assert totp.matching_step(SECRET, newer, NOW, last_used_step=step) == step + 1


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "１２３４５６", "12 34 5x"])
def test_malformed_codes_are_refused(bad):
    assert totp.matching_step(SECRET, bad, NOW, None) is None


def test_spaces_inside_a_code_are_ignored():
    code = reference_code(NOW)
    assert totp.matching_step(SECRET, f"{code[:3]} {code[3:]}", NOW, None) is not None


def test_the_secret_text_and_the_qr_uri_carry_the_same_160_bit_secret():
    secret = totp.new_secret()
    assert len(secret) == 20
    typed = totp.secret_text(secret).replace(" ", "")
    assert base64.b32decode(typed + "=" * (-len(typed) % 8)) == secret
    uri = totp.provisioning_uri(secret, "ada@example.com", "authserver")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    query = parse_qs(parts.query)
    assert query["secret"] == [typed] and query["issuer"] == ["authserver"]
    assert totp.new_secret() != secret
