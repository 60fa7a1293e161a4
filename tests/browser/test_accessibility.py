"""axe-core (from widget/node_modules) on the campaign page, the iframe embed and the widget.

Each is checked as first shown, with field errors, and (where it is one page)
after a successful action. Serious and critical violations fail the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .support import SLUG, HostSite, LiveApp, fill_action

# Serious and critical violations in the document, or in one element and its
# shadow tree; one line per rule with the elements it found.
SERIOUS = """async selector => {
  const context = selector ? document.querySelector(selector) : document;
  const result = await axe.run(context, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.id} (${v.impact}): ${v.help}: ` +
              v.nodes.map(n => JSON.stringify(n.target)).join(' '));
}"""


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Iterator[Page]:
    # An init script is not subject to the page's CSP, which allows no inline script.
    context.add_init_script(script=axe_source)
    yield page


def violations(page: Page, selector: str | None = None) -> list[str]:
    return list(page.evaluate(SERIOUS, selector))


def test_campaign_page_has_no_serious_axe_violations(live: LiveApp, axe_page: Page) -> None:
    axe_page.goto(f"{live.base}/{SLUG}")
    assert violations(axe_page) == []
    # Sent empty: the page comes back with an error summary and invalid fields.
    axe_page.get_by_role("button", name="Send the message").click()
    expect(axe_page.get_by_role("alert")).to_be_visible()
    assert violations(axe_page) == []


def test_iframe_embed_page_has_no_serious_axe_violations(live: LiveApp, axe_page: Page) -> None:
    axe_page.goto(f"{live.base}/{SLUG}/embed")
    assert violations(axe_page) == []
    axe_page.get_by_role("button", name="Send the message").click()
    expect(axe_page.get_by_role("alert")).to_be_visible()
    assert violations(axe_page) == []
    fill_action(axe_page.locator("form"))
    axe_page.get_by_role("button", name="Send the message").click()
    expect(axe_page.get_by_role("heading", name="Thank you!")).to_be_visible()
    assert violations(axe_page) == []


def test_widget_has_no_serious_axe_violations_in_any_state(
    live: LiveApp, host_site: HostSite, axe_page: Page
) -> None:
    axe_page.goto(host_site.page("<h1>Partner union</h1>" + live.widget()))
    widget = axe_page.locator("[data-urgentaction]")
    expect(widget.get_by_role("button", name="Send the message")).to_be_visible()
    assert violations(axe_page, "[data-urgentaction]") == []

    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_label("Your name", exact=True)).to_have_attribute("aria-invalid", "true")
    assert violations(axe_page, "[data-urgentaction]") == []

    fill_action(widget)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_focused()
    assert violations(axe_page, "[data-urgentaction]") == []
    # And the partner page as a whole, with the widget in it.
    assert violations(axe_page) == []
