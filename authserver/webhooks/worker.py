"""The webhook sender of one server process: a thread that claims due deliveries from the
outbox, signs each attempt (Standard Webhooks) and sends it through ``authserver.outbound``,
then writes the outcome.

Every process of every host runs one (``authserver serve``'s workers start it); they share the
outbox and never send one attempt twice (``outbox.claim_one``). A process sends what it just
committed at once (woken after the commit) and looks for due retries and other processes'
deliveries every ``AUTHSERVER_WEBHOOK_POLL_INTERVAL``. Nothing is kept in memory: a process
that stops leaves its deliveries in the database for the next one. The request that caused an
event never waits on any of this.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from authserver.keys.kek import KekError
from authserver.models import WebhookDelivery
from authserver.outbound import OutboundError
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.metrics import webhook_deliveries
from authserver.platform.process_exit import at_exit
from authserver.platform.runtime import runtime_of
from authserver.webhooks import outbox, service, signing

log = logging.getLogger(__name__)

#: Deliveries claimed and sent at once per process (each on its own thread).
BATCH = 4
#: The lease outlasts the send's deadline by this much, then another worker may retry it.
LEASE_MARGIN_SECONDS = 30
#: A receiver's answer is read up to this size and discarded (never stored or logged).
MAX_ANSWER_BYTES = 64 * 1024
PRUNE_EVERY_SECONDS = 600
_EXTENSION = "authserver.webhooks"


@dataclasses.dataclass(frozen=True)
class _Send:
    delivery_id: int
    subscription_id: int
    message_id: str
    attempts: int
    url: str | None  # None: cannot be signed (see error)
    body: bytes
    headers: dict[str, str]
    error: str | None = None


class WebhookWorker:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders = concurrent.futures.ThreadPoolExecutor(
            max_workers=BATCH, thread_name_prefix="authserver-webhook-send"
        )
        self._last_prune = 0.0
        # Woken after any commit in this process that queued deliveries (weakly held: a worker
        # that is gone stops listening).
        outbox.deliveries_queued.connect(self._queued)

    # --- the thread ----------------------------------------------------------------------------

    def start(self) -> WebhookWorker:
        self._thread = threading.Thread(target=self._loop, name="authserver-webhooks",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        at_exit(self.stop)
        return self

    def wake(self) -> None:
        self._wake.set()

    def _queued(self, sender: object, **_: object) -> None:
        self.wake()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the attempts in flight (their outcome is written), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            settings = runtime_of(self._app).settings
            self._thread.join(timeout if timeout is not None
                              else settings.webhook_timeout_seconds + 5)  # fmt: skip

    def _loop(self) -> None:
        poll = runtime_of(self._app).settings.webhook_poll_seconds
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.run_once():
                    pass
                self._prune_now_and_then()
            except OperationalError as e:
                self._rollback()
                log.error("webhooks: database unavailable (%s); will retry",
                          type(e.orig).__name__)  # fmt: skip
            except Exception:
                self._rollback()
                log.exception("webhooks: sending failed; will retry")
            self._wake.wait(poll)

    def _rollback(self) -> None:
        with self._app.app_context():
            try:
                db.session.rollback()
            except OperationalError:
                pass

    def _prune_now_and_then(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        with self._app.app_context():
            outbox.prune(runtime_of(self._app).settings.webhook_log_retention_seconds)
            db.session.commit()

    # --- one round -----------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim up to BATCH due deliveries, send them at once, write their outcomes; returns
        how many were attempted (0: nothing was due)."""
        settings = runtime_of(self._app).settings
        lease = settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        with self._app.app_context():
            token, ids = outbox.claim_due(BATCH, lease)
            db.session.commit()
            if not ids:
                return 0
            # A delivery whose subscription was deleted since its claim is gone with it.
            sends = [send for send in map(self._prepare, ids) if send is not None]
            db.session.rollback()  # nothing written; no transaction held while sending
        attempts = list(self._senders.map(self._send, sends))
        with self._app.app_context():
            gone = set()
            for send, attempt in zip(sends, attempts, strict=True):
                outcome = outbox.record_attempt(
                    send.delivery_id, token, send.attempts, attempt,
                    max_attempts=settings.webhook_max_attempts,
                    base_seconds=settings.webhook_retry_base_seconds,
                )  # fmt: skip
                if outcome is None:
                    log.warning("webhook %s: claim lost before its outcome was written",
                                send.message_id)  # fmt: skip
                    continue
                webhook_deliveries.labels(outcome).inc()
                log.info("webhook %s attempt %d: %s (%s)", send.message_id, send.attempts,
                         outcome, attempt.error or attempt.status)  # fmt: skip
                if attempt.error == "gone":
                    gone.add(send.subscription_id)
            for subscription_id in gone:
                service.disable_gone(subscription_id)
            db.session.commit()
        return len(ids)

    def _prepare(self, delivery_id: int) -> _Send | None:
        """The attempt's request: the audit record as the body, signed now by every secret
        that signs now (the current one and any still in its rotation overlap)."""
        delivery = db.session.scalar(
            select(WebhookDelivery)
            .options(joinedload(WebhookDelivery.subscription),
                     joinedload(WebhookDelivery.audit_event))
            .where(WebhookDelivery.id == delivery_id)
        )  # fmt: skip
        if delivery is None:
            return None
        body = outbox.payload(delivery.audit_event)
        base = dict(delivery_id=delivery.id, subscription_id=delivery.subscription_id,
                    message_id=delivery.message_id, attempts=delivery.attempts,
                    body=body)  # fmt: skip
        try:
            keys = service.signing_keys(delivery.subscription, clock.now())
        except KekError:
            log.error("webhook %s: its signing secret does not open with the configured KEKs",
                      delivery.message_id)  # fmt: skip
            return _Send(**base, url=None, headers={}, error="unsigned")
        if not keys:
            return _Send(**base, url=None, headers={}, error="unsigned")
        signed = signing.headers(keys, delivery.message_id, clock.timestamp(), body)
        headers = {"Content-Type": "application/json", **signed}
        return _Send(**base, url=delivery.subscription.url, headers=headers)

    def _send(self, send: _Send) -> outbox.Attempt:
        """One POST through the outbound module (its SSRF rules, no redirects, the deadline)."""
        if send.url is None:
            return outbox.Attempt(status=None, error=send.error, latency_seconds=None)
        outbound = runtime_of(self._app).outbound
        settings = runtime_of(self._app).settings
        started = time.monotonic()
        try:
            response = outbound.post(send.url, send.body, headers=send.headers,
                                     deadline_seconds=settings.webhook_timeout_seconds,
                                     max_bytes=MAX_ANSWER_BYTES)  # fmt: skip
        except OutboundError as e:
            reason = f"refused:{e.rule}" if e.reason == "refused" and e.rule else e.reason
            return outbox.Attempt(status=None, error=reason,
                                  latency_seconds=time.monotonic() - started)  # fmt: skip
        except Exception:  # noqa: BLE001 - one bad attempt must not stop the others
            log.exception("webhook %s: unexpected failure sending", send.message_id)
            return outbox.Attempt(status=None, error="internal",
                                  latency_seconds=time.monotonic() - started)  # fmt: skip
        error = None if response.ok else "gone" if response.status == 410 else "status"
        return outbox.Attempt(status=response.status, error=error,
                              latency_seconds=response.elapsed_seconds,
                              retry_after_seconds=_retry_after(response.headers))  # fmt: skip


def _retry_after(headers) -> int | None:  # noqa: ANN001
    """RFC 9110 §10.2.3 in seconds (an HTTP date is not honoured: the schedule applies)."""
    value = (headers.get("retry-after") or "").strip()
    return int(value) if value.isdigit() and len(value) <= 9 else None


def install_webhooks(app: Flask) -> WebhookWorker:
    """The process's worker (woken after each commit that queued a delivery); ``start`` runs
    its thread (``authserver serve``'s workers do; tests call ``run_once``)."""
    worker = WebhookWorker(app)
    app.extensions[_EXTENSION] = worker
    return worker


def webhook_worker(app: Flask) -> WebhookWorker:
    return app.extensions[_EXTENSION]
