"""How an authentication is described in tokens (protocol vocabulary).

``amr`` values are RFC 8176's: ``pwd`` password, ``otp`` authenticator-app or recovery code,
``hwk``/``swk`` a passkey (device-bound / synced), ``mfa`` more than one factor (a passkey with
user verification counts as two: possession and PIN or biometric). ``acr`` is one of three
levels, lowest first; ``phr`` is the OpenID EAP ACR Values 1.0 name for phishing-resistant.
"""

from __future__ import annotations

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


def combined_amr(before: list[str], added: list[str]) -> list[str]:
    """The methods of a session after another factor: ``mfa`` once two kinds are present."""
    methods = set(before) | set(added)
    methods.discard("mfa")
    if len(methods) >= 2 or "mfa" in added:
        methods.add("mfa")
    return sorted(methods)
