"""The "Take action" link near the top of a campaign page, on a phone and on a wide screen."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import SAMPLE

from .support import SLUG, LiveApp
from .test_accessibility import violations

# The sample campaign with the long background a real one has.
BACKGROUND = "The company sacked five miners for founding a union. " * 12
LONG = SAMPLE.replace("The **company** sacked five miners.", "\n\n".join([BACKGROUND] * 6))


def test_on_a_phone_the_take_action_link_is_near_the_top_and_leads_to_the_form(
    live: LiveApp, page: Page, axe_source: str, context: BrowserContext, tmp_path: Path
) -> None:
    live.add_campaign(tmp_path / "long.toml", LONG)
    context.add_init_script(script=axe_source)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live.base}/{SLUG}")
    jump = page.get_by_role("link", name="Take action")
    expect(jump).to_be_visible()
    expect(jump).to_be_in_viewport()
    name = page.get_by_label("Your name")
    expect(name).not_to_be_in_viewport()
    assert violations(page) == []

    # By keyboard: the link is reached with Tab and followed with Enter.
    jump.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live.base}/{SLUG}#ua-take-action")
    expect(page.get_by_role("heading", name="Take action")).to_be_in_viewport()
    # Focus moved to the form's section, so the next Tab is in the form.
    assert page.evaluate("document.activeElement.id") == "ua-take-action"
    page.keyboard.press("Tab")
    expect(name).to_be_focused()


def test_on_a_wide_screen_the_take_action_link_is_hidden(live: LiveApp, page: Page) -> None:
    page.goto(f"{live.base}/{SLUG}")  # the context's 1024 px
    expect(page.get_by_role("heading", name="Take action")).to_be_attached()
    expect(page.get_by_role("link", name="Take action")).to_be_hidden()
