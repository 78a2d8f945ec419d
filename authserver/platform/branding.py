"""The syntax of the branding settings (AUTHSERVER_BRAND_*): the logo file and the accent colour.

Contrast is WCAG 2.1's (§1.4.3, "relative luminance" and "contrast ratio" in its glossary): the
accent must give white button text at least 4.5:1, or start-up refuses it. Link and focus colours
are derived from it so that they too keep 4.5:1 on every surface of the light and the dark theme.
The logo is a local file, read at start-up and served by the server itself (the pages'
Content-Security-Policy allows images from 'self' only, and nothing is fetched from elsewhere).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

#: WCAG 2.1 AA for normal text.
MIN_CONTRAST = 4.5
#: The largest logo accepted: a header image, not a photograph.
MAX_LOGO_BYTES = 256 * 1024
#: The logo's file name extension → the only content type it is served with.
LOGO_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
# What a file of each type starts with: a file whose content is not what its name says is
# refused (a renamed HTML page stays out).
_MAGIC = {
    "image/png": lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda data: data.startswith(b"\xff\xd8\xff"),
    "image/webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "image/svg+xml": lambda data: b"<svg" in data[:4096].lower(),
}
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")

# The page backgrounds in site.css that text in the accent colour may sit on (page, code,
# table rows, notices, warnings), in the light and in the dark theme.
LIGHT_SURFACES = ("#ffffff", "#f9fafb", "#f2f4f7", "#ecfdf3", "#fffaeb")
DARK_SURFACES = ("#101418", "#161b22", "#1f242b", "#053321", "#2b1d05")
WHITE = "#ffffff"


@dataclasses.dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str

    @property
    def version(self) -> str:
        """Changes with the content: the logo's URL carries it, so a new logo is fetched anew."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def read_logo(path: str) -> Logo:
    """The logo file, checked; ValueError says what is wrong with it."""
    file = Path(path)
    content_type = LOGO_TYPES.get(file.suffix.lower())
    if content_type is None:
        raise ValueError("must be a .png, .svg, .jpg or .webp file")
    if not file.is_file():
        raise ValueError(f"no such file: {path}")
    if file.stat().st_size > MAX_LOGO_BYTES:
        raise ValueError(f"is larger than {MAX_LOGO_BYTES // 1024} KiB")
    data = file.read_bytes()
    if not data or not _MAGIC[content_type](data):
        raise ValueError(f"is not a {file.suffix.lower().lstrip('.')} image")
    return Logo(data, content_type)


def parse_color(text: str) -> str:
    """``#rrggbb`` (lowercased); ValueError if malformed or if white text on it is unreadable."""
    if not _COLOR.fullmatch(text):
        raise ValueError(f"must be a colour as #rrggbb, not {text!r}")
    color = text.lower()
    ratio = contrast_ratio(color, WHITE)
    if ratio < MIN_CONTRAST:
        raise ValueError(
            f"{color} gives white button text a contrast ratio of {ratio:.2f}:1; WCAG AA needs "
            f"at least {MIN_CONTRAST}:1, so choose a darker colour"
        )
    return color


def relative_luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of ``#rrggbb``."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_on(color: str, surfaces: tuple[str, ...]) -> str:
    """``color``, or the nearest mix of it with black (light surfaces) or white (dark ones) that
    text in it keeps 4.5:1 against every one of ``surfaces``."""
    toward = (0, 0, 0) if relative_luminance(surfaces[0]) > 0.5 else (255, 255, 255)
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    for step in range(65):
        share = step / 64
        mixed = "#" + "".join(
            f"{round(c + (t - c) * share):02x}" for c, t in zip(rgb, toward, strict=True)
        )
        if all(contrast_ratio(mixed, surface) >= MIN_CONTRAST for surface in surfaces):
            return mixed
    return "#000000" if toward == (0, 0, 0) else "#ffffff"
