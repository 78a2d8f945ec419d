"""Webhook fixtures: an initialised app that trusts a test CA for its outbound requests, an HTTPS
receiver on loopback with a certificate from that CA, and a way to subscribe it."""

from __future__ import annotations

import pytest

from authserver.platform.extensions import db
from authserver.rbac.containment import OPERATOR
from authserver.webhooks.service import NewWebhook, create_webhook
from authserver.webhooks.worker import webhook_worker
from tests.conftest import init_app, make_app
from tests.outbound.listeners import Certificates
from tests.webhooks.receiver import Receiver

RETRY_BASE = 10
MAX_ATTEMPTS = 4


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    folder = tmp_path / "tls"
    folder.mkdir()
    return Certificates(folder, "127.0.0.1")


@pytest.fixture
def app(tmp_path, certificates):
    """The root ``app`` fixture, trusting the test CA, with a short retry schedule."""
    app = make_app(tmp_path, outbound_ca_file=str(certificates.ca_file),
                   webhook_retry_base_seconds=RETRY_BASE,
                   webhook_max_attempts=MAX_ATTEMPTS)  # fmt: skip
    init_app(app)
    with app.app_context():
        yield app


@pytest.fixture
def receiver(certificates):
    with Receiver(certificates) as server:
        yield server


@pytest.fixture
def worker(app):
    """The app's webhook worker, not started: the test runs its rounds (``run_once``)."""
    return webhook_worker(app)


@pytest.fixture
def subscribe(app):
    """``subscribe(url, "account:sign-in:failed", ...)`` → (secret, webhook id), committed."""

    def make(url: str, *events: str) -> tuple[str, str]:
        secret, subscription = create_webhook(NewWebhook(url=url, events=events), caller=OPERATOR)
        db.session.commit()
        return secret, subscription.webhook_id

    return make
