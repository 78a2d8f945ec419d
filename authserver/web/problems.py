"""Errors as RFC 9457 ``application/problem+json``: the admin API's format, and that of
every refusal answered on its behalf (budgets, the error handlers)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An RFC 9457 problem; ``detail`` and ``errors`` are shown to the caller."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors
        self.headers = headers or {}
        self.extensions: dict[str, Any] = {}  # RFC 9457 §3.2 extension members

    def response(self) -> Response:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        response = Response(json.dumps(body), status=self.status, mimetype=PROBLEM_JSON)
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = "no-store"
        return response


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem_for(status: int, detail: str | None = None) -> Problem:
    return Problem(status, TITLES.get(status, "Error"), detail)
