"""The one interaction decision of both browser flows (the authorization endpoint and the
device page, RFC 8628 §3.3): what the user must do before the request can be answered —
sign in, pass a second factor, consent — or nothing. Each page turns the step into its own
response; with ``prompt=none`` (OIDC Core §3.1.2.1) the authorization endpoint answers with
the step's error code (§3.1.2.6) instead.
"""

from __future__ import annotations

import dataclasses
import enum

from authserver.mfa import policy
from authserver.mfa.service import factors_of
from authserver.models import UserSession
from authserver.oauth.consent import has_consent
from authserver.platform import acr, clock
from authserver.platform.config import Settings


class Step(enum.Enum):
    SIGN_IN = "login_required"
    SECOND_FACTOR = "interaction_required"
    CONSENT = "consent_required"
    PROCEED = None

    @property
    def error(self) -> str | None:
        """What ``prompt=none`` answers instead of the step (OIDC Core §3.1.2.6)."""
        return self.value


@dataclasses.dataclass(frozen=True)
class Interaction:
    step: Step
    level: int = 0  # SECOND_FACTOR: the policy level the sign-in must reach


@dataclasses.dataclass(frozen=True)
class Asked:
    """What the request asks of the interaction."""

    scope: str
    client_id: str
    acr_values: str | None = None
    prompt: frozenset[str] = frozenset()
    max_age: str | None = None
    # RFC 8628 §5.4 (remote phishing): the device page always asks; an authorization request
    # asks unless the client skips consent or the user consented to these scopes before.
    always_consent: bool = False
    skip_consent: bool = False


def next_step(session: UserSession | None, asked: Asked, settings: Settings) -> Interaction:
    if session is None or "login" in asked.prompt or _too_old(session, asked.max_age):
        return Interaction(Step.SIGN_IN)
    user = session.user
    demand = policy.demand_for(user.requires_mfa, asked.scope, asked.acr_values, settings)
    target = demand.target(factors_of(user).attainable_level)
    if acr.level_of(session.amr) < target:
        return Interaction(Step.SECOND_FACTOR, target)
    if asked.always_consent or _needs_consent(user, asked):
        return Interaction(Step.CONSENT)
    return Interaction(Step.PROCEED)


def _needs_consent(user, asked: Asked) -> bool:  # noqa: ANN001
    if asked.skip_consent:
        return False
    return "consent" in asked.prompt or not has_consent(user, asked.client_id, asked.scope)


def _too_old(session: UserSession, max_age: str | None) -> bool:
    """OIDC Core §3.1.2.1: sign in again when the last sign-in is older than max_age."""
    if max_age is None:
        return False
    if not max_age.isdigit() or len(max_age) > 10:
        return True
    return (clock.now() - session.auth_time).total_seconds() > int(max_age)
