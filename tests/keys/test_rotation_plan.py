"""The pure rotation plan: which transitions are due, for one algorithm, at a given time."""

from __future__ import annotations

import datetime as dt

import pytest

from authserver.keys.rotation import Action, KeyView, Schedule, Transition, plan

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SCHEDULE = Schedule("ES256", 30 * 86400, 86400, 2 * 86400)


def active(id=1, at=T0):
    return KeyView(id=id, state="active", created_at=at, activated_at=at)


def pending(id=2, created=T0, activate=None, expedited=False):
    return KeyView(id=id, state="pending", created_at=created, planned_activation_at=activate,
                   expedited=expedited)  # fmt: skip


PROPAGATION = dt.timedelta(seconds=2)
SECOND = dt.timedelta(seconds=1)


def retired(id=3, expiry=T0):
    return KeyView(id=id, state="retired", created_at=T0 - 60 * DAY, planned_expiry_at=expiry)


@pytest.mark.parametrize(
    "keys, now, expected",
    [
        # nothing yet: a key is created active at once
        ([], T0, [Transition(Action.CREATE_ACTIVE)]),
        # a lone pending key (the active one was revoked): activated at once
        ([pending()], T0, [Transition(Action.ACTIVATE, 2)]),
        # mid-life: nothing to do
        ([active()], T0 + 10 * DAY, []),
        # just before publish time: nothing
        ([active()], T0 + 29 * DAY - dt.timedelta(seconds=1), []),
        # publish time: a pending key that signs from the rotation date
        (
            [active()],
            T0 + 29 * DAY,
            [Transition(Action.CREATE_PENDING, activate_at=T0 + 30 * DAY)],
        ),
        # overdue (the scheduler was down): still published a full publish_ahead first
        (
            [active()],
            T0 + 40 * DAY,
            [Transition(Action.CREATE_PENDING, activate_at=T0 + 41 * DAY)],
        ),
        # pending, not yet due
        ([active(), pending(created=T0 + 29 * DAY, activate=T0 + 30 * DAY)], T0 + 29.5 * DAY, []),
        # pending due: retire the old one, then activate
        (
            [active(), pending(created=T0 + 29 * DAY, activate=T0 + 30 * DAY)],
            T0 + 30 * DAY,
            [Transition(Action.RETIRE, 1), Transition(Action.ACTIVATE, 2)],
        ),
        # a pending key never signs before it was published for publish_ahead
        ([active(), pending(created=T0 + 30 * DAY, activate=T0 + 30 * DAY)], T0 + 30.5 * DAY, []),
        # retired key expires at its planned time, not before
        ([active(), retired(expiry=T0 + DAY)], T0 + DAY - dt.timedelta(seconds=1), []),
        ([active(), retired(expiry=T0 + DAY)], T0 + DAY, [Transition(Action.EXPIRE, 3)]),
    ],
)
def test_plan(keys, now, expected):
    assert plan(SCHEDULE, keys, now) == expected


@pytest.mark.parametrize(
    "keys, now, expected",
    [
        # an emergency rotation: signs once every process publishes it, not after publish_ahead
        ([active(), pending(created=T0, activate=T0 + PROPAGATION, expedited=True)],
         T0 + PROPAGATION - SECOND, []),
        ([active(), pending(created=T0, activate=T0 + PROPAGATION, expedited=True)],
         T0 + PROPAGATION, [Transition(Action.RETIRE, 1), Transition(Action.ACTIVATE, 2)]),
        # ... however early its planned time says (never before propagation)
        ([active(), pending(created=T0, activate=T0, expedited=True)], T0 + SECOND, []),
        # the active key revoked: a pending key signs only once every process publishes it
        ([pending(created=T0)], T0 + SECOND, []),
        ([pending(created=T0)], T0 + PROPAGATION, [Transition(Action.ACTIVATE, 2)]),
        # a key published for long replaces the revoked one at once
        ([pending(created=T0 - DAY, activate=T0 + DAY)], T0, [Transition(Action.ACTIVATE, 2)]),
    ],
)  # fmt: skip
def test_plan_with_propagation(keys, now, expected):
    assert plan(SCHEDULE, keys, now, PROPAGATION) == expected


def test_a_plan_applied_is_not_planned_again():
    now = T0 + 29 * DAY
    first = plan(SCHEDULE, [active()], now)
    assert [t.action for t in first] == [Action.CREATE_PENDING]
    after = [active(), pending(created=now, activate=first[0].activate_at)]
    assert plan(SCHEDULE, after, now) == []
