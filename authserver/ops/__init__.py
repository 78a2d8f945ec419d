"""The operator's face: liveness and readiness, ``GET /metrics``, and the periodic jobs each server
process runs (due key transitions, API-key expiry warnings)."""
