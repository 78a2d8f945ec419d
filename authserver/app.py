"""create_app: settings → checks → extensions → blueprints → error handlers."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from authserver.checks import check_settings
from authserver.config import PROJECT_ROOT, Settings, load_settings
from authserver.extensions import db, migrate
from authserver.logging_setup import configure_logging, register_access_log
from authserver.private_files import create_private_file, make_private_dir

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(overrides=config_overrides)
    check_settings(settings)
    configure_logging(settings.log_level)

    app = Flask(
        "authserver",
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
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

    from authserver import models  # noqa: F401  (registers the tables)
    from authserver.accounts.views import bp as accounts_bp
    from authserver.admin import bp as admin_bp
    from authserver.api.v1 import bp as api_v1_bp
    from authserver.audit.background import install_background_audit
    from authserver.browser import configure_browser
    from authserver.clients.service import SUPPORTED_GRANT_TYPES
    from authserver.headers import register_security_headers
    from authserver.health import bp as health_bp
    from authserver.home import bp as home_bp
    from authserver.http import register_error_handlers
    from authserver.metrics import bp as metrics_bp
    from authserver.metrics import initialise_series, register_request_metrics
    from authserver.mfa.views import bp as mfa_bp
    from authserver.oauth.authorize import bp as authorize_bp
    from authserver.oauth.backchannel import install_backchannel
    from authserver.oauth.device_pages import bp as device_bp
    from authserver.oauth.direct import install_protocol_endpoints
    from authserver.oauth.registration import bp as registration_bp
    from authserver.oauth.server import config_oauth
    from authserver.oauth.views import bp as oauth_bp
    from authserver.published import install_published_documents
    from authserver.ratelimit import install_rate_limits
    from authserver.request_id import register_request_id
    from authserver.runtime import install_runtime
    from authserver.usage import install_usage_counter
    from authserver.webhooks.worker import install_webhooks

    runtime = install_runtime(app, settings)
    install_usage_counter(app, settings.usage_flush_seconds)
    install_backchannel(app)
    # The outbox listens to every audit record from here on; `serve`'s workers start the sender.
    install_webhooks(app)
    if settings.audit_token_issuance:
        install_background_audit(app)
    config_oauth(app, runtime)
    configure_browser(app)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(accounts_bp)
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
    register_request_metrics(app)
    if settings.access_log:
        register_access_log(app)
    limits = install_rate_limits(app, settings)
    initialise_series(SUPPORTED_GRANT_TYPES, tuple(limits.budgets))
    install_protocol_endpoints(app, limits)
    install_published_documents(app)
    if settings.trusted_proxies:
        # The client's address and scheme as the trusted proxies saw them (rate limits, audit).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    return app


def _engine_options(settings: Settings) -> dict:
    if settings.database_url.startswith("sqlite"):
        # Several worker processes share one file: wait for a lock instead of failing.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}


def _ensure_sqlite_file(settings: Settings) -> None:
    """The database file (and its folder) private before SQLite first opens it: SQLite gives
    the -wal and -shm files it makes later the database file's mode (authserver.private_files)."""
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
        cursor.close()
