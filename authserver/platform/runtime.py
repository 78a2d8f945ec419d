"""Where the per-application state lives and how the floors find it: settings, the KEK
envelope, the pepper, the key ring, the caches and budgets. The composition root
(``authserver.app``) builds it (``AppRuntime``) and installs it in ``app.extensions``; nothing on
the floors below builds one. Nothing in it is kept only in memory that is not safe to lose."""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, current_app

from authserver.platform.config import Settings

_EXTENSION = "authserver"


class Runtime(Protocol):
    """What the floors may use of the application's state (built by ``authserver.app``)."""

    settings: Settings
    keyring: Any  # authserver.keys.keyring.KeyRing
    outbound: Any  # authserver.outbound.Outbound
    clients: Any  # authserver.clients.cache.ClientCache
    redis: Any  # authserver.platform.redis_link.RedisLink | None
    counters: Any  # authserver.budgets.store.Counters
    revocations: Any  # authserver.platform.revocation_cache.RevocationCache

    def envelope(self, reload: bool = False) -> Any:  # authserver.keys.kek.Envelope
        """The KEK envelope; ``reload`` re-reads the KEK source (after a KEK rotation)."""

    def pepper(self) -> bytes: ...


def install_runtime(app: Flask, runtime: Runtime) -> Runtime:
    app.extensions[_EXTENSION] = runtime
    return runtime


def runtime_of(app: Flask) -> Runtime:
    return app.extensions[_EXTENSION]


def current_runtime() -> Runtime:
    return runtime_of(current_app)


def current_settings() -> Settings:
    return current_runtime().settings
