"""Security-event webhooks: an operator subscribes an https endpoint to audit-event types, and
every matching audit record is delivered there, signed as Standard Webhooks 1.0 specifies.

``service`` holds the rules (subscriptions, secrets, no escalation), ``outbox`` the deliveries
written with their audit records and claimed once per attempt, ``worker`` the sender thread of
each server process, ``signing`` the signature scheme. Every request goes through
``authserver.outbound``.
"""
