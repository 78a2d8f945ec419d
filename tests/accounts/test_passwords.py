"""argon2id password hashes, and the stand-in an unknown account is checked against."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from authserver.accounts import passwords
from authserver.platform.config import ConfigError, Settings, load_settings
from authserver.platform.password_cost import DEFAULT


def test_an_unknown_account_costs_one_verification_in_the_same_parameters():
    """The stand-in hash is written out, not computed at import, yet argon2 reads it with the
    parameters of a real hash, so checking a password against it costs the same."""
    real = passwords.hash_password("correct horse battery staple")
    assert extract_parameters(passwords._DUMMY_HASH) == extract_parameters(real)
    assert passwords.verify_password(None, "correct horse battery staple") is False
    assert passwords.verify_password(real, "correct horse battery staple") is True
    assert passwords.verify_password(real, "not the password at all") is False


def test_the_default_cost_is_rfc_9106s_second_recommendation(tmp_path):
    """A server with no AUTHSERVER_PASSWORD_HASH hashes at m=64 MiB, t=3, p=4 (the suite's
    own apps use the cheapest cost allowed, see tests/conftest.py)."""
    from tests.conftest import make_app

    make_app(tmp_path, password_hash=str(DEFAULT))
    params = extract_parameters(passwords.hash_password("correct horse battery staple"))
    assert (params.memory_cost, params.time_cost, params.parallelism) == (65536, 3, 4)
    assert Settings().password_cost == DEFAULT


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("m=65536,t=3", "m=KiB,t=passes,p=lanes"),
        ("m=8192,t=1,p=1", "OWASP minimum"),  # 8 MiB × 1: under 19 MiB × 2
        ("m=4096,t=10,p=1", "OWASP minimum"),  # enough work, too little memory
        ("m=19456,t=2,p=0", "p from 1 to 64"),
        ("m=99999999,t=1,p=1", "at most"),
    ],
)
def test_a_cost_below_owasps_minimum_or_malformed_stops_the_server(value, words):
    with pytest.raises(ConfigError) as refused:
        load_settings({"AUTHSERVER_PASSWORD_HASH": value})
    assert str(refused.value).startswith("AUTHSERVER_PASSWORD_HASH: ")
    assert words in str(refused.value)


@pytest.mark.parametrize("value", ["m=19456,t=2,p=1", "m=47104,t=1,p=1", "m=7168,t=5,p=1"])
def test_owasps_equivalent_minimums_are_accepted_and_used(tmp_path, value):
    from tests.conftest import make_app

    assert str(load_settings({"AUTHSERVER_PASSWORD_HASH": value}).password_cost) == value
    make_app(tmp_path, password_hash=value)
    made = passwords.hash_password("correct horse battery staple")
    assert made.startswith(f"$argon2id$v=19${value}$")
    assert extract_parameters(passwords._DUMMY_HASH) == extract_parameters(made)
