"""Multi-factor authentication: authenticator apps (TOTP), passkeys (WebAuthn), recovery codes,
and the policy that decides when a second factor is needed."""
