"""The landing page says where to go (and, to an administrator, where the admin UI and its API
reference are), a browser asking for a page that is not there gets the site's error page, an
API or protocol client still gets its JSON, and the stylesheet follows a dark system theme."""

from __future__ import annotations

from tests.accounts.conftest import sign_in  # noqa: F401 (fixture)
from tests.admin.conftest import admin_user, sign_in_with_code  # noqa: F401 (fixture)

PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_the_landing_page_links_an_admin_to_the_admin_ui_and_nobody_else(http, sign_in):  # noqa: F811
    anonymous = http.get("/").get_data(as_text=True)
    assert 'href="/login?next=/account"' in anonymous and 'href="/admin"' not in anonymous
    sign_in()
    person = http.get("/").get_data(as_text=True)
    assert 'href="/account"' in person and 'href="/admin"' not in person


def test_an_administrator_sees_the_admin_links(http, admin_user):  # noqa: F811
    sign_in_with_code(http, admin_user)
    page = http.get("/").get_data(as_text=True)
    assert 'href="/admin"' in page and 'href="/api/v1/docs"' in page


def test_a_missing_page_is_the_sites_error_page_for_a_browser_only(http):
    page = http.get("/no/such/page", headers=PAGE)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "No such page." in page.get_data(as_text=True)
    assert 'href="/static/site.css"' in page.get_data(as_text=True)
    api = http.get("/api/v1/nothing", headers=PAGE)
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    protocol = http.get("/oauth/nothing", headers=PAGE)
    assert protocol.status_code == 404 and protocol.is_json
    client = http.get("/no/such/page", headers={"Accept": "application/json"})
    assert client.status_code == 404 and client.get_json()["error"] == "not_found"


def test_the_stylesheet_follows_a_dark_system_theme(http):
    css = http.get("/static/site.css").get_data(as_text=True)
    assert "@media (prefers-color-scheme: dark)" in css and "color-scheme: dark" in css
