"""Accessibility checks for the browser tests: axe-core (bundled by ``axe-playwright-python``,
nothing fetched) against WCAG 2.1 A and AA, which covers labelled controls and colour contrast,
and a keyboard walk that every focusable control shows where the focus is (WCAG 2.4.7)."""

from __future__ import annotations

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# For each control the Tab key reaches: whether the focused control is drawn differently from
# the unfocused one (an outline or a box shadow), as a person using the keyboard needs.
_FOCUS_WALK = """
() => {
  const controls = [...document.querySelectorAll(
    'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), ' +
    'select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])'
  )].filter(el => el.offsetParent !== null || el.getClientRects().length);
  const look = el => { const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join('|'); };
  const unseen = [];
  for (const el of controls) {
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    const before = look(el);
    el.focus({focusVisible: true});
    if (document.activeElement !== el) continue;
    const s = getComputedStyle(el);
    const drawn = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) ||
                  s.boxShadow !== 'none';
    if (!drawn || look(el) === before) unseen.push(el.outerHTML.slice(0, 120));
    el.blur();
  }
  return unseen;
}
"""


def assert_accessible(page, name: str) -> None:
    """No axe violation of WCAG 2.1 AA on the page as it is now, in the light and the dark
    theme (the pages follow ``prefers-color-scheme``), and visible keyboard focus."""
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        _no_violations(page, f"{name} ({scheme})")
    page.keyboard.press("Tab")  # from here on the browser draws :focus-visible as for a keyboard
    unseen = page.evaluate(_FOCUS_WALK)
    assert not unseen, f"{name}: focus not visible on " + "\n".join(unseen)


def _no_violations(page, name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    described = [
        f"{v['id']}: {v['help']} — " + "; ".join(n["html"][:120] for n in v["nodes"][:3])
        for v in results.response["violations"]
    ]
    assert not described, f"{name}: " + "\n".join(described)
