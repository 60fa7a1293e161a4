"""Right-to-left: the campaign page, widget, iframe embed and dashboard are mirrored in
Arabic, Persian, Hebrew and Urdu."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Frame, Locator, Page, expect

from flask_urgentaction.i18n import gettext, use_language
from flask_urgentaction.views.rendering import count_text
from tests.conftest import SAMPLE

from .support import SLUG, HostSite, LiveApp, fill_action

# The sample campaign with a translation in each language, loaded over it by slug.
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
PERSIAN = """
[translations.fa]
title = "رهبران سندیکایی اخراج‌شده را به کار بازگردانید"
summary = "معدنچیان به خاطر تأسیس سندیکا اخراج شدند."
subject = "رهبران سندیکا را همین حالا به کار بازگردانید"
message = "از شما می‌خواهم رهبران سندیکایی اخراج‌شده معدن را فوراً و بی‌قید و شرط به کار بازگردانید."
"""
HEBREW = """
[translations.he]
title = "החזירו לעבודה את מנהיגי האיגוד שפוטרו"
summary = "כורים פוטרו משום שהקימו איגוד מקצועי."
subject = "החזירו את מנהיגי האיגוד לעבודה עכשיו"
message = "אני קורא לכם להחזיר מיד ובלי תנאים את מנהיגי האיגוד שפוטרו ממכרה הדוגמה לעבודתם."
"""
URDU = """
[translations.ur]
title = "برطرف کیے گئے یونین رہنماؤں کو بحال کرو"
summary = "کان کنوں کو یونین بنانے پر نوکری سے نکال دیا گیا"
subject = "یونین رہنماؤں کو ابھی بحال کرو"
message = "میں مطالبہ کرتا ہوں کہ برطرف کیے گئے یونین رہنماؤں کو فوری طور پر بحال کیا جائے"
"""


@dataclass(frozen=True)
class Rtl:
    """A right-to-left language: its campaign texts, and the first word of its message."""

    lang: str
    toml: str
    title: str
    subject: str
    message_start: str


# The Arabic campaign's texts and words, which other browser tests use too (the
# words from the shipped Arabic catalog).
TITLE_AR = "أعيدوا القادة النقابيين المفصولين إلى عملهم"
SUBJECT_AR = "أعيدوا القادة النقابيين إلى عملهم الآن"
NAME_AR = "اسمك"
MESSAGE_AR = "رسالتك"
SUBMIT_AR = "إرسال الرسالة"
THANKS_AR = "شكرًا!"
ONE_SENT_AR = "1 رسالة مُرسلة"
LANGUAGES = [
    Rtl("ar", ARABIC, TITLE_AR, SUBJECT_AR, "أطالبكم"),
    Rtl("fa", PERSIAN, "رهبران سندیکایی اخراج‌شده را به کار بازگردانید",
        "رهبران سندیکا را همین حالا به کار بازگردانید", "از"),
    Rtl("he", HEBREW, "החזירו לעבודה את מנהיגי האיגוד שפוטרו",
        "החזירו את מנהיגי האיגוד לעבודה עכשיו", "אני"),
    Rtl("ur", URDU, "برطرف کیے گئے یونین رہنماؤں کو بحال کرو",
        "یونین رہنماؤں کو ابھی بحال کرو", "میں"),
]  # fmt: skip
# Our dashboard and pages are offered in these (their catalogs ship with the package).
SITE_LANGUAGES = ["en", *(language.lang for language in LANGUAGES)]


@dataclass(frozen=True)
class Words:
    """The form's words in one language, from its catalog, as the app draws them."""

    name: str
    message: str
    submit: str
    thanks: str
    one_sent: str


def words(live: LiveApp, lang: str) -> Words:
    with live.app.test_request_context(), use_language(lang):
        return Words(
            gettext("Your name"), gettext("Your message"), gettext("Send the message"),
            gettext("Thank you!"), count_text(1, lang),
        )  # fmt: skip


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
def app_config() -> dict[str, Any]:
    return {"URGENTACTION_LANGUAGES": SITE_LANGUAGES}


@pytest.fixture(params=LANGUAGES, ids=[language.lang for language in LANGUAGES])
def rtl(request: pytest.FixtureRequest) -> Rtl:
    language: Rtl = request.param
    return language


@pytest.fixture
def campaign(live: LiveApp, rtl: Rtl, tmp_path: Path) -> LiveApp:
    """The live app with the sample campaign translated into ``rtl``'s language."""
    live.add_campaign(tmp_path / "rtl.toml", SAMPLE + rtl.toml)
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


