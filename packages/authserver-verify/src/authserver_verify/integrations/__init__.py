"""Adapters of ResourceServer to web frameworks; each imports its framework only."""
