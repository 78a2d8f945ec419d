"""When a second factor is demanded, and how amr/acr describe a sign-in."""

from __future__ import annotations

import pytest

from authserver.mfa import policy
from authserver.platform import acr
from authserver.platform.acr import ACR_MFA, ACR_ONE_FACTOR, ACR_PHISHING_RESISTANT
from authserver.platform.config import Settings


@pytest.mark.parametrize(
    ("amr", "expected"),
    [
        (["pwd"], ACR_ONE_FACTOR),
        (["mfa", "otp", "pwd"], ACR_MFA),
        (["hwk", "mfa", "pwd"], ACR_PHISHING_RESISTANT),
        (["hwk", "mfa"], ACR_PHISHING_RESISTANT),
        (["hwk"], ACR_ONE_FACTOR),
    ],
)
def test_acr_follows_the_methods(amr, expected):
    assert acr.acr_of(amr) == expected


@pytest.mark.parametrize(
    ("before", "added", "after"),
    [
        (["pwd"], ["otp"], ["mfa", "otp", "pwd"]),
        (["pwd"], ["hwk"], ["hwk", "mfa", "pwd"]),
        (["hwk"], ["mfa"], ["hwk", "mfa"]),
        (["mfa", "otp", "pwd"], ["otp"], ["mfa", "otp", "pwd"]),
        ([], ["pwd"], ["pwd"]),
    ],
)
def test_a_second_kind_of_factor_makes_the_sign_in_multi_factor(before, added, after):
    assert acr.combined_amr(before, added) == after


def test_acr_values_are_met_by_the_weakest_known_value_asked_for():
    assert acr.requested_level(None) == acr.ONE_FACTOR
    assert acr.requested_level(ACR_MFA) == acr.MULTI_FACTOR
    assert acr.requested_level(f"{ACR_PHISHING_RESISTANT} {ACR_MFA}") == acr.MULTI_FACTOR
    assert acr.requested_level("urn:unknown") == acr.ONE_FACTOR
    assert acr.requested_level(ACR_PHISHING_RESISTANT) == acr.PHISHING_RESISTANT


def test_role_and_scope_requirements_are_never_waived_but_acr_values_are_capped():
    settings = Settings(mfa_scopes="keys:rotate payments:write")
    assert policy.demand_for(False, "openid", None, settings).target(1) == acr.ONE_FACTOR
    assert policy.demand_for(True, "openid", None, settings).target(1) == acr.MULTI_FACTOR
    by_scope = policy.demand_for(False, "openid payments:write", None, settings)
    assert by_scope.target(1) == acr.MULTI_FACTOR
    wanted = policy.demand_for(False, "openid", ACR_PHISHING_RESISTANT, settings)
    # Only a user with a passkey can reach phr; with a TOTP app the request gets mfa.
    assert wanted.target(3) == acr.PHISHING_RESISTANT
    assert wanted.target(2) == acr.MULTI_FACTOR
    assert wanted.target(1) == acr.ONE_FACTOR


def test_step_up_scopes_are_dropped_from_a_grant_without_mfa():
    settings = Settings(mfa_scopes="keys:rotate, payments:write")
    scope = "openid keys:rotate orders:read payments:write"
    assert policy.without_step_up_scopes(scope, ["pwd"], settings) == "openid orders:read"
    assert policy.without_step_up_scopes(scope, ["mfa", "otp", "pwd"], settings) == scope
