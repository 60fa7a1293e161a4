"""The two web servers and the browser the browser tests (and scripts/screenshots.py) use.

The extension runs on ``127.0.0.1:PORT2`` and the partner pages are served from
``localhost:PORT1``: two different *sites*, so the browser treats the widget's
requests as cross-origin and the iframe as a third-party frame (Debian's
Chromium then blocks its cookies), as on a real partner website.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask
from playwright.sync_api import Browser, Locator, sync_playwright
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action
from flask_urgentaction.storage import get_session
from tests.conftest import SAMPLE, Mailbox, make_app

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "widget" / "node_modules" / "axe-core" / "axe.min.js"
EMBEDDING_DOC = ROOT / "docs" / "embedding.md"
SLUG = "example-mine-strike"
TITLE = "Reinstate the sacked union leaders"
# Debian's build; scripts/test.sh sets UA_CHROMIUM when it found another one.
CHROMIUM = os.environ.get("UA_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The server the documented snippets point at; tests swap in the live one.
DOCS_ORIGIN = "https://actions.example.org"


class HostSite:
    """A tiny static web server for the partner pages the tests write."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self._names = itertools.count(1)
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # "localhost", not the address: another site than the extension's 127.0.0.1.
        self.origin = f"http://localhost:{self.server.server_address[1]}"

    def page(self, body: str, head: str = "", lang: str = "en") -> str:
        """Serve a partner page with ``body`` in its <main>; return its URL."""
        return self.serve(
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Partner union</title><link rel="icon" href="data:,">{head}</head>'
            f"<body><main>{body}</main></body></html>"
        )

    def serve(self, html: str) -> str:
        """Serve a whole HTML document; return its URL."""
        path = f"/page-{next(self._names)}.html"
        self.pages[path] = html.encode()
        return self.origin + path


@contextmanager
def serve_host_site() -> Iterator[HostSite]:
    site = HostSite()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


@dataclass
class LiveApp:
    """The extension on a real HTTP server, with its mailbox and database."""

    app: Flask
    server: BaseWSGIServer
    mailbox: Mailbox
    origin: str
    errors: list[BaseException] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.origin + "/actions"

    def actions(self) -> list[Action]:
        with self.app.app_context():
            return list(get_session().scalars(select(Action).order_by(Action.id)))

    def add_campaign(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        with self.app.app_context():
            load_files(get_session(), [path])

    def widget(self, slug: str = SLUG, **data: str) -> str:
        """The documented script snippet, with this server and optional data-* attributes."""
        snippet = docs_snippet("<script").replace(DOCS_ORIGIN, self.origin)
        snippet = snippet.replace(f'data-urgentaction="{SLUG}"', f'data-urgentaction="{slug}"')
        # data-lang stays "en" unless replaced; an empty value drops an attribute.
        data = {"lang": "en", **data}
        attributes = "".join(f' data-{key}="{value}"' for key, value in data.items() if value)
        return re.sub(r' data-lang="[^"]*"', attributes, snippet, count=1)

    def campaign_list(self, script: bool = True, **data: str) -> str:
        """The documented list snippet against this server, with optional data-*
        attributes; ``script=False`` leaves out the script line, for a page that
        already loads widget.js (as the guide says)."""
        snippet = docs_snippet("data-urgentaction-list").replace(DOCS_ORIGIN, self.origin)
        data = {"lang": "en", **data}
        attributes = "".join(f' data-{key}="{value}"' for key, value in data.items() if value)
        snippet = re.sub(r' data-lang="[^"]*"', attributes, snippet, count=1)
        return snippet if script else re.sub(r"<script\b.*?</script>\n?", "", snippet)

    def messages_widget(self, slug: str = SLUG, script: bool = True, **data: str) -> str:
        """The documented messages snippet against this server for ``slug``, as
        ``campaign_list`` does it."""
        snippet = docs_snippet("data-urgentaction-messages").replace(DOCS_ORIGIN, self.origin)
        snippet = snippet.replace(
            f'data-urgentaction-messages="{SLUG}"', f'data-urgentaction-messages="{slug}"'
        )
        data = {"lang": "en", **data}
        attributes = "".join(f' data-{key}="{value}"' for key, value in data.items() if value)
        snippet = re.sub(r' data-lang="[^"]*"', attributes, snippet, count=1)
        return snippet if script else re.sub(r"<script\b.*?</script>\n?", "", snippet)

    def iframe(self, **params: str) -> str:
        """The documented iframe snippet with its resize listener, against this server.

        ``params`` are added to the frame's query string (``partner=...``).
        """
        snippet = docs_snippet("<iframe").replace(DOCS_ORIGIN, self.origin)
        embed = f"/{SLUG}/embed?lang=en"
        assert embed in snippet, snippet
        extra = "".join(f"&amp;{key}={quote(value)}" for key, value in params.items())
        return snippet.replace(embed, embed + extra, 1)


def docs_snippet(marker: str) -> str:
    """The first ```html block of docs/embedding.md that contains ``marker``.

    The tests paste what the guide tells webmasters to paste, so a broken
    snippet in the guide fails a test.
    """
    blocks = re.findall(r"```html\n(.*?)```", EMBEDDING_DOC.read_text(encoding="utf-8"), re.S)
    found = [block for block in blocks if marker in block]
    assert found, f"docs/embedding.md has no html snippet with {marker}"
    return found[0]


@contextmanager
def serve_app(tmp_path: Path, mailbox: Mailbox, **config: Any) -> Iterator[LiveApp]:
    """make_app on a threaded werkzeug server on a free port of 127.0.0.1."""
    app = make_app(tmp_path, mailbox, **{"SERVER_NAME": None, **config})
    with serve_live(app, mailbox, tmp_path / "campaign.toml", SAMPLE) as live:
        yield live


@contextmanager
def serve_live(
    app: Flask, mailbox: Mailbox, campaign_file: Path, campaign: str
) -> Iterator[LiveApp]:
    """Any app with our extension on a threaded werkzeug server on a free port of
    127.0.0.1, with ``campaign`` loaded from ``campaign_file``."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    origin = f"http://127.0.0.1:{server.port}"
    # URLs built outside a request (mail links) point at this server too.
    app.config["SERVER_NAME"] = origin.removeprefix("http://")
    live = LiveApp(app, server, mailbox, origin)

    @app.teardown_request
    def keep_error(exc: BaseException | None) -> None:
        # The server thread would only log the exception; the test reports it.
        if exc is not None:
            live.errors.append(exc)

    live.add_campaign(campaign_file, campaign)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is missing: run the tests through scripts/test.sh")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def challenge_number(scope: Locator) -> str:
    """The number the spam check asks for, read from its label like a person would."""
    label = scope.locator("label", has_text=re.compile(r"\d{4}")).first.inner_text()
    number = re.search(r"\d{4}", label)
    assert number, label
    return number.group(0)


def fill_action(
    scope: Locator, *, name: str = "Ana Kovač", email: str = "ana@example.org",
    answer: str | None = None,
) -> None:  # fmt: skip
    """Fill the widget's or the embed's form like a supporter, in any language.

    Fields are found by name, so the helper works whatever language the form
    is in; the labels are checked by the keyboard and axe tests.
    """
    scope.locator("[name=name]").fill(name)
    scope.locator("[name=email]").fill(email)
    scope.locator("[name=union]").fill("SSM")
    scope.locator("[name=country]").select_option("BA")
    number = challenge_number(scope) if answer is None else answer
    scope.locator("[name=challenge_answer]").fill(number)


# The focused element, looking through shadow roots: its name or its text.
FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el ? (el.getAttribute('name') || el.textContent.trim()) : null;
}"""
