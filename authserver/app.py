"""create_app: settings → checks → extensions → blueprints → error handlers."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from authserver import models  # noqa: F401  (registers the tables)
from authserver.accounts.passwords import use_cost as use_password_cost
from authserver.admin.blueprint import bp as admin_bp
from authserver.api.v1 import bp as api_v1_bp
from authserver.audit.background import install_background_audit
from authserver.budgets.buckets import Mode
from authserver.budgets.host import HostCounters, ProcessCounters
from authserver.budgets.store import Counters
from authserver.clients.cache import ClientCache
from authserver.gateway.door import install_gateway_door
from authserver.gateway.endpoint import install as install_gateway
from authserver.gateway.rules import rule_book
from authserver.keys.kek import Envelope, kek_source_for
from authserver.keys.keyring import KeyRing
from authserver.keys.pepper import load_pepper
from authserver.oauth.authorize import bp as authorize_bp
from authserver.oauth.backchannel import install_backchannel
from authserver.oauth.device_pages import bp as device_bp
from authserver.oauth.direct import install_protocol_endpoints
from authserver.oauth.published import install_published_documents
from authserver.oauth.registration import bp as registration_bp
from authserver.oauth.server import config_oauth
from authserver.oauth.views import bp as oauth_bp
from authserver.ops.health import bp as health_bp
from authserver.ops.metrics import bp as metrics_bp
from authserver.outbound import Outbound
from authserver.pages.account import bp as accounts_bp
from authserver.pages.branding import install_branding
from authserver.pages.home import bp as home_bp
from authserver.pages.reset import bp as reset_bp
from authserver.pages.security import bp as mfa_bp
from authserver.platform.checks import check_settings
from authserver.platform.config import (
    INSTANCE_DIR,
    MIGRATIONS_DIR,
    TEMPLATES_DIR,
    Settings,
    load_settings,
    unknown_variables,
)
from authserver.platform.extensions import db, migrate
from authserver.platform.front_door import FrontDoor
from authserver.platform.headers import register_security_headers
from authserver.platform.ip_privacy import use_ip_addresses
from authserver.platform.logging_setup import configure_logging
from authserver.platform.metrics import initialise_series
from authserver.platform.pg_news import PostgresNews
from authserver.platform.private_files import create_private_file, make_private_dir
from authserver.platform.redis_link import RedisLink
from authserver.platform.request_id import register_request_id
from authserver.platform.revocation_cache import RevocationCache
from authserver.platform.runtime import install_runtime
from authserver.platform.vocabulary import GRANT_TYPES
from authserver.usage import UsageCounter, add_gateway_count, install_usage_counter
from authserver.web.browser import configure_browser
from authserver.web.errors import register_error_handlers
from authserver.web.ratelimit import install_rate_limits
from authserver.web.storable import refuse_unstorable_input
from authserver.webhooks.worker import install_webhooks

log = logging.getLogger(__name__)


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(overrides=config_overrides)
    check_settings(settings)
    configure_logging(settings.log_level, settings.log_format)
    use_password_cost(settings.password_cost)
    use_ip_addresses(settings.ip_addresses)
    for warning in unknown_variables():
        log.warning("%s; it is ignored", warning)

    app = Flask(
        "authserver",
        template_folder=str(TEMPLATES_DIR),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    _ensure_sqlite_file(settings)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))

    runtime = install_runtime(app, AppRuntime(settings))
    install_usage_counter(app, settings.usage_flush_seconds)
    gateway_usage = UsageCounter(app, settings.usage_flush_seconds, writer=add_gateway_count)
    install_gateway(app, rule_book(settings.gateway_rules_ttl_seconds), gateway_usage)
    install_backchannel(app)
    # The outbox listens to every audit record from here on; `serve`'s workers start the sender.
    install_webhooks(app)
    if settings.audit_token_issuance:
        install_background_audit(app)
    config_oauth(app, runtime)
    configure_browser(app)
    install_branding(app, settings)
    refuse_unstorable_input(app, "home", "accounts", "reset", "mfa", "admin")
    app.register_blueprint(oauth_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(reset_bp)
    app.register_blueprint(mfa_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(authorize_bp)
    app.register_blueprint(device_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(api_v1_bp)
    register_error_handlers(app)
    register_security_headers(app)
    register_request_id(app)
    # Counted, timed, logged and given the headers every response has: as in front of Flask.
    FrontDoor(settings).install(app)
    limits = install_rate_limits(app, settings)
    initialise_series(GRANT_TYPES, tuple(limits.budgets))
    install_protocol_endpoints(app, limits)
    install_published_documents(app)
    install_gateway_door(app)
    if settings.trusted_proxies:
        # The client's address and scheme as the trusted proxies saw them (rate limits, audit).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    return app


class AppRuntime:
    """The application's state (``authserver.platform.runtime.Runtime``), built once per app."""

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
        # Revocation news: through Redis, a stamp file beside SQLite, or PostgreSQL's NOTIFY.
        on_postgresql = settings.database_url.startswith("postgresql")
        self.revocations = RevocationCache(
            settings.revocation_cache_ttl,
            self.redis,
            stamp=sqlite_file.with_name(sqlite_file.name + ".revocations") if sqlite_file else None,
            on_forget_all=self.clients.invalidate,
            news=PostgresNews() if on_postgresql and self.redis is None else None,
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
    counters = HostCounters(settings.rate_limit_path)
    try:
        counters.apply(0.0, [], Mode.TAKE)  # opens (and if need be makes) the file now
    except OSError as e:
        log.error(
            "budgets cannot be shared through %s (%s): each process counts on its own",
            settings.rate_limit_path, e,
        )  # fmt: skip
        return ProcessCounters()
    return counters


def _engine_options(settings: Settings) -> dict:
    if settings.database_url.startswith("sqlite"):
        # Several worker processes share one file: wait for a lock instead of failing.
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # hide_parameters: a failed statement's message (which the error log keeps) must not carry
    # its bound values, among them password and secret hashes and emails.
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "hide_parameters": True}


def _ensure_sqlite_file(settings: Settings) -> None:
    """The database file (and its folder) private before SQLite first opens it: SQLite gives
    the -wal and -shm files it makes later the database file's mode
    (authserver.platform.private_files)."""
    path = settings.sqlite_file
    if path is not None:
        make_private_dir(path.parent)
        create_private_file(path)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed while one process writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A deleted row's bytes are overwritten, not left in free pages: an erased person's
        # data must not be readable in the file (docs/data-protection.md).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
