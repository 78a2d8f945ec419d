"""Branding from the settings: AUTHSERVER_BRAND_NAME in titles and the header, a logo served by
the server itself with a fixed content type and a locked-down policy, an accent colour through
/branding.css (no inline style: the pages' CSP forbids it) whose white button text keeps WCAG AA
contrast, and bad values refused at start-up with a message naming the variable."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from authserver.pages.branding import stylesheet
from authserver.platform.branding import (
    DARK_SURFACES,
    LIGHT_SURFACES,
    MAX_LOGO_BYTES,
    contrast_ratio,
    readable_on,
    relative_luminance,
)
from authserver.platform.config import ConfigError, load_settings
from tests.accounts.conftest import rp  # noqa: F401 (fixture)
from tests.conftest import init_app, make_app
from tests.oauth.test_code_flow import Browser

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32">'
       b'<rect width="120" height="32" fill="#0b6e4f"/></svg>')  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
ACCENT = "#0b6e4f"


@pytest.fixture
def logo(tmp_path):
    path = tmp_path / "acme.svg"
    path.write_bytes(SVG)
    return path


@pytest.fixture
def app(tmp_path, _initialised, logo):
    """A branded server: name, logo and colour set."""
    _initialised.copy_to(tmp_path)
    app = make_app(tmp_path, brand_name="Acme ID", brand_logo=str(logo), brand_color=ACCENT)
    init_app(app)
    with app.app_context():
        yield app


def _title(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1)


# -- the settings ----------------------------------------------------------------------------


def test_the_defaults_are_the_plain_name_and_nothing_else():
    settings = load_settings({})
    assert settings.brand_name == "authserver"
    assert settings.brand_logo is None and settings.brand_color is None


def test_the_settings_are_read_from_the_environment(logo):
    settings = load_settings({"AUTHSERVER_BRAND_NAME": "Acme ID",
                              "AUTHSERVER_BRAND_LOGO": str(logo),
                              "AUTHSERVER_BRAND_COLOR": "#0B6E4F"})  # fmt: skip
    assert settings.brand_name == "Acme ID" and settings.brand_logo == str(logo)
    assert settings.brand_color == "#0B6E4F"


@pytest.mark.parametrize("value", ["red", "#0b6e4", "#0b6e4fff", "0b6e4f", "#gggggg", "#fff"])
def test_a_malformed_colour_is_refused(value):
    with pytest.raises(ConfigError, match=r"^AUTHSERVER_BRAND_COLOR: must be a colour as #rrggbb"):
        load_settings({"AUTHSERVER_BRAND_COLOR": value})


@pytest.mark.parametrize("value, ratio", [("#ffcc00", "1.51"), ("#3b82f6", "3.68"),
                                          ("#ffffff", "1.00")])  # fmt: skip
def test_a_colour_white_text_is_unreadable_on_is_refused_with_its_contrast_ratio(value, ratio):
    with pytest.raises(ConfigError) as raised:
        load_settings({"AUTHSERVER_BRAND_COLOR": value})
    message = str(raised.value)
    assert message.startswith("AUTHSERVER_BRAND_COLOR: ")
    assert f"contrast ratio of {ratio}:1" in message and "at least 4.5:1" in message


@pytest.mark.parametrize("value", ["#1d4ed8", "#000000", "#0b6e4f", "#b42318", "#767676"])
def test_a_colour_with_enough_contrast_is_accepted(value):
    assert load_settings({"AUTHSERVER_BRAND_COLOR": value}).brand_color == value


def test_contrast_is_computed_as_wcag_defines_it():
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#000000") == 0.0
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    # #767676 is the lightest grey that passes AA on white (4.54:1), #777777 fails (4.48:1).
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#777777", "#ffffff") < 4.5


@pytest.mark.parametrize("accent", ["#1d4ed8", "#0b6e4f", "#000000", "#767676", "#5925dc"])
def test_link_colours_made_from_the_accent_read_on_every_background(accent):
    light, dark = readable_on(accent, LIGHT_SURFACES), readable_on(accent, DARK_SURFACES)
    assert all(contrast_ratio(light, s) >= 4.5 for s in LIGHT_SURFACES)
    assert all(contrast_ratio(dark, s) >= 4.5 for s in DARK_SURFACES)
    css = stylesheet(accent)
    assert f"--accent: {accent};" in css and f"--accent-text: {dark};" in css


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "Acme\nID"])
def test_a_bad_name_is_refused(name):
    with pytest.raises(ConfigError, match=r"^AUTHSERVER_BRAND_NAME: must be 1 to 64 printable"):
        load_settings({}, overrides={"brand_name": name})


def test_a_bad_logo_is_refused(tmp_path):
    def refused(path) -> str:
        with pytest.raises(ConfigError) as raised:
            load_settings({"AUTHSERVER_BRAND_LOGO": str(path)})
        assert str(raised.value).startswith("AUTHSERVER_BRAND_LOGO: ")
        return str(raised.value)

    assert "no such file" in refused(tmp_path / "missing.png")
    assert ".png, .svg, .jpg or .webp" in refused("https://cdn.example/logo.gif")
    html = tmp_path / "page.html"
    html.write_text("<script>alert(1)</script>")
    assert ".png, .svg, .jpg or .webp" in refused(html)
    disguised = tmp_path / "logo.png"
    disguised.write_text("<html><script>alert(1)</script></html>")
    assert "is not a png image" in refused(disguised)
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\0" * MAX_LOGO_BYTES)
    assert "larger than 256 KiB" in refused(big)
    remote = "https://cdn.example/logo.png"
    assert "no such file" in refused(remote)


def test_start_up_stops_on_a_bad_colour_with_a_clear_message(tmp_path):
    with pytest.raises(ConfigError, match="AUTHSERVER_BRAND_COLOR: #ffcc00 gives white"):
        make_app(tmp_path, brand_color="#ffcc00")
    from tests.server_process import AUTHSERVER

    env = {**os.environ, "AUTHSERVER_BRAND_COLOR": "#ffcc00",
           "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
           "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys")}  # fmt: skip
    env.pop("AUTHSERVER_TEST_BACKEND", None)
    done = subprocess.run([AUTHSERVER, "doctor"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "AUTHSERVER_BRAND_COLOR: #ffcc00 gives white button text a contrast ratio of 1.51:1"\
        in done.stderr and "Traceback" not in done.stderr  # fmt: skip


# -- the pages -------------------------------------------------------------------------------


def test_pages_show_the_name_the_logo_and_the_colour(http):
    page = http.get("/login").get_data(as_text=True)
    assert _title(page) == "Sign in · Acme ID"
    assert "authserver" not in page
    logo = re.search(r'<header class="brand"><a href="/"><img src="(/branding/logo\?v=\w+)" '
                     r'alt="Acme ID"></a></header>', page)  # fmt: skip
    assert logo, page
    css = re.search(r'<link rel="stylesheet" href="(/branding.css\?v=\w+)">', page)
    assert css
    # Loaded after site.css, whose custom properties it replaces.
    assert page.index("/static/site.css") < page.index("/branding.css")
    assert "style=" not in page  # the CSP allows no inline style
    home = http.get("/").get_data(as_text=True)
    assert "<h1>Acme ID</h1>" in home and _title(home) == "Acme ID"
    error = http.get("/no/such/page", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert _title(error) == "Error · Acme ID" and 'alt="Acme ID"' in error


def test_the_consent_page_carries_the_brand(http, rp, user):  # noqa: F811
    browser = Browser(http, rp)
    response = http.get(browser.authorize_url())
    location = browser.sign_in(response.headers["Location"])
    page = http.get(location).get_data(as_text=True)
    assert "Shop wants to" in page
    assert _title(page) == "Allow Shop? · Acme ID" and 'alt="Acme ID"' in page


def test_the_logo_is_served_with_a_fixed_type_and_a_locked_down_policy(http):
    page = http.get("/login").get_data(as_text=True)
    url = re.search(r'<img src="([^"]+)"', page).group(1)
    logo = http.get(url)
    assert logo.status_code == 200 and logo.data == SVG
    assert logo.headers["Content-Type"] == "image/svg+xml"
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    policy = logo.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'unsafe-inline'")
    assert "script-src" not in policy
    assert logo.headers["Cache-Control"] == "public, max-age=86400"
    again = http.get(url, headers={"If-None-Match": logo.headers["ETag"]})
    assert again.status_code == 304


def test_the_stylesheet_sets_the_accent_as_custom_properties(http):
    page = http.get("/login").get_data(as_text=True)
    url = re.search(r'href="(/branding.css[^"]*)"', page).group(1)
    css = http.get(url)
    assert css.status_code == 200 and css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    assert f"--accent: {ACCENT};" in text and "--on-accent: #fff;" in text
    assert "@media (prefers-color-scheme: dark)" in text
    site = http.get("/static/site.css").get_data(as_text=True)
    for used in ("var(--accent)", "var(--on-accent)", "var(--accent-text)", "var(--focus)"):
        assert used in site


def test_a_png_logo_is_served_as_png(tmp_path, _initialised):
    _initialised.copy_to(tmp_path)
    path = tmp_path / "logo.PNG"
    path.write_bytes(PNG)
    app = make_app(tmp_path, brand_logo=str(path))
    logo = app.test_client().get("/branding/logo")
    assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/png"
    assert logo.data == PNG
    page = app.test_client().get("/login").get_data(as_text=True)
    assert 'alt="authserver"' in page and "/branding.css" not in page


def test_without_branding_the_pages_are_as_before(tmp_path, _initialised):
    _initialised.copy_to(tmp_path)
    http = make_app(tmp_path).test_client()
    page = http.get("/login").get_data(as_text=True)
    assert _title(page) == "Sign in · authserver"
    assert 'class="brand"' not in page and "/branding" not in page
    assert '</title>\n  <link rel="stylesheet" href="/static/site.css">\n</head>' in page
    assert page.split('<body class="">', 1)[1].split("<main>", 1)[0].strip() == ""
    assert "<h1>authserver</h1>" in http.get("/").get_data(as_text=True)
    assert http.get("/branding/logo").status_code == 404
    assert http.get("/branding.css").status_code == 404


def test_a_name_alone_shows_in_the_header_as_text(tmp_path, _initialised):
    _initialised.copy_to(tmp_path)
    http = make_app(tmp_path, brand_name="Acme <ID>").test_client()
    page = http.get("/login").get_data(as_text=True)
    assert '<header class="brand"><a href="/">Acme &lt;ID&gt;</a></header>' in page
    assert _title(page) == "Sign in · Acme &lt;ID&gt;"
