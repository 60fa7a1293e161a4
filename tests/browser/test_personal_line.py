"""The personal line in headless Chromium: on the campaign page, in the iframe embed and
in the widget on a partner page of another site, labelled, explained, and in the mail."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from .support import FOCUSED, SLUG, TITLE, HostSite, LiveApp, fill_action
from .test_accessibility import SERIOUS

LABEL = "A line in your own words (optional)"
HINT = re.compile(r"above the message\. .*more weight.*filtered out as bulk mail")
MESSAGE = "Reinstate the sacked union leaders of the Example mine."
# Typed on two lines; the targets get one paragraph.
TYPED = "My father dug coal at Kreka for thirty years.\nHe would stand with you."
SENT = "My father dug coal at Kreka for thirty years. He would stand with you."


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Iterator[Page]:
    context.add_init_script(script=axe_source)
    yield page


def assert_labelled_and_explained(scope: Locator) -> Locator:
    """The field found by its label, described by its hint, between subject and message."""
    field = scope.get_by_label(LABEL, exact=True)
    expect(field).to_be_visible()
    expect(field).to_be_editable()
    expect(field).to_have_accessible_description(HINT)
    expect(scope.get_by_text(HINT)).to_be_visible()
    order = scope.locator("input[name=subject], textarea[name=personal], textarea[name=message]")
    expect(order).to_have_count(3)
    assert [order.nth(i).get_attribute("name") for i in range(3)] == [
        "subject", "personal", "message",
    ]  # fmt: skip
    return field


def assert_mailed_first(live: LiveApp) -> None:
    """Each target's mail starts with the personal line, then the message."""
    assert len(live.mailbox.messages) == 2
    for mail in live.mailbox.messages:
        body = mail.get_body(("plain",))
        assert body is not None
        text = str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]
        assert text.startswith(f"{SENT}\n\n{MESSAGE}\n\n--\nAna Kovač\n"), text
    (action,) = live.actions()
    assert (action.personal, action.edited) == (SENT, False)


def test_campaign_page_offers_the_personal_line_and_the_targets_get_it_first(
    live: LiveApp, page: Page
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live.base}/{SLUG}")
    form = page.locator("form")
    field = assert_labelled_and_explained(form)
    # From the subject, Tab reaches the personal line, then the message.
    form.locator("[name=subject]").focus()
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED) == "personal"
    page.keyboard.type(TYPED.replace("\n", ""))
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED) == "message"
    # The page's field stops at the limit (the form's rule, as maxlength).
    expect(field).to_have_attribute("maxlength", "500")
    field.fill("x" * 501)
    expect(field).to_have_value("x" * 500)
    field.fill(TYPED)
    # Nothing scrolls sideways on a phone.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360

    fill_action(form)
    page.get_by_role("button", name="Send the message").click()
    page.wait_for_url(re.compile(rf"/{SLUG}/thanks"))
    assert_mailed_first(live)


def test_iframe_embed_offers_the_personal_line(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    page.goto(host_site.page("<h1>Partner union</h1>" + live.iframe()))
    framed = page.frame_locator("iframe")
    expect(framed.get_by_role("heading", name=TITLE)).to_be_visible()
    assert_labelled_and_explained(framed.locator("form")).fill(TYPED)
    fill_action(framed.locator("form"))
    framed.get_by_role("button", name="Send the message").click()
    expect(framed.get_by_role("heading", name="Thank you!")).to_be_focused()
    assert_mailed_first(live)


def test_widget_on_another_site_offers_the_personal_line_and_the_targets_get_it_first(
    live: LiveApp, host_site: HostSite, axe_page: Page
) -> None:
    page = axe_page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(host_site.page("<h1>Partner union</h1>" + live.widget()))
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=TITLE)).to_be_visible()
    field = assert_labelled_and_explained(widget)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360

    # Too long: the server's error is shown at the field, which gets the focus.
    fill_action(widget)
    field.fill("x" * 501)
    widget.get_by_role("button", name="Send the message").click()
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("Please use at most 500 characters"))
    assert page.evaluate(SERIOUS, "[data-urgentaction]") == []
    assert live.actions() == []

    field.fill(TYPED)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_focused()
    assert_mailed_first(live)
