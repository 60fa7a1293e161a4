"""Published solidarity messages in headless Chromium on a 360 px phone: asked for in
the form, approved through the CLI, read on their pages; checked with axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import SAMPLE, action_body, api_challenge
from tests.test_api import translated

from .support import SLUG, HostSite, LiveApp, fill_action
from .test_accessibility import SERIOUS
from .test_rtl import ARABIC, SUBMIT_AR, THANKS_AR, TITLE_AR

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
    # Measured with the stylesheet applied: a click does not wait for it to load.
    page.wait_for_load_state("load")
    assert fits(page)
    assert violations(page) == []

    # The whole page in Arabic, right to left, with the filter by language.
    page.goto(f"{live.base}/{SLUG}/messages?lang=ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    expect(page.get_by_role("navigation").get_by_role("link")).to_have_count(3 + 3)
    assert fits(page)
    assert violations(page) == []


WIDGET_FORM = "[data-urgentaction]"
MESSAGES_WIDGET = "[data-urgentaction-messages]"
TITLE_DE = "Stellt die entlassenen Gewerkschafter wieder ein"
NAME_AR = "سارة"


def test_publish_box_in_the_widget_then_the_approved_messages_in_the_messages_widget(
    publishing: LiveApp, host_site: HostSite, axe_page: Page
) -> None:
    page = axe_page
    live = publishing
    page.goto(host_site.page("<h1>Partner union</h1>" + live.widget()))
    form = page.locator(WIDGET_FORM)
    box = form.get_by_label(LABEL, exact=True)
    expect(box).not_to_be_checked()
    expect(box).to_have_accessible_description(HELP)
    # The label ticks it, and so does the keyboard.
    form.get_by_text(LABEL, exact=True).click()
    expect(box).to_be_checked()
    expect(box).to_be_focused()
    page.keyboard.press("Space")
    expect(box).not_to_be_checked()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(box).to_be_focused()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    form.locator("[name=message]").fill("We stand with you.")
    fill_action(form)
    form.get_by_role("button", name="Send the message").click()
    expect(form.locator("[part=thanks] h3")).to_be_focused()
    assert violations(page) == []

    # An Arabic supporter on an Arabic page: the box sits right of its label.
    page.goto(host_site.page(live.widget(lang="ar"), lang="ar"))
    form = page.locator(WIDGET_FORM)
    box = form.locator("[name=publish]")
    expect(box).not_to_be_checked()
    label = form.locator("label[for=ua-publish]")
    help_line = form.locator("#ua-publish-h")
    box_at, label_at, help_at = (x.bounding_box() for x in (box, label, help_line))
    assert box_at and label_at and help_at
    assert box_at["x"] > label_at["x"] + label_at["width"] - 1
    # The help line under the label, its text starting where the label's does.
    assert help_at["y"] > label_at["y"]
    text_start = help_line.evaluate(
        "el => el.getBoundingClientRect().right - parseFloat(getComputedStyle(el).paddingRight)"
    )
    assert abs(text_start - (label_at["x"] + label_at["width"])) <= 1
    box.press("Space")
    form.locator("[name=message]").fill(ARABIC_TEXT)
    fill_action(form, name=NAME_AR, email="sara@example.org")
    form.get_by_role("button", name=SUBMIT_AR).click()
    expect(form.get_by_role("heading", name=THANKS_AR)).to_be_focused()
    assert violations(page) == []
    assert [a.message_status for a in live.actions()] == ["pending", "pending"]

    # Nothing shows before an organiser approves.
    page.goto(host_site.page(live.messages_widget()))
    widget = page.locator(MESSAGES_WIDGET)
    expect(widget.locator("[part=empty]")).to_have_text("No messages have been published yet.")
    approve_all(live)

    body = live.messages_widget(lang="de") + live.messages_widget(script=False, lang="ar")
    page.goto(host_site.page(body, lang="de"))
    german, arabic = page.locator(MESSAGES_WIDGET).all()
    heading = german.get_by_role("heading", level=2)
    expect(heading).to_have_text(re.compile(rf"{TITLE_DE}$"))
    expect(german.get_by_role("region")).to_have_attribute("lang", "de")
    expect(german.get_by_role("heading", level=3)).to_have_text([NAME_AR, "Ana Kovač"])
    ana = german.get_by_role("listitem").filter(has_text="Ana Kovač")
    expect(ana.locator("[part=meta]")).to_have_text(
        re.compile(r"^SSM · Bosnien und Herzegowina · Englisch · \d+\. \w+ \d{4}$")
    )
    expect(ana.locator("[part=teaser]")).to_have_text("We stand with you.")
    public_id = next(a.public_id for a in live.actions() if a.name == "Ana Kovač")
    read_more = translated("de", "Read more")
    link = ana.get_by_role("link", name=re.compile(rf"^{read_more} ?: Ana Kovač$"))
    expect(link).to_have_attribute("href", f"{live.base}/{SLUG}/messages/{public_id}?lang=de")
    expect(
        german.get_by_role("link", name=translated("de", "All solidarity messages"))
    ).to_have_attribute("href", f"{live.base}/{SLUG}/messages?lang=de")
    # The Arabic teaser reads right to left inside the German box.
    sara = german.get_by_role("listitem").filter(has_text=NAME_AR).locator("[part=teaser]")
    expect(sara).to_have_attribute("lang", "ar")
    assert sara.evaluate("el => getComputedStyle(el).direction") == "rtl"

    # The Arabic box: right to left inside only; the English teaser left to right.
    root = arabic.locator("[part=root]")
    expect(root).to_have_attribute("dir", "rtl")
    expect(arabic.get_by_role("heading", level=2)).to_have_text(re.compile(rf"{TITLE_AR}$"))
    english = arabic.get_by_role("listitem").filter(has_text="Ana Kovač").locator("[part=teaser]")
    assert english.evaluate("el => getComputedStyle(el).direction") == "ltr"
    assert root.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert page.locator("main").evaluate("el => getComputedStyle(el).direction") == "ltr"
    assert fits(page)
    assert violations(page) == []
    # No address anywhere in either box.
    assert "@" not in german.evaluate("h => h.shadowRoot.textContent")
    assert "@" not in arabic.evaluate("h => h.shadowRoot.textContent")


THEME = """<style>
.partner-messages { --ua-border: rgb(0, 90, 156); --ua-font: Georgia, serif; }
.partner-messages::part(teaser) { font-style: italic; }
.partner-messages::part(name) { text-transform: uppercase; }
h3, ul, li, p { display: none !important; color: red !important; }
</style>"""


def test_messages_widget_is_themed_by_the_documented_properties_and_parts_and_isolated(
    publishing: LiveApp, host_site: HostSite, page: Page
) -> None:
    with publishing.app.app_context():
        client = publishing.app.test_client()
        body = action_body(client, publish=True, message="Solidarity from Sarajevo.")
        assert client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body).status_code == 201
    approve_all(publishing)
    snippet = publishing.messages_widget().replace(
        "<div data-urgentaction-messages",
        '<div class="partner-messages" data-urgentaction-messages',
    )
    page.goto(host_site.page(snippet, head=THEME))
    widget = page.locator(MESSAGES_WIDGET)
    expect(widget.get_by_role("heading", name="Ana Kovač")).to_be_visible()
    style = widget.evaluate(
        """host => {
          const root = host.shadowRoot.querySelector('[part=root]');
          const css = el => getComputedStyle(el);
          const teaser = root.querySelector('[part=teaser]');
          return {border: css(root).borderTopColor, font: css(root).fontFamily,
                  teaser: css(teaser).fontStyle, teaserBorder: css(teaser).borderInlineStartColor,
                  name: css(root.querySelector('h3')).textTransform,
                  nameColor: css(root.querySelector('h3')).color,
                  item: css(root.querySelector('li')).display};
        }"""
    )
    assert style == {
        "border": "rgb(0, 90, 156)", "font": "Georgia, serif", "teaser": "italic",
        "teaserBorder": "rgb(0, 90, 156)", "name": "uppercase", "nameColor": "rgb(27, 27, 27)",
        "item": "list-item",
    }  # fmt: skip
