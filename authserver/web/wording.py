"""What a person reads when a protocol request fails on a browser page (the error page of the
authorization and logout endpoints and of the page blueprints).

A relying party gets the protocol's own ``error`` and ``error_description`` (RFC 6749 §4.1.2.1,
in the redirect or JSON); a person on the error page gets plain words from the one table below,
as node-oidc-provider splits the text shown from the detail logged. Authlib's descriptions
("Missing 'client_id' parameter.", "response_type=... is not supported") never reach the page;
the original is logged. A description we wrote in plain words for a person (the reused nonce in
``oauth/oidc.py``) is shown as it is.
"""

from __future__ import annotations

import logging
import re

from authlib.oauth2.rfc6749 import OAuth2Error

log = logging.getLogger(__name__)

_START_AGAIN = "Go back to the application and start again."
_TELL_THEM = "If it happens again, tell the people who run the application."

#: (error code, a word of the description or None for any, what the page says). The first row
#: that matches wins; rows with a word come before their code's catch-all.
PLAIN_WORDS: tuple[tuple[str, str | None, str], ...] = (
    ("invalid_client", "client_id", "The link that brought you here does not say which "
     f"application it is for. {_START_AGAIN}"),
    ("invalid_client", None, "The link that brought you here is for an application this "
     f"server does not know. {_START_AGAIN} {_TELL_THEM}"),
    ("invalid_request", "redirect", "The application asked to send you back to an address it "
     f"has not registered here, so you are not sent there. {_START_AGAIN} {_TELL_THEM}"),
    ("invalid_request", "response_type", "The link that brought you here is incomplete. "
     f"{_START_AGAIN}"),
    ("invalid_request", "characters", "The link that brought you here is damaged. "
     f"{_START_AGAIN}"),
    ("invalid_request", None, f"The application sent you here with a request that is not "
     f"complete or not valid. {_START_AGAIN} {_TELL_THEM}"),
    ("unsupported_response_type", None, "The application asked to sign you in in a way this "
     f"server does not offer. {_START_AGAIN} {_TELL_THEM}"),
    ("unauthorized_client", None, "This application may not sign you in this way. "
     f"{_START_AGAIN} {_TELL_THEM}"),
    ("invalid_scope", None, "The application asked for access that this server does not give "
     f"it. {_START_AGAIN} {_TELL_THEM}"),
    ("access_denied", None, "The application was not allowed access."),
    ("login_required", None, f"You need to sign in for this. {_START_AGAIN}"),
    ("interaction_required", None, f"You need to sign in or confirm something first. "
     f"{_START_AGAIN}"),
    ("account_selection_required", None, f"You need to choose an account first. {_START_AGAIN}"),
    ("consent_required", None, "The application needs your permission but did not ask for "
     f"it. {_START_AGAIN}"),
    ("invalid_request_uri", None, f"This sign-in link was used already or has expired. "
     f"{_START_AGAIN}"),
    ("invalid_request_object", None, f"The link that brought you here is damaged. "
     f"{_START_AGAIN}"),
    ("request_not_supported", None, f"The application asked in a way this server does not "
     f"offer. {_START_AGAIN} {_TELL_THEM}"),
    ("request_uri_not_supported", None, f"The application asked in a way this server does not "
     f"offer. {_START_AGAIN} {_TELL_THEM}"),
    ("temporarily_unavailable", None, "The server is busy. Try again in a minute."),
    ("server_error", None, "Something went wrong on our side. Try again in a minute."),
)  # fmt: skip

#: For an error code the table does not know.
UNKNOWN = f"This request cannot be completed. {_START_AGAIN} {_TELL_THEM}"

# What the protocol's own descriptions have and a sentence for a person has not: parameter
# names (snake_case, quoted or with "="), and its words for the parties and for access. An
# error class's own description (Authlib's, addressed to the client) counts as jargon too.
_JARGON = re.compile(
    r"[a-z]+_[a-z_]+|['\"=]|\b(?:client|URI|parameter|server|scope)\b", re.IGNORECASE
)


def page_words(error: OAuth2Error) -> str:
    """The plain words for ``error`` on a browser page."""
    description = error.get_error_description() or ""
    authlibs = description == type(error).description  # the class's own, for the client
    if description and not authlibs and not _JARGON.search(description):
        return description  # ours, written for a person
    log.info("protocol error shown in plain words: %s: %s", error.error, description or "-")
    for code, word, words in PLAIN_WORDS:
        if code == error.error and (word is None or word in description):
            return words
    return UNKNOWN
