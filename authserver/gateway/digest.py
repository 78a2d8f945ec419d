"""The gateway's denials in the audit trail, aggregated: a decision per API request is too many
records (and a denial is routine), so each process counts its denials by hour, rule and outcome,
and records one ``gateway:decisions:denied`` per finished hour with denials, holding the
counts. The scheduler writes the finished hours; a stopping process writes what it has."""

from __future__ import annotations

import collections
import datetime as dt
import threading

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.platform import clock


def _hour(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


class DenialDigest:
    def __init__(self) -> None:
        self._counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def count(self, rule: str, outcome: str) -> None:
        with self._lock:
            self._counts[(_hour(clock.now()), rule, outcome)] += 1

    def record_finished(self, everything: bool = False) -> int:
        """One audit record per finished hour (with ``everything``, the current one too), in the
        caller's transaction; returns how many were written."""
        current = _hour(clock.now())
        with self._lock:
            due = {k: n for k, n in self._counts.items() if everything or k[0] < current}
            for k in due:
                del self._counts[k]
        hours: dict[dt.datetime, dict[str, dict[str, int]]] = {}
        for (hour, rule, outcome), n in due.items():
            hours.setdefault(hour, {}).setdefault(rule, {})[outcome] = n
        for hour, denials in sorted(hours.items()):
            total = sum(n for outcomes in denials.values() for n in outcomes.values())
            record(Tag.GATEWAY_DENIALS, hour=hour.isoformat(), total=total, denials=denials,
                   at=min(clock.now(), hour + dt.timedelta(hours=1)))  # fmt: skip
        return len(hours)
