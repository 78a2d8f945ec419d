"""When a second factor is needed, and how an authentication is described in tokens.

``amr`` values are RFC 8176's: ``pwd`` password, ``otp`` authenticator-app or recovery code,
``hwk``/``swk`` a passkey (device-bound / synced), ``mfa`` more than one factor (a passkey with
user verification counts as two: possession and PIN or biometric). ``acr`` is one of three
levels, lowest first; ``phr`` is the OpenID EAP ACR Values 1.0 name for phishing-resistant.
"""

from __future__ import annotations

import dataclasses

from authserver.config import Settings

ACR_ONE_FACTOR = "urn:authserver:acr:1fa"
ACR_MFA = "urn:authserver:acr:mfa"
ACR_PHISHING_RESISTANT = "phr"
#: Lowest first; the position is the level (1, 2, 3).
ACR_VALUES = (ACR_ONE_FACTOR, ACR_MFA, ACR_PHISHING_RESISTANT)

ONE_FACTOR, MULTI_FACTOR, PHISHING_RESISTANT = 1, 2, 3
_PASSKEY_METHODS = frozenset({"hwk", "swk"})


def level_of(amr: list[str]) -> int:
    if "mfa" not in amr:
        return ONE_FACTOR
    return PHISHING_RESISTANT if _PASSKEY_METHODS & set(amr) else MULTI_FACTOR


def acr_of(amr: list[str]) -> str:
    return ACR_VALUES[level_of(amr) - 1]


def requested_level(acr_values: str | None) -> int:
    """OIDC Core §3.1.2.1: acr_values in order of preference; any of them is acceptable, so
    the weakest one we know is what must be met. Unknown values are ignored."""
    levels = [ACR_VALUES.index(v) + 1 for v in (acr_values or "").split() if v in ACR_VALUES]
    return min(levels, default=ONE_FACTOR)


def step_up_scopes(settings: Settings) -> frozenset[str]:
    return frozenset(settings.mfa_scopes.replace(",", " ").split())


@dataclasses.dataclass(frozen=True)
class Demand:
    """What an authorization request needs: ``required`` is never waived (role, scope);
    ``wanted`` (acr_values) is met as far as the user's factors allow."""

    required: int
    wanted: int

    def target(self, attainable: int) -> int:
        return max(self.required, min(self.wanted, attainable))


def demand_for(
    user_requires_mfa: bool, scope: str, acr_values: str | None, settings: Settings
) -> Demand:
    required = ONE_FACTOR
    if user_requires_mfa or step_up_scopes(settings) & set(scope.split()):
        required = MULTI_FACTOR
    return Demand(required=required, wanted=requested_level(acr_values))


def without_step_up_scopes(scope: str, amr: list[str], settings: Settings) -> str:
    """A scope marked as needing MFA is never granted to a session without it."""
    if "mfa" in amr:
        return scope
    marked = step_up_scopes(settings)
    return " ".join(s for s in scope.split() if s not in marked)


def combined_amr(before: list[str], added: list[str]) -> list[str]:
    """The methods of a session after another factor: ``mfa`` once two kinds are present."""
    methods = set(before) | set(added)
    methods.discard("mfa")
    if len(methods) >= 2 or "mfa" in added:
        methods.add("mfa")
    return sorted(methods)
