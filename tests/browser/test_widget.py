"""The script widget on a partner page of another site, in headless Chromium."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import SAMPLE, action_body, api_challenge

from .support import FOCUSED, SLUG, TITLE, HostSite, LiveApp, challenge_number, fill_action

WIDGET = "[data-urgentaction]"


def open_widget(page: Page, url: str, index: int = 0, title: str = TITLE) -> Any:
    """Go to a partner page and wait until the widget has drawn its campaign."""
    page.goto(url)
    widget = page.locator(WIDGET).nth(index)
    expect(widget.get_by_role("heading", name=title)).to_be_visible()
    return widget


def test_snippet_renders_sends_and_the_targets_get_the_message(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    ours: list[str] = []

    def count_ours(request: Request) -> None:
        if request.url.startswith(live.origin):
            ours.append(f"{request.method} {request.url.removeprefix(live.base)}")

    page.on("request", count_ours)
    widget = open_widget(page, host_site.page("<h1>Partner union</h1>" + live.widget()))
    # First paint takes two requests: the script and the campaign JSON.
    assert ours == ["GET /widget.js", f"GET /api/campaigns/{SLUG}?lang=en"]
    # The page's fallback link is hidden once the widget has drawn.
    expect(page.get_by_role("link", name=re.compile("Take action"))).to_be_hidden()
    expect(widget.get_by_role("link", name="Read more")).to_have_attribute(
        "href", f"{live.base}/{SLUG}?lang=en"
    )
    expect(widget.locator("[part=count]")).to_have_text("0 messages sent")

    fill_action(widget)
    widget.get_by_label("Your message").fill("Reinstate them now. Sent from a partner page.")
    widget.get_by_role("button", name="Send the message").click()

    thanks = widget.locator("[part=thanks]")
    expect(thanks.get_by_role("heading", name="Thank you!")).to_be_focused()
    expect(thanks.locator("[part=count]")).to_have_text("1 message sent")
    expect(thanks.get_by_role("link", name="WhatsApp")).to_have_attribute(
        "href", re.compile(r"^https://wa\.me/\?text=")
    )
    expect(widget.locator("form")).to_have_count(0)

    # One message to each target, each in an envelope of its own.
    recipients = [rcpt for rcpt, _message in live.mailbox.received]
    assert sorted(recipients) == [["ceo@mining.example"], ["minister@labour.example"]]
    (message,) = live.mailbox.to("ceo@mining.example")
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Ana Kovač via Example Network",
        "actions@network.example",
    )
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["ana@example.org"]
    assert message["Subject"] == "Reinstate the union leaders now"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Reinstate them now. Sent from a partner page." in text
    assert "Ana Kovač" in text

    (action,) = live.actions()
    assert (action.name, action.email, action.union, action.country) == (
        "Ana Kovač", "ana@example.org", "SSM", "BA",
    )  # fmt: skip


HOSTILE_CSS = """<style>
* { display: inline !important; color: red !important; font-size: 40px !important;
    line-height: 3 !important; margin: 25px !important; padding: 25px !important;
    box-sizing: content-box !important; letter-spacing: 6px !important;
    font-family: "Comic Sans MS", cursive !important; text-transform: uppercase !important;
    visibility: hidden !important; border: 5px dotted red !important; }
