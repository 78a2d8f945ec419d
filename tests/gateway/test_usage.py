"""The gateway's usage storage stays bounded: hours older than two days are summed into their
day by the retention job, and a day's count is the same before and after."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from authserver.models import GatewayUsage
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import runtime_of
from authserver.privacy.retention import prune
from authserver.usage import add_gateway_count, gateway_series, top_gateway_principals


def test_hours_roll_up_into_days(app):
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    clock.freeze(start + dt.timedelta(days=1))
    for hour in range(24):
        add_gateway_count(start + dt.timedelta(hours=hour), ("apikey:k1", "allowed"), 2)
    add_gateway_count(start + dt.timedelta(hours=5), ("apikey:k1", "rate_limited"), 7)
    add_gateway_count(start + dt.timedelta(hours=5), ("client:c1", "allowed"), 1)
    db.session.commit()
    before = gateway_series("apikey:k1", "day", start)
    assert before == {start: {"allowed": 48, "denied_scope": 0, "rate_limited": 7,
                              "quota_exhausted": 0, "invalid": 0}}  # fmt: skip
    assert len(gateway_series("apikey:k1", "hour", start)) == 24
    clock.freeze(start + dt.timedelta(days=3))
    removed = prune(runtime_of(app).settings)
    db.session.commit()
    assert removed["gateway_usage_hours_rolled_up"] == 26
    granularities = dict(db.session.execute(
        select(GatewayUsage.granularity, func.count()).group_by(GatewayUsage.granularity)
    ).all())  # fmt: skip
    assert granularities == {"day": 3}
    assert gateway_series("apikey:k1", "day", start) == before
    assert gateway_series("apikey:k1", "hour", start) == {}
    assert top_gateway_principals(start) == [("apikey:k1", 55, 48), ("client:c1", 1, 1)]
