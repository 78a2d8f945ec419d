"""The security-event trail. Every event goes through ``audit.service.record``."""
