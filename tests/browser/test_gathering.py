"""A campaign without targets that publishes messages, in headless Chromium: the
widget on a partner site gathers a supporter's own message, says it is published
once approved, mails no one, and the message shows after approval."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.test_gathering import GATHERING, NOTICE, SLUG, THANKS

from .support import HostSite, LiveApp, fill_action
from .test_accessibility import SERIOUS

TITLE = "Voices for the port workers"
OWN = "Greetings from the Antwerp crane drivers: hold the line."


@pytest.fixture
def gathering(live: LiveApp, tmp_path: Path) -> LiveApp:
    live.add_campaign(tmp_path / "gathering.toml", GATHERING)
    return live


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Iterator[Page]:
    context.add_init_script(script=axe_source)
    yield page


def test_the_widget_gathers_a_message_to_publish_and_mails_no_one(
    gathering: LiveApp, host_site: HostSite, axe_page: Page
) -> None:
    live, page = gathering, axe_page
    page.goto(host_site.page("<h1>Partner union</h1>" + live.widget(SLUG)))
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(widget.locator("[part=count]")).to_have_text("0 messages of solidarity")
    # The message alone: no subject, no line above it, no box to tick for publishing.
    for name in ("subject", "personal", "publish"):
        expect(widget.locator(f"[name={name}]")).to_have_count(0)
    message = widget.get_by_label("Your message", exact=True)
    expect(message).to_have_value("")
    # Said plainly before the button, and read out with it.
    expect(widget.locator("[part=publication]")).to_contain_text(NOTICE)
    button = widget.get_by_role("button", name="Send the message")
    expect(button).to_have_accessible_description(re.compile(re.escape(NOTICE)))
    assert page.evaluate(SERIOUS, None) == []

    # The message is required: there is none of the campaign's to fall back on.
    fill_action(widget)
    widget.locator("[name=opt_in]").check()
    button.click()
    expect(message).to_be_focused()
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(widget.locator("#ua-message-e")).to_have_text("This field is required.")
    assert live.actions() == []

    message.fill(OWN)
    button.click()
    thanks = widget.locator("[part=thanks]")
    expect(thanks.get_by_role("heading", name="Thank you!")).to_be_focused()
    expect(thanks).to_contain_text(THANKS)
    expect(thanks).not_to_contain_text("targets")
    expect(thanks.locator("[part=count]")).to_have_text("1 message of solidarity")
    expect(thanks).to_contain_text("Please check your inbox")

    (action,) = live.actions()
    assert (action.message, action.publish_requested, action.message_status) == (
        OWN, True, "pending",
    )  # fmt: skip
    assert action.subject == TITLE and action.personal == ""
    # Only the opt-in's confirmation went out: there is no one else to mail.
    assert [rcpt for rcpt, _message in live.mailbox.received] == [["ana@example.org"]]

    page.goto(f"{live.base}/{SLUG}/messages?lang=en")
    expect(page.get_by_text("No messages have been published yet.")).to_be_visible()
    result = live.app.test_cli_runner().invoke(
        args=["urgentaction", "messages", SLUG, "--approve", str(action.id)]
    )
    assert result.exit_code == 0, result.output
    page.reload()
    expect(page.get_by_role("heading", name="Ana Kovač", level=2)).to_be_visible()
    expect(page.get_by_text(OWN)).to_be_visible()


def test_the_iframe_embed_gathers_a_message_in_a_third_party_frame(
    gathering: LiveApp, host_site: HostSite, page: Page
) -> None:
    live = gathering
    snippet = live.iframe().replace("example-mine-strike/embed", f"{SLUG}/embed")
    page.goto(host_site.page(snippet))
    frame = page.frame_locator("iframe")
    expect(frame.locator("#ua-publication")).to_contain_text(NOTICE)
    frame.locator("[name=message]").fill(OWN)
    fill_action(frame.locator("form"))
    frame.get_by_role("button", name="Send the message").click()
    expect(frame.get_by_text(THANKS)).to_be_visible()
    expect(frame.locator(".ua-count")).to_have_text("1 message of solidarity")
    (action,) = live.actions()
    assert action.publish_requested is True and action.message == OWN
    assert live.mailbox.received == []
