"""Fixtures shared by the protocol tests."""

from tests.oauth.test_code_flow import rp  # noqa: F401 (fixture)
