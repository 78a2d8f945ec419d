"""argon2id password hashes, and the stand-in an unknown account is checked against."""

from __future__ import annotations

from argon2 import extract_parameters

from authserver.accounts import passwords


def test_an_unknown_account_costs_one_verification_in_the_same_parameters():
    """The stand-in hash is written out, not computed at import, yet argon2 reads it with the
    parameters of a real hash, so checking a password against it costs the same."""
    real = passwords.hash_password("correct horse battery staple")
    assert extract_parameters(passwords._DUMMY_HASH) == extract_parameters(real)
    assert passwords.verify_password(None, "correct horse battery staple") is False
    assert passwords.verify_password(real, "correct horse battery staple") is True
    assert passwords.verify_password(real, "not the password at all") is False
