"""The organisers' dashboard in headless Chromium, as an organiser runs a campaign.

One walk-through creates a campaign in two languages through its forms, previews
and opens it, watches its count change live when a supporter acts in another
page, retries the mail a target's server refused, sends a test alert, approves a
message and downloads an export, against a real SMTP server. On every screen
axe-core finds no serious or critical violation and a 360 px phone scrolls no
page sideways; the walk-through also writes docs/screenshots/dashboard-*.png,
which docs/organisers.md shows. Another test refuses the dashboard without the
host's check, and a form whose CSRF token was tampered with.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import redirect
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from flask_urgentaction import outbox
from flask_urgentaction.campaigns import find
from flask_urgentaction.models import AuditEntry, Subscriber
from flask_urgentaction.storage import get_session
from tests.test_manage_delivery import RefusingMailbox

from .support import DOCS_ORIGIN, SLUG, LiveApp, fill_action
from .test_accessibility import violations

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"
ANA, JONAS = "ana@union.example", "jonas@union.example"
NEW = "garment-strike"
TITLE = "Free the garment union leaders"
TITLE_SQ = "Lironi drejtuesit e sindikatës së tekstilit"
OWNER, MINISTRY = "owner@factory.example", "labour@ministry.example"
NO_SUCH_USER = f"550 5.1.1 <{MINISTRY}>: no such user"
SUBSCRIBER = "mira@example.org"
# A moment as the dashboard writes one ("Dec 2, 2026, 10:00:00 AM UTC"): what
# differs from run to run, hidden in the pictures so they change only with the pages.
MOMENT = re.compile(r"\d:\d\d:\d\d")
# The spam check's number, drawn at random, in the previews' form.
CHALLENGE = re.compile(r"\d{4}")

# The texts of the overview's charts that stick out of their SVG's drawing.
CHART_TEXT_OUTSIDE = """() => [...document.querySelectorAll('svg.ua-chart text')]
  .filter(t => { const box = t.getBBox(), view = t.ownerSVGElement.viewBox.baseVal;
                 return box.x < 0 || box.x + box.width > view.width; })
  .map(t => t.textContent)"""


@pytest.fixture
def mailbox() -> Iterator[RefusingMailbox]:
    """The SMTP server, refusing the addresses put in its ``refuse``."""
    box = RefusingMailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Page:
    # An init script is not subject to the page's CSP, which allows no inline script.
    context.add_init_script(script=axe_source)
    return page


def check(live: LiveApp, verdict: Any) -> None:
    """What the host's organiser check answers from now on."""
    live.app.extensions["urgentaction"].extension.organiser_check(lambda: verdict)


def fits(page: Page) -> bool:
    """No sideways scroll of the page itself (tables scroll in their own box)."""
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"))  # fmt: skip


def screen(page: Page, name: str, *, phone_shot: bool = False) -> None:
    """The screen now shown: no serious axe violation at 1280 px, nothing wider than
    a 360 px phone; its picture in docs/screenshots/dashboard-NAME.png (and -360)."""
    page.set_viewport_size({"width": 1280, "height": 900})
    assert violations(page) == [], name
    shoot(page, SHOTS / f"dashboard-{name}.png")
    page.set_viewport_size({"width": 360, "height": 740})
    assert fits(page), f"{name} scrolls sideways on a phone"
    if phone_shot:
        shoot(page, SHOTS / f"dashboard-{name}-360.png")
    page.set_viewport_size({"width": 1280, "height": 900})


def shoot(page: Page, path: Path) -> None:
    # The snippets name the test server's random port: show the guide's server instead.
    page.evaluate(
        """origin => { for (const t of document.querySelectorAll('textarea[readonly]'))
             t.value = t.value.split(location.origin).join(origin); }""",
        DOCS_ORIGIN,
    )
    moments = [page.locator("time:visible"),
               page.locator("p:visible, li:visible, td:visible").filter(has_text=MOMENT),
               page.locator("#ua-chart-days text"),
               page.locator("label:visible").filter(has_text=CHALLENGE)]  # fmt: skip
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide",
                    mask=moments, mask_color="#d9d9d9")  # fmt: skip
    assert path.read_bytes().startswith(PNG)


def manage(live: LiveApp, path: str = "") -> str:
    return f"{live.base}/manage/{path}"


def subscribe(live: LiveApp) -> None:
    """A confirmed subscriber, so the alert's dry run counts someone."""
    with live.app.app_context():
        session = get_session()
        session.add(Subscriber(email=SUBSCRIBER, email_key=SUBSCRIBER, name="Mira", lang="en",
                               status="confirmed", confirmed_at=datetime.now(UTC)))  # fmt: skip
        session.commit()


def audit_log(live: LiveApp) -> list[tuple[str, str, str]]:
    with live.app.app_context():
        entries = get_session().scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.who, e.action, e.campaign_slug) for e in entries]


