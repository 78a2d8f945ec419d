"""When a second factor is needed: what an authorization request demands (role, step-up
scopes, ``acr_values``) and which scopes a session without one may not have. The vocabulary
(``amr``, ``acr`` and their levels) is ``authserver.platform.acr``."""

from __future__ import annotations

import dataclasses

from authserver.platform.acr import MULTI_FACTOR, ONE_FACTOR, requested_level
from authserver.platform.config import Settings


def step_up_scopes(settings: Settings) -> frozenset[str]:
    return frozenset(settings.mfa_scopes.replace(",", " ").split())


@dataclasses.dataclass(frozen=True)
class Demand:
    """What an authorization request needs: ``required`` is never waived (role, scope);
    ``wanted`` (acr_values) is met as far as the user's factors allow."""

    required: int
    wanted: int

    def target(self, attainable: int) -> int:
        return max(self.required, min(self.wanted, attainable))


def demand_for(
    user_requires_mfa: bool, scope: str, acr_values: str | None, settings: Settings
) -> Demand:
    required = ONE_FACTOR
    if user_requires_mfa or step_up_scopes(settings) & set(scope.split()):
        required = MULTI_FACTOR
    return Demand(required=required, wanted=requested_level(acr_values))


def without_step_up_scopes(scope: str, amr: list[str], settings: Settings) -> str:
    """A scope marked as needing MFA is never granted to a session without it."""
    if "mfa" in amr:
        return scope
    marked = step_up_scopes(settings)
    return " ".join(s for s in scope.split() if s not in marked)
