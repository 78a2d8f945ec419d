"""The syntax of ``AUTHSERVER_PASSWORD_HASH``: argon2id's cost as ``m=KiB,t=passes,p=lanes``.

The default is RFC 9106 §4's second recommended option (argon2-cffi's default). Anything
cheaper than the OWASP Password Storage Cheat Sheet's minimum is refused: at least 7 MiB of
memory and as much work as its baseline, 19 MiB × 2 passes (its list of equivalent settings
runs from 46 MiB × 1 to 7 MiB × 5)."""

from __future__ import annotations

import dataclasses
import re

MIN_MEMORY_KIB = 7 * 1024
MIN_WORK = 7 * 1024 * 5  # KiB × passes, the least of the OWASP equivalents
_SYNTAX = re.compile(r"^m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})$")


@dataclasses.dataclass(frozen=True)
class PasswordCost:
    memory_kib: int
    time_cost: int
    parallelism: int

    def __str__(self) -> str:
        return f"m={self.memory_kib},t={self.time_cost},p={self.parallelism}"


DEFAULT = PasswordCost(memory_kib=64 * 1024, time_cost=3, parallelism=4)


def parse_password_cost(text: str) -> PasswordCost:
    """Raises ValueError, naming the rule, for a malformed or too cheap cost."""
    match = _SYNTAX.match(text.replace(" ", ""))
    if not match:
        raise ValueError("argon2id cost as m=KiB,t=passes,p=lanes (e.g. m=65536,t=3,p=4)")
    cost = PasswordCost(*(int(group) for group in match.groups()))
    if cost.time_cost < 1 or not 1 <= cost.parallelism <= 64:
        raise ValueError("t at least 1, p from 1 to 64")
    if cost.memory_kib < MIN_MEMORY_KIB or cost.memory_kib * cost.time_cost < MIN_WORK:
        raise ValueError(
            f"below the OWASP minimum: m at least {MIN_MEMORY_KIB} and m × t at least {MIN_WORK}"
        )
    if cost.memory_kib > 4 * 1024 * 1024:
        raise ValueError("m at most 4194304 (4 GiB)")
    return cost
