"""Every script in its own fonts: a campaign page per script, and the widget, draw their
text in a font of the script's stack in urgentaction.css (the widget's own CSS), as
Chromium reports through the DevTools protocol, with no character left to a font that
lacks it. Needs the Noto fonts scripts/test.sh installs (fonts-noto-core, fonts-noto-cjk).

Also writes docs/screenshots/script-LANG-360.png, the campaign page on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import SAMPLE

from .support import SLUG, HostSite, LiveApp

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"
# What system-ui may resolve to on Debian when fontconfig prefers it to Noto Sans: it has
# Hebrew, Arabic, Armenian and Georgian letters, so it may draw them, ahead in the stack.
SYSTEM = "DejaVu Sans"


@dataclass(frozen=True)
class Script:
    """A language and its campaign texts; ``fonts``: the families that may draw them
    here, the script's own first."""

    lang: str
    title: str
    summary: str
    message: str
    fonts: tuple[str, ...]

    def toml(self) -> str:
        return (
            f'\n[translations.{self.lang}]\ntitle = "{self.title}"\n'
            f'summary = "{self.summary}"\nsubject = "{self.title}"\nmessage = "{self.message}"\n'
        )


SCRIPTS = [
    Script("hi", "बर्खास्त यूनियन नेताओं को बहाल करो",
           "खनिकों को यूनियन बनाने के लिए नौकरी से निकाल दिया गया",
           "मैं माँग करता हूँ कि बर्खास्त यूनियन नेताओं को तुरंत बहाल किया जाए",
           ("Noto Sans Devanagari",)),
    Script("bn", "বরখাস্ত ইউনিয়ন নেতাদের পুনর্বহাল করুন",
           "ইউনিয়ন গড়ার জন্য খনি শ্রমিকদের বরখাস্ত করা হয়েছে",
           "বরখাস্ত ইউনিয়ন নেতাদের এখনই পুনর্বহাল করুন", ("Noto Sans Bengali",)),
    Script("ta", "பணிநீக்கம் செய்யப்பட்ட சங்கத் தலைவர்களை மீண்டும் பணியமர்த்துங்கள்",
           "சங்கம் அமைத்ததற்காக சுரங்கத் தொழிலாளர்கள் பணிநீக்கம் செய்யப்பட்டனர்",
           "சங்கத் தலைவர்களை உடனே மீண்டும் பணியமர்த்துங்கள்", ("Noto Sans Tamil",)),
    Script("th", "รับผู้นำสหภาพแรงงานที่ถูกเลิกจ้างกลับเข้าทำงาน",
           "คนงานเหมืองถูกเลิกจ้างเพราะก่อตั้งสหภาพแรงงาน",
           "ขอให้รับผู้นำสหภาพแรงงานกลับเข้าทำงานทันที", ("Noto Sans Thai",)),
    Script("am", "የተባረሩትን የሠራተኛ ማኅበር መሪዎች ወደ ሥራ መልሱ",
           "የማዕድን ሠራተኞች ማኅበር በማቋቋማቸው ተባረሩ",
           "የተባረሩትን የማኅበር መሪዎች አሁኑኑ ወደ ሥራ መልሱ", ("Noto Sans Ethiopic",)),
    Script("ka", "აღადგინეთ სამსახურში გათავისუფლებული პროფკავშირის ლიდერები",
           "მაღაროელები პროფკავშირის შექმნის გამო გაათავისუფლეს",
           "მოვითხოვ პროფკავშირის ლიდერების დაუყოვნებლივ აღდგენას",
           ("Noto Sans Georgian", SYSTEM)),
    Script("hy", "Վերադարձրեք աշխատանքից ազատված արհմիության ղեկավարներին",
           "Հանքափորներին ազատել են արհմիություն հիմնելու համար",
           "Պահանջում եմ անհապաղ վերադարձնել արհմիության ղեկավարներին",
           ("Noto Sans Armenian", SYSTEM)),
    Script("zh-Hans", "让被解雇的工会领导人复职", "矿工因组建工会而被解雇",
           "我要求立即让被解雇的工会领导人复职", ("Noto Sans CJK SC",)),
    Script("zh-Hant", "讓被解僱的工會領袖復職", "礦工因組織工會而遭解僱",
           "我要求立即讓被解僱的工會領袖復職", ("Noto Sans CJK TC",)),
    Script("ja", "解雇された組合役員を職場に戻せ", "炭鉱労働者が組合を結成したために解雇されました",
           "解雇された組合役員を直ちに職場に戻すよう求めます", ("Noto Sans CJK JP",)),
    Script("ko", "해고된 노조 지도자들을 복직시켜라",
           "광부들이 노조를 결성했다는 이유로 해고되었습니다",
           "해고된 노조 지도자들을 즉시 복직시킬 것을 요구합니다", ("Noto Sans CJK KR",)),
    Script("he", "החזירו לעבודה את מנהיגי האיגוד שפוטרו", "כורים פוטרו משום שהקימו איגוד מקצועי",
           "אני קורא לכם להחזיר מיד את מנהיגי האיגוד לעבודתם", ("Noto Sans Hebrew", SYSTEM)),
    Script("fa", "رهبران سندیکایی اخراج‌شده را به کار بازگردانید",
           "معدنچیان به خاطر تأسیس سندیکا اخراج شدند",
           "از شما می‌خواهم رهبران سندیکا را فوراً به کار بازگردانید", ("Noto Sans Arabic", SYSTEM)),
    Script("ur", "برطرف کیے گئے یونین رہنماؤں کو بحال کرو",
           "کان کنوں کو یونین بنانے پر نوکری سے نکال دیا گیا",
           "میں مطالبہ کرتا ہوں کہ یونین رہنماؤں کو فوری طور پر بحال کیا جائے",
           ("Noto Nastaliq Urdu",)),
]  # fmt: skip
BY_LANG = {script.lang: script for script in SCRIPTS}
# The pages kept as pictures for the docs.
SHOWN = {"fa", "he", "ur", "hi", "zh-Hant", "am"}

