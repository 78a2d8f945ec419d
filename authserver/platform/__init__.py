"""The platform floor: what every other floor uses and that knows nothing of them.

Settings and the syntaxes of their values, the clock, secrets and constant-time comparison,
the protocol vocabulary, the per-request state, the metrics counters, logging, the runtime
lookup (never built here), Redis, the background job queue. docs/architecture.md lists them.
"""
