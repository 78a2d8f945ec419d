"""Domain errors outside the OAuth protocol endpoints.

``description`` may be shown to the caller; ``detail`` is for the log only.
"""

from __future__ import annotations


class AuthServerError(Exception):
    def __init__(
        self, error: str, description: str, status: int = 400, detail: str | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.detail = detail
        # Seconds after which a retry may succeed (a 503's Retry-After, RFC 9110 §10.2.3).
        self.retry_after: int | None = None


class NotFound(AuthServerError):
    def __init__(self, description: str) -> None:
        super().__init__("not_found", description, 404)


class InvalidInput(AuthServerError):
    def __init__(self, description: str) -> None:
        super().__init__("invalid_input", description, 400)


class Conflict(AuthServerError):
    def __init__(self, description: str) -> None:
        super().__init__("conflict", description, 409)
