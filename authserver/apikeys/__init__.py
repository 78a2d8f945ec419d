"""API keys: long-lived credentials for scripts, CI jobs and partners."""
