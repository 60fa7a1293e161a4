"""Make docs/screenshots/*.png: the widget on a partner page, at desktop and phone width.

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

from tests.browser.support import (  # noqa: E402
    launch_chromium,
    serve_app,
    serve_host_site,
)
from tests.conftest import Mailbox  # noqa: E402

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
            url = site.serve(PARTNER_PAGE.replace("{widget}", live.widget(partner="screenshots")))
            for name, width, height in (
                ("widget-host-page.png", 1024, 900),
                ("widget-phone.png", 360, 740),
            ):
                page = browser.new_page(
                    viewport={"width": width, "height": height}, device_scale_factor=1
                )
                page.goto(url)
                page.locator("[data-urgentaction] button").wait_for()
                path = OUT / name
                page.screenshot(path=str(path), full_page=True)
                page.close()
                print(f"wrote {path.relative_to(ROOT)} ({width} px wide)")
    finally:
        mailbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
