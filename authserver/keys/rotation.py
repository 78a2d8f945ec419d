"""Key rotation as a pure plan: given one algorithm's schedule, its keys and the time, which
transitions are due. No database, no clock: ``keys/service.py`` applies the plan.

The lifecycle (ARCHITECTURE.md): ``pending → active → retired → expired``.

- A pending key is created ``publish_ahead`` before the active key is due to rotate, so every
  JWKS cache downstream (max-age ≤ publish_ahead) knows it before it signs anything; it
  becomes active at its ``planned_activation_at``, never earlier than ``publish_ahead``
  after it was published.
- The active key it replaces is retired at that moment: it no longer signs, stays published,
  and expires ``retire_after`` later (≥ the longest token lifetime, so every token it signed
  has expired by then).
- An expedited key (an emergency rotation: `keys rotate --now`, or the active key revoked) skips
  publish-ahead but not propagation: it signs only once it has been published for
  ``propagation`` (``Settings.emergency_publish_seconds``, 31 s by default). By then every process
  of the server publishes it (they re-read keys every second), so no worker signs with a key
  another worker's JWKS lacks; and a verifier that cached the JWKS without it may refetch on the
  unknown kid (PyJWT's PyJWKClient refuses to for 30 s after its last fetch).
- With no active key (the active one was revoked) a pending key is activated once it has been
  published for ``propagation``; with no key at all (first start) one is created active.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum


@dataclasses.dataclass(frozen=True)
class Schedule:
    alg: str
    rotate_every_seconds: int
    publish_ahead_seconds: int
    retire_after_seconds: int

    @property
    def rotate_every(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.rotate_every_seconds)

    @property
    def publish_ahead(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.publish_ahead_seconds)

    @property
    def retire_after(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.retire_after_seconds)


@dataclasses.dataclass(frozen=True)
class KeyView:
    id: int
    state: str
    created_at: dt.datetime
    activated_at: dt.datetime | None = None
    planned_activation_at: dt.datetime | None = None
    planned_expiry_at: dt.datetime | None = None
    expedited: bool = False


class Action(enum.StrEnum):
    CREATE_PENDING = "create_pending"
    CREATE_ACTIVE = "create_active"
    ACTIVATE = "activate"
    RETIRE = "retire"
    EXPIRE = "expire"


@dataclasses.dataclass(frozen=True)
class Transition:
    action: Action
    key_id: int | None = None
    # For CREATE_PENDING: when the new key is to start signing.
    activate_at: dt.datetime | None = None


def next_rotation_at(schedule: Schedule, active: KeyView) -> dt.datetime:
    if active.activated_at is None:
        raise ValueError(f"active key {active.id} has no activation time")
    return active.activated_at + schedule.rotate_every


def plan(
    schedule: Schedule,
    keys: list[KeyView],
    now: dt.datetime,
    propagation: dt.timedelta = dt.timedelta(0),
) -> list[Transition]:
    """The transitions due at ``now`` for one algorithm, in the order to apply them."""
    active = [k for k in keys if k.state == "active"]
    pending = sorted((k for k in keys if k.state == "pending"), key=lambda k: (k.created_at, k.id))
    retired = [k for k in keys if k.state == "retired"]
    due: list[Transition] = []

    if not active:
        if pending and now >= ready_at(schedule, pending[0], propagation, replacing=False):
            due.append(Transition(Action.ACTIVATE, pending[0].id))
        elif not pending:
            due.append(Transition(Action.CREATE_ACTIVE))
    else:
        current = active[0]
        rotate_at = next_rotation_at(schedule, current)
        if not pending and now >= rotate_at - schedule.publish_ahead:
            activate_at = max(rotate_at, now + schedule.publish_ahead)
            due.append(Transition(Action.CREATE_PENDING, activate_at=activate_at))
        elif pending and now >= ready_at(schedule, pending[0], propagation, replacing=True):
            due.append(Transition(Action.RETIRE, current.id))
            due.append(Transition(Action.ACTIVATE, pending[0].id))

    for key in retired:
        if key.planned_expiry_at is not None and now >= key.planned_expiry_at:
            due.append(Transition(Action.EXPIRE, key.id))
    return due


def ready_at(schedule: Schedule, key: KeyView, propagation: dt.timedelta, *,
             replacing: bool) -> dt.datetime:  # fmt: skip
    """When a pending key may start signing: at its planned time, once it has been published
    for publish_ahead (for propagation only, if it is expedited); with no active key to
    replace (it was revoked), as soon as every process publishes it."""
    if not replacing:
        return key.created_at + propagation
    earliest = key.created_at + (propagation if key.expedited else schedule.publish_ahead)
    return max(key.planned_activation_at or earliest, earliest)
