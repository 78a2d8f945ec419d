"""Budgets: how often something may happen, counted where every process that must agree sees it.

- ``rates``: the settings' syntax (``5/minute;10/15minutes``, ``600/minute burst 100``, ``off``).
- ``buckets``: the arithmetic, token buckets kept as one number each (GCRA, the generic cell
  rate algorithm of ITU-T I.371): pure functions of the stored state and the time.
- ``host``: the counters every process of one host shares, in a memory-mapped file under a
  file lock (no network, a few microseconds).
- ``store``: Redis when configured and reachable (every instance shares one budget), else the
  host's counters; the same arithmetic in a Lua script, so both answer alike.
- ``fields``: the RateLimit and RateLimit-Policy response fields.

The faces decide what to count (``authserver.web.ratelimit``); this package only counts.
"""
