"""Per-application state that is costly to rebuild: settings, the KEK envelope, the pepper,
the key ring. It lives in ``app.extensions``; nothing here is kept only in memory that is
not safe to lose."""

from __future__ import annotations

from flask import Flask, current_app

from authserver.clients.cache import ClientCache
from authserver.config import Settings
from authserver.keys.kek import Envelope, kek_source_for
from authserver.keys.keyring import KeyRing
from authserver.keys.pepper import load_pepper
from authserver.oauth.revocation_cache import RevocationCache
from authserver.outbound import Outbound

_EXTENSION = "authserver"


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._envelope: Envelope | None = None
        self._pepper: bytes | None = None
        self.keyring = KeyRing(settings, self.envelope)
        # Every request the server sends (SSRF rules, deadline, size cap).
        self.outbound = Outbound(settings)
        self.clients = ClientCache(settings.keyring_refresh_seconds)
        sqlite_file = settings.sqlite_file
        self.revocations = RevocationCache(
            settings.revocation_cache_ttl,
            settings.rate_limit_storage if settings.uses_redis else None,
            stamp=sqlite_file.with_name(sqlite_file.name + ".revocations") if sqlite_file else None,
            on_forget_all=self.clients.invalidate,
        )

    def envelope(self, reload: bool = False) -> Envelope:
        """The KEK envelope; ``reload`` re-reads the KEK source (after a KEK rotation)."""
        if self._envelope is None or reload:
            self._envelope = Envelope(kek_source_for(self.settings).keks())
        return self._envelope

    def pepper(self) -> bytes:
        if self._pepper is None:
            self._pepper = load_pepper(self.envelope())
        return self._pepper


def install_runtime(app: Flask, settings: Settings) -> Runtime:
    runtime = Runtime(settings)
    app.extensions[_EXTENSION] = runtime
    return runtime


def runtime_of(app: Flask) -> Runtime:
    return app.extensions[_EXTENSION]


def current_runtime() -> Runtime:
    return runtime_of(current_app)


def current_settings() -> Settings:
    return current_runtime().settings
