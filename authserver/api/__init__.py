"""The versioned admin REST API; each version is a package with its own blueprint."""
