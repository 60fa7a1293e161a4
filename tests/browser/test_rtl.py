"""Right-to-left: the Arabic campaign page, widget and iframe embed are mirrored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Frame, Locator, Page, expect

from tests.conftest import SAMPLE

from .support import SLUG, HostSite, LiveApp, fill_action

# The sample campaign with an Arabic translation, loaded over it by slug.
ARABIC = """
[translations.ar]
title = "أعيدوا القادة النقابيين المفصولين إلى عملهم"
summary = "فُصل عمال المناجم لأنهم أسسوا نقابة."
body = \"\"\"فصلت **الشركة** خمسة من عمال المناجم بعد أسبوع واحد من تأسيسهم نقابةً في المنجم.

- لم تتلقَّ عائلاتهم أي دخل منذ ذلك الحين
\"\"\"
subject = "أعيدوا القادة النقابيين إلى عملهم الآن"
message = "أطالبكم بإعادة القادة النقابيين المفصولين من منجم المثال إلى عملهم فورًا ودون قيد أو شرط."
"""
TITLE_AR = "أعيدوا القادة النقابيين المفصولين إلى عملهم"
SUBJECT_AR = "أعيدوا القادة النقابيين إلى عملهم الآن"
# From the shipped Arabic catalog.
NAME_AR = "اسمك"
MESSAGE_AR = "رسالتك"
SUBMIT_AR = "إرسال الرسالة"
THANKS_AR = "شكرًا!"
ONE_SENT_AR = "1 رسالة مُرسلة"
PNG = b"\x89PNG\r\n\x1a\n"

# Where each text field's label text and box sit, measured in ``scope`` (the
# document or a shadow root). The label element is a block as wide as the
# field, so the label's text is measured with a Range, as a reader sees it.
FIELD_GEOMETRY = """scope => {
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right};
  };
  const text = el => { const range = document.createRange(); range.selectNodeContents(el);
                       return box(range); };
  return ['name', 'email', 'union', 'subject', 'personal', 'message'].map(name => {
    const control = scope.querySelector(`[name=${name}]`);
    const label = scope.querySelector(`label[for="${control.id}"]`);
    return {name, label: text(label), field: box(control),
            direction: getComputedStyle(control).direction};
  });
}"""

# The submit button's box against its form's.
FORM_GEOMETRY = """scope => {
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right};
  };
  return {form: box(scope.querySelector('form')),
          button: box(scope.querySelector('form button[type=submit]'))};
}"""

# Whether anything scrolls sideways: the document, and (for the widget) its root.
OVERFLOW = """el => {
  const doc = document.scrollingElement;
  return {page: doc.scrollWidth - doc.clientWidth,
          box: el ? el.scrollWidth - el.clientWidth : 0};
}"""


@pytest.fixture
def arabic(live: LiveApp, tmp_path: Path) -> LiveApp:
    live.add_campaign(tmp_path / "arabic.toml", SAMPLE + ARABIC)
    return live


def assert_labels_mirrored(fields: list[dict[str, Any]]) -> None:
    """Each label's text ends at its field's right edge and stops short of the left."""
    assert [f["name"] for f in fields] == ["name", "email", "union", "subject", "personal",
                                           "message"]  # fmt: skip
    for f in fields:
        label, box = f["label"], f["field"]
        assert abs(label["right"] - box["right"]) <= 3, f
        assert label["left"] - box["left"] > 20, f
        assert label["right"] - label["left"] > 10, f  # there is text to measure
        assert f["direction"] == "rtl", f  # the text inside starts at the right too


def assert_submit_at_inline_start(geometry: dict[str, Any]) -> None:
    form, button = geometry["form"], geometry["button"]
    assert abs(button["right"] - form["right"]) <= 3, geometry
    assert button["left"] - form["left"] > 100, geometry


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000, f"{path} is not a PNG"


def test_arabic_campaign_page_is_rtl_mirrored_and_submits_in_arabic(
    arabic: LiveApp, page: Page, tmp_path: Path
) -> None:
    page.goto(f"{arabic.base}/{SLUG}?lang=ar")
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", name=TITLE_AR, level=1)).to_be_visible()
    # Labels come from the Arabic catalog.
    expect(page.get_by_label(NAME_AR, exact=True)).to_be_visible()
    expect(page.get_by_label(MESSAGE_AR, exact=True)).to_have_value(re.compile("^أطالبكم"))

    assert_labels_mirrored(page.evaluate(f"({FIELD_GEOMETRY})(document)"))
    # At 1024 px the button has its own width: it sits at the right, where lines start.
    assert_submit_at_inline_start(page.evaluate(f"({FORM_GEOMETRY})(document)"))
    assert page.evaluate(OVERFLOW, None) == {"page": 0, "box": 0}
    shot = tmp_path / "rtl-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)

    fill_action(page.locator("form"))
    page.get_by_role("button", name=SUBMIT_AR).click()
    page.wait_for_url(re.compile(rf"/{SLUG}/thanks"))
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", name=THANKS_AR, level=1)).to_be_visible()
    expect(page.locator(".ua-count")).to_have_text(ONE_SENT_AR)

    (action,) = arabic.actions()
    assert action.lang == "ar"
    # One message to each of the two targets.
    assert [message["Subject"] for message in arabic.mailbox.messages] == [SUBJECT_AR] * 2


def test_arabic_widget_on_an_ltr_page_is_rtl_inside_only_and_fits_a_phone(
    arabic: LiveApp, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    host_text = '<p id="host-text">Our union stands with the sacked miners.</p>'
    page.goto(host_site.page(host_text + arabic.widget(lang="ar")))
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=TITLE_AR)).to_be_visible()
    root = widget.locator("[part=root]")
    expect(root).to_have_attribute("dir", "rtl")
    expect(root).to_have_attribute("lang", "ar")
    expect(widget.get_by_label(NAME_AR, exact=True)).to_be_visible()

    assert_labels_mirrored(widget.evaluate(f"host => ({FIELD_GEOMETRY})(host.shadowRoot)"))
    assert_submit_at_inline_start(widget.evaluate(f"host => ({FORM_GEOMETRY})(host.shadowRoot)"))
    # The host page's own text stays left to right, starting at the left.
    host = page.locator("#host-text").evaluate(
        """p => { const range = document.createRange(); range.selectNodeContents(p);
                  return {dir: getComputedStyle(p).direction,
                          text: range.getBoundingClientRect().left,
                          box: p.getBoundingClientRect().left}; }"""
    )
    assert host["dir"] == "ltr"
    assert abs(host["text"] - host["box"]) <= 1, host
    # Nothing scrolls sideways: not the page, and not the widget's own box
    # (an off-screen honeypot past its left edge would make it scrollable in RTL).
    root_overflow = widget.evaluate(f"h => ({OVERFLOW})(h.shadowRoot.querySelector('.r'))")
    assert root_overflow == {"page": 0, "box": 0}
    shot = tmp_path / "rtl-widget.png"
    widget.screenshot(path=str(shot))
    assert_png(shot)

    fill_action(widget)
    widget.get_by_role("button", name=SUBMIT_AR).click()
    thanks = widget.locator("[part=thanks]")
    expect(thanks.get_by_role("heading", name=THANKS_AR)).to_be_focused()
    expect(thanks.locator("[part=count]")).to_have_text(ONE_SENT_AR)
    (action,) = arabic.actions()
    assert action.lang == "ar"
    # One message to each of the two targets.
    assert [message["Subject"] for message in arabic.mailbox.messages] == [SUBJECT_AR] * 2


def test_arabic_iframe_embed_is_rtl_and_mirrored(
    arabic: LiveApp, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    snippet = arabic.iframe().replace("/embed?lang=en", "/embed?lang=ar", 1)
    assert "/embed?lang=ar" in snippet
    page.goto(host_site.page(snippet))
    framed = page.frame_locator("iframe")
    expect(framed.get_by_role("heading", name=TITLE_AR)).to_be_visible()
    frame: Frame | None = page.frame(url=re.compile(r"/embed\b"))
    assert frame is not None
    html: Locator = framed.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    # The partner page around it is still left to right.
    assert page.evaluate("getComputedStyle(document.body).direction") == "ltr"

    assert_labels_mirrored(frame.evaluate(f"({FIELD_GEOMETRY})(document)"))
    assert frame.evaluate(OVERFLOW, None) == {"page": 0, "box": 0}
    shot = tmp_path / "rtl-iframe.png"
    page.locator("iframe").screenshot(path=str(shot))
    assert_png(shot)

    fill_action(framed.locator("form"))
    framed.get_by_role("button", name=SUBMIT_AR).click()
    expect(framed.get_by_role("heading", name=THANKS_AR)).to_be_focused()
    expect(html).to_have_attribute("dir", "rtl")
    expect(framed.locator(".ua-count")).to_have_text(ONE_SENT_AR)
    (action,) = arabic.actions()
    assert action.lang == "ar"