def test_an_organiser_runs_a_campaign_from_the_dashboard(
    live: LiveApp, axe_page: Page, browser: Browser, mailbox: RefusingMailbox
) -> None:
    page = axe_page
    check(live, ANA)
    page.set_viewport_size({"width": 1280, "height": 900})

    # --- Create: the "New campaign" form, in English, as a draft.
    page.goto(manage(live))
    expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()
    page.get_by_role("link", name="New campaign").click()
    expect(page.get_by_role("heading", name="New campaign", level=1)).to_be_visible()
    page.get_by_label("Slug").fill(NEW)
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Summary").fill("Six organisers were arrested at the factory gate.")
    page.get_by_label("Body").fill("The **factory** called the police on the union.")
    page.get_by_label("Subject").fill("Free the six organisers now")
    page.get_by_label("Message", exact=True).fill("Release the six union organisers today.")
    page.get_by_label("Partner").fill("Garment Workers' Union")
    page.get_by_label("Goal").fill("2000")
    page.get_by_label("Supporters may ask to publish their message").check()
    for row, (name, email) in enumerate((("Factory owner", OWNER),
                                         ("Ministry of Labour", MINISTRY))):  # fmt: skip
        target = page.get_by_role("group", name=f"Target {row + 1}")
        target.get_by_label("Name").fill(name)
        target.get_by_label("Email").fill(email)
    screen(page, "new")
    page.get_by_role("button", name="Create the campaign").click()
    expect(page.get_by_role("status")).to_have_text("The campaign was created as draft.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)

    # --- A translation, beside the fallback language's texts.
    page.get_by_label("Add a language").fill("sq")
    page.get_by_role("button", name="Add the language").click()
    expect(page.get_by_role("heading", name=re.compile("^Texts in Shqip"))).to_be_visible()
    expect(page.locator(".ua-source-text").first).to_have_text(TITLE)
    page.get_by_label("Title").fill(TITLE_SQ)
    page.get_by_label("Message", exact=True).fill("Lironi sot gjashtë organizatorët e sindikatës.")
    page.get_by_role("button", name="Save the translation").click()
    expect(page.get_by_role("status")).to_have_text("The translation was saved.")
    screen(page, "translation")

    # --- Preview the draft as supporters see it, in both languages.
    page.get_by_role("link", name="Back to the campaign").click()
    screen(page, "edit")
    page.get_by_role("link", name="Preview (English)").click()
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Nothing can be sent from this page.")
    screen(page, "preview")
    page.go_back()
    page.get_by_role("link", name="Preview (Shqip)").click()
    expect(page.get_by_role("heading", name=TITLE_SQ, level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "sq")
    page.go_back()
    # A draft is not public yet.
    assert page.request.get(f"{live.base}/{NEW}").status == 404

    # --- Open it.
    page.get_by_role("button", name="Open the campaign").click()
    expect(page.get_by_role("status")).to_have_text("The campaign is open.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("live")

    # --- Watch: the overview's count, updated live while a supporter acts elsewhere.
    page.get_by_role("link", name="Overview").click()
    count = page.locator(".ua-live-count")
    expect(count).to_have_text("0")
    mailbox.refuse[MINISTRY] = NO_SUCH_USER
    supporter = page.context.new_page()
    supporter.goto(f"{live.base}/{NEW}")
    fill_action(supporter.locator("form"))
    supporter.locator("[name=publish]").check()
    supporter.get_by_role("button", name="Send the message").click()
    expect(supporter.get_by_role("heading", name="Thank you!")).to_be_visible()
    supporter.close()
    assert [rcpt for rcpt, _message in mailbox.received] == [[OWNER]]
    # manage.js asks live.json every 10 s.
    expect(count).to_have_text("1", timeout=15000)
    expect(page.locator("[data-ua-percent]")).to_have_text("0%")
    page.reload()
    expect(page.get_by_role("cell", name="Ana Kovač")).to_be_visible()
    # The charts' labels are drawn whole, inside their SVG.
    assert page.evaluate(CHART_TEXT_OUTSIDE) == []
    screen(page, "overview", phone_shot=True)
    # Without JavaScript the page shows the same count.
    plain = browser.new_context(java_script_enabled=False)
    try:
        static = plain.new_page()
        static.goto(manage(live, f"campaigns/{NEW}"))
        expect(static.locator(".ua-live-count")).to_have_text("1")
    finally:
        plain.close()

    # --- Delivery: the ministry's server refused; retry once it accepts.
    page.get_by_role("link", name="Delivery").click()
    expect(page.locator("code.ua-reply").first).to_have_text(NO_SUCH_USER)
    screen(page, "delivery")
    page.get_by_role("button", name=re.compile("^Retry message \\d+ to Ministry of Labour")).click()
    expect(page.get_by_role("status")).to_contain_text("1 message queued again")
    del mailbox.refuse[MINISTRY]
    with live.app.app_context():
        report = outbox.drain()
    assert len(report.sent) == 1
    page.reload()
    expect(page.get_by_text(NO_SUCH_USER)).to_have_count(0)
    sent = page.get_by_role("row", name=re.compile("Ministry of Labour")).get_by_role("cell")
    expect(sent.first).to_have_text("1")  # sent
    (arrived,) = mailbox.to(MINISTRY)
    assert arrived["Subject"] == "Free the six organisers now"

    page.get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
    screen(page, "outbox")
    page.go_back()

    # --- Messages: the supporter asked to publish theirs; approve it.
    page.get_by_role("link", name="Messages").click()
    expect(page.get_by_role("heading", name=re.compile("Ana Kovač"))).to_be_visible()
    page.get_by_role("button", name="Approve the message from Ana Kovač").click()
    expect(page.get_by_role("heading", name=re.compile("Ana Kovač"))).to_contain_text("approved")
    screen(page, "messages")

    # --- Alert: a dry run, then a test to the organiser, marked [TEST].
    subscribe(live)
    page.get_by_role("link", name="Alert").click()
    page.get_by_label("Intro in English").fill("Day 3 of the strike: six organisers are held.")
    page.get_by_role("button", name="Dry run: count who would get it").click()
    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    expect(page.get_by_role("button", name="Send the alert to 1 subscriber")).to_be_visible()
    screen(page, "alert")
    expect(page.get_by_label("Test address")).to_have_value(ANA)
    page.get_by_role("button", name="Send a test to me").click()
    expect(page.get_by_text(f"went to {ANA}")).to_be_visible()
    (test,) = mailbox.to(ANA)
    assert test["Subject"].startswith("[TEST] ")
    assert mailbox.to(SUBSCRIBER) == []

    # --- Exports: the actions as CSV, with the supporter's row.
    page.get_by_role("link", name="Exports").click()
    screen(page, "exports")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download", exact=True).click()
    download = info.value
    assert re.fullmatch(rf"{NEW}-actions-\d{{4}}-\d\d-\d\d\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8-sig"))))
    assert [(r["name"], r["email"], r["country"]) for r in rows] == [
        ("Ana Kovač", "ana@example.org", "BA")]  # fmt: skip

    page.get_by_role("link", name="Subscribers").click()
    expect(page.get_by_role("heading", name="Subscribers", level=1)).to_be_visible()
    screen(page, "subscribers")

    # --- Close it, as another organiser: the audit log names each of them.
    check(live, JONAS)
    page.goto(manage(live, f"campaigns/{NEW}/edit"))
    page.get_by_role("button", name="Close the campaign").click()
    expect(page.get_by_role("status")).to_have_text("The campaign is closed.")
    page.goto(f"{live.base}/archive")
    expect(page.get_by_role("link", name=TITLE, exact=True)).to_be_visible()
    page.goto(manage(live))
    page.get_by_role("link", name="Audit log").click()
    first = page.get_by_role("row").nth(1)
    expect(first).to_contain_text(JONAS)
    expect(first).to_contain_text(NEW)
    screen(page, "audit")
    log = audit_log(live)
    assert log[0] == (ANA, "campaign.create", NEW)
    assert log[-1] == (JONAS, "campaign.status", NEW)
    assert {who for who, _action, _slug in log} == {ANA, JONAS}

    # --- The home page lists both campaigns; on a phone, and in Arabic, right to left.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    screen(page, "home", phone_shot=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(manage(live, f"campaigns/{SLUG}?lang=ar"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    assert fits(page)
    assert violations(page) == []
    with live.app.app_context():
        closed = find(get_session(), NEW)
        assert closed is not None and closed.status == "closed"


