"""authserver: an OAuth 2.0 / OpenID Connect authorization server.

Importing the package must stay cheap: every CLI call imports it, and most commands (``--help``,
``kek generate``, ``serve``'s master) need no app, so ``create_app`` is resolved lazily
(PEP 562). Resource servers use the verifier, ``authserver_verify``, a distribution of its own.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from authserver.app import create_app

        return create_app
    raise AttributeError(name)
