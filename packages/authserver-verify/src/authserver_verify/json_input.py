"""JSON from outside (request bodies, fetched documents, signed payloads), with a depth limit.

Python's ``json`` recurses once per level of nesting: a document nested about 1,000 deep raises
``RecursionError``, which is no ``ValueError`` and so escaped every caller's handling of bad
JSON (a 500), and a shallower one can still exhaust the stack of the code that walks the result
(validation, storage checks, serialisation). RFC 8259 §9 lets a parser limit the depth of
nesting; here it is measured before anything is parsed, in one pass without recursion, so a
document that is too deep is refused whatever parses it afterwards (``json`` here, or a library
handed the text: joserfc, Authlib, py_webauthn).

The standard library only: the verifier uses it for what it fetches (JWK Sets, introspection
answers) and the server for everything it reads.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: Deeper than anything the server reads (a JWK Set in client metadata is 4 levels).
MAX_DEPTH = 32

# A JSON string (RFC 8259 §7), whose brackets are no nesting; one left open runs to the end, as
# it does for a parser (which then fails on it). Every match succeeds where it starts and
# never backtracks, so the scan is linear whatever the text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JSONInputError(ValueError):
    """The text is not UTF-8, not JSON, or nested too deep; ``str()`` says which, in words fit
    to follow "The body is" ("not JSON", "nested deeper than 32 levels")."""


def depth_of(data: bytes | str) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), without parsing it.

    Exact for valid JSON; for invalid JSON never less than a parser reaches before it fails."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(0, max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0))


def check_depth(data: bytes | str, max_depth: int = MAX_DEPTH) -> None:
    """Raise JSONInputError when ``data`` nests deeper than ``max_depth``."""
    if depth_of(data) > max_depth:
        raise JSONInputError(f"nested deeper than {max_depth} levels")


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` of UTF-8 (RFC 8259 §8.1) nested at most ``max_depth`` deep, else
    JSONInputError."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JSONInputError("not UTF-8") from None
    check_depth(data, max_depth)
    try:
        return json.loads(data)
    except ValueError:
        raise JSONInputError("not JSON") from None
