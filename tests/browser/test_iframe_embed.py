"""The iframe embed on a partner page of another site: cookies blocked, resizing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Frame, Page, expect

from .support import TITLE, HostSite, LiveApp, fill_action

# Records every message posted to the partner page, as the page sees it.
RECORD_MESSAGES = (
    "<script>window.seen = [];"
    "addEventListener('message', e => seen.push({origin: e.origin, data: e.data}));</script>"
)


def content_height(frame: Frame) -> int:
    return int(frame.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)"))


def wait_fitted(page: Page, frame: Frame) -> int:
    """Wait until the iframe is exactly as tall as its content; return that height.

    The content may reflow while the frame grows (a scrollbar comes and goes),
    so wait until the two agree on a height that then stays.
    """
    for _ in range(5):
        height = content_height(frame)
        page.wait_for_function(
            "h => document.querySelector('iframe').getBoundingClientRect().height === h",
            arg=height,
        )
        if content_height(frame) == height:
            return height
    raise AssertionError("the iframe never settled at its content's height")


def embed_frame(page: Page) -> Frame:
    frame = page.frame(url=re.compile(r"/embed\b"))
    assert frame is not None, [f.url for f in page.frames]
    return frame


def test_iframe_submits_with_third_party_cookies_blocked_and_resizes(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    snippet = live.iframe(partner="ssm-iframe")
    page.goto(host_site.page("<h1>Partner union</h1>" + snippet, head=RECORD_MESSAGES))
    framed = page.frame_locator("iframe")
    expect(framed.get_by_role("heading", name=TITLE)).to_be_visible()
    frame = embed_frame(page)

    # The frame is third-party: no cookie can be set there, and none is needed.
    assert frame.evaluate("document.cookie = 'probe=1; path=/'; document.cookie") == ""

    form_height = wait_fitted(page, frame)
    fixed = re.search(r"height:(\d+)px", snippet)
    assert fixed and form_height != int(fixed.group(1))  # the listener replaced it

    fill_action(framed)
    framed.get_by_role("button", name="Send the message").click()
    expect(framed.get_by_role("heading", name="Thank you!")).to_be_focused()
    expect(framed.get_by_text("1 message sent")).to_be_visible()
    thanks_height = wait_fitted(page, frame)
    assert thanks_height < form_height

    (action,) = live.actions()
    # Attribution: the partner tag, and the framing page's origin (from the Referer).
    assert (action.partner_tag, action.source_origin) == ("ssm-iframe", host_site.origin)
    # One message to each target, each in an envelope of its own.
    recipients = [rcpt for rcpt, _message in live.mailbox.received]
    assert sorted(recipients) == [["ceo@mining.example"], ["minister@labour.example"]]
    assert page.context.cookies() == []

    # Only the campaign server wrote to the page, and only its height.
    seen = page.evaluate("seen")
    assert seen, "no message from the frame"
    assert {m["origin"] for m in seen} == {live.origin}
    assert all(m["data"] == {"urgentaction": "resize", "height": m["data"]["height"]}
               for m in seen)  # fmt: skip


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_ALLOWED_ORIGINS": ["http://elsewhere.example"]}]
)
def test_iframe_is_refused_on_a_site_not_allowed(
    live: LiveApp, host_site: HostSite, page: Page
) -> None:
    page.goto(host_site.page(live.iframe()))
    (frame,) = page.main_frame.child_frames
    # Chromium replaces a frame refused by frame-ancestors with its own error page.
    frame.wait_for_url(re.compile("^chrome-error:"))
    expect(page.frame_locator("iframe").get_by_role("heading", name=TITLE)).to_have_count(0)
