"""The campaign pages inside a host's layout, as the demo draws them through its
override of urgentaction/base.html: accessible, keyboard-skippable, and
mirrored for Arabic while the host's own navigation stays left to right."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from flask_urgentaction.i18n import gettext, use_language
from tests.conftest import SAMPLE, Mailbox
from tests.test_demo import DEMO, load_module

from .support import SLUG, LiveApp, fill_action, serve_live
from .test_accessibility import violations
from .test_rtl import (
    ARABIC,
    FIELD_GEOMETRY,
    FORM_GEOMETRY,
    OVERFLOW,
    SUBMIT_AR,
    THANKS_AR,
    TITLE_AR,
    assert_labels_mirrored,
    assert_submit_at_inline_start,
)


@pytest.fixture
def demo(tmp_path: Path, mailbox: Mailbox) -> Iterator[LiveApp]:
    """The demo app on a real HTTP server, with the Arabic sample campaign loaded."""
    module = load_module("demo_app", DEMO / "app.py")
    app = module.create_app({
        "INSTANCE_PATH": tmp_path / "instance",
        "MAIL_PORT": mailbox.port,
        "DEMO_MAILBOX_DIR": str(tmp_path / "mailbox"),
        "URGENTACTION_MIN_FILL_SECONDS": 0,
    })  # fmt: skip
    with serve_live(app, mailbox, tmp_path / "campaign.toml", SAMPLE + ARABIC) as live:
        yield live
    assert not live.errors, f"the app raised: {live.errors!r}"


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Page:
    context.add_init_script(script=axe_source)
    return page


def test_campaign_pages_in_the_demo_layout_have_no_serious_axe_violations(
    demo: LiveApp, axe_page: Page
) -> None:
    axe_page.goto(f"{demo.base}/")
    expect(axe_page.get_by_role("navigation", name="Main")).to_be_visible()
    assert violations(axe_page) == []

    axe_page.goto(f"{demo.base}/{SLUG}")
    expect(axe_page.get_by_role("navigation", name="Main")).to_be_visible()
    assert violations(axe_page) == []
    axe_page.get_by_role("button", name="Send the message").click()
    expect(axe_page.get_by_role("alert")).to_be_visible()
    assert violations(axe_page) == []


def test_the_skip_link_comes_first_and_jumps_past_the_demo_navigation(
    demo: LiveApp, page: Page
) -> None:
    page.goto(f"{demo.base}/{SLUG}")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("#main$"))
    # The next Tab lands in the campaign page, past the demo's navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#main') !== null")


def test_arabic_campaign_page_in_the_demo_layout_is_mirrored_inside_only(
    demo: LiveApp, page: Page
) -> None:
    page.goto(f"{demo.base}/{SLUG}?lang=ar")
    holder = page.locator("#main").locator("..")
    expect(holder).to_have_attribute("dir", "rtl")
    expect(holder).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", name=TITLE_AR, level=1)).to_be_visible()
    # The demo's own navigation and footer stay English, left to right.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.locator(".site-header").evaluate("e => getComputedStyle(e).direction") == "ltr"
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    # The skip link speaks the page's language.
    with demo.app.test_request_context(), use_language("ar"):
        skip_ar = gettext("Skip to content")
    assert skip_ar != "Skip to content"
    expect(page.locator("a.ua-skip")).to_have_text(skip_ar)

    assert_labels_mirrored(page.evaluate(f"({FIELD_GEOMETRY})(document)"))
    assert_submit_at_inline_start(page.evaluate(f"({FORM_GEOMETRY})(document)"))
    assert page.evaluate(OVERFLOW, None) == {"page": 0, "box": 0}

    fill_action(page.locator("form"))
    page.get_by_role("button", name=SUBMIT_AR).click()
    page.wait_for_url(re.compile(rf"/{SLUG}/thanks"))
    expect(page.get_by_role("heading", name=THANKS_AR, level=1)).to_be_visible()
    expect(page.locator("#main").locator("..")).to_have_attribute("dir", "rtl")
    (action,) = demo.actions()
    assert action.lang == "ar"


def test_demo_home_page_shows_the_campaign_list_and_the_published_messages(
    demo: LiveApp, axe_page: Page
) -> None:
    runner = demo.app.test_cli_runner()
    files = sorted(str(p) for p in (DEMO / "campaigns").glob("*.toml"))
    assert runner.invoke(args=["urgentaction", "campaigns", "load", *files]).exit_code == 0
    seeded = runner.invoke(args=["demo", "seed-messages"])
    assert seeded.exit_code == 0, seeded.output

    axe_page.goto(f"{demo.origin}/")
    campaigns = axe_page.locator("[data-urgentaction-list]")
    expect(
        campaigns.get_by_role("heading", name="Reinstate the Kestrel Hill miners")
    ).to_be_visible()
    # The sample campaign and the demo's three.
    expect(campaigns.get_by_role("listitem")).to_have_count(4)
    messages = axe_page.locator("[data-urgentaction-messages]")
    expect(messages.get_by_role("heading", level=2)).to_have_text(
        "Solidarity messages: Stand with the locked-out Ironbridge dockworkers"
    )
    # The campaign's declaration first, then its three published messages.
    expect(messages.get_by_role("heading", level=3)).to_have_count(4)
    expect(messages.get_by_role("heading", level=3).first).to_have_text(
        "Ports across the Adriatic stand with Ironbridge"
    )
    arabic = messages.locator("[part=teaser][lang=ar]")
    assert arabic.evaluate("el => getComputedStyle(el).direction") == "rtl"
    expect(messages.locator("[part=teaser][lang=bs]")).to_have_text(re.compile("^Iz Tuzle"))
    expect(messages.get_by_role("link", name="All solidarity messages")).to_have_attribute(
        "href", re.compile(r"/actions/ironbridge-dockworkers/messages\?lang=en$")
    )
    assert violations(axe_page) == []
