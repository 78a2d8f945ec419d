"""/api/v1/keys and /api/v1/key-schedules: signing keys, their rotation schedules, rotations
and emergency revocation. Private material never appears here."""

from __future__ import annotations

from flask import current_app

from authserver.api.v1.framework import Principal, Reply, check_if_match, operation
from authserver.api.v1.schemas import (
    KeyRevocation,
    RotationRequest,
    ScheduleList,
    ScheduleOut,
    ScheduleUpdate,
    SigningKeyList,
    SigningKeyOut,
    TransitionList,
)
from authserver.keys.events import keys_changed
from authserver.keys.lifecycle import Performed, revoke_key, rotate_now
from authserver.keys.schedule import ScheduleChange, load_schedules, set_schedule
from authserver.keys.service import find_key, list_keys
from authserver.keys.timeline import planned_transitions
from authserver.models import KeyState, SigningKey
from authserver.platform.config import SIGNING_ALGORITHMS
from authserver.platform.errors import NotFound
from authserver.platform.runtime import runtime_of
from authserver.rbac.permissions import Permission

TAG = "signing keys"


def key_out(key: SigningKey, planned: dict) -> SigningKeyOut:
    return SigningKeyOut(
        kid=key.kid,
        alg=key.alg,
        state=KeyState(key.state).value,
        created_at=key.created_at,
        activated_at=key.activated_at,
        retired_at=key.retired_at,
        expired_at=key.expired_at,
        revoked_at=key.revoked_at,
        revoked_reason=key.revoked_reason,
        planned={name: when for name, when in planned.items() if when is not None},
    )


def _plans(keys: list[SigningKey]) -> dict:
    return planned_transitions(load_schedules(runtime_of(current_app).settings), keys)


def _transitions(performed: list[Performed]) -> TransitionList:
    return TransitionList(
        items=[{"action": p.action, "alg": p.alg, "kid": p.kid} for p in performed]
    )


@operation(
    "GET", "/keys", summary="Every signing key with its state and planned transitions",
    tag=TAG, permission=Permission.KEYS_READ, response=SigningKeyList,
)  # fmt: skip
def list_signing_keys(principal: Principal) -> SigningKeyList:
    keys = list_keys()
    plans = _plans(keys)
    return SigningKeyList(items=[key_out(k, plans.get(k.kid, {})) for k in keys])


@operation(
    "GET", "/keys/{kid}", summary="Read a signing key", tag=TAG,
    permission=Permission.KEYS_READ, response=SigningKeyOut,
)  # fmt: skip
def read(principal: Principal, kid: str) -> Reply:
    key = find_key(kid)
    if key is None:
        raise NotFound("no such signing key")
    return Reply(key_out(key, _plans(list_keys()).get(kid, {})), etag=True)


@operation(
    "POST", "/keys/{kid}/revocation",
    summary="Emergency revocation: out of JWKS at once; a replacement signs immediately",
    tag=TAG, permission=Permission.KEYS_ROTATE, body=KeyRevocation, response=TransitionList,
)  # fmt: skip
def revoke(principal: Principal, kid: str, body: KeyRevocation) -> TransitionList:
    runtime = runtime_of(current_app)
    performed = revoke_key(
        runtime.settings, runtime.envelope(), kid, reason=body.reason, actor=principal.actor
    )
    runtime.keyring.invalidate()  # this worker at once; the others within their refresh
    # A replacement signs once every process publishes it.
    keys_changed.send(current_app._get_current_object())
    return _transitions(performed)


@operation(
    "POST", "/key-rotations",
    summary="Start a rotation now: a pending key published ahead, or active at once",
    tag=TAG, permission=Permission.KEYS_ROTATE, body=RotationRequest, response=TransitionList,
    status=201,
)  # fmt: skip
def rotate(principal: Principal, body: RotationRequest) -> TransitionList:
    runtime = runtime_of(current_app)
    performed: list[Performed] = []
    for alg in (body.alg,) if body.alg else SIGNING_ALGORITHMS:
        performed += rotate_now(runtime.settings, runtime.envelope(), alg, immediately=body.now)
    runtime.keyring.invalidate()
    # With now: the new key signs once every process publishes it.
    keys_changed.send(current_app._get_current_object())
    return _transitions(performed)


def _schedule_list(algs: list[str]) -> ScheduleList:
    schedules = load_schedules(runtime_of(current_app).settings)
    return ScheduleList(
        items=[
            ScheduleOut(
                alg=alg,
                rotate_every_seconds=schedules[alg].rotate_every_seconds,
                publish_ahead_seconds=schedules[alg].publish_ahead_seconds,
                retire_after_seconds=schedules[alg].retire_after_seconds,
            )
            for alg in algs
        ]
    )


@operation(
    "GET", "/key-schedules", summary="The rotation schedule of each algorithm", tag=TAG,
    permission=Permission.KEYS_READ, response=ScheduleList,
)  # fmt: skip
def schedules(principal: Principal) -> ScheduleList:
    return _schedule_list(list(SIGNING_ALGORITHMS))


@operation(
    "PATCH", "/key-schedules/{alg}",
    summary="Change an algorithm's schedule (validated against token lifetimes and JWKS "
    "caching; nothing is saved on error)",
    tag=TAG, permission=Permission.KEYS_ROTATE, body=ScheduleUpdate, response=ScheduleList,
    conditional=True,
)  # fmt: skip
def update_schedule(principal: Principal, alg: str, body: ScheduleUpdate) -> ScheduleList:
    if alg not in SIGNING_ALGORITHMS:
        raise NotFound("no such algorithm")
    check_if_match(_schedule_list([alg]))
    change = ScheduleChange(
        body.rotate_every_seconds, body.publish_ahead_seconds, body.retire_after_seconds
    )
    set_schedule(runtime_of(current_app).settings, [alg], change, actor=principal.actor)
    return _schedule_list([alg])
