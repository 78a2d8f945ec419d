"""The one authorization-request pipeline: every check an authorization request (RFC 6749
§4.1.1, OIDC Core §3.1.2.1) gets before any user interaction, in one order, whether it comes
in the URL of ``/oauth/authorize`` or is pushed to ``/oauth/par`` (RFC 9126 §2.1: the server
validates a pushed request as it would an authorization request). node-oidc-provider's
``lib/actions/authorization/`` is the model: a list of small checks run in turn.

The device authorization request (RFC 8628 §3.1) has no redirect URI, response type or prompt;
its one shared rule, the scope a client may ask for, is ``grants.check_requested_scope``, which
the code grant below uses too.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, OAuth2Request

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


def validated_grant(server, oauth_request: OAuth2Request, end_user=None):  # noqa: ANN001, ANN201
    """The authorization grant of a valid request, its ``redirect_uri`` set; else an
    OAuth2Error, with ``redirect_uri`` only once the client and its redirect URI are known to
    be right (before that, an error page or, at PAR, JSON: RFC 6749 §4.1.2.1, no open
    redirect), and with the request's ``state``."""
    oauth_request.user = end_user
    try:
        return _checked(server, oauth_request)
    except OAuth2Error as error:
        error.state = oauth_request.payload.state
        raise


def _checked(server, oauth_request: OAuth2Request):  # noqa: ANN001, ANN202
    params = oauth_request.payload.data
    if has_bad_characters(params):
        raise InvalidRequestError(
            description="The authorization request has characters it may not have."
        )
    grant = server.get_authorization_grant(oauth_request)  # by response_type
    grant.validate_no_multiple_request_parameter(oauth_request)  # RFC 6749 §3.1
    # The client, its exact redirect URI, scope, PKCE, resources, nonce (code_flow).
    grant.redirect_uri = grant.validate_authorization_request()
    for check in (_check_prompt, _check_response_mode):
        problem = check(params)
        if problem:
            raise InvalidRequestError(description=problem, redirect_uri=grant.redirect_uri)
    return grant


def _check_prompt(params) -> str | None:  # noqa: ANN001
    # OIDC Core §3.1.2.1: "none" with any other value is an error. Whether the user must
    # sign in or consent is the interaction's decision (authorize.py), made after this.
    prompts = params.get("prompt", "").split()
    if "none" in prompts and len(prompts) > 1:
        return "prompt=none may not be combined with other values."
    return None


def _check_response_mode(params) -> str | None:  # noqa: ANN001
    # OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode: the two answered here.
    if params.get("response_mode", "query") not in RESPONSE_MODES:
        return "response_mode must be query or form_post."
    return None
