"""Webhook metrics at GET /metrics: attempts counted by outcome (delivered, retry, failed), the
queue's depth and the age of its oldest delivery on the movable clock."""

from __future__ import annotations

import datetime as dt

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.test_metrics import metric
from tests.webhooks.conftest import MAX_ATTEMPTS, RETRY_BASE
from tests.webhooks.receiver import always


def _grew(before: str, after: str, outcome: str) -> float:
    name = "authserver_webhook_deliveries_total"
    return (metric(after, name, outcome=outcome) or 0) - (metric(before, name, outcome=outcome)
                                                         or 0)  # fmt: skip


def test_outcomes_queue_depth_and_oldest_age(http, worker, receiver, subscribe):
    clock.freeze(dt.datetime.now(dt.UTC))
    empty = http.get("/metrics").get_data(as_text=True)
    assert metric(empty, "authserver_webhook_queue_depth") == 0
    assert metric(empty, "authserver_webhook_oldest_undelivered_age_seconds") == 0

    _, good = subscribe(receiver.url, "key:schedule:changed")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["ES256"])
    db.session.commit()
    clock.advance(90)
    waiting = http.get("/metrics").get_data(as_text=True)
    assert metric(waiting, "authserver_webhook_queue_depth") == 1
    assert metric(waiting, "authserver_webhook_oldest_undelivered_age_seconds") == 90

    worker.run_once()  # delivered
    receiver.answer = always("500 Internal Server Error")
    record(Tag.KEY_SCHEDULE_CHANGED, actor="cli", algs=["RS256"])
    db.session.commit()
    for _ in range(MAX_ATTEMPTS):  # retry, retry, retry, failed
        worker.run_once()
        clock.advance(RETRY_BASE * 4**MAX_ATTEMPTS)
    after = http.get("/metrics").get_data(as_text=True)
    assert _grew(empty, after, "delivered") == 1
    assert _grew(empty, after, "retry") == MAX_ATTEMPTS - 1
    assert _grew(empty, after, "failed") == 1
    assert metric(after, "authserver_webhook_queue_depth") == 0
