"""Security headers: pages carry a CSP without inline script or style, cannot be framed and send
no Referer; every response says nosniff; HSTS with an https issuer."""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_app


@pytest.mark.parametrize("path", ["/login", "/", "/api/v1/docs"])
def test_pages_have_a_strict_policy(http, path):
    response = http.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    # Nothing inline for the policy to forbid: no script bodies, style blocks or attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html and " onload=" not in html


def test_static_files_are_served_from_the_package(http):
    for path, mimetypes in [
        ("/static/site.css", ("text/css",)),
        ("/static/api_docs.js", ("text/javascript", "application/javascript")),
    ]:
        response = http.get(path)
        try:
            assert response.status_code == 200 and response.mimetype in mimetypes
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        finally:
            response.close()


def test_json_answers_are_nosniff_without_a_page_policy(http):
    response = http.get("/.well-known/jwks.json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers


def test_hsts_only_with_an_https_issuer(tmp_path, http):
    assert "Strict-Transport-Security" not in http.get("/healthz").headers
    app = make_app(tmp_path / "tls", issuer="https://id.example.com")
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