# The fonts Chromium drew a node's text with, by family: CSS.getPlatformFontsForNode.
# ``selector`` is looked up in the document, or in the shadow root of ``host``.
Fonts = dict[str, int]


def drawn_fonts(page: Page, selector: str, host: str | None = None) -> Fonts:
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]["nodeId"]
        if host is not None:
            found = cdp.send("DOM.querySelector", {"nodeId": root, "selector": host})["nodeId"]
            shadow = cdp.send("DOM.describeNode", {"nodeId": found, "depth": 1, "pierce": True})
            (shadow_root,) = shadow["node"]["shadowRoots"]
            pushed = cdp.send("DOM.pushNodesByBackendIdsToFrontend",
                              {"backendNodeIds": [shadow_root["backendNodeId"]]})  # fmt: skip
            root = pushed["nodeIds"][0]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, f"no {selector} on the page"
        fonts: list[dict[str, Any]] = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})[
            "fonts"
        ]
    finally:
        cdp.detach()
    drawn: Fonts = {}
    for font in fonts:
        drawn[font["familyName"]] = drawn.get(font["familyName"], 0) + int(font["glyphCount"])
    return drawn


def assert_drawn_in_script_fonts(drawn: Fonts, script: Script, text: str) -> None:
    """The script's own font draws the text; any other font drawn with draws at most
    its spaces (which system-ui, ahead in the stack, has)."""
    assert any(drawn.get(family, 0) > 0 for family in script.fonts), (script.lang, drawn)
    others = sum(count for family, count in drawn.items() if family not in script.fonts)
    assert others <= text.count(" "), (script.lang, drawn)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000, f"{path} is not a PNG"


def title_font_family(scope: Locator) -> str:
    return str(scope.evaluate("el => getComputedStyle(el).fontFamily"))


@pytest.fixture
def script_campaign(live: LiveApp, tmp_path: Path, request: pytest.FixtureRequest) -> LiveApp:
    script: Script = request.param
    live.add_campaign(tmp_path / "scripts.toml", SAMPLE + script.toml())
    return live


@pytest.mark.parametrize(
    "script_campaign, script", [(s, s) for s in SCRIPTS], ids=[s.lang for s in SCRIPTS],
    indirect=["script_campaign"],
)  # fmt: skip
def test_campaign_page_draws_its_script_in_the_scripts_own_fonts(
    script_campaign: LiveApp, script: Script, page: Page
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{script_campaign.base}/{SLUG}?lang={script.lang}")
    expect(page.locator("html")).to_have_attribute("lang", script.lang)
    title = page.get_by_role("heading", name=script.title, level=1)
    expect(title).to_be_visible()
    page.evaluate("document.fonts.ready")
    # The language's stack is the one in force, not the default system-ui one.
    assert script.fonts[0] in title_font_family(title)
    assert_drawn_in_script_fonts(drawn_fonts(page, "h1"), script, script.title)
    summary = page.locator(".ua-summary-text")
    expect(summary).to_have_text(script.summary)
    assert_drawn_in_script_fonts(drawn_fonts(page, ".ua-summary-text"), script, script.summary)
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    if script.lang in SHOWN:
        shot = SHOTS / f"script-{script.lang}-360.png"
        page.screenshot(path=str(shot), caret="hide")
        assert_png(shot)


def test_urdu_is_set_in_nastaliq_with_lines_tall_enough_for_it(
    live: LiveApp, page: Page, tmp_path: Path
) -> None:
    urdu = BY_LANG["ur"]
    live.add_campaign(tmp_path / "urdu.toml", SAMPLE + urdu.toml())
    page.goto(f"{live.base}/{SLUG}?lang=ur")
    summary = page.locator(".ua-summary-text")
    expect(summary).to_have_text(urdu.summary)
    family = title_font_family(summary)
    assert family.startswith('"Noto Nastaliq Urdu"'), family
    # Nastaliq words slope down to the right: lines at 2.2 times the size keep the rows apart.
    sizes = summary.evaluate(
        "p => ({line: parseFloat(getComputedStyle(p).lineHeight),"
        " font: parseFloat(getComputedStyle(p).fontSize)})"
    )
    assert sizes["line"] >= 2 * sizes["font"], sizes


@pytest.mark.parametrize(
    "script_campaign, script", [(BY_LANG[lang], BY_LANG[lang]) for lang in ("hi", "zh-Hant", "ja")],
    ids=["hi", "zh-Hant", "ja"], indirect=["script_campaign"],
)  # fmt: skip
def test_widget_draws_its_script_in_the_scripts_own_fonts(
    script_campaign: LiveApp, script: Script, host_site: HostSite, page: Page
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    # The host page is in English: the widget's language and fonts are its own.
    page.goto(host_site.page(script_campaign.widget(lang=script.lang)))
    widget = page.locator("[data-urgentaction]")
    expect(widget.get_by_role("heading", name=script.title)).to_be_visible()
    expect(widget.locator("[part=root]")).to_have_attribute("lang", script.lang)
    page.evaluate("document.fonts.ready")
    host = "[data-urgentaction]"
    assert_drawn_in_script_fonts(drawn_fonts(page, "[part=title]", host), script, script.title)
    assert_drawn_in_script_fonts(drawn_fonts(page, "[part=summary]", host), script, script.summary)
    # The host page's own English text keeps the host's fonts.
    assert "Noto Sans CJK" not in str(page.evaluate("getComputedStyle(document.body).fontFamily"))
