"""Applying key transitions: the scheduled ones, a manual rotation, an emergency revocation.

Every entry point first takes the per-algorithm lock (an UPDATE of the schedule row), then
reads the keys, plans and applies, so that any number of workers and hosts running this at
the same moment produce exactly one new key: the second one in sees the first one's work.
The partial unique index on active keys is the last line of defence. Callers commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.keys.kek import Envelope
from authserver.keys.rotation import Action, KeyView, Schedule, Transition, plan, ready_at
from authserver.keys.schedule import ensure_schedules, load_schedules
from authserver.keys.service import create_signing_key, find_key
from authserver.models import KeySchedule, KeyState, SigningKey
from authserver.platform import clock
from authserver.platform.config import SIGNING_ALGORITHMS, Settings
from authserver.platform.errors import Conflict, InvalidInput, NotFound
from authserver.platform.extensions import db

_LIVE_STATES = (KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRED)


@dataclasses.dataclass(frozen=True)
class Performed:
    action: str
    alg: str
    kid: str


def lock_algorithm(settings: Settings, alg: str) -> None:
    statement = (
        update(KeySchedule)
        .where(KeySchedule.alg == alg)
        .values(lock_version=KeySchedule.lock_version + 1)
    )
    if db.session.execute(statement).rowcount == 0:
        ensure_schedules(settings)
        db.session.execute(statement)


def _live_keys(alg: str) -> list[SigningKey]:
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(SigningKey.alg == alg, SigningKey.state.in_([s.value for s in _LIVE_STATES]))
            .order_by(SigningKey.id)
            .execution_options(populate_existing=True)
        )
    )


def _view(key: SigningKey) -> KeyView:
    return KeyView(
        id=key.id,
        state=key.state,
        created_at=key.created_at,
        activated_at=key.activated_at,
        planned_activation_at=key.planned_activation_at,
        planned_expiry_at=key.planned_expiry_at,
        expedited=key.expedited,
    )


def run_due_transitions(
    settings: Settings, envelope: Envelope, algs: tuple[str, ...] = SIGNING_ALGORITHMS
) -> list[Performed]:
    """Perform every transition that is due (idempotent: a second run finds nothing)."""
    performed: list[Performed] = []
    for alg in algs:
        lock_algorithm(settings, alg)
        schedule = load_schedules(settings)[alg]
        keys = _live_keys(alg)
        by_id = {k.id: k for k in keys}
        propagation = dt.timedelta(seconds=settings.emergency_publish_seconds)
        for transition in plan(schedule, [_view(k) for k in keys], clock.now(), propagation):
            performed.append(_apply(envelope, schedule, alg, transition, by_id))
    return performed


def activate_when_published(
    settings: Settings, envelope: Envelope, algs: tuple[str, ...] = SIGNING_ALGORITHMS
) -> list[Performed]:
    """After an emergency rotation (committed): wait the few seconds until every process
    publishes the new key, then make it the active one. Callers commit."""
    due = next_activation_at(settings)
    limit = clock.now() + dt.timedelta(seconds=settings.emergency_publish_seconds)
    if due is None or due > limit:
        return []
    clock.sleep_until(due)
    return run_due_transitions(settings, envelope, algs)


def next_activation_at(settings: Settings) -> dt.datetime | None:
    """When the next pending key becomes ready to sign (the scheduler wakes then, and
    ``keys rotate --now`` waits for it), or None."""
    schedules = load_schedules(settings)
    propagation = dt.timedelta(seconds=settings.emergency_publish_seconds)
    live = list(db.session.scalars(
        select(SigningKey).where(SigningKey.state.in_([KeyState.PENDING, KeyState.ACTIVE]))
    ))  # fmt: skip
    with_active = {k.alg for k in live if k.state == KeyState.ACTIVE}
    moments = [
        ready_at(schedules[k.alg], _view(k), propagation, replacing=k.alg in with_active)
        for k in live
        if k.state == KeyState.PENDING and k.alg in schedules
    ]
    return min(moments, default=None)


def _apply(
    envelope: Envelope,
    schedule: Schedule,
    alg: str,
    transition: Transition,
    by_id: dict[int, SigningKey],
) -> Performed:
    now = clock.now()
    action = transition.action
    if action is Action.CREATE_PENDING:
        key = create_signing_key(
            envelope, alg, KeyState.PENDING, activate_at=transition.activate_at
        )
        record(
            Tag.KEY_CREATED,
            alg=alg,
            kid=key.kid,
            state="pending",
            activates_at=key.planned_activation_at,
        )
    elif action is Action.CREATE_ACTIVE:
        key = create_signing_key(envelope, alg, KeyState.ACTIVE)
        record(Tag.KEY_CREATED, alg=alg, kid=key.kid, state="active")
    elif action is Action.RETIRE:
        key = by_id[transition.key_id]
        _retire(key, schedule, now)
    elif action is Action.ACTIVATE:
        key = by_id[transition.key_id]
        _activate(key, now)
    else:
        key = by_id[transition.key_id]
        _expire(key, now)
    db.session.flush()
    return Performed(action.value, alg, key.kid)


def _retire(key: SigningKey, schedule: Schedule, now: dt.datetime) -> None:
    key.state = KeyState.RETIRED
    key.retired_at = now
    key.planned_expiry_at = now + schedule.retire_after
    db.session.flush()  # before a successor becomes active (one active key per algorithm)
    record(Tag.KEY_RETIRED, alg=key.alg, kid=key.kid, expires_at=key.planned_expiry_at)


def _activate(key: SigningKey, now: dt.datetime) -> None:
    key.state = KeyState.ACTIVE
    key.activated_at = now
    record(Tag.KEY_ACTIVATED, alg=key.alg, kid=key.kid)


def _expire(key: SigningKey, now: dt.datetime) -> None:
    key.state = KeyState.EXPIRED
    key.expired_at = now
    _erase_private_half(key)
    record(Tag.KEY_EXPIRED, alg=key.alg, kid=key.kid)


def _erase_private_half(key: SigningKey) -> None:
    # The public half stays: an old id_token_hint must still verify at logout.
    key.private_key_ciphertext = None
    key.kek_id = None


def rotate_now(
    settings: Settings, envelope: Envelope, alg: str, *, immediately: bool = False
) -> list[Performed]:
    """Start a rotation: a new pending key that signs after publish_ahead, or with
    ``immediately`` one that signs as soon as every process of the server publishes it (the
    key-propagation interval, seconds), skipping publish-ahead: a worker must never sign with a
    key another worker's JWKS does not have yet. Until then the current key signs."""
    if alg not in SIGNING_ALGORITHMS:
        raise InvalidInput(f"alg: must be one of {', '.join(SIGNING_ALGORITHMS)}")
    lock_algorithm(settings, alg)
    schedule = load_schedules(settings)[alg]
    keys = _live_keys(alg)
    pending = [k for k in keys if k.state == KeyState.PENDING]
    now = clock.now()
    performed = []
    if immediately:
        propagation = dt.timedelta(seconds=settings.emergency_publish_seconds)
        if pending:
            new = pending[0]
            new.expedited = True
            new.planned_activation_at = max(now, new.created_at + propagation)
            record(Tag.KEY_EXPEDITED, alg=alg, kid=new.kid,
                   activates_at=new.planned_activation_at)  # fmt: skip
            performed.append(Performed("expedite", alg, new.kid))
        else:
            new = _expedited_key(settings, envelope, alg, now, manual=True)
            performed.append(Performed("create_pending", alg, new.kid))
        db.session.flush()
        # A pending key published long enough already signs at once.
        performed += run_due_transitions(settings, envelope, (alg,))
    else:
        if pending:
            raise Conflict(
                f"a rotation is already pending for {alg}: {pending[0].kid} signs from "
                f"{pending[0].planned_activation_at.isoformat()}"
            )
        new = create_signing_key(
            envelope, alg, KeyState.PENDING, activate_at=now + schedule.publish_ahead
        )
        record(Tag.KEY_CREATED, alg=alg, kid=new.kid, state="pending", manual=True)
        performed.append(Performed("create_pending", alg, new.kid))
    db.session.flush()
    return performed


