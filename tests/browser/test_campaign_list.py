"""The campaign list widget on a partner page of another site, beside a form widget."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect

from tests.conftest import SAMPLE, action_body
from tests.test_api import campaign_variant, translated

from .support import FOCUSED, SLUG, TITLE, HostSite, LiveApp, fill_action
from .test_accessibility import SERIOUS
from .test_rtl import ARABIC, ONE_SENT_AR, SUBMIT_AR, THANKS_AR, TITLE_AR

LIST = "[data-urgentaction-list]"
FORM = "[data-urgentaction]"
TITLE_DE = "Stellt die entlassenen Gewerkschafter wieder ein"
# A second live campaign with English only: in an Arabic or German list it
# keeps its own language and direction.
ENGLISH_ONLY = "Free the dockworkers"


@pytest.fixture
def campaigns(live: LiveApp, tmp_path: Path) -> LiveApp:
    live.add_campaign(tmp_path / "arabic.toml", SAMPLE + ARABIC)
    english = campaign_variant("english-only").split("[translations.de]")[0]
    english = english.replace("Reinstate the sacked union leaders", ENGLISH_ONLY)
    live.add_campaign(tmp_path / "english.toml", english.replace("ceo@mining", "ceo@docks"))
    # One action on the sample campaign, so its count reads "1 ...".
    client = live.app.test_client()
    assert client.post(f"/actions/api/campaigns/{SLUG}/actions",
                       json=action_body(client)).status_code == 201  # fmt: skip
    return live


@pytest.fixture
def axe_page(context: BrowserContext, page: Page, axe_source: str) -> Iterator[Page]:
    context.add_init_script(script=axe_source)
    yield page


def serious_violations(page: Page, selector: str | None = None) -> list[str]:
    return list(page.evaluate(SERIOUS, selector))


def named(read_more: str, title: str) -> re.Pattern[str]:
    """The accessible name of a "read more" link: its text, then the campaign's title
    (the browser may put a space before the colon of the hidden part)."""
    return re.compile(rf"^{re.escape(read_more)} ?: {re.escape(title)}$")


def item(widget: Locator, title: str) -> Locator:
    # The inner locator is matched inside each list item.
    return widget.get_by_role("listitem").filter(has=widget.page.get_by_role("heading", name=title))


def test_german_list_beside_a_form_widget_on_a_partner_page(
    campaigns: LiveApp, host_site: HostSite, axe_page: Page
) -> None:
    page = axe_page
    ours: list[str] = []

    def record(request: Request) -> None:
        if not request.url.startswith(host_site.origin):
            ours.append(f"{request.method} {request.url.removeprefix(campaigns.base)}")

    page.on("request", record)
    body = "<h1>Partner union</h1>" + campaigns.widget(lang="de")
    body += "<h2>Alle Aktionen</h2>" + campaigns.campaign_list(script=False, lang="de")
    page.goto(host_site.page(body, lang="de"))
    widget = page.locator(LIST)
    expect(widget.get_by_role("list", name=translated("de", "Urgent actions"))).to_be_visible()
    form = page.locator(FORM)
    expect(form.get_by_role("heading", name=TITLE_DE)).to_be_visible()
    # The fallback link inside the element is hidden once the list is drawn.
    expect(page.get_by_role("link", name="Our urgent actions")).to_be_hidden()
    # Nothing but our own server: the script once, the campaign and the list.
    assert sorted(ours) == sorted([
        "GET /widget.js", f"GET /api/campaigns/{SLUG}?lang=de", "GET /api/campaigns?lang=de",
    ])  # fmt: skip

    root = widget.locator("[part=root]")
    expect(root).to_have_attribute("lang", "de")
    expect(root).to_have_attribute("dir", "ltr")
    expect(widget.get_by_role("listitem")).to_have_count(2)
    german = item(widget, TITLE_DE)
    expect(german.get_by_role("heading", level=2)).to_have_attribute("lang", "de")
    expect(german.get_by_role("link", name=TITLE_DE, exact=True)).to_have_attribute(
        "href", f"{campaigns.base}/{SLUG}?lang=de"
    )
    expect(german.locator("[part=summary]")).to_have_text(re.compile("^Bergleute wurden"))
    expect(german.locator("[part=count]")).to_have_text("1 Nachricht gesendet")
    expect(german.locator("progress")).to_have_attribute("max", "5000")
    # The link text reads on its own: it names the campaign.
    read_more = translated("de", "Read more and take action")
    expect(german.get_by_role("link", name=named(read_more, TITLE_DE))).to_have_attribute(
        "href", f"{campaigns.base}/{SLUG}?lang=de"
    )
    # The English-only campaign keeps its language, with the count in German.
    english = item(widget, ENGLISH_ONLY)
    expect(english.get_by_role("heading")).to_have_attribute("lang", "en")
    expect(english.get_by_role("link", name=ENGLISH_ONLY, exact=True)).to_have_attribute(
        "href", f"{campaigns.base}/english-only?lang=en"
    )
    expect(english.locator("[part=count]")).to_have_text("0 Nachrichten gesendet")

    assert serious_violations(page, LIST) == []

    # The form beside it still takes its action.
    fill_action(form, email="ben@example.org")
    form.get_by_role("button").click()
    expect(form.locator("[part=thanks] h3")).to_be_focused()
    expect(form.locator("[part=thanks] [part=count]")).to_have_text("2 Nachrichten gesendet")
    assert len(campaigns.actions()) == 2
    # And the page as a whole, with both widgets in it.
    assert serious_violations(page) == []


def test_arabic_list_is_rtl_inside_only_beside_an_arabic_form(
    campaigns: LiveApp, host_site: HostSite, axe_page: Page
) -> None:
    page = axe_page
    host_text = '<p id="host-text">Our union stands with the sacked miners.</p>'
    body = host_text + campaigns.campaign_list(lang="ar") + campaigns.widget(lang="ar")
    page.goto(host_site.page(body))
    widget = page.locator(LIST)
    arabic = item(widget, TITLE_AR)
    expect(arabic.get_by_role("link", name=TITLE_AR, exact=True)).to_have_attribute(
        "href", f"{campaigns.base}/{SLUG}?lang=ar"
    )
    root = widget.locator("[part=root]")
    expect(root).to_have_attribute("dir", "rtl")
    expect(root).to_have_attribute("lang", "ar")
    expect(arabic.locator("[part=count]")).to_have_text(ONE_SENT_AR)
    expect(widget.get_by_role("list", name=translated("ar", "Urgent actions"))).to_be_visible()
    read_more = translated("ar", "Read more and take action")
    expect(arabic.get_by_role("link", name=named(read_more, TITLE_AR))).to_be_visible()

    geometry = widget.evaluate(
        """host => {
          const root = host.shadowRoot.querySelector('[part=root]');
          const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.right]; };
          const text = el => { const range = document.createRange(); range.selectNodeContents(el);
                               return box(range); };
          const titles = [...root.querySelectorAll('h2')].map(h => ({
            lang: h.lang, direction: getComputedStyle(h).direction, text: text(h), box: box(h)}));
          const doc = document.scrollingElement;
          return {root: box(root), overflow: root.scrollWidth - root.clientWidth, titles,
                  page: doc.scrollWidth - doc.clientWidth};
        }"""
    )
    # Nothing scrolls sideways, though the hidden words of the links sit inside.
    assert (geometry["overflow"], geometry["page"]) == (0, 0)
    by_lang = {title["lang"]: title for title in geometry["titles"]}
    # The Arabic title starts at the right; the English one, in the same list, at the left.
    ar, en = by_lang["ar"], by_lang["en"]
    assert ar["direction"] == "rtl" and en["direction"] == "ltr"
    assert abs(ar["text"][1] - ar["box"][1]) <= 1 and ar["text"][0] - ar["box"][0] > 20, ar
    assert abs(en["text"][0] - en["box"][0]) <= 1 and en["box"][1] - en["text"][1] > 20, en
    # The partner page's own text stays left to right.
    assert page.locator("#host-text").evaluate("p => getComputedStyle(p).direction") == "ltr"
    assert serious_violations(page, LIST) == []

    form = page.locator(FORM)
    fill_action(form, email="ben@example.org")
    form.get_by_role("button", name=SUBMIT_AR).click()
    expect(form.get_by_role("heading", name=THANKS_AR)).to_be_focused()
    assert serious_violations(page) == []


def test_keyboard_goes_from_campaign_to_campaign(
    campaigns: LiveApp, host_site: HostSite, page: Page
) -> None:
    page.goto(host_site.page('<p><a href="/">Partner home</a></p>' + campaigns.campaign_list()))
    expect(page.locator(LIST).get_by_role("heading", name=TITLE)).to_be_visible()
    visited = []
    for _ in range(5):
        page.keyboard.press("Tab")
        visited.append(page.evaluate(FOCUSED))
    # The latest changed first: the English-only campaign was loaded last.
    assert visited == [
        "Partner home",
        ENGLISH_ONLY, f"Read more and take action: {ENGLISH_ONLY}",
        TITLE, f"Read more and take action: {TITLE}",
    ]  # fmt: skip


THEME = """<style>
.partner-list { --ua-border: rgb(0, 90, 156); --ua-font: Georgia, serif; }
.partner-list::part(item) { background: rgb(250, 240, 200); }
.partner-list::part(title) { text-transform: uppercase; }
h2, ul, li, p { display: none !important; color: red !important; }
</style>"""


def test_themed_by_the_documented_properties_and_parts_and_isolated(
    campaigns: LiveApp, host_site: HostSite, page: Page
) -> None:
    snippet = campaigns.campaign_list().replace(
        "<div data-urgentaction-list", '<div class="partner-list" data-urgentaction-list', 1
    )
    page.goto(host_site.page(snippet, head=THEME))
    widget = page.locator(LIST)
    expect(widget.get_by_role("heading", name=TITLE)).to_be_visible()
    style = widget.evaluate(
        """host => {
          const root = host.shadowRoot.querySelector('[part=root]');
          const css = el => getComputedStyle(el);
          return {border: css(root).borderTopColor, font: css(root).fontFamily,
                  item: css(root.querySelector('li')).backgroundColor,
                  title: css(root.querySelector('h2')).textTransform,
                  titleColor: css(root.querySelector('h2')).color,
                  summary: css(root.querySelector('[part=summary]')).display};
        }"""
    )
    assert style == {
        "border": "rgb(0, 90, 156)", "font": "Georgia, serif", "item": "rgb(250, 240, 200)",
        "title": "uppercase", "titleColor": "rgb(27, 27, 27)", "summary": "block",
    }  # fmt: skip


def test_the_script_pasted_twice_draws_each_element_once(
    campaigns: LiveApp, host_site: HostSite, page: Page
) -> None:
    lists: list[str] = []
    page.on("request", lambda r: lists.append(r.url) if "/api/campaigns?" in r.url else None)
    page.goto(host_site.page(campaigns.widget() + campaigns.campaign_list()))
    widget = page.locator(LIST)
    expect(widget.get_by_role("heading", name=ENGLISH_ONLY)).to_be_visible()
    expect(page.locator(FORM).get_by_role("heading", name=TITLE)).to_be_visible()
    expect(widget.get_by_role("list")).to_have_count(1)
    assert lists == [f"{campaigns.base}/api/campaigns?lang=en"]


def test_an_empty_list_says_so_in_the_page_language(
    live: LiveApp, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    live.add_campaign(tmp_path / "closed.toml", SAMPLE.replace('"live"', '"closed"', 1))
    page.goto(host_site.page(live.campaign_list(lang=""), lang="de"))
    empty = page.locator(LIST).locator("[part=empty]")
    expect(empty).to_have_text(translated("de", "There are no urgent actions right now."))
    expect(page.locator(LIST).get_by_role("list")).to_have_count(0)


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_ALLOWED_ORIGINS": ["http://elsewhere.example"]}]
)
def test_a_site_the_server_refuses_sees_why(live: LiveApp, host_site: HostSite, page: Page) -> None:
    page.goto(host_site.page(live.campaign_list()))
    expect(page.locator(LIST).get_by_role("alert")).to_have_text(
        "The list of urgent actions cannot be shown on this website."
    )
    expect(page.locator(LIST).get_by_role("list")).to_have_count(0)


def test_many_languages_are_chosen_from_a_list_on_a_phone_without_javascript(
    live: LiveApp, browser: Browser
) -> None:
    # Every shipped language is offered on the campaign list: too many for links.
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live.base}/?country=AL")
        picker = page.get_by_role("combobox", name="Language")
        expect(picker).to_have_value("en")
        fits = "document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(fits)
        # The keyboard alone: focus the list, type to jump to a language, send.
        picker.focus()
        picker.select_option("zh-Hant")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"lang=zh-Hant"))
        assert "country=AL" in page.url
        assert page.locator("html").get_attribute("lang") == "zh-Hant"
        expect(page.locator("#ua-language")).to_have_value("zh-Hant")
        assert page.evaluate(fits)
    finally:
        context.close()
