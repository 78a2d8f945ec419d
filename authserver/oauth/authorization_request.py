"""What every authorization request (RFC 6749 §4.1.1), pushed (RFC 9126) or in the URL, is
checked for before Authlib sees it: the response modes this server answers in, and characters
RFC 6749 Appendix A does not allow in the parameters (VSCHAR)."""

from __future__ import annotations

RESPONSE_MODES = ("query", "form_post")
# RFC 6749 Appendix A: these are VSCHAR (printable ASCII) strings, the redirect URI an ASCII URI.
_VSCHAR_PARAMS = ("response_type", "client_id", "scope", "state", "redirect_uri",
                  "code_challenge", "code_challenge_method", "response_mode", "prompt",
                  "max_age", "acr_values")  # fmt: skip


# Authlib quotes an unknown response_type in its error description, and refuses (ValueError:
# a 500) the two VSCHAR characters RFC 6749 §5.2 forbids there; no response type (§3.1.1:
# letters, digits, "_") has them.
_UNQUOTABLE = frozenset('"\\')


def has_bad_characters(args) -> bool:  # noqa: ANN001
    if any(c in _UNQUOTABLE for value in args.getlist("response_type") for c in value):
        return True
    return any(
        any(not 0x20 <= ord(c) <= 0x7E for c in value)
        for name in _VSCHAR_PARAMS
        for value in args.getlist(name)
    )


def check_parameters(args) -> str | None:  # noqa: ANN001
    """What is wrong with a pushed authorization request before Authlib sees it."""
    if has_bad_characters(args):
        return "The authorization request has characters it may not have."
    if args.get("response_mode", "query") not in RESPONSE_MODES:
        return "response_mode must be query or form_post."
    return None
