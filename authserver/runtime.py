"""Per-application state that is costly to rebuild: settings, the KEK envelope, the pepper,
the key ring. It lives in ``app.extensions``; nothing here is kept only in memory that is
not safe to lose."""

from __future__ import annotations

from flask import Flask, current_app

from authserver.budgets.buckets import Mode
from authserver.budgets.store import Counters
from authserver.clients.cache import ClientCache
from authserver.config import Settings
from authserver.keys.kek import Envelope, kek_source_for
from authserver.keys.keyring import KeyRing
from authserver.keys.pepper import load_pepper
from authserver.oauth.revocation_cache import RevocationCache
from authserver.outbound import Outbound
from authserver.redis_link import RedisLink

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
        # Redis, when configured, with whether it is reachable now (each user has a fallback).
        self.redis = RedisLink(settings.redis_url) if settings.redis_url else None
        # Budgets: Redis's while it answers, else this host's shared counters.
        self.counters = Counters(host_counters(settings), self.redis)
        sqlite_file = settings.sqlite_file
        self.revocations = RevocationCache(
            settings.revocation_cache_ttl,
            self.redis,
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


def host_counters(settings: Settings):  # noqa: ANN201
    """The counters every process of this host shares; per process only if the file cannot be
    made (logged: each worker would then count on its own)."""
    import logging

    from authserver.budgets.host import HostCounters, ProcessCounters

    counters = HostCounters(settings.rate_limit_path)
    try:
        counters.apply(0.0, [], Mode.TAKE)  # opens (and if need be makes) the file now
    except OSError as e:
        logging.getLogger(__name__).error(
            "budgets cannot be shared through %s (%s): each process counts on its own",
            settings.rate_limit_path, e,
        )  # fmt: skip
        return ProcessCounters()
    return counters


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
