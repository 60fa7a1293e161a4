"""Make docs/screenshots/*.png: the widget on a partner page, at desktop and phone width,
right to left: the Arabic campaign page, the Arabic widget on a phone and the
Arabic iframe embed, and the personal line typed in on a phone, on the campaign
page and in the widget.

Usage: .venv/bin/python scripts/screenshots.py

Uses the browser tests' servers (the app on 127.0.0.1 with the sample campaign,
a partner page on localhost) and Debian's Chromium, so the pictures show what
the tests check.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser  # noqa: E402
from tests.browser.support import (  # noqa: E402
    SLUG,
    HostSite,
    LiveApp,
    launch_chromium,
    serve_app,
    serve_host_site,
)
from tests.browser.test_rtl import ARABIC  # noqa: E402
from tests.conftest import SAMPLE, Mailbox  # noqa: E402

OUT = ROOT / "docs" / "screenshots"

# A plain partner site around the widget: its own fonts, colours and layout.
PARTNER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example Federation of Unions</title>
<style>
body { margin: 0; font: 17px/1.6 Georgia, serif; color: #222; background: #f3f1ec; }
header { background: #1d3557; color: #fff; padding: 1rem 2rem; }
header b { font: 700 1.4rem/1 system-ui, sans-serif; letter-spacing: .02em; }
main { display: flex; gap: 2rem; max-width: 64rem; margin: 0 auto; padding: 1.5rem 2rem; }
article { flex: 1 1 20rem; }
aside { flex: 1 1 24rem; }
h1 { font: 700 1.8rem/1.2 system-ui, sans-serif; margin: 0 0 1rem; }
[data-urgentaction] { --ua-accent: #c1121f; --ua-radius: 4px; }
@media (max-width: 40rem) { main { display: block; padding: 1rem; } header { padding: 1rem; } }
</style>
</head>
<body>
<header><b>Example Federation of Unions</b></header>
<main>
<article>
<h1>Solidarity with the Example miners</h1>
<p>Five miners were sacked the week after they founded a union at the Example mine.
Their families have had no income since.</p>
<p>Our federation stands with them. Please add your voice: the message goes straight
to the company and the Ministry of Labour.</p>
</article>
<aside>{widget}</aside>
</main>
</body>
</html>
"""


def shoot(browser: Browser, url: str, name: str, width: int, height: int, ready: str) -> None:
    """Open ``url`` at ``width`` px, wait for ``ready`` (a selector), save the whole page."""
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    page.goto(url)
    page.locator(ready).wait_for()
    path = OUT / name
    page.screenshot(path=str(path), full_page=True)
    page.close()
    print(f"wrote {path.relative_to(ROOT)} ({width} px wide)")


def shoot_iframe(browser: Browser, url: str, name: str, width: int) -> None:
    """Like shoot(), for a page with the iframe embed.

    The frame is another site, so Chromium draws it in its own process and a
    full-page screenshot leaves the part of it below the first screen blank.
    The viewport is made as tall as the page instead.
    """
    page = browser.new_page(viewport={"width": width, "height": 800}, device_scale_factor=1)
    page.goto(url)
    page.frame_locator("iframe").locator("form button").wait_for()
    # The resize listener has replaced the snippet's fixed height.
    page.wait_for_function("document.querySelector('iframe').style.height !== '1700px'")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_function(
        "h => document.documentElement.scrollHeight === h && "
        "document.querySelector('iframe').getBoundingClientRect().bottom <= h",
        arg=height,
    )
    path = OUT / name
    page.screenshot(path=str(path))
    page.close()
    print(f"wrote {path.relative_to(ROOT)} ({width} px wide)")


PERSONAL_LINE = "My father dug coal at Kreka for thirty years. He would stand with these five."


def shoot_personal_line(
    browser: Browser, url: str, name: str, scope: str, field: str, width: int = 360
) -> None:
    """At ``width`` px, type a personal line and save the form from the subject to the
    message: ``scope`` holds the form, ``field`` selects one field's box in it."""
    page = browser.new_page(viewport={"width": width, "height": 740}, device_scale_factor=1)
    page.goto(url)
    form = page.locator(scope)
    form.locator("[name=personal]").fill(PERSONAL_LINE)
    page.evaluate("window.scrollTo(0, 0)")
    top = form.locator(field, has=page.locator("[name=subject]")).bounding_box()
    bottom = form.locator(field, has=page.locator("[name=message]")).bounding_box()
    assert top is not None and bottom is not None
    y = max(0, top["y"] - 12)
    clip = {"x": 0, "y": y, "width": width, "height": bottom["y"] + bottom["height"] + 12 - y}
    path = OUT / name
    page.screenshot(path=str(path), full_page=True, clip=clip)  # type: ignore[arg-type]
    page.close()
    print(f"wrote {path.relative_to(ROOT)} ({width} px wide)")


def shoot_all(browser: Browser, live: LiveApp, site: HostSite, tmp: Path) -> None:
    url = site.serve(PARTNER_PAGE.replace("{widget}", live.widget(partner="screenshots")))
    widget = "[data-urgentaction] button"
    shoot(browser, url, "widget-host-page.png", 1024, 900, widget)
    shoot(browser, url, "widget-phone.png", 360, 740, widget)
    page_url = f"{live.base}/{SLUG}"
    shoot_personal_line(browser, page_url, "personal-line-page.png", "form", ".ua-field")
    shoot_personal_line(browser, url, "personal-line-widget.png", "[data-urgentaction]",
                        "[part=field]")  # fmt: skip

    # Right to left: the sample campaign with its Arabic translation.
    live.add_campaign(tmp / "arabic.toml", SAMPLE + ARABIC)
    page_url = f"{live.base}/{SLUG}?lang=ar"
    shoot(browser, page_url, "rtl-campaign-page.png", 1024, 900, "form button")
    arabic_widget = live.widget(lang="ar", partner="screenshots")
    url = site.serve(PARTNER_PAGE.replace("{widget}", arabic_widget))
    shoot(browser, url, "rtl-widget.png", 360, 740, widget)
    iframe = live.iframe(partner="screenshots").replace("/embed?lang=en", "/embed?lang=ar", 1)
    url = site.serve(PARTNER_PAGE.replace("{widget}", iframe))
    shoot_iframe(browser, url, "rtl-iframe.png", 1024)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    mailbox = Mailbox()
    mailbox.start()
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            serve_app(Path(tmp), mailbox) as live,
            serve_host_site() as site,
            launch_chromium() as browser,
        ):
            shoot_all(browser, live, site, Path(tmp))
    finally:
        mailbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
