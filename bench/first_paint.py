"""What a supporter's browser fetches before it shows a campaign: bytes and requests.

Two first views, in Debian's Chromium (headless, through Playwright) at a phone's
size (360 x 740), from an app that serves the demo's Kestrel Hill campaign with
the extension's own templates:

- the campaign page, ``GET /actions/<slug>?lang=en``, until the page has loaded;
- the widget on a host page of another origin (the two-line snippet), until its
  form is drawn.

For each, every response the browser received from the app: its path, its type,
its body in bytes as served (the app compresses nothing; a proxy in front of it
usually does) and gzipped (level 6, what such a proxy sends). The host page's own
HTML is left out: it is the partner's. Sizes do not depend on the machine's load,
so no baseline run is needed; the widget's budget is checked by
``bench/widget_size.py`` and tests/test_widget_build.py.

Usage: python bench/first_paint.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from playwright.sync_api import Page, Response, ViewportSize, sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "examples" / "demo" / "campaigns" / "kestrel-hill-miners.toml"
SLUG = "kestrel-hill-miners"
PHONE: ViewportSize = {"width": 360, "height": 740}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip


@dataclass(frozen=True)
class Fetched:
    path: str
    kind: str
    raw: int
    gzipped: int


def campaign_app(instance: str) -> Flask:
    from flask_urgentaction import UrgentAction
    from flask_urgentaction.campaigns import load_files
    from flask_urgentaction.storage import get_session

    app = Flask("first_paint", instance_path=instance)
    app.config.update(
        SECRET_KEY="bench", MAIL_DEFAULT_SENDER="Bench <bench@example.org>",
        URGENTACTION_DELIVERY="worker", TRUSTED_HOSTS=["127.0.0.1"],
    )  # fmt: skip
    UrgentAction(app)
    with app.app_context():
        load_files(get_session(), [CAMPAIGN])
    return app


def host_app(widget_url: str) -> Flask:
    """A partner's page: a heading, a paragraph and the documented snippet."""
    app = Flask("host")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>A partner's page</title></head><body><h1>Solidarity</h1>"
        "<p>Our union supports the miners of Kestrel Hill.</p>"
        f'<div data-urgentaction="{SLUG}" data-lang="en"></div>\n'
        f'<script src="{widget_url}" async></script></body></html>'
    )
    app.add_url_rule("/", "page", lambda: page)
    return app


@contextmanager
def serving(app: Flask, host: str) -> Iterator[str]:
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()


def record(page: Page, origin: str, into: list[Fetched]) -> None:
    def on_response(response: Response) -> None:
        if not response.url.startswith(origin):
            return
        body = response.body()
        parts = urlsplit(response.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        into.append(Fetched(path, response.request.resource_type, len(body),
                            len(gzip.compress(body, 6, mtime=0))))  # fmt: skip

    page.on("response", on_response)


def show(title: str, fetched: list[Fetched]) -> None:
    print(f"\n{title}")
    print(f"  {'request':<52} {'type':<11} {'bytes':>8} {'gzip':>8}")
    for item in fetched:
        print(f"  {item.path[:52]:<52} {item.kind:<11} {item.raw:8,d} {item.gzipped:8,d}")
    raw = sum(item.raw for item in fetched)
    packed = sum(item.gzipped for item in fetched)
    print(f"  {f'{len(fetched)} requests':<52} {'':<11} {raw:8,d} {packed:8,d}")


def main() -> None:
    # The servers' request lines would hide the tables.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ua-first-paint-") as instance:
        app = campaign_app(instance)
        # Two origins: the app on 127.0.0.1, the partner's page on localhost.
        with serving(app, "127.0.0.1") as origin, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium,
                                                 args=CHROMIUM_ARGS)  # fmt: skip
            try:
                page_fetched: list[Fetched] = []
                page = browser.new_context(viewport=PHONE).new_page()
                record(page, origin, page_fetched)
                page.goto(f"{origin}/actions/{SLUG}?lang=en", wait_until="load")
                page.wait_for_load_state("networkidle")
                show("The campaign page, first view (until loaded)", page_fetched)

                widget_fetched: list[Fetched] = []
                with serving(host_app(f"{origin}/actions/widget.js"), "localhost") as host:
                    page = browser.new_context(viewport=PHONE).new_page()
                    record(page, origin, widget_fetched)
                    page.goto(host + "/")
                    page.locator(f'[data-urgentaction="{SLUG}"] form').wait_for()
                    page.wait_for_load_state("networkidle")
                show("The widget on a partner's page, first view (until its form)",
                     widget_fetched)  # fmt: skip
            finally:
                browser.close()


if __name__ == "__main__":
    main()
