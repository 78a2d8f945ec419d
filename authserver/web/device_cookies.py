"""Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device Cookies", referenced
from its Authentication and Credential Stuffing Prevention cheat sheets): a browser that has
signed in to an account is told so in a signed cookie, and its later sign-ins to that account are
counted against a budget of their own (account and device), so failures from anywhere else can
neither lock it out nor slow it down.

The cookie holds up to five entries, newest first, one per account signed in from this browser:
``<nonce>.<mac>``, the nonce 128 random bits and the mac HMAC-SHA256 (truncated to 128 bits) of
the account's normalised email and the nonce, keyed with a key derived from the pepper as the
session cookie's signing key is (``browser.py``): every worker and every restart agrees, and
there is no other secret to manage. Neither the email nor anything about the account is in the
cookie. It is ``HttpOnly``, ``SameSite=Strict`` (only the sign-in form of this server needs it),
``Secure`` with the ``__Host-`` prefix over https, and lasts ``AUTHSERVER_DEVICE_COOKIE_TTL``.
A cookie whose own budget is spent is treated as absent (the sign-in is then counted like any
other), as OWASP describes for a device cookie under attack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import Request, Response

from authserver.platform.runtime import current_runtime
from authserver.web.browser import cookie_name

NAME = "authserver_device"
MAX_ENTRIES = 5
_LABEL = b"authserver:device-cookie"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _key() -> bytes:
    return hmac.new(current_runtime().pepper(), _LABEL, hashlib.sha256).digest()


def _mac(key: bytes, account: str, nonce: str) -> str:
    message = f"{account}\n{nonce}".encode("utf-8", "surrogatepass")
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:16])


def _entries(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(cookie_name(current_runtime().settings, NAME), "")
    entries = []
    for entry in raw.split("~")[:MAX_ENTRIES]:
        nonce, _, mac = entry.partition(".")
        if 16 <= len(nonce) <= 32 and 16 <= len(mac) <= 32:
            entries.append((nonce, mac))
    return entries


def device_of(request: Request, account: str) -> str | None:
    """The nonce of this browser's device cookie for ``account`` (a normalised email), if it
    carries a valid one."""
    entries = _entries(request)
    if not entries:
        return None
    key = _key()
    found = None
    for nonce, mac in entries:  # each entry is checked, in constant time
        if hmac.compare_digest(_mac(key, account, nonce), mac):
            found = nonce
    return found


def remember_device(request: Request, response: Response, account: str) -> None:
    """After a sign-in to ``account``: its entry first (the same nonce if the browser has one,
    so the device keeps its budget), the others after it, at most five."""
    key = _key()
    entries = _entries(request)
    nonce = device_of(request, account) or _b64(secrets.token_bytes(16))
    kept = [f"{n}.{m}" for n, m in entries if n != nonce]
    value = "~".join([f"{nonce}.{_mac(key, account, nonce)}", *kept][:MAX_ENTRIES])
    settings = current_runtime().settings
    response.set_cookie(
        cookie_name(settings, NAME),
        value,
        max_age=settings.device_cookie_ttl_seconds,
        secure=settings.is_https,
        httponly=True,
        samesite="Strict",
        path="/",
    )
