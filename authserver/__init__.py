"""authserver: an OAuth 2.0 / OpenID Connect authorization server.

Importing the package must stay cheap: downstream resource servers import
``authserver.verify`` without Flask, SQLAlchemy or the app, so ``create_app`` is
resolved lazily (PEP 562).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from authserver.app import create_app

        return create_app
    raise AttributeError(name)
