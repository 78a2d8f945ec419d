"""The OAuth 2.0 protocol face, built on Authlib's server classes."""
