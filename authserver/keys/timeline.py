"""Planned transitions of each key, for `keys list`, the admin pages and metrics."""

from __future__ import annotations

import datetime as dt

from authserver.keys.rotation import Schedule
from authserver.models import KeyState, SigningKey


def planned_transitions(
    schedules: dict[str, Schedule], keys: list[SigningKey]
) -> dict[str, dict[str, dt.datetime]]:
    """kid → {"activate"|"publish_successor"|"retire"|"expire": when}."""
    plans: dict[str, dict[str, dt.datetime]] = {}
    for key in keys:
        schedule = schedules.get(key.alg)
        if schedule is None:
            continue
        if key.state == KeyState.PENDING:
            earliest = key.created_at + schedule.publish_ahead
            activate = max(key.planned_activation_at or earliest, earliest)
            plans[key.kid] = {"activate": activate}
        elif key.state == KeyState.ACTIVE and key.activated_at is not None:
            retire = key.activated_at + schedule.rotate_every
            plans[key.kid] = {
                "publish_successor": retire - schedule.publish_ahead,
                "retire": retire,
                "expire": retire + schedule.retire_after,
            }
        elif key.state == KeyState.RETIRED and key.planned_expiry_at is not None:
            plans[key.kid] = {"expire": key.planned_expiry_at}
    return plans