input, select, textarea, button, form, label, h2, p, section { display: none !important; }
html { font-size: 8px !important; }
</style>"""

# Computed layout of the form's controls inside the shadow root.
FIELD_LAYOUT = """host => {
  const root = host.shadowRoot;
  const form = root.querySelector('form');
  const inner = form.getBoundingClientRect().width;
  const controls = [...root.querySelectorAll(
    'input:not([type=checkbox]):not([name=hp]), select, textarea')];
  return {
    host: getComputedStyle(host).display,
    title: getComputedStyle(root.querySelector('h2')).fontSize,
    button: getComputedStyle(root.querySelector('button')).color,
    controls: controls.map(el => {
      const style = getComputedStyle(el);
      return {name: el.name, display: style.display, color: style.color,
              fontSize: style.fontSize, visible: style.visibility,
              fullWidth: Math.abs(el.getBoundingClientRect().width - inner) < 1};
    }),
  };
}"""


def test_hostile_page_css_does_not_break_the_widget(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    url = host_site.page("<h1>Partner union</h1>" + live.widget(), head=HOSTILE_CSS)
    page.goto(url)
    # The page's own heading is hidden by its CSS; the widget's title is not.
    expect(page.locator("h1")).to_be_hidden()
    widget = page.locator(WIDGET)
    expect(widget.get_by_role("heading", name=TITLE)).to_be_visible()

    layout = widget.evaluate(FIELD_LAYOUT)
    assert layout["host"] == "block"
    assert layout["title"] == "22.4px"  # 1.4em of the widget's own 16px
    assert layout["button"] == "rgb(255, 255, 255)"
    names = [control["name"] for control in layout["controls"]]
    assert names == ["name", "email", "union", "country", "subject", "personal", "message",
                     "challenge_answer"]  # fmt: skip
    for control in layout["controls"]:
        assert control["display"] == "block", control
        assert control["fullWidth"], control
        assert control["color"] != "rgb(255, 0, 0)", control
        assert control["fontSize"] == "16px", control
        assert control["visible"] == "visible", control

    fill_action(widget)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_focused()
    assert len(live.mailbox.to("ceo@mining.example")) == 1


def test_two_widgets_on_one_page_work_each_in_its_language(
    live: LiveApp, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    second = SAMPLE.replace(f'slug = "{SLUG}"', 'slug = "second-campaign"')
    second = second.replace("ceo@mining.example", "board@second.example")
    live.add_campaign(tmp_path / "second.toml", second)
    url = host_site.page(live.widget() + live.widget("second-campaign", lang="de"))
    first = open_widget(page, url, 0)
    german = open_widget(page, url, 1, "Stellt die entlassenen Gewerkschafter wieder ein")
    expect(german.locator("[part=root]")).to_have_attribute("lang", "de")

    fill_action(german, email="ben@example.org")
    german.get_by_role("button").click()
    expect(german.locator("[part=thanks] h3")).to_be_focused()
    # The other widget is untouched and still takes its own action.
    expect(first.locator("form")).to_have_count(1)
    fill_action(first)
    first.get_by_role("button", name="Send the message").click()
    expect(first.locator("[part=thanks] h3")).to_be_focused()

    by_campaign = {a.email: (a.campaign_id, a.lang) for a in live.actions()}
    assert by_campaign["ben@example.org"][1] == "de"
    assert by_campaign["ana@example.org"][1] == "en"
    assert by_campaign["ben@example.org"][0] != by_campaign["ana@example.org"][0]
    recipients = sorted(address for rcpt, _m in live.mailbox.received for address in rcpt)
    assert recipients == ["board@second.example", "ceo@mining.example",
                          "minister@labour.example", "minister@labour.example"]  # fmt: skip


def test_wrong_challenge_shows_the_field_error_then_the_retry_succeeds(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    widget = open_widget(page, host_site.page(live.widget()))
    wrong = "4321" if challenge_number(widget) == "1234" else "1234"
    fill_action(widget, answer=wrong)
    widget.get_by_role("button", name="Send the message").click()

    answer = widget.get_by_label(re.compile(r"\d{4}"))
    expect(answer).to_be_focused()
    expect(answer).to_have_attribute("aria-invalid", "true")
    expect(answer).to_have_value("")
    expect(widget.locator("#ua-challenge_answer-e")).to_contain_text("not the number shown")
    # What the supporter typed elsewhere is kept.
    expect(widget.get_by_label("Your name", exact=True)).to_have_value("Ana Kovač")
    assert live.actions() == []
    assert live.mailbox.messages == []

    # The answer to the fresh challenge, submitted with Enter from the field.
    answer.fill(challenge_number(widget))
    answer.press("Enter")
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_focused()
    assert len(live.actions()) == 1
    assert len(live.mailbox.to("ceo@mining.example")) == 1


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_ALLOWED_ORIGINS": ["http://elsewhere.example"]}]
)
def test_origin_not_allowed_shows_the_error_and_stores_nothing(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    page.goto(host_site.page(live.widget()))
    widget = page.locator(WIDGET)
    expect(widget.get_by_role("alert")).to_have_text(
        "This campaign cannot be embedded on this website."
    )
    expect(widget.locator("form")).to_have_count(0)

    # Even an action posted by hand from this page gets nowhere.
    token, number = api_challenge(live.app.test_client())
    body = {"name": "Ana", "email": "ana@example.org", "challenge_token": token,
            "challenge_answer": number, "lang": "en"}  # fmt: skip
    outcome = page.evaluate(
        """async ([url, body]) => {
          try {
            const r = await fetch(url, {method: 'POST', body: JSON.stringify(body),
                                        headers: {'Content-Type': 'application/json'}});
            return 'answered ' + r.status;
          } catch (e) { return 'refused'; }
        }""",
        [f"{live.base}/api/campaigns/{SLUG}/actions", body],
    )
    assert outcome == "refused"
    assert live.actions() == []
    assert live.mailbox.messages == []


@pytest.mark.parametrize("app_config", [{"URGENTACTION_MIN_FILL_SECONDS": 3}])
def test_too_fast_submit_shows_the_challenge_error(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    widget = open_widget(page, host_site.page(live.widget()))
    fill_action(widget)
    widget.get_by_role("button", name="Send the message").click()
    answer = widget.get_by_label(re.compile(r"\d{4}"))
    expect(answer).to_be_focused()
    expect(widget.locator("#ua-challenge_answer-e")).to_have_text(
        "That was faster than a person can type. Please try again."
    )
    assert live.actions() == []


def test_partner_and_page_origin_are_stored_and_exported(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    widget = open_widget(page, host_site.page(live.widget(partner="ssm-site")))
    fill_action(widget)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_visible()

    (action,) = live.actions()
    assert (action.source_origin, action.partner_tag) == (host_site.origin, "ssm-site")
    result = live.app.test_cli_runner().invoke(args=["urgentaction", "export", SLUG])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.output))
    assert (row["source_origin"], row["partner_tag"]) == (host_site.origin, "ssm-site")


def test_keyboard_alone_fills_sends_and_reads_the_result(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    url = host_site.page('<p><a href="/">Partner home</a></p>' + live.widget())
    widget = open_widget(page, url)
    number = challenge_number(widget)
    typed = {
        "name": "Ana Kovač",
        "email": "ana@example.org",
        "country": "Bosn",  # type-ahead in the closed select
        "personal": "I worked at the mine.",
        "challenge_answer": number,
        "opt_in": " ",
    }
    visited = []
    for _ in range(13):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        visited.append(focused)
        if focused in typed:
            page.keyboard.type(typed[focused])
    assert visited == [
        "Partner home", "Read more", "name", "email", "union", "country", "subject",
        "personal", "message", "challenge_answer", "opt_in", "Privacy statement",
        "Send the message",
    ]  # fmt: skip
    expect(widget.get_by_label("Your country", exact=True)).to_have_value("BA")
    page.keyboard.press("Space")

    # Focus moves to the result, so a screen reader reads it out.
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_focused()
    thanks = widget.locator("[part=thanks]")
    expect(thanks).to_contain_text("1 message sent")
    expect(thanks).to_contain_text("Please check your inbox")
    (action,) = live.actions()
    assert (action.name, action.country, action.opt_in) == ("Ana Kovač", "BA", True)
    assert action.personal == "I worked at the mine."
    assert len(live.mailbox.to("ana@example.org")) == 1  # the opt-in confirmation


def test_without_a_trusted_host_the_widget_offers_no_opt_in_and_still_sends(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    # Neither SERVER_NAME nor TRUSTED_HOSTS: no confirmation link could be mailed.
    live.app.config["SERVER_NAME"] = None
    widget = open_widget(page, host_site.page(live.widget()))
    expect(widget.locator("form [name=challenge_answer]")).to_be_visible()
    expect(widget.locator("[name=opt_in]")).to_have_count(0)

    fill_action(widget)
    widget.get_by_role("button", name="Send the message").click()
    thanks = widget.locator("[part=thanks]")
    expect(thanks.get_by_role("heading", name="Thank you!")).to_be_focused()
    expect(thanks).not_to_contain_text("Please check your inbox")
    (action,) = live.actions()
    assert action.opt_in is False
    reached = sorted(address for rcpt, _message in live.mailbox.received for address in rcpt)
    assert reached == ["ceo@mining.example", "minister@labour.example"]
    assert live.mailbox.to("ana@example.org") == []


def test_fits_a_360_px_phone_without_sideways_scrolling(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    widget = open_widget(page, host_site.page(live.widget()))
    sizes = widget.evaluate(
        """host => {
          const root = host.shadowRoot.querySelector('[part=root]');
          const button = host.shadowRoot.querySelector('button').getBoundingClientRect();
          return {page: document.documentElement.scrollWidth, root: root.scrollWidth,
                  box: root.clientWidth, right: root.getBoundingClientRect().right,
                  buttonHeight: button.height};
        }"""
    )
    assert sizes["page"] <= 360
    assert sizes["root"] <= sizes["box"]
    assert sizes["right"] <= 360
    assert sizes["buttonHeight"] >= 40  # a target a thumb can hit


STRICT_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'self\'; '
    "script-src 'self' {origin}; connect-src 'self' {origin}\">"
)


def test_widget_works_under_the_documented_host_csp(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Security Policy" in m.text else None)
    url = host_site.page(live.widget(), head=STRICT_CSP.format(origin=live.origin))
    widget = open_widget(page, url)
    # Styled although the page allows no inline style.
    display = widget.evaluate("h => getComputedStyle(h.shadowRoot.querySelector('input')).display")
    assert display == "block"
    fill_action(widget)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_visible()
    assert violations == []


def test_offline_submit_keeps_the_input_and_the_retry_succeeds(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    widget = open_widget(page, host_site.page(live.widget()))
    fill_action(widget)
    page.context.set_offline(True)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("status")).to_contain_text("you seem to be offline")
    expect(widget.locator("[name=name]")).to_have_value("Ana Kovač")
    assert live.actions() == []

    page.context.set_offline(False)
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("heading", name="Thank you!")).to_be_focused()
    assert len(live.actions()) == 1


def test_second_action_with_the_same_email_is_announced_not_sent(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    client = live.app.test_client()
    response = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=action_body(client))
    assert response.status_code == 201
    widget = open_widget(page, host_site.page(live.widget()))
    fill_action(widget)  # the same address as above
    widget.get_by_role("button", name="Send the message").click()
    expect(widget.get_by_role("status")).to_have_text(
        "You have already sent this message. Thank you!"
    )
    assert len(live.actions()) == 1
    assert len(live.mailbox.to("ceo@mining.example")) == 1


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RATE_LIMIT": "1 per minute"}])
def test_rate_limited_submit_is_announced(live: LiveApp, host_site: HostSite, page: Page) -> None:
    url = host_site.page(live.widget() + live.widget())
    first, second = open_widget(page, url, 0), open_widget(page, url, 1)
    fill_action(first)
    first.get_by_role("button", name="Send the message").click()
    expect(first.get_by_role("heading", name="Thank you!")).to_be_visible()
    fill_action(second, email="ben@example.org")
    second.get_by_role("button", name="Send the message").click()
    expect(second.get_by_role("status")).to_contain_text("Too many messages")
    assert len(live.actions()) == 1


def test_closed_campaign_shows_the_notice_without_a_form(
    live: LiveApp, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    live.add_campaign(tmp_path / "closed.toml", SAMPLE.replace('"live"', '"closed"', 1))
    widget = open_widget(page, host_site.page(live.widget()))
    expect(widget.get_by_role("status")).to_have_text(
        "This campaign is closed. Thank you for your support."
    )
    expect(widget.locator("form")).to_have_count(0)
