"""The messages widget with a campaign's declarations, ``data-written-in`` and the
list widget's ``data-country``, on a partner page in headless Chromium; and the
pictures of both widgets in docs/screenshots/, in English and Arabic, on a
360 px phone and at desktop width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import SAMPLE, action_body, api_challenge
from tests.test_declarations import GATHERING

from .support import SLUG, HostSite, LiveApp
from .test_rtl import ARABIC, TITLE_AR

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"
MESSAGES_WIDGET = "[data-urgentaction-messages]"
LIST_WIDGET = "[data-urgentaction-list]"
# The sample campaign about Bosnia, publishing messages, with the federation's
# and the miners' declarations; and a second campaign about Albania.
DECLARATIONS = "[[declarations]]" + GATHERING.split("[[declarations]]", 1)[1]
PUBLISHING = (
    SAMPLE.replace("goal = 5000", 'goal = 5000\ncountries = ["BA"]')
    + ARABIC
    + "\n[messages]\npublish = true\n"
    + DECLARATIONS
)
ALBANIA = (
    SAMPLE.replace('slug = "example-mine-strike"', 'slug = "example-port-lockout"')
    .replace("goal = 5000", 'goal = 5000\ncountries = ["AL"]')
    .replace("Reinstate the sacked union leaders", "End the lockout at the port of Durrës")
)
ARABIC_MESSAGE = "تضامننا الكامل مع عمال المنجم المفصولين ونقابتهم. لن تسيروا وحدكم."


@pytest.fixture
def publishing(live: LiveApp, tmp_path: Path) -> LiveApp:
    live.add_campaign(tmp_path / "publishing.toml", PUBLISHING)
    live.add_campaign(tmp_path / "albania.toml", ALBANIA)
    with live.app.app_context():
        client = live.app.test_client()
        for name, email, lang, message in (
            ("Ana Kovač", "ana@example.org", "en", "Solidarity from the Tuzla night shift."),
            ("سارة", "sara@example.org", "ar", ARABIC_MESSAGE),
        ):
            token, answer = api_challenge(client)
            body = action_body(client, name=name, email=email, lang=lang, message=message,
                               publish=True, challenge_token=token,
                               challenge_answer=answer)  # fmt: skip
            answer_ = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body)
            assert answer_.status_code == 201, answer_.get_json()
    ids = [str(action.id) for action in live.actions()]
    result = live.app.test_cli_runner().invoke(
        args=["urgentaction", "messages", SLUG, *(f"--approve={i}" for i in ids)]
    )
    assert result.exit_code == 0, result.output
    return live


def shadow_text(widget: Locator) -> str:
    return str(widget.evaluate("h => h.shadowRoot.textContent"))


def test_the_messages_widget_shows_declarations_above_the_messages(
    publishing: LiveApp, host_site: HostSite, page: Page
) -> None:
    live = publishing
    page.goto(host_site.page(live.messages_widget()))
    widget = page.locator(MESSAGES_WIDGET)
    declarations = widget.locator("[part=declarations]")
    expect(declarations).to_have_attribute("aria-label", "Declarations of solidarity")
    titles = declarations.get_by_role("heading", level=3)
    expect(titles).to_have_text(["We stand with the dockers <b>now</b>", "تضامن مع عمال الميناء"])
    itf = declarations.get_by_role("link", name="We stand with the dockers <b>now</b>")
    href = itf.get_attribute("href") or ""
    assert re.fullmatch(rf"{re.escape(live.base)}/{SLUG}/declarations/[\w-]+\?lang=en", href)
    expect(declarations.locator("[part=meta]").first).to_have_text(
        "Example Transport Federation · United Kingdom"
    )
    # The Arabic declaration reads right to left in the English box.
    arabic = declarations.get_by_role("heading", level=3).nth(1)
    expect(arabic).to_have_attribute("lang", "ar")
    assert arabic.evaluate("el => getComputedStyle(el).direction") == "rtl"
    # Above the messages, which follow as before.
    order = widget.evaluate(
        "h => [...h.shadowRoot.querySelectorAll('[part=declarations], [part=list]')]"
        ".map(el => el.getAttribute('part'))"
    )
    assert order == ["declarations", "list"]
    expect(widget.locator("[part=list]").get_by_role("heading", level=3)).to_have_text(
        ["سارة", "Ana Kovač"]
    )
    # The declaration's page is where it is co-signed.
    itf.evaluate("a => a.removeAttribute('target')")
    itf.click()
    expect(page.get_by_role("heading", name="Co-sign this declaration")).to_be_visible()


def test_data_written_in_keeps_the_messages_in_one_language(
    publishing: LiveApp, host_site: HostSite, page: Page
) -> None:
    live = publishing
    body = live.messages_widget(**{"written-in": "ar"}) + live.messages_widget(
        script=False, **{"written-in": "en"}
    )
    page.goto(host_site.page(body))
    arabic, english = page.locator(MESSAGES_WIDGET).all()
    expect(arabic.locator("[part=list]").get_by_role("heading", level=3)).to_have_text(["سارة"])
    expect(english.locator("[part=list]").get_by_role("heading", level=3)).to_have_text(
        ["Ana Kovač"]
    )
    # The declarations are not messages: both boxes show them.
    expect(arabic.locator("[part=declarations] li")).to_have_count(2)
    expect(english.locator("[part=declarations] li")).to_have_count(2)


def test_data_country_keeps_the_campaigns_about_one_country(
    publishing: LiveApp, host_site: HostSite, page: Page
) -> None:
    live = publishing
    body = live.campaign_list(country="AL") + live.campaign_list(script=False, country="BA")
    page.goto(host_site.page(body))
    albania, bosnia = page.locator(LIST_WIDGET).all()
    expect(albania.get_by_role("heading", level=2)).to_have_text(
        ["End the lockout at the port of Durrës"]
    )
    expect(bosnia.get_by_role("heading", level=2)).to_have_text(
        ["Reinstate the sacked union leaders"]
    )


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000, f"{path} is not a PNG"


def fits(page: Page, width: int) -> bool:
    return int(page.evaluate("document.scrollingElement.scrollWidth")) <= width


@pytest.mark.parametrize("width", [360, 1024])
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_screenshots_of_the_list_and_messages_widgets(
    publishing: LiveApp, host_site: HostSite, page: Page, lang: str, width: int
) -> None:
    """docs/screenshots/{list,messages}-widget-{lang}-{width}.png, as embedding.md shows."""
    live = publishing
    page.set_viewport_size({"width": width, "height": 800})
    body = live.campaign_list(lang=lang) + live.messages_widget(script=False, lang=lang)
    page.goto(host_site.page(body, lang="en"))
    listed, messages = page.locator(LIST_WIDGET), page.locator(MESSAGES_WIDGET)
    expect(listed.get_by_role("heading", level=2)).to_have_count(2)
    expect(messages.locator("[part=list] li")).to_have_count(2)
    root = messages.locator("[part=root]")
    expect(root).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
    if lang == "ar":
        expect(messages.get_by_role("heading", level=2)).to_have_text(re.compile(TITLE_AR))
    assert fits(page, width)
    for name, widget in (("list", listed), ("messages", messages)):
        shot = SHOTS / f"{name}-widget-{lang}-{width}.png"
        widget.screenshot(path=str(shot))
        assert_png(shot)
    assert "@" not in shadow_text(messages)
