# Text in many languages and scripts, on purpose.
# ruff: noqa: RUF001, RUF003
"""Every supporter in their own language: negotiation, fallbacks, plurals, mails, RTL.

Pages, JSON and mail are read as a supporter's browser or mailbox gets them:
through the test client, the real database and the real SMTP server.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction.campaigns import save
from flask_urgentaction.cjk_order import ORDER as HAN_ORDER
from flask_urgentaction.countries import HAN, country_choices, sort_key
from flask_urgentaction.i18n import (
    catalog,
    language_name,
    language_name_in,
    match,
    shipped_languages,
    text_direction,
    use_language,
)
from flask_urgentaction.models import Campaign, Subscriber
from flask_urgentaction.storage import get_session, get_storage
from flask_urgentaction.views.rendering import count_text, language_choices

from .conftest import CHALLENGE_TOKEN, Mailbox

SHIPPED = ["ar", "bs", "de", "es", "fr", "pt", "ru", "sq", "tr", "uk"]
SLUG = "example-mine-strike"
PAGE = f"/actions/{SLUG}"
API = f"/actions/api/campaigns/{SLUG}"
QUESTION = re.compile(r'<label for="challenge_answer">([^<]*)</label>')
CONFIRM_LINK = re.compile(r"http://actions\.test(/actions/confirm/[A-Za-z0-9_.\-]+)")
ENGLISH = {"Accept-Language": "en"}

GERMAN_TITLE = "Stellt die entlassenen Gewerkschafter wieder ein"


def add_campaign(slug: str, translations: dict[str, dict[str, str]], **extra: Any) -> Campaign:
    """A live campaign with one target, saved the way the CLI saves one."""
    definition = {
        "slug": slug,
        "status": "live",
        "targets": [{"name": "Example Mining Company", "email": "ceo@mining.example"}],
        "translations": translations,
        **extra,
    }
    campaign, _created = save(get_session(), definition)
    get_session().commit()
    return campaign


def every_language_campaign(slug: str = "everywhere") -> Campaign:
    return add_campaign(
        slug,
        {
            lang: {"title": f"Title {lang}", "message": f"Message {lang}"}
            for lang in ["en", *SHIPPED]
        },
    )


def page_challenge(html: str) -> tuple[str, str]:
    """(token, answer) from a rendered form in any language."""
    token = CHALLENGE_TOKEN.search(html)
    question = QUESTION.search(html)
    assert token and question, "no challenge in the page"
    number = re.search(r"\d{4}", question.group(1))
    assert number, question.group(1)
    return token.group(1), number.group(0)


def json_challenge(client: FlaskClient, slug: str = SLUG) -> tuple[str, str]:
    data = client.get(f"/actions/api/campaigns/{slug}").get_json()
    number = re.search(r"\d{4}", data["challenge"]["question"])
    assert number
    return data["challenge"]["token"], number.group(0)


def supporter(client: FlaskClient, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    """A valid JSON action body with a fresh challenge; ``fields`` override."""
    token, answer = json_challenge(client, slug)
    body: dict[str, Any] = {
        "name": "Ana Kovač", "email": "ana@example.org", "country": "BA", "opt_in": False,
        "lang": "en", "challenge_token": token, "challenge_answer": answer, "hp": "",
    }  # fmt: skip
    return body | fields


def form_fields(html: str, **fields: Any) -> dict[str, Any]:
    token, answer = page_challenge(html)
    data: dict[str, Any] = {
        "name": "Ana Kovač", "email": "ana@example.org", "country": "BA",
        "subject": "Stellt sie wieder ein", "message": "Stellt sie sofort wieder ein.",
        "challenge_token": token, "challenge_answer": answer, "hp": "",
    }  # fmt: skip
    return data | fields


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def html_tag(html: str) -> str:
    found = re.search(r"<html[^>]*>", html)
    assert found
    return found.group(0)


# --- Which language a page is in ---------------------------------------------


def test_lang_parameter_beats_accept_language(client: FlaskClient, campaign: Any) -> None:
    html = client.get(f"{PAGE}?lang=de", headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="de" dir="ltr">' in html
    assert f'<h1 dir="auto">{GERMAN_TITLE}</h1>' in html
    assert "Nachricht senden" in html


def test_accept_language_picks_the_best_offered_campaign_language(
    client: FlaskClient, campaign: Any
) -> None:
    # fr is wanted most but not offered; de-AT matches the campaign's de.
    headers = {"Accept-Language": "fr;q=0.9, en;q=0.5, de-AT;q=0.8"}
    html = client.get(PAGE, headers=headers).get_data(as_text=True)
    assert html_tag(html) == '<html lang="de" dir="ltr">'
    html = client.get(PAGE, headers={"Accept-Language": "de;q=0.4, en;q=0.6"}).get_data(
        as_text=True
    )
    assert html_tag(html) == '<html lang="en" dir="ltr">'


def test_without_any_match_the_campaigns_fallback_language_is_used(
    client: FlaskClient, campaign: Any
) -> None:
    html = client.get(PAGE, headers={"Accept-Language": "ja, ko;q=0.5"}).get_data(as_text=True)
    assert html_tag(html) == '<html lang="en" dir="ltr">'
    add_campaign("bez-engleskog", {"bs": {"title": "Vratite otpuštene"}, "de": {"title": "Zurück"}})
    html = client.get("/actions/bez-engleskog", headers={"Accept-Language": "ja"}).get_data(
        as_text=True
    )
    # Without English, the first translation given is the fallback.
    assert html_tag(html) == '<html lang="bs" dir="ltr">'
    assert "Pošaljite poruku" in html


def test_unknown_lang_parameter_falls_through_to_accept_language(
    client: FlaskClient, campaign: Any
) -> None:
    html = client.get(f"{PAGE}?lang=xx", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert html_tag(html) == '<html lang="de" dir="ltr">'


def test_match_handles_case_regions_and_primary_subtags() -> None:
    assert match("DE", ["en", "de"]) == "de"
    assert match("de-AT", ["en", "de"]) == "de"
    assert match("pt", ["en", "pt-BR"]) == "pt-BR"
    assert match("pt_br", ["en", "pt-BR"]) == "pt-BR"
    assert match("fr", ["en", "de"]) is None
    assert match("", ["en"]) is None


# Tags as our catalogs are named: zh_Hans/ is offered as "zh-Hans", fil/ as "fil".
OFFERED = ["en", "de", "pt", "he", "id", "fil", "nb", "sr", "sr-Latn", "zh-Hans", "zh-Hant"]


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        # Chinese: the script decides, read from the region where none is given.
        ("zh-CN", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"),
        ("zh-TW", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh-MO", "zh-Hant"),
        ("zh-Hant-HK", "zh-Hant"), ("zh_hant", "zh-Hant"),
        # Serbian: Cyrillic unless Latin is asked for (or the region writes Latin).
        ("sr-Latn-RS", "sr-Latn"), ("sr-Latn", "sr-Latn"), ("sr-ME", "sr-Latn"),
        ("sr", "sr"), ("sr-RS", "sr"), ("sr-Cyrl", "sr"), ("sr-Cyrl-BA", "sr"),
        # Regions of one written language.
        ("pt-BR", "pt"), ("pt-PT", "pt"), ("en-GB", "en"), ("en-US", "en"), ("de-CH", "de"),
        # Old and other codes CLDR knows: Hebrew, Indonesian, Filipino, Norwegian.
        ("iw", "he"), ("he-IL", "he"), ("in", "id"), ("tl", "fil"), ("tl-PH", "fil"),
        ("fil", "fil"), ("nb-NO", "nb"), ("no", "nb"), ("no-NO", "nb"),
        # Extensions and private use are not part of the language.
        ("de-DE-u-co-phonebk", "de"), ("x-klingon", None), ("*", None), ("", None),
        ("fr", None), ("ja", None),
    ],
)  # fmt: skip
def test_match_reads_scripts_regions_and_old_codes_as_cldr_does(
    wanted: str, chosen: str | None
) -> None:
    assert match(wanted, OFFERED) == chosen


def test_match_prefers_the_same_region_then_cldrs_nearest_one() -> None:
    assert match("pt-PT", ["pt-BR", "pt-PT"]) == "pt-PT"
    assert match("pt", ["pt-PT", "pt-BR"]) == "pt-BR"  # CLDR's likely region of pt
    assert match("pt-MZ", ["pt-BR", "pt-PT"]) == "pt-PT"  # CLDR: pt-MZ falls back to pt-PT
    assert match("zh-MO", ["zh-TW", "zh-HK"]) == "zh-HK"
    assert match("zh-Hant", ["zh-HK", "zh-TW"]) == "zh-TW"
    assert match("fil", ["en", "tl"]) == "tl"  # an older campaign tagged "tl"


def test_match_never_gives_another_script_for_an_explicit_one() -> None:
    # A reader of Traditional Chinese asked for it: no Simplified instead.
    assert match("zh-TW", ["en", "zh-Hans"]) is None
    assert match("sr-Latn", ["en", "sr"]) is None
    # A bare "zh" or "sr" says no script: the one offered will do.
    assert match("zh", ["en", "zh-Hant"]) == "zh-Hant"
    assert match("sr", ["en", "sr-Latn"]) == "sr-Latn"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant"),
        ("zh-CN,zh;q=0.9", "zh-Hans"),
        ("sr-Latn-RS,sr;q=0.8", "sr-Latn"),
        ("en;q=0.2, de", "de"),  # the order of the header is not its preference
        ("de;q=0.5, en-GB;q=0.9", "en"),
        ("fr;q=0.9, pt-BR;q=0.8, en;q=0.7", "pt"),
        ("de;q=0, iw", "he"),  # q=0 means "not this one"
        ("de;q=0", "en"),
        ("*", "en"),
    ],
)
@pytest.mark.parametrize(
    "app_config",
    [{"URGENTACTION_LANGUAGES": ["en", "de", "he", "pt", "sr", "sr-Latn", "zh-Hans", "zh-Hant"]}],
)
def test_accept_language_negotiates_the_page_language_over_http(
    client: FlaskClient, header: str, chosen: str
) -> None:
    html = client.get("/actions/", headers={"Accept-Language": header}).get_data(as_text=True)
    assert re.search(r'<html lang="([^"]+)"', html).group(1) == chosen  # type: ignore[union-attr]


def test_a_campaign_in_traditional_chinese_is_served_to_taiwan_and_hong_kong(
    client: FlaskClient,
) -> None:
    add_campaign("bagong", {"en": {"title": "Strike"}, "zh-Hant": {"title": "罷工"},
                            "zh-Hans": {"title": "罢工"}, "sr-Latn": {"title": "Štrajk"}},
                 )  # fmt: skip
    for header, lang, title in [
        ("zh-TW", "zh-Hant", "罷工"), ("zh-HK,en;q=0.5", "zh-Hant", "罷工"),
        ("zh-CN", "zh-Hans", "罢工"), ("sr-Latn-RS", "sr-Latn", "Štrajk"),
        ("sr-Cyrl", "en", "Strike"),
    ]:  # fmt: skip
        html = client.get("/actions/bagong", headers={"Accept-Language": header}).get_data(
            as_text=True
        )
        assert html_tag(html).startswith(f'<html lang="{lang}"'), header
        assert f'<h1 dir="auto">{title}</h1>' in html, header
    data = client.get("/actions/api/campaigns/bagong?lang=zh-TW").get_json()
    assert (data["lang"], data["title"]) == ("zh-Hant", "罷工")
    html = client.get("/actions/bagong?lang=zh-MO").get_data(as_text=True)
    assert html_tag(html).startswith('<html lang="zh-Hant"')


# --- The language picker ------------------------------------------------------


def test_language_picker_lists_the_campaigns_languages_in_their_own_names(
    client: FlaskClient,
) -> None:
    add_campaign(
        "rudari",
        {lang: {"title": f"Title {lang}"} for lang in ("en", "de", "sq", "bs", "uk", "ar")},
    )
    html = client.get("/actions/rudari?lang=sq").get_data(as_text=True)
    nav = html[html.index('<nav class="ua-languages"') : html.index("</nav>")]
    assert 'aria-label="Gjuha"' in nav
    links = re.findall(r'<a href="([^"]+)" hreflang="(\w+)" lang="(\w+)"([^>]*)>([^<]+)</a>', nav)
    assert [(href, name) for href, _h, _l, _attrs, name in links] == [
        ("?lang=en", "English"),
        ("?lang=de", "Deutsch"),
        ("?lang=sq", "Shqip"),
        ("?lang=bs", "Bosanski"),
        ("?lang=uk", "Українська"),
        ("?lang=ar", "العربية"),
    ]
    current = [name for _href, _h, _l, attrs, name in links if 'aria-current="true"' in attrs]
    assert current == ["Shqip"]


def test_index_picker_offers_every_shipped_language(client: FlaskClient) -> None:
    html = client.get("/actions/?lang=uk").get_data(as_text=True)
    assert html_tag(html) == '<html lang="uk" dir="ltr">'
    # More than a phone's row of links: a list to choose from.
    assert len(shipped_languages()) > 8
    options = re.findall(r'<option value="([^"]+)" lang="([^"]+)"', picker(html))
    assert sorted(code for code, _lang in options) == shipped_languages()
    assert all(code == lang for code, lang in options)
    assert '<option value="tr" lang="tr">Türkçe</option>' in html
    assert "Термінові акції" in html


@pytest.mark.parametrize("app_config", [{"URGENTACTION_LANGUAGES": ["en", "sq"]}])
def test_configured_languages_narrow_the_index_picker(client: FlaskClient) -> None:
    html = client.get("/actions/", headers={"Accept-Language": "sq"}).get_data(as_text=True)
    assert html_tag(html) == '<html lang="sq" dir="ltr">'
    assert re.findall(r'hreflang="(\w+)"', html) == ["en", "sq"]


def picker(html: str) -> str:
    start = html.index('<nav class="ua-languages"')
    return html[start : html.index("</nav>", start)]


TWELVE = ["en", "de", "fr", "es", "pt", "sq", "bs", "tr", "uk", "ru", "ar", "zh-Hant"]


@pytest.mark.parametrize("app_config", [{"URGENTACTION_LANGUAGES": TWELVE}])
def test_many_languages_are_a_list_to_choose_from_that_keeps_the_pages_arguments(
    client: FlaskClient,
) -> None:
    add_campaign("grev", {"en": {"title": "Strike"}, "sq": {"title": "Grevë"}},
                 countries=["AL"])  # fmt: skip
    html = client.get("/actions/?country=AL&lang=sq").get_data(as_text=True)
    nav = picker(html)
    assert 'aria-label="Gjuha"' in nav
    assert "<a " not in nav
    form = re.search(r"<form ([^>]*)>", nav)
    assert form and 'method="get"' in form.group(1) and "action=" not in form.group(1)
    # The list's filter is kept; the language comes from the list itself.
    assert re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', nav) == [
        ("country", "AL")
    ]
    assert '<label for="ua-language">Gjuha</label>' in nav
    assert '<select id="ua-language" name="lang">' in nav
    options = re.findall(
        r'<option value="([^"]+)" lang="([^"]+)"( selected)?>([^<]+)</option>', nav
    )
    assert [(value, lang) for value, lang, _s, _n in options] == [
        (code, code) for code, _n in language_choices(TWELVE)
    ]
    assert [name for _v, _l, selected, name in options if selected] == ["Shqip"]
    # One order for every page language: the names as their own readers write them,
    # Latin, then Cyrillic, Arabic and Han, as CLDR's root collation has them.
    assert [name for _v, _l, _s, name in options] == [
        "Bosanski", "Deutsch", "English", "Español", "Français", "Português", "Shqip",
        "Türkçe", "Русский", "Українська", "العربية", "中文 (繁體)",
    ]  # fmt: skip
    assert re.search(r'<button type="submit"[^>]*>Shfaq</button>', nav)
    # Submitting the form (a GET with the list's fields) gives the page in that language.
    chosen = client.get("/actions/", query_string={"country": "AL", "lang": "uk"})
    assert html_tag(chosen.get_data(as_text=True)) == '<html lang="uk" dir="ltr">'
    assert 'value="uk" lang="uk" selected' in chosen.get_data(as_text=True)


def test_a_campaign_in_many_languages_gets_the_list_too(client: FlaskClient) -> None:
    every_language_campaign()
    html = client.get("/actions/everywhere?lang=tr").get_data(as_text=True)
    nav = picker(html)
    assert '<select id="ua-language" name="lang">' in nav
    assert '<input type="hidden"' not in nav
    assert '<option value="tr" lang="tr" selected>Türkçe</option>' in nav
    # The campaign form's own hidden "lang" keeps its id: the picker's select is another.
    assert html.count('id="ua-language"') == 1


@pytest.mark.parametrize("app_config", [{"URGENTACTION_LANGUAGES": TWELVE}])
def test_the_dashboard_negotiates_its_language_the_same_way(app: Flask) -> None:
    app.extensions["urgentaction"].extension.organiser_check(lambda: "ana")
    client = app.test_client()
    html = client.get("/actions/manage/", headers={"Accept-Language": "zh-HK, en;q=0.5"})
    assert html_tag(html.get_data(as_text=True)).startswith('<html lang="zh-Hant"')
    html = client.get("/actions/manage/?lang=pt-BR", headers={"Accept-Language": "de"})
    assert html_tag(html.get_data(as_text=True)).startswith('<html lang="pt"')


def test_language_names_are_written_in_the_language_itself() -> None:
    assert [language_name(c) for c in ("de", "sq", "bs", "tr", "pt")] == [
        "Deutsch", "Shqip", "Bosanski", "Türkçe", "Português",
    ]  # fmt: skip
    # Georgian has no capital letters to start a name with; isiZulu keeps its own case.
    assert [language_name(c) for c in ("ka", "zu", "hy", "sr-Latn", "zh-Hant", "fil")] == [
        "ქართული", "isiZulu", "Հայերեն", "Srpski (latinica)", "中文 (繁體)", "Filipino",
    ]  # fmt: skip
    assert language_name_in("sq", "de") == "Albanisch"
    assert language_name_in("de", "fr") == "allemand"


# --- Fallbacks ----------------------------------------------------------------


def test_missing_campaign_field_falls_back_to_the_fallback_language_text(
    client: FlaskClient, campaign: Any
) -> None:
    # The sample's German translation has no body: the English one stands in.
    html = client.get(f"{PAGE}?lang=de").get_data(as_text=True)
    assert "Bergleute wurden entlassen" in html
    assert "The <strong>company</strong> sacked five miners." in html
    data = client.get(f"{API}?lang=de").get_json()
    assert data["title"] == GERMAN_TITLE
    assert "The <strong>company</strong> sacked five miners." in data["body_html"]


def test_an_empty_field_never_shows_as_empty(client: FlaskClient) -> None:
    add_campaign(
        "luecken",
        {"en": {"title": "Gaps", "summary": "An English summary", "message": "English message"},
         "de": {"title": "Lücken"}},
    )  # fmt: skip
    data = client.get("/actions/api/campaigns/luecken?lang=de").get_json()
    assert (data["title"], data["summary"], data["message"]) == (
        "Lücken", "An English summary", "English message",
    )  # fmt: skip


def test_campaign_language_without_a_catalog_gets_the_english_interface(
    client: FlaskClient,
) -> None:
    # Kazakh: a language with no catalog of ours.
    add_campaign("ereuil", {"en": {"title": "Strike"}, "kk": {"title": "Ереуіл"}})
    html = client.get("/actions/ereuil?lang=kk").get_data(as_text=True)
    assert html_tag(html) == '<html lang="kk" dir="ltr">'
    assert '<h1 dir="auto">Ереуіл</h1>' in html
    assert "Send the message" in html
    assert ">Қазақ тілі</a>" in html


# --- Plurals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "count", "text"),
    [
        ("en", 0, "0 messages sent"),
        ("en", 1, "1 message sent"),
        ("en", 2, "2 messages sent"),
        ("en", 1234, "1,234 messages sent"),
        ("de", 1, "1 Nachricht gesendet"),
        ("de", 1234, "1.234 Nachrichten gesendet"),
        ("fr", 0, "0 message envoyé"),
        ("fr", 1, "1 message envoyé"),
        ("fr", 2, "2 messages envoyés"),
        ("fr", 1_000_000, "1\u202f000\u202f000 de messages envoyés"),
        ("fr", 1_000_001, "1\u202f000\u202f001 messages envoyés"),
        ("es", 1_000_000, "1.000.000 de mensajes enviados"),
        ("pt", 0, "0 mensagem enviada"),
        ("pt", 3_000_000, "3.000.000 de mensagens enviadas"),
        ("ru", 1, "Отправлено 1 сообщение"),
        ("ru", 2, "Отправлено 2 сообщения"),
        ("ru", 5, "Отправлено 5 сообщений"),
        ("ru", 11, "Отправлено 11 сообщений"),
        ("ru", 12, "Отправлено 12 сообщений"),
        ("ru", 21, "Отправлено 21 сообщение"),
        ("ru", 22, "Отправлено 22 сообщения"),
        ("ru", 101, "Отправлено 101 сообщение"),
        ("ru", 111, "Отправлено 111 сообщений"),
        ("uk", 1, "Надіслано 1 повідомлення"),
        ("uk", 5, "Надіслано 5 повідомлень"),
        ("uk", 21, "Надіслано 21 повідомлення"),
        ("bs", 1, "1 poslana poruka"),
        ("bs", 3, "3 poslane poruke"),
        ("bs", 5, "5 poslanih poruka"),
        ("bs", 21, "21 poslana poruka"),
        ("bs", 14, "14 poslanih poruka"),
        ("tr", 1, "1 mesaj gönderildi"),
        ("tr", 7, "7 mesaj gönderildi"),
        ("ar", 0, "0 رسالة مُرسلة"),
        ("ar", 1, "1 رسالة مُرسلة"),
        ("ar", 2, "2 رسالتان مُرسلتان"),
        ("ar", 5, "5 رسائل مُرسلة"),
        ("ar", 11, "11 رسالة مُرسلة"),
        ("ar", 21, "21 رسالة مُرسلة"),
        ("ar", 101, "101 رسالة مُرسلة"),
        ("ar", 103, "103 رسائل مُرسلة"),
    ],
)
def test_counter_uses_the_languages_plural_rules(lang: str, count: int, text: str) -> None:
    # Only the catalogs are needed here, not the extension and its database.
    with Flask("plurals").app_context(), use_language(lang):
        assert count_text(count, lang) == text


def test_counter_in_the_json_and_on_the_page_follows_the_count(
    client: FlaskClient, campaign: Any
) -> None:
    assert client.get(f"{API}?lang=de").get_json()["count_text"] == "0 Nachrichten gesendet"
    first = client.post(f"{API}/actions", json=supporter(client, lang="de"))
    assert first.get_json()["count_text"] == "1 Nachricht gesendet"
    second = client.post(f"{API}/actions", json=supporter(client, lang="de", email="b@example.org"))
    assert second.get_json()["count_text"] == "2 Nachrichten gesendet"
    html = client.get(f"{PAGE}?lang=de").get_data(as_text=True)
    assert "2 Nachrichten gesendet" in html


# --- The language is kept: form, thank-you page, mails -----------------------


def test_german_form_keeps_german_through_the_post_the_thanks_and_the_confirmation_mail(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    page = client.get(f"{PAGE}?lang=de", headers=ENGLISH).get_data(as_text=True)
    assert '<input id="lang" name="lang" type="hidden" value="de">' in page
    data = form_fields(page, lang="de", opt_in="y")
    # Posted to the bare URL with an English browser: the form's language still wins.
    response = client.post(PAGE, data=data, headers=ENGLISH)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "lang=de" in location
    thanks = client.get(location, headers=ENGLISH).get_data(as_text=True)
    assert html_tag(thanks) == '<html lang="de" dir="ltr">'
    assert "<h1>Danke!</h1>" in thanks
    assert "Bitte schau in dein Postfach" in thanks
    assert "1 Nachricht gesendet" in thanks

    (confirm,) = mailbox.to("ana@example.org")
    assert confirm["Subject"] == "Bitte bestätigen: Benachrichtigungen zu Eilaktionen"
    text = text_of(confirm)
    assert text.startswith("Hallo Ana Kovač,")
    assert f"Danke, dass du mitgemacht hast: {GERMAN_TITLE}." in text
    assert '<html lang="de" dir="ltr">' in html_of(confirm)
    assert ">Benachrichtigungen bestätigen</a>" in html_of(confirm)
    (target,) = mailbox.to("ceo@mining.example")
    assert "Stellt sie sofort wieder ein." in text_of(target)


def test_an_invalid_german_post_comes_back_in_german(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    page = client.get(f"{PAGE}?lang=de").get_data(as_text=True)
    data = form_fields(page, lang="de", name="", email="not an address", challenge_answer="1")
    response = client.post(PAGE, data=data, headers=ENGLISH)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html_tag(html) == '<html lang="de" dir="ltr">'
    assert "Bitte überprüfe das Formular" in html
    assert "Dieses Feld ist erforderlich." in html
    assert "Bitte gib eine gültige E-Mail-Adresse ein." in html
    assert "Das ist nicht die angezeigte Zahl. Bitte beantworte die neue Spam-Prüfung." in html
    assert re.search(r'<label for="challenge_answer">Gib hier die Zahl \d{4} ein</label>', html)
    assert mailbox.messages == []


def test_subscribers_language_is_stored_and_alerts_go_out_in_it(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    for lang, email in (("de", "ana@example.org"), ("en", "ben@example.org")):
        body = supporter(client, lang=lang, email=email, opt_in=True)
        assert client.post(f"{API}/actions", json=body).status_code == 201
        (confirm,) = [m for m in mailbox.to(email) if "confirm" in text_of(m)]
        found = CONFIRM_LINK.search(text_of(confirm))
        assert found
        # The confirm page speaks the subscriber's language, whatever the browser says.
        ask = client.get(found.group(1)).get_data(as_text=True)
        assert html_tag(ask) == f'<html lang="{lang}" dir="ltr">'
        assert client.post(found.group(1)).status_code == 200
    with get_storage().sessions() as session:
        stored = {
            email: lang
            for email, lang in session.execute(select(Subscriber.email, Subscriber.lang))
        }
    assert stored == {"ana@example.org": "de", "ben@example.org": "en"}

    add_campaign(
        "zweite-aktion",
        {"en": {"title": "Free the strikers", "summary": "Arrested for striking."},
         "de": {"title": "Freiheit für die Streikenden", "summary": "Verhaftet wegen Streiks."}},
    )  # fmt: skip
    mailbox.received.clear()
    result = app.test_cli_runner().invoke(args=["urgentaction", "alert", "zweite-aktion"])
    assert result.exit_code == 0, result.output
    (german,) = mailbox.to("ana@example.org")
    assert german["Subject"] == "Eilaktion: Freiheit für die Streikenden"
    assert "Verhaftet wegen Streiks." in text_of(german)
    assert "Jetzt aktiv werden: http://actions.test/actions/zweite-aktion?lang=de" in text_of(
        german
    )
    assert "Abbestellen:" in text_of(german)
    (english,) = mailbox.to("ben@example.org")
    assert english["Subject"] == "Urgent action: Free the strikers"
    assert "Take action: http://actions.test/actions/zweite-aktion?lang=en" in text_of(english)


# --- Error texts and labels in the request's language ------------------------


def test_api_422_errors_are_in_the_requests_language(client: FlaskClient, campaign: Any) -> None:
    body = supporter(client, lang="de", name="", email="kein-at", challenge_answer="0")
    response = client.post(f"{API}/actions", json=body)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["name"] == ["Dieses Feld ist erforderlich."]
    assert errors["email"] == ["Bitte gib eine gültige E-Mail-Adresse ein."]
    assert errors["challenge"] == [
        "Das ist nicht die angezeigte Zahl. Bitte beantworte die neue Spam-Prüfung."
    ]
    # The fresh challenge that comes with the errors asks in German too.
    assert re.fullmatch(
        r"Gib hier die Zahl \d{4} ein", response.get_json()["challenge"]["question"]
    )
    long_name = supporter(client, lang="de", name="x" * 201)
    errors = client.post(f"{API}/actions", json=long_name).get_json()["errors"]
    assert errors["name"] == ["Bitte verwende höchstens 200 Zeichen."]
    wrong_type = supporter(client, lang="de", name=5, opt_in="yes")
    errors = client.post(f"{API}/actions", json=wrong_type).get_json()["errors"]
    assert errors == {"name": ["Muss Text sein."], "opt_in": ["Muss true oder false sein."]}


def test_api_errors_are_translated_in_every_shipped_language(client: FlaskClient) -> None:
    every_language_campaign()
    for lang in SHIPPED:
        translations = catalog(lang)
        body = supporter(client, "everywhere", lang=lang, name="", country="XX")
        response = client.post("/actions/api/campaigns/everywhere/actions", json=body)
        errors = response.get_json()["errors"]
        required = translations.gettext("This field is required.")
        assert required != "This field is required.", lang
        assert errors["name"] == [required], lang
        country = translations.gettext("Please choose a country from the list.")
        assert country != "Please choose a country from the list.", lang
        assert errors["country"] == [country], lang


def test_api_refusals_are_in_the_requests_language(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    missing = client.get("/actions/api/campaigns/no-such", headers={"Accept-Language": "de"})
    assert missing.status_code == 404
    assert missing.get_json() == {
        "error": "Diese Kampagne gibt es nicht, oder sie ist noch nicht öffentlich."
    }
    assert client.post(f"{API}/actions", json=supporter(client, lang="de")).status_code == 201
    again = client.post(f"{API}/actions", json=supporter(client, lang="de"))
    assert again.status_code == 409
    assert again.get_json()["error"] == "Du hast diese Nachricht schon gesendet. Danke!"
    not_json = client.post(
        f"{API}/actions", data="[]", content_type="application/json",
        headers={"Accept-Language": "de"},
    )  # fmt: skip
    assert not_json.status_code == 400
    assert not_json.get_json()["error"] == "Der Inhalt der Anfrage muss ein JSON-Objekt sein."
    campaign.status = "closed"
    get_session().commit()
    closed = client.post(f"{API}/actions", json={"lang": "de"})
    assert closed.status_code == 410
    assert (
        closed.get_json()["error"] == "Diese Kampagne ist beendet. Danke für deine Unterstützung."
    )


def test_html_error_pages_are_in_the_browsers_language(client: FlaskClient) -> None:
    response = client.get("/actions/no-such-campaign", headers={"Accept-Language": "fr"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert html_tag(html) == '<html lang="fr" dir="ltr">'
    assert "<h1>Introuvable</h1>" in html
    assert "Cette campagne n’existe pas ou n’est pas encore publique." in html


def test_campaign_json_labels_and_question_are_in_the_requested_language(
    client: FlaskClient, campaign: Any
) -> None:
    english = client.get(f"{API}?lang=en").get_json()
    german = client.get(f"{API}?lang=de").get_json()
    assert german["lang"] == "de"
    assert german["labels"]["name"] == "Dein Name"
    assert german["labels"]["submit"] == "Nachricht senden"
    assert german["labels"].keys() == english["labels"].keys()
    untranslated = [k for k, v in german["labels"].items() if v == english["labels"][k]]
    assert untranslated == []
    assert re.fullmatch(r"Gib hier die Zahl \d{4} ein", german["challenge"]["question"])
    assert ["AT", "Österreich"] in german["countries"]
    assert german["share"][0]["name"] == "E-Mail"


def test_campaign_json_labels_in_every_shipped_language(client: FlaskClient) -> None:
    every_language_campaign()
    english = client.get("/actions/api/campaigns/everywhere?lang=en").get_json()["labels"]
    for lang in SHIPPED:
        data = client.get(f"/actions/api/campaigns/everywhere?lang={lang}").get_json()
        translations = catalog(lang)
        assert (data["lang"], data["title"]) == (lang, f"Title {lang}")
        assert data["labels"]["submit"] == translations.gettext("Send the message"), lang
        # Every label differs from the English one: none was left untranslated.
        assert [k for k, v in data["labels"].items() if v == english[k]] == [], lang
        plural = translations.ngettext("%(num)s message sent", "%(num)s messages sent", 0)
        assert data["count_text"] == plural % {"num": "0"}, lang


# --- Right to left ------------------------------------------------------------


def test_arabic_pages_embed_and_json_say_rtl(client: FlaskClient) -> None:
    every_language_campaign()
    page = client.get("/actions/everywhere?lang=ar").get_data(as_text=True)
    assert html_tag(page) == '<html lang="ar" dir="rtl">'
    assert "إرسال الرسالة" in page
    embed = client.get("/actions/everywhere/embed?lang=ar").get_data(as_text=True)
    assert html_tag(embed) == '<html lang="ar" dir="rtl">'
    data = client.get("/actions/api/campaigns/everywhere?lang=ar").get_json()
    assert (data["lang"], data["dir"]) == ("ar", "rtl")
    assert client.get("/actions/api/campaigns/everywhere?lang=de").get_json()["dir"] == "ltr"
    index = client.get("/actions/?lang=ar").get_data(as_text=True)
    assert html_tag(index) == '<html lang="ar" dir="rtl">'


def test_text_direction_follows_the_script() -> None:
    assert [text_direction(c) for c in ("ar", "he", "fa", "de", "uk", "bs")] == [
        "rtl", "rtl", "rtl", "ltr", "ltr", "ltr",
    ]  # fmt: skip


# --- Countries ----------------------------------------------------------------


def names(lang: str) -> list[str]:
    return [name for _code, name in country_choices(lang)]


def in_order(listed: list[str], *expected: str) -> bool:
    positions = [listed.index(name) for name in expected]
    return positions == sorted(positions)


def test_country_names_are_in_the_page_language(client: FlaskClient, campaign: Any) -> None:
    html = client.get(f"{PAGE}?lang=de").get_data(as_text=True)
    assert '<option value="AT">Österreich</option>' in html
    assert '<option value="">Wähle dein Land</option>' in html
    html = client.get(PAGE).get_data(as_text=True)
    assert '<option value="AT">Austria</option>' in html


def test_german_sorts_umlauts_with_their_base_letter() -> None:
    german = names("de")
    assert in_order(german, "Afghanistan", "Ägypten", "Ålandinseln", "Albanien")
    assert in_order(german, "Oman", "Österreich", "Pakistan")


def test_cyrillic_letters_sort_in_the_alphabets_order() -> None:
    # Unicode puts є, і, ї after я; the collation puts them where Ukrainians expect.
    ukrainian = names("uk")
    assert in_order(ukrainian, "Ефіопія", "Єгипет", "Ємен", "Замбія", "Зімбабве", "Ізраїль")
    assert in_order(ukrainian, "Італія", "Йорданія", "Кабо-Верде", "Китай", "Кіпр", "Куба")
    assert in_order(names("ru"), "Эфиопия", "Южный Судан", "Ямайка", "Япония")


def test_turkish_letters_of_their_own_sort_after_their_base_letter() -> None:
    turkish = names("tr")
    assert in_order(turkish, "Cezayir", "Curaçao", "Çad", "Çekya", "Çin", "Danimarka")
    # Dotless ı comes before i, and the capital I belongs to ı.
    assert in_order(turkish, "Hollanda", "Irak", "İran", "İrlanda", "Jamaika")
    assert in_order(turkish, "Kenya", "Kıbrıs", "Kırgızistan", "Kiribati")
    assert in_order(turkish, "Guyana", "Güney Afrika", "Haiti")


def test_spanish_sorts_ch_within_c_and_n_tilde_after_n() -> None:
    spanish = names("es")
    assert in_order(spanish, "Canadá", "Chad", "Chequia", "Chile", "China", "Colombia", "Cuba")
    key = lambda word: sort_key(word, "es")  # noqa: E731
    assert key("nz") < key("ña") < key("o")
    assert key("Ñu") > key("nzz")


def test_bosnian_and_albanian_digraphs_are_letters_of_their_own() -> None:
    bosnian = names("bs")
    assert in_order(bosnian, "Crna Gora", "Čad", "Čile", "Danska")
    assert in_order(bosnian, "Dominikanska Republika", "Džibuti", "Egipat")
    assert in_order(bosnian, "Novi Zeland", "Njemačka", "Obala Slonovače")
    albanian = names("sq")
    assert in_order(albanian, "Butan", "Côte d’Ivoire", "Çad", "Danimarkë")
    assert in_order(albanian, "Suedi", "Svalbard e Jan-Majen", "Shqipëri", "Tajlandë", "Zvicër")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        # Letters of their own after their base letter.
        ("pl", ("Luksemburg", "Łotwa", "Macedonia Północna")),
        ("pl", ("Wyspy Owcze", "Wyspy Salomona", "Wyspy Świętego Tomasza i Książęca", "Zambia")),
        ("cs", ("Curaçao", "Čad", "Čína", "Dánsko")),
        ("cs", ("Honduras", "Hongkong – ZAO Číny", "Chile", "Chorvatsko", "Indie")),  # ch after h
        ("sk", ("Honduras", "Chorvátsko", "India")),
        ("sr-Latn", ("Crna Gora", "Čad", "Čile", "Danska", "Džibuti", "Egipat")),
        ("ro", ("Sudan", "Suedia", "Svalbard și Jan Mayen", "Tadjikistan")),
        ("ro", ("Tuvalu", "Țările de Jos", "Ucraina")),
        ("hu", ("Curaçao", "Csád", "Csehország", "Dánia")),  # cs after c
        ("hu", ("Norvégia", "Nyugat-Szahara", "Omán")),  # ny after n
        ("hu", ("Zambia", "Zimbabwe", "Zöld-foki Köztársaság")),
        # The Nordic letters come after z, each language in its own order.
        ("da", ("Zimbabwe", "Ækvatorialguinea", "Østrig", "Åland")),
        ("nb", ("Zimbabwe", "Øst-Timor", "Østerrike", "Åland")),
        ("sv", ("Zimbabwe", "Åland", "Österrike", "Östtimor")),
        ("fi", ("Vatikaani", "Venezuela", "Venäjä", "Vietnam", "Zimbabwe")),
        # Vietnamese: đ after d; "Ấn Độ" is â with a tone mark, after every a.
        ("vi", ("Dominica", "Đài Loan", "Đức", "Estonia")),
        ("vi", ("Azerbaijan", "Ấn Độ", "Ba Lan")),
    ],
)
def test_new_tailorings_order_country_names_as_their_readers_expect(
    lang: str, expected: tuple[str, ...]
) -> None:
    assert in_order(names(lang), *expected)


def test_persian_and_urdu_letters_sort_in_their_alphabets_order() -> None:
    persian = "آ ا ء ب پ ت ث ج چ ح خ د ذ ر ز ژ س ش ص ض ط ظ ع غ ف ق ک گ ل م ن و ه ی"
    assert sorted(reversed(persian.split()), key=lambda w: sort_key(w, "fa")) == persian.split()
    urdu = "ا ب پ ت ٹ ث ج چ ح خ د ڈ ذ ر ڑ ز ژ س ش ص ض ط ظ ع غ ف ق ک گ ل م ن ں و ہ ھ ء ی ے"
    assert sorted(reversed(urdu.split()), key=lambda w: sort_key(w, "ur")) == urdu.split()
    # Germany (آلمان) comes before Austria (اتریش) in Persian, as آ comes before ا.
    assert in_order(names("fa"), "آلمان", "اتریش")


def test_chinese_sorts_by_pinyin_and_traditional_chinese_by_stroke_count() -> None:
    # CLDR's default orders: pinyin for Simplified Chinese (ā, bā, xī, zhōng)...
    simplified = names("zh-Hans")
    assert in_order(simplified, "阿尔巴尼亚", "爱尔兰", "巴西", "德国", "日本", "中国")
    # 澳 ào before 香 xiāng.
    assert in_order(simplified, "中国", "中国澳门特别行政区", "中国香港特别行政区")
    # ...and the number of strokes for Traditional Chinese: 土 3, 中 4, 巴 4, 日 4,
    # 台 5, 美 9, 德 15 (of equal count, CLDR's stroke order: 中 before 巴).
    traditional = names("zh-Hant")
    assert in_order(traditional, "土耳其", "中國", "巴西", "日本", "台灣", "美國", "德國")
    assert names("zh-TW") == traditional


def test_japanese_sorts_kana_names_by_the_syllabary_then_kanji_by_cldr() -> None:
    japanese = names("ja")
    # Kana in gojūon order, the length mark as the vowel it lengthens (スー is スウ).
    assert in_order(japanese, "アイスランド", "イギリス", "ウガンダ", "エジプト", "オマーン")
    assert in_order(japanese, "カナダ", "サモア", "タイ", "ナウル", "ハイチ", "マリ", "ヨルダン")
    assert in_order(japanese, "スイス", "スウェーデン", "スーダン", "スペイン")
    assert in_order(japanese, "フィジー", "ブータン", "プエルトリコ", "フランス")
    # Every kana name before the kanji ones, those in CLDR's order (by their reading:
    # 英 ei, 韓 kan, 中 chū, 日 nichi, 北 hoku).
    first_kanji = japanese.index("英領インド洋地域")
    assert all(not HAN.search(name[0]) for name in japanese[:first_kanji])
    assert all(HAN.match(name) for name in japanese[first_kanji:])
    assert in_order(japanese, "ロシア", "英領インド洋地域", "韓国", "中国", "日本", "北朝鮮")


def test_a_han_character_missing_from_the_table_sorts_after_those_in_it() -> None:
    # 龍 occurs in no country name: it falls back to DUCET, after every listed character.
    key = lambda word: sort_key(word, "zh-Hans")  # noqa: E731
    assert key("中国") < key("龍") and key("日本") < key("龍")
    assert key("ロシア") < key("中国")


@pytest.mark.parametrize(
    ("lang", "table"),
    [("zh-Hans", "zh-Hans"), ("zh-Hant", "zh-Hant"), ("zh-Hant-HK", "zh-Hant"), ("ja", "ja")],
)
def test_every_han_character_of_the_country_names_has_its_cldr_rank(lang: str, table: str) -> None:
    missing = {c for _code, name in country_choices(lang) for c in name if HAN.fullmatch(c)}
    missing -= set(HAN_ORDER[table])
    assert not missing, f"run scripts/cjk-collation.py: no CLDR rank for {''.join(missing)}"


def test_tailoring_rules_tell_letters_accents_and_marks_apart() -> None:
    key = lambda word, lang: sort_key(word, lang)  # noqa: E731
    # Finnish: w is v with an accent-level difference, not a letter after v.
    assert key("va", "fi") < key("wb", "fi") < key("vc", "fi")
    # Hungarian: ő is ö with an accent, both after o; dzs after every dz.
    assert key("oz", "hu") < key("öa", "hu") < key("őa", "hu") < key("öb", "hu") < key("p", "hu")
    assert key("dzz", "hu") < key("dzsa", "hu") < key("e", "hu")
    # Romanian: ş (cedilla) and ș (comma) are one letter.
    assert key("şa", "ro") < key("șb", "ro") < key("şc", "ro")
    # Vietnamese: ộ (ô with a dot below) is ô, after every o.
    assert key("oz", "vi") < key("ộa", "vi") < key("ôb", "vi") < key("ơa", "vi") < key("p", "vi")
    # Filipino: ng is a letter after ñ.
    assert key("nz", "fil") < key("ña", "fil") < key("nga", "fil") < key("o", "fil")


def test_every_language_lists_the_same_countries() -> None:
    codes = {code for code, _name in country_choices("en")}
    assert "XK" in codes and "EU" not in codes and "ZZ" not in codes
    for lang in SHIPPED:
        assert {code for code, _name in country_choices(lang)} == codes


# --- A message fixed in one language ------------------------------------------


@pytest.fixture
def albanian_message(app: Flask) -> Campaign:
    return add_campaign(
        "minatoret",
        {
            "en": {"title": "Reinstate the miners", "subject": "Reinstate them",
                   "message": "Reinstate the sacked miners."},
            "de": {"title": "Stellt die Bergleute wieder ein", "subject": "Stellt sie ein",
                   "message": "Stellt die entlassenen Bergleute wieder ein."},
            "sq": {"title": "Riktheni minatorët", "subject": "Rikthejini në punë",
                   "message": "Rikthejini në punë minatorët e pushuar."},
            "fr": {"title": "Réintégrez les mineurs"},
            "ar": {"title": "أعيدوا عمال المناجم", "message": "أعيدوا عمال المناجم المفصولين."},
        },
        message_lang="sq",
    )  # fmt: skip


def test_fixed_message_language_shows_that_message_with_a_translation_beside_it(
    client: FlaskClient, albanian_message: Campaign
) -> None:
    html = client.get("/actions/minatoret?lang=de").get_data(as_text=True)
    assert html_tag(html) == '<html lang="de" dir="ltr">'
    note = "Die Nachricht wird auf Albanisch gesendet."
    assert f'<p class="ua-help" id="message-help">{note}</p>' in html
    assert 'name="subject" type="text" value="Rikthejini në punë"' in html
    sent = re.search(r'<textarea ([^>]*)name="message"[^>]*>\s*([^<]*)</textarea>', html)
    assert sent
    assert sent.group(2) == "Rikthejini në punë minatorët e pushuar."
    assert 'lang="sq"' in sent.group(1) and 'aria-describedby="message-help"' in sent.group(1)
    box = re.search(r'<textarea id="ua-message-translation"([^>]*)>([^<]*)</textarea>', html)
    assert box
    assert box.group(2) == "Stellt die entlassenen Bergleute wieder ein."
    assert " readonly" in box.group(1) and 'lang="de"' in box.group(1)
    assert "name=" not in box.group(1)  # never submitted
    assert '<label for="ua-message-translation">Übersetzung zum Verständnis</label>' in html


def test_no_translation_box_when_the_page_is_in_the_message_language(
    client: FlaskClient, albanian_message: Campaign
) -> None:
    html = client.get("/actions/minatoret?lang=sq").get_data(as_text=True)
    assert "ua-message-translation" not in html
    assert 'id="message-help"' not in html
    assert "Rikthejini në punë minatorët e pushuar." in html


def test_translation_box_falls_back_and_keeps_its_own_direction(
    client: FlaskClient, albanian_message: Campaign
) -> None:
    # French has no message of its own: the fallback's (English) stands in, marked as English.
    html = client.get("/actions/minatoret?lang=fr").get_data(as_text=True)
    assert "Le message est envoyé en albanais." in html
    box = re.search(r'<textarea id="ua-message-translation"([^>]*)>([^<]*)</textarea>', html)
    assert box and box.group(2) == "Reinstate the sacked miners."
    assert 'lang="en" dir="ltr"' in box.group(1)
    html = client.get("/actions/minatoret?lang=ar").get_data(as_text=True)
    assert html_tag(html) == '<html lang="ar" dir="rtl">'
    assert "لغة الرسالة: الألبانية." in html
    box = re.search(r'<textarea id="ua-message-translation"([^>]*)>([^<]*)</textarea>', html)
    assert box and 'lang="ar" dir="rtl"' in box.group(1)


def test_fixed_message_language_reaches_the_targets_and_the_json(
    client: FlaskClient, albanian_message: Campaign, mailbox: Mailbox
) -> None:
    page = client.get("/actions/minatoret?lang=de").get_data(as_text=True)
    token, answer = page_challenge(page)
    data = {
        "name": "Ana Kovač", "email": "ana@example.org", "country": "BA", "lang": "de",
        "subject": "Rikthejini në punë", "message": "Rikthejini në punë minatorët e pushuar.",
        "challenge_token": token, "challenge_answer": answer, "hp": "", "opt_in": "y",
    }  # fmt: skip
    assert client.post("/actions/minatoret", data=data).status_code == 303
    (target,) = mailbox.to("ceo@mining.example")
    assert target["Subject"] == "Rikthejini në punë"
    assert "Rikthejini në punë minatorët e pushuar." in text_of(target)
    (confirm,) = mailbox.to("ana@example.org")
    assert confirm["Subject"] == "Bitte bestätigen: Benachrichtigungen zu Eilaktionen"
    json = client.get("/actions/api/campaigns/minatoret?lang=de").get_json()
    assert (json["lang"], json["message_lang"]) == ("de", "sq")
    assert json["message"] == "Rikthejini në punë minatorët e pushuar."
    assert json["title"] == "Stellt die Bergleute wieder ein"


def test_campaign_text_that_falls_back_to_another_language_sets_its_own_direction(
    client: FlaskClient,
) -> None:
    # Arabic has only a title: the English summary and body shown on the Arabic
    # page must not be laid out right-to-left (".The company sacked", stop in front).
    add_campaign(
        "fallback-dir",
        {"en": {"title": "Strike", "summary": "Miners struck.", "body": "The company."},
         "ar": {"title": "إضراب"}},
    )  # fmt: skip
    page = client.get("/actions/fallback-dir?lang=ar").get_data(as_text=True)
    assert html_tag(page) == '<html lang="ar" dir="rtl">'
    assert '<p class="ua-summary-text" dir="auto">Miners struck.</p>' in page
    assert '<div class="ua-body" dir="auto"><p>The company.</p>' in page
