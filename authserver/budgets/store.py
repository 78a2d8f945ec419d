"""Where budgets are counted: Redis when it is configured and reachable (one budget for every
instance), else this host's shared table (one budget for every process of the host).

Redis runs ``buckets.apply``'s arithmetic in one Lua script, so a charge over several keys and
tiers is as atomic there as under the host table's lock; the time is the server's clock, passed
in, so both stores agree and tests can move it. Keys are ``authserver:budget:`` and the BLAKE2b
digest of the budget's key (no email or address is stored in Redis), a hash of one ``tat`` per
tier that expires when every tier is full again. Redis Cluster is not supported: the keys of one
charge must live in one Redis.

While Redis is unreachable (``redis_link``) every charge goes to the host table: budgets are
then per host, and start from what the host counted (Redis's counters are not merged back).
"""

from __future__ import annotations

from collections.abc import Sequence

from authserver.budgets.buckets import Charge, Mode, Outcome, TierState, Verdict
from authserver.budgets.host import digest
from authserver.platform import clock
from authserver.platform.redis_link import RedisLink, RedisUnavailable

PREFIX = "authserver:budget:"

# ARGV: now, mode, then per key: cost, tiers, then (interval, capacity) per tier. Returns
# allowed, then per key: allowed, and per tier: remaining, reset, retry after, over.
_SCRIPT = """
local now = tonumber(ARGV[1])
local mode = ARGV[2]
local eps = 1e-9
local pos = 3
local plans = {}
local all_allowed = true
for k = 1, #KEYS do
  local cost = tonumber(ARGV[pos])
  local n = tonumber(ARGV[pos + 1])
  pos = pos + 2
  local stored = redis.call('HMGET', KEYS[k], '0', '1', '2', '3')
  local tiers = {}
  local key_allowed = true
  for t = 1, n do
    local interval = tonumber(ARGV[pos])
    local capacity = tonumber(ARGV[pos + 1])
    pos = pos + 2
    local tat = tonumber(stored[t]) or 0
    local base = math.max(tat, now)
    local new, retry, over, ok = tat, 0, 0, true
    if mode == 'take' then
      local wanted = base + cost * interval
      if wanted - now <= capacity + eps then new = wanted
      else ok = false; retry = wanted - now - capacity end
    elseif mode == 'force' then
      new = base + cost * interval
      local beyond = (new - now - capacity) / interval
      if beyond > eps then over = math.ceil(beyond - eps) end
    elseif mode == 'refund' then
      if tat > now then new = math.max(tat - cost * interval, now) end
    else
      new = 0
    end
    if not ok then key_allowed = false; all_allowed = false end
    tiers[t] = {tat, new, interval, capacity, retry, over}
  end
  plans[k] = {key_allowed, tiers}
end
local out = {all_allowed and '1' or '0'}
for k = 1, #KEYS do
  local plan = plans[k]
  out[#out + 1] = plan[1] and '1' or '0'
  local latest = 0
  local fields = {}
  for t, tier in ipairs(plan[2]) do
    local tat = all_allowed and tier[2] or tier[1]
    local pending = math.max(tat - now, 0)
    local remaining = math.max(math.floor((tier[4] - pending) / tier[3] + eps), 0)
    out[#out + 1] = tostring(remaining)
    out[#out + 1] = string.format('%.17g', pending)
    out[#out + 1] = string.format('%.17g', tier[5])
    out[#out + 1] = tostring(tier[6])
    fields[#fields + 1] = tostring(t - 1)
    fields[#fields + 1] = string.format('%.17g', tat)
    if tat > latest then latest = tat end
  end
  if all_allowed or mode ~= 'take' then
    if latest <= now then
      redis.call('DEL', KEYS[k])
    else
      redis.call('HSET', KEYS[k], unpack(fields))
      redis.call('PEXPIRE', KEYS[k], math.ceil((latest - now) * 1000) + 1000)
    end
  end
end
return out
"""


class RedisCounters:
    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._script = None

    def apply(self, now: float, charges: Sequence[Charge], mode: Mode) -> Outcome:
        keys = [PREFIX + digest(c.key).hex() for c in charges]
        args: list[object] = [repr(now), mode.value]
        for charge in charges:
            args += [charge.cost, len(charge.rates)]
            for rate in charge.rates:
                args += [repr(rate.interval), repr(rate.capacity)]
        raw = self.link.run(lambda client: self._scripted(client)(keys=keys, args=args))
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in raw]
        position = 1
        verdicts = []
        for charge in charges:
            allowed = values[position] == "1"
            position += 1
            tiers = []
            for rate in charge.rates:
                remaining, pending, retry, over = values[position : position + 4]
                position += 4
                tiers.append(TierState(rate, int(remaining), float(pending), float(retry),
                                       int(over)))  # fmt: skip
            verdicts.append(Verdict(allowed, tuple(tiers)))
        return Outcome(values[0] == "1", tuple(verdicts))

    def _scripted(self, client):  # noqa: ANN001, ANN202
        if self._script is None:
            self._script = client.register_script(_SCRIPT)
        return self._script


class Counters:
    """Every budget's counts: Redis first when configured, else (or while it is down) the host."""

    def __init__(self, host, redis: RedisLink | None = None) -> None:  # noqa: ANN001
        self.host = host
        self.redis = RedisCounters(redis) if redis is not None else None

    def apply(self, charges: Sequence[Charge], mode: Mode, now: float | None = None) -> Outcome:
        if not charges:
            return Outcome(True, ())
        now = clock.now().timestamp() if now is None else now
        if self.redis is not None:
            try:
                return self.redis.apply(now, charges, mode)
            except RedisUnavailable:
                pass
        return self.host.apply(now, charges, mode)

    def take(self, charges: Sequence[Charge]) -> Outcome:
        return self.apply(charges, Mode.TAKE)