def test_campaign_page_is_rtl_mirrored_and_submits_in_its_language(
    campaign: LiveApp, rtl: Rtl, page: Page, tmp_path: Path
) -> None:
    said = words(campaign, rtl.lang)
    page.goto(f"{campaign.base}/{SLUG}?lang={rtl.lang}")
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", rtl.lang)
    expect(page.get_by_role("heading", name=rtl.title, level=1)).to_be_visible()
    # Labels come from the language's catalog.
    expect(page.get_by_label(said.name, exact=True)).to_be_visible()
    expect(page.get_by_label(said.message, exact=True)).to_have_value(
        re.compile("^" + rtl.message_start)
    )

    assert_labels_mirrored(page.evaluate(f"({FIELD_GEOMETRY})(document)"))
    # At 1024 px the button has its own width: it sits at the right, where lines start.
    assert_submit_at_inline_start(page.evaluate(f"({FORM_GEOMETRY})(document)"))
    assert page.evaluate(OVERFLOW, None) == {"page": 0, "box": 0}
    shot = tmp_path / "rtl-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)

    fill_action(page.locator("form"))
    page.get_by_role("button", name=said.submit).click()
    page.wait_for_url(re.compile(rf"/{SLUG}/thanks"))
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", rtl.lang)
    expect(page.get_by_role("heading", name=said.thanks, level=1)).to_be_visible()
    expect(page.locator(".ua-count")).to_have_text(said.one_sent)

    (action,) = campaign.actions()
    assert action.lang == rtl.lang
    # One message to each of the two targets.
    assert [message["Subject"] for message in campaign.mailbox.messages] == [rtl.subject] * 2


def test_widget_on_an_ltr_page_is_rtl_inside_only_and_fits_a_phone(
    campaign: LiveApp, rtl: Rtl, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    said = words(campaign, rtl.lang)
    page.set_viewport_size({"width": 360, "height": 740})
    host_text = '<p id="host-text">Our union stands with the sacked miners.</p>'
    page.goto(host_site.page(host_text + campaign.widget(lang=rtl.lang)))
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=rtl.title)).to_be_visible()
    root = widget.locator("[part=root]")
    expect(root).to_have_attribute("dir", "rtl")
    expect(root).to_have_attribute("lang", rtl.lang)
    expect(widget.get_by_label(said.name, exact=True)).to_be_visible()

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
    widget.get_by_role("button", name=said.submit).click()
    thanks = widget.locator("[part=thanks]")
    expect(thanks.get_by_role("heading", name=said.thanks)).to_be_focused()
    expect(thanks.locator("[part=count]")).to_have_text(said.one_sent)
    (action,) = campaign.actions()
    assert action.lang == rtl.lang
    # One message to each of the two targets.
    assert [message["Subject"] for message in campaign.mailbox.messages] == [rtl.subject] * 2


def test_iframe_embed_is_rtl_and_mirrored(
    campaign: LiveApp, rtl: Rtl, host_site: HostSite, page: Page, tmp_path: Path
) -> None:
    said = words(campaign, rtl.lang)
    snippet = campaign.iframe().replace("/embed?lang=en", f"/embed?lang={rtl.lang}", 1)
    assert f"/embed?lang={rtl.lang}" in snippet
    page.goto(host_site.page(snippet))
    framed = page.frame_locator("iframe")
    expect(framed.get_by_role("heading", name=rtl.title)).to_be_visible()
    frame: Frame | None = page.frame(url=re.compile(r"/embed\b"))
    assert frame is not None
    html: Locator = framed.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", rtl.lang)
    # The partner page around it is still left to right.
    assert page.evaluate("getComputedStyle(document.body).direction") == "ltr"

    assert_labels_mirrored(frame.evaluate(f"({FIELD_GEOMETRY})(document)"))
    assert frame.evaluate(OVERFLOW, None) == {"page": 0, "box": 0}
    shot = tmp_path / "rtl-iframe.png"
    page.locator("iframe").screenshot(path=str(shot))
    assert_png(shot)

    fill_action(framed.locator("form"))
    framed.get_by_role("button", name=said.submit).click()
    expect(framed.get_by_role("heading", name=said.thanks)).to_be_focused()
    expect(html).to_have_attribute("dir", "rtl")
    expect(framed.locator(".ua-count")).to_have_text(said.one_sent)
    (action,) = campaign.actions()
    assert action.lang == rtl.lang


def test_dashboard_page_is_rtl_and_fits_a_phone(
    campaign: LiveApp, rtl: Rtl, page: Page, tmp_path: Path
) -> None:
    campaign.app.extensions["urgentaction"].extension.organiser_check(lambda: "ana@union.example")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{campaign.base}/manage/campaigns/{SLUG}?lang={rtl.lang}")
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", rtl.lang)
    with campaign.app.test_request_context(), use_language(rtl.lang):
        dashboard = gettext("Dashboard")
    navigation = page.get_by_role("navigation", name=dashboard)
    expect(navigation).to_be_visible()
    # The navigation starts at the right, as lines do.
    box = navigation.evaluate(
        """nav => { const first = nav.querySelector('a').getBoundingClientRect();
                    const own = nav.getBoundingClientRect();
                    return {first: first.right, nav: own.right, left: first.left - own.left,
                            dir: getComputedStyle(nav).direction}; }"""
    )
    assert box["dir"] == "rtl", box
    assert box["nav"] - box["first"] < 40 and box["left"] > 0, box
    assert page.evaluate(OVERFLOW, None) == {"page": 0, "box": 0}
    shot = tmp_path / "rtl-dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)
