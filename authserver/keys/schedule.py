"""Rotation schedules: defaults, the rules a schedule must obey, and the JWKS max-age they imply.

A schedule is safe only if downstream caches can never miss a key:

- ``publish_ahead`` ≥ JWKS max-age + the workers' key-ring refresh interval: a pending key is
  in every cache before its first signature (a worker may serve a JWKS up to one refresh
  interval old).
- ``retire_after`` ≥ the longest token lifetime (access or ID token) + clock skew + the
  refresh interval: a worker may still sign with a key for one refresh interval after it
  was retired, and that token must verify until it expires.

Unless ``AUTHSERVER_JWKS_MAX_AGE`` fixes it, the JWKS max-age is derived from the shortest
``publish_ahead`` (half of what is left after the refresh interval, at most five minutes,
so that a revoked key leaves every cache soon).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.keys.rotation import Schedule
from authserver.models import KeySchedule
from authserver.platform import clock
from authserver.platform.config import SIGNING_ALGORITHMS, Settings
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db

DEFAULT_ROTATE_EVERY_SECONDS = 30 * 86400
DEFAULT_PUBLISH_AHEAD_SECONDS = 86400
MAX_DERIVED_JWKS_MAX_AGE_SECONDS = 300


def default_schedule(settings: Settings, alg: str) -> Schedule:
    return Schedule(
        alg=alg,
        rotate_every_seconds=DEFAULT_ROTATE_EVERY_SECONDS,
        publish_ahead_seconds=DEFAULT_PUBLISH_AHEAD_SECONDS,
        retire_after_seconds=min_retire_after(settings),
    )


def min_retire_after(settings: Settings) -> int:
    return (
        settings.longest_token_ttl_seconds
        + settings.clock_skew_seconds
        + settings.keyring_refresh_seconds
    )


def jwks_max_age(settings: Settings, schedules: list[Schedule]) -> int:
    if settings.jwks_max_age_seconds is not None:
        return settings.jwks_max_age_seconds
    if not schedules:
        return MAX_DERIVED_JWKS_MAX_AGE_SECONDS
    shortest = min(s.publish_ahead_seconds for s in schedules)
    derived = (shortest - settings.keyring_refresh_seconds) // 2
    return max(1, min(MAX_DERIVED_JWKS_MAX_AGE_SECONDS, derived))


def validate_schedule(settings: Settings, schedule: Schedule, others: list[Schedule]) -> None:
    """Raise InvalidInput naming the offending field; ``others`` are the other algorithms'."""
    if schedule.alg not in SIGNING_ALGORITHMS:
        raise InvalidInput(f"alg: must be one of {', '.join(SIGNING_ALGORITHMS)}")
    for field in ("rotate_every_seconds", "publish_ahead_seconds", "retire_after_seconds"):
        if getattr(schedule, field) <= 0:
            raise InvalidInput(f"{field.removesuffix('_seconds')}: must be positive")
    max_age = jwks_max_age(settings, [schedule, *others])
    needed = max_age + settings.keyring_refresh_seconds
    if schedule.publish_ahead_seconds < needed:
        raise InvalidInput(
            f"publish_ahead: {schedule.publish_ahead_seconds}s is shorter than the JWKS "
            f"max-age ({max_age}s) plus the key-ring refresh ({settings.keyring_refresh_seconds}s)"
            f"; caches could miss the new key (needs at least {needed}s)"
        )
    floor = min_retire_after(settings)
    if schedule.retire_after_seconds < floor:
        raise InvalidInput(
            f"retire_after: {schedule.retire_after_seconds}s is shorter than the longest token "
            f"lifetime ({settings.longest_token_ttl_seconds}s) plus clock skew and key-ring "
            f"refresh; tokens would outlive their key (needs at least {floor}s)"
        )
    if schedule.rotate_every_seconds <= schedule.publish_ahead_seconds:
        raise InvalidInput("rotate_every: must be longer than publish_ahead")


def _as_schedule(row: KeySchedule) -> Schedule:
    return Schedule(
        row.alg, row.rotate_every_seconds, row.publish_ahead_seconds, row.retire_after_seconds
    )


def ensure_schedules(settings: Settings) -> None:
    """A schedule row per algorithm (with defaults) — also the per-algorithm lock row."""
    existing = set(db.session.scalars(select(KeySchedule.alg)))
    for alg in SIGNING_ALGORITHMS:
        if alg not in existing:
            s = default_schedule(settings, alg)
            db.session.add(
                KeySchedule(
                    alg=alg,
                    rotate_every_seconds=s.rotate_every_seconds,
                    publish_ahead_seconds=s.publish_ahead_seconds,
                    retire_after_seconds=s.retire_after_seconds,
                    lock_version=0,
                    updated_at=clock.now(),
                )
            )
    db.session.flush()


def load_schedules(settings: Settings) -> dict[str, Schedule]:
    rows = {row.alg: _as_schedule(row) for row in db.session.scalars(select(KeySchedule))}
    return {alg: rows.get(alg) or default_schedule(settings, alg) for alg in SIGNING_ALGORITHMS}


@dataclasses.dataclass(frozen=True)
class ScheduleChange:
    rotate_every_seconds: int | None = None
    publish_ahead_seconds: int | None = None
    retire_after_seconds: int | None = None


def set_schedule(
    settings: Settings, algs: list[str], change: ScheduleChange, *, actor: str
) -> list[Schedule]:
    """Validate every changed schedule together; save all or nothing, and audit what changed
    (the same record from the CLI, the API and the admin UI). The caller commits."""
    current = load_schedules(settings)
    for alg in algs:
        if alg not in current:
            raise InvalidInput(f"alg: must be one of {', '.join(SIGNING_ALGORITHMS)}")
    updated = dict(current)
    for alg in algs:
        updated[alg] = dataclasses.replace(
            current[alg],
            **{k: v for k, v in dataclasses.asdict(change).items() if v is not None},
        )
    for alg in algs:
        validate_schedule(settings, updated[alg], [s for a, s in updated.items() if a != alg])
    ensure_schedules(settings)
    for alg in algs:
        row = db.session.get(KeySchedule, alg)
        row.rotate_every_seconds = updated[alg].rotate_every_seconds
        row.publish_ahead_seconds = updated[alg].publish_ahead_seconds
        row.retire_after_seconds = updated[alg].retire_after_seconds
        row.updated_at = clock.now()
    db.session.flush()
    changed = {k: v for k, v in dataclasses.asdict(change).items() if v is not None}
    record(Tag.KEY_SCHEDULE_CHANGED, actor=actor, algs=list(algs), **changed)
    return [updated[alg] for alg in algs]