def _expedited_key(settings: Settings, envelope: Envelope, alg: str, now: dt.datetime,
                   **audit: object) -> SigningKey:  # fmt: skip
    activate_at = now + dt.timedelta(seconds=settings.emergency_publish_seconds)
    key = create_signing_key(envelope, alg, KeyState.PENDING, activate_at=activate_at,
                             expedited=True)  # fmt: skip
    record(Tag.KEY_CREATED, alg=alg, kid=key.kid, state="pending", expedited=True,
           activates_at=activate_at, **audit)  # fmt: skip
    return key


def revoke_key(
    settings: Settings, envelope: Envelope, kid: str, *, reason: str, actor: str = "cli"
) -> list[Performed]:
    """Emergency: the key leaves JWKS at once and its tokens stop verifying. If it was the
    active key, a replacement signs as soon as every process publishes it (at once, if a
    pending key has been published that long)."""
    key = find_key(kid)
    if key is None:
        raise NotFound(f"no signing key with kid {kid}")
    lock_algorithm(settings, key.alg)
    db.session.refresh(key)
    if key.state == KeyState.REVOKED:
        raise Conflict(f"key {kid} is already revoked")
    was_active = key.state == KeyState.ACTIVE
    now = clock.now()
    key.state = KeyState.REVOKED
    key.revoked_at = now
    key.revoked_reason = reason[:1000]
    _erase_private_half(key)
    db.session.flush()
    record(Tag.KEY_REVOKED, actor=actor, alg=key.alg, kid=kid, reason=reason, was_active=was_active)
    performed = [Performed("revoke", key.alg, kid)]
    if was_active:
        # A replacement: a pending key (activated at once if every process publishes it
        # already), or a new one that signs once they do; until then nothing signs (503).
        if not any(k.state == KeyState.PENDING for k in _live_keys(key.alg)):
            new = _expedited_key(settings, envelope, key.alg, now, replaces=kid)
            performed.append(Performed("create_pending", key.alg, new.kid))
        performed += run_due_transitions(settings, envelope, (key.alg,))
    return performed
