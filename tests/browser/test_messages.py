"""Published solidarity messages in headless Chromium on a 360 px phone: asked for in
the form, approved through the CLI, read on their pages; checked with axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import SAMPLE, action_body, api_challenge

from .support import SLUG, LiveApp, fill_action
from .test_accessibility import SERIOUS
from .test_rtl import ARABIC

PUBLISH = "\n[messages]\npublish = true\n"
LABEL = "Publish my message on the campaign page"
HELP = re.compile(r"your name, union, country, your own line and your message .*never shown")
# Long Arabic, and one word far too long for a phone's width.
ARABIC_TEXT = " ".join(["تضامننا الكامل مع عمال المنجم المفصولين ونقابتهم"] * 12)
LONG_WORD = "Solidarity" * 40


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Iterator[Page]:
    context.add_init_script(script=axe_source)
    page.set_viewport_size({"width": 360, "height": 740})
    yield page


@pytest.fixture
def publishing(live: LiveApp, tmp_path: Path) -> LiveApp:
    live.add_campaign(tmp_path / "publishing.toml", SAMPLE + ARABIC + PUBLISH)
    return live


def approve_all(live: LiveApp) -> None:
    ids = [str(action.id) for action in live.actions() if action.public_id]
    result = live.app.test_cli_runner().invoke(
        args=["urgentaction", "messages", SLUG, *(f"--approve={i}" for i in ids)]
    )
    assert result.exit_code == 0, result.output


def violations(page: Page) -> list[str]:
    return list(page.evaluate(SERIOUS, None))


def fits(page: Page) -> bool:
    return int(page.evaluate("document.scrollingElement.scrollWidth")) <= 360


def test_a_published_message_from_the_form_to_its_page_on_a_phone(
    publishing: LiveApp, axe_page: Page
) -> None:
    page = axe_page
    live = publishing
    page.goto(f"{live.base}/{SLUG}")
    form = page.locator("form")
    box = form.get_by_label(LABEL, exact=True)
    expect(box).not_to_be_checked()
    expect(box).to_have_accessible_description(HELP)
    box.check()
    form.locator("[name=message]").fill(f"We stand with you. {LONG_WORD}")
    fill_action(form)
    page.get_by_role("button", name="Send the message").click()
    page.wait_for_url(re.compile(rf"/{SLUG}/thanks"))
    # A second supporter writes in Arabic, through the API.
    with live.app.app_context():
        client = live.app.test_client()
        token, answer = api_challenge(client)
        body = action_body(client, name="سارة", email="sara@example.org", lang="ar",
                           message=ARABIC_TEXT, publish=True, challenge_token=token,
                           challenge_answer=answer)  # fmt: skip
        assert client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body).status_code == 201

    # Nothing shows before an organiser approves.
    page.goto(f"{live.base}/{SLUG}/messages")
    expect(page.get_by_text("No messages have been published yet.")).to_be_visible()
    approve_all(live)
    page.reload()
    expect(page.get_by_role("heading", name="Solidarity messages", level=1)).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text(["سارة", "Ana Kovač"])
    arabic = page.locator("p.ua-message-text[lang=ar]")
    expect(arabic).to_have_attribute("dir", "auto")
    # dir="auto" turns the Arabic teaser right-to-left inside the English page.
    assert arabic.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert fits(page)
    assert violations(page) == []

    # Its name says whose message (the browser may put a space before the colon).
    page.get_by_role("link", name=re.compile(r"^Read more ?: Ana Kovač$")).click()
    expect(page.get_by_role("heading", name="A message from Ana Kovač")).to_be_visible()
    expect(page.get_by_text(LONG_WORD)).to_be_visible()
    assert fits(page)
    assert violations(page) == []

    # The whole page in Arabic, right to left, with the filter by language.
    page.goto(f"{live.base}/{SLUG}/messages?lang=ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    expect(page.get_by_role("navigation").get_by_role("link")).to_have_count(3 + 3)
    assert fits(page)
    assert violations(page) == []
