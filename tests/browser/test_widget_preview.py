"""The dashboard's widget preview in headless Chromium: a draft's embed widget, in
two languages, drawn by the partner websites' script, with nothing to send."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from flask_urgentaction.campaigns import find
from flask_urgentaction.storage import get_session

from .support import SLUG, TITLE, LiveApp
from .test_accessibility import violations

TITLE_DE = "Stellt die entlassenen Gewerkschafter wieder ein"


def test_an_organiser_previews_a_drafts_widget_in_two_languages(
    live: LiveApp, context: BrowserContext, page: Page, axe_source: str
) -> None:
    with live.app.app_context():
        session = get_session()
        campaign = find(session, SLUG)
        assert campaign is not None
        campaign.status = "draft"
        session.commit()
    live.app.extensions["urgentaction"].extension.organiser_check(lambda: "ana@union.example")
    console_errors: list[str] = []

    def keep_error(message: ConsoleMessage) -> None:
        # CSP refusals and failed fetches land here; the browser's own favicon
        # request (the dashboard has none) does not concern us.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            console_errors.append(message.text)

    page.on("console", keep_error)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))

    # An init script is not subject to the page's CSP, which allows no inline script.
    context.add_init_script(script=axe_source)
    page.goto(f"{live.base}/manage/campaigns/{SLUG}/preview/widget?lang=en")
    expect(page.get_by_role("note")).to_contain_text("Preview: nothing can be sent.")
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=TITLE)).to_be_visible()
    button = widget.get_by_role("button", name="Send the message")
    expect(button).to_be_disabled()
    expect(widget.get_by_text("Preview: nothing can be sent.")).to_be_visible()
    # The spam check's line is there, as supporters see it.
    expect(widget.get_by_label(re.compile(r"Enter the number \d{4} here"))).to_be_visible()
    assert violations(page) == []
    # Enter in a field sends nothing either.
    widget.locator("[name=name]").fill("Ana Kovač")
    widget.locator("[name=name]").press("Enter")

    page.get_by_role("link", name="Deutsch").click()
    expect(page).to_have_url(re.compile(r"/preview/widget\?lang=de$"))
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=TITLE_DE)).to_be_visible()
    expect(widget.locator("button[type=submit]")).to_be_disabled()
    expect(widget.locator("[name=challenge_answer]")).to_be_visible()

    assert not [line for line in sent if line.startswith("POST")]
    assert any(f"/api/campaigns/{SLUG}?lang=de&preview=" in line for line in sent)
    assert console_errors == []
    # The draft stays hidden from the public all the while.
    assert page.request.get(f"{live.base}/api/campaigns/{SLUG}").status == 404
