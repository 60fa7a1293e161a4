"""A campaign that only gathers solidarity, in headless Chromium on a 360 px phone:
its declarations listed, one read on its own page, checked with axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.test_declarations import GATHERING, SLUG

from .support import LiveApp
from .test_accessibility import SERIOUS


@pytest.fixture
def phone(context: BrowserContext, page: Page, axe_source: str) -> Iterator[Page]:
    context.add_init_script(script=axe_source)
    page.set_viewport_size({"width": 360, "height": 740})
    yield page


def test_declarations_on_a_phone(live: LiveApp, phone: Page, tmp_path: Path) -> None:
    live.add_campaign(tmp_path / "gathering.toml", GATHERING)
    phone.goto(f"{live.base}/{SLUG}?lang=en")
    expect(phone.get_by_role("heading", name="Declarations of solidarity")).to_be_visible()
    expect(phone.locator("form")).to_have_count(0)
    expect(phone.get_by_text("it gathers and shows solidarity")).to_be_visible()
    assert phone.evaluate(SERIOUS, None) == []
    assert int(phone.evaluate("document.scrollingElement.scrollWidth")) <= 360
    read_more = phone.get_by_role("link", name=re.compile("^Read more"))
    expect(read_more).to_have_count(2)
    read_more.first.click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "We stand with the dockers <b>now</b>"
    )
    expect(phone.locator(".ua-body strong")).to_have_text("affiliates")
    assert phone.evaluate(SERIOUS, None) == []
    # The language switch: the Bosnian text.
    phone.get_by_role("link", name="bosanski").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Uz lučke radnike")
    assert int(phone.evaluate("document.scrollingElement.scrollWidth")) <= 360