def test_the_dashboard_is_refused_without_the_check_and_with_a_tampered_token(
    live: LiveApp, page: Page
) -> None:
    # The host's own login page, where its check sends those not signed in.
    live.app.add_url_rule("/login", "login", lambda: "<!doctype html><title>Sign in</title>"
                          "<h1>Sign in</h1>")  # fmt: skip
    home = manage(live)
    response = page.goto(home)
    assert response is not None and response.status == 404  # no check registered

    check(live, False)
    response = page.goto(home)
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    live.app.extensions["urgentaction"].extension.organiser_check(
        lambda: redirect("/login?next=/actions/manage/"))  # fmt: skip
    page.goto(home)
    expect(page).to_have_url(f"{live.origin}/login?next=/actions/manage/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # Signed in, a form whose token was changed in the page changes nothing.
    check(live, ANA)
    page.goto(manage(live, f"campaigns/{SLUG}/edit"))
    form = page.locator("form", has=page.get_by_role("button", name="Close the campaign"))
    form.locator("[name=csrf_token]").evaluate("input => { input.value += 'x'; }")
    with page.expect_response(re.compile("/status")) as posted:
        form.get_by_role("button", name="Close the campaign").click()
    assert posted.value.status == 400
    expect(page.get_by_role("heading", name="Not saved")).to_be_visible()
    with live.app.app_context():
        campaign = find(get_session(), SLUG)
        assert campaign is not None and campaign.status == "live"
    assert audit_log(live) == []
