"""Signing keys: envelope encryption, the key service, the in-process key ring and JWKS."""
