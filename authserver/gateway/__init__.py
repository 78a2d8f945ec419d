"""The API gateway's decision endpoint (``/gateway/check``), its route rules, the limits keys and
clients carry into it, and its usage analytics (docs/gateway.md)."""
