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

from authserver import clock
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.config import SIGNING_ALGORITHMS, Settings
from authserver.errors import Conflict, InvalidInput, NotFound
from authserver.extensions import db
from authserver.keys.kek import Envelope
from authserver.keys.rotation import Action, KeyView, Schedule, Transition, plan
from authserver.keys.schedule import ensure_schedules, load_schedules
from authserver.keys.service import create_signing_key, find_key
from authserver.models import KeySchedule, KeyState, SigningKey

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
        for transition in plan(schedule, [_view(k) for k in keys], clock.now()):
            performed.append(_apply(envelope, schedule, alg, transition, by_id))
    return performed


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
    ``immediately`` a new active key at once (skipping publish-ahead)."""
    if alg not in SIGNING_ALGORITHMS:
        raise InvalidInput(f"alg: must be one of {', '.join(SIGNING_ALGORITHMS)}")
    lock_algorithm(settings, alg)
    schedule = load_schedules(settings)[alg]
    keys = _live_keys(alg)
    active = [k for k in keys if k.state == KeyState.ACTIVE]
    pending = [k for k in keys if k.state == KeyState.PENDING]
    now = clock.now()
    performed = []
    if immediately:
        for key in active:
            _retire(key, schedule, now)
            performed.append(Performed("retire", alg, key.kid))
        if pending:
            new = pending[0]
            _activate(new, now)
        else:
            new = create_signing_key(envelope, alg, KeyState.ACTIVE)
            record(Tag.KEY_CREATED, alg=alg, kid=new.kid, state="active", manual=True)
        performed.append(Performed("activate", alg, new.kid))
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


def revoke_key(
    settings: Settings, envelope: Envelope, kid: str, *, reason: str, actor: str = "cli"
) -> list[Performed]:
    """Emergency: the key leaves JWKS at once and its tokens stop verifying. If it was the
    active key, a replacement signs immediately (a pending key if there is one)."""
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
        # Replacement at once: the plan activates a pending key or creates an active one.
        performed += run_due_transitions(settings, envelope, (key.alg,))
    return performed
