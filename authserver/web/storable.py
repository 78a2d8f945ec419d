"""Browser forms and queries hold only text a database can store: a NUL character (PostgreSQL
refuses it in text) or a lone surrogate anywhere in the query, the form or the path is a 400
page, as the admin API answers it, rather than a database error deep in a service."""

from __future__ import annotations

from flask import Flask, make_response, render_template, request
from werkzeug.wrappers import Response


def _storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(pages: frozenset[str]) -> Response | None:
    if request.blueprint not in pages:
        return None
    values = [*request.args.keys(), *request.args.values(), *(request.view_args or {}).values()]
    if request.method == "POST":
        values += [*request.form.keys(), *(v for _, v in request.form.items(multi=True))]
    if all(_storable(v) for v in values if isinstance(v, str)):
        return None
    message = "The request holds a character no text may hold (NUL)."
    return make_response(render_template("error.html", message=message), 400)


def refuse_unstorable_input(app: Flask, *blueprints: str) -> None:
    """For the browser pages of ``blueprints`` (the protocol endpoints and the admin API answer
    in their own formats)."""
    pages = frozenset(blueprints)
    app.before_request(lambda: _unstorable(pages))
