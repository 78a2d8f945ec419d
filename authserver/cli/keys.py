"""``authserver keys``: the signing keys, their schedule and lifecycle."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.cli.output import emit, iso, json_option, transaction
from authserver.keys.lifecycle import (
    activate_when_published,
    revoke_key,
    rotate_now,
    run_due_transitions,
)
from authserver.keys.schedule import ScheduleChange, load_schedules, set_schedule
from authserver.keys.service import list_keys
from authserver.keys.timeline import planned_transitions
from authserver.platform.config import SIGNING_ALGORITHMS
from authserver.platform.durations import parse_duration
from authserver.platform.runtime import current_runtime

group = AppGroup("keys", help="Signing keys.")

_ALG = click.Choice(SIGNING_ALGORITHMS)


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        try:
            return parse_duration(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


@group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every key with its state, past transitions and planned ones (never private material)."""
    settings = current_runtime().settings
    keys = list_keys()
    plans = planned_transitions(load_schedules(settings), keys)
    value = [
        {
            "kid": k.kid,
            "alg": k.alg,
            "state": k.state,
            "created_at": iso(k.created_at),
            "activated_at": iso(k.activated_at),
            "retired_at": iso(k.retired_at),
            "expired_at": iso(k.expired_at),
            "revoked_at": iso(k.revoked_at),
            "revoked_reason": k.revoked_reason,
            "planned": {name: iso(when) for name, when in plans.get(k.kid, {}).items()},
        }
        for k in keys
    ]
    lines = []
    for k in value:
        planned = ", ".join(f"{name} {when}" for name, when in k["planned"].items())
        lines.append(
            f"{k['alg']:8} {k['state']:8} {k['kid']}  created {k['created_at']}"
            + (f"  next: {planned}" if planned else "")
        )
    emit(value, as_json, "\n".join(lines) or "no keys")


@group.command("rotate")
@click.option("--if-due", is_flag=True, help="Only perform the transitions that are due (cron).")
@click.option("--now", "immediately", is_flag=True, help="Activate the new key at once.")
@click.option("--alg", type=_ALG, help="One algorithm (default: all).")
@json_option
def rotate_command(if_due: bool, immediately: bool, alg: str | None, as_json: bool) -> None:
    """Start a rotation now (a pending key, published ahead), or with --if-due run what is due."""
    runtime = current_runtime()
    algs = (alg,) if alg else SIGNING_ALGORITHMS
    with transaction():
        if if_due:
            if immediately:
                raise click.UsageError("--if-due and --now exclude each other")
            performed = run_due_transitions(runtime.settings, runtime.envelope(), algs)
        else:
            performed = []
            for one in algs:
                performed += rotate_now(
                    runtime.settings, runtime.envelope(), one, immediately=immediately
                )
    if immediately:
        performed += _activate_when_published(runtime, algs)
    value = [{"action": p.action, "alg": p.alg, "kid": p.kid} for p in performed]
    text = "\n".join(f"{p.action:15} {p.alg:8} {p.kid}" for p in performed) or "nothing due"
    emit(value, as_json, text)


@group.command("schedule")
@click.option("--alg", type=_ALG, help="One algorithm (default: all).")
@click.option("--rotate-every", type=Duration())
@click.option("--publish-ahead", type=Duration())
@click.option("--retire-after", type=Duration())
@json_option
def schedule_command(
    alg: str | None,
    rotate_every: int | None,
    publish_ahead: int | None,
    retire_after: int | None,
    as_json: bool,
) -> None:
    """Show the rotation schedule, or change it (validated; nothing is saved on error)."""
    settings = current_runtime().settings
    algs = [alg] if alg else list(SIGNING_ALGORITHMS)
    change = ScheduleChange(rotate_every, publish_ahead, retire_after)
    if any(v is not None for v in (rotate_every, publish_ahead, retire_after)):
        with transaction():
            set_schedule(settings, algs, change, actor="cli")
    schedules = load_schedules(settings)
    value = [
        {
            "alg": a,
            "rotate_every_seconds": schedules[a].rotate_every_seconds,
            "publish_ahead_seconds": schedules[a].publish_ahead_seconds,
            "retire_after_seconds": schedules[a].retire_after_seconds,
        }
        for a in algs
    ]
    text = "\n".join(
        f"{v['alg']:8} rotate every {v['rotate_every_seconds']}s, publish ahead "
        f"{v['publish_ahead_seconds']}s, retire after {v['retire_after_seconds']}s"
        for v in value
    )
    emit(value, as_json, text)


def _activate_when_published(runtime, algs: tuple[str, ...]) -> list:  # noqa: ANN001
    """A key that skips publish-ahead signs once every server process publishes it (the
    key-propagation interval): wait for that here, then activate it."""
    seconds = runtime.settings.emergency_publish_seconds
    click.echo(f"the new key signs in {seconds}s, once every server process publishes it", err=True)
    with transaction():
        return activate_when_published(runtime.settings, runtime.envelope(), algs)


# A kid is base64url and may start with "-": let click take it as the argument.
@group.command("revoke", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
@click.option("--reason", default="", help="Why (kept with the key and in the audit trail).")
@json_option
def revoke_command(kid: str, reason: str, as_json: bool) -> None:
    """Emergency revocation: out of JWKS at once; its tokens stop verifying."""
    runtime = current_runtime()
    with transaction():
        performed = revoke_key(runtime.settings, runtime.envelope(), kid, reason=reason)
    performed += _activate_when_published(runtime, SIGNING_ALGORITHMS)
    value = [{"action": p.action, "alg": p.alg, "kid": p.kid} for p in performed]
    emit(value, as_json, "\n".join(f"{p.action:15} {p.alg:8} {p.kid}" for p in performed))
