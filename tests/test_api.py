"""The JSON API through the real app: the campaign answer and every action status."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.challenge import read
from flask_urgentaction.i18n import catalog, shipped_languages
from flask_urgentaction.models import Action, Campaign
from flask_urgentaction.storage import get_session
from flask_urgentaction.tokens import Purpose

from .conftest import SAMPLE, Mailbox, action_body, api_challenge

SLUG = "example-mine-strike"
URL = f"/actions/api/campaigns/{SLUG}"
ACTIONS = f"{URL}/actions"
TARGETS = ["ceo@mining.example", "minister@labour.example"]
WIDGET_SOURCE = Path(__file__).parent.parent / "widget" / "src" / "widget.js"

CONTRACT_KEYS = {
    "slug", "lang", "languages", "status", "title", "summary", "body_html", "partner",
    "targets", "subject", "message", "count", "goal", "privacy_url", "challenge", "labels",
}  # fmt: skip
WIDGET_KEYS = {"dir", "url", "count_text", "countries", "share", "message_lang"}
CONTRACT_LABELS = {"name", "email", "union", "country", "message", "opt_in", "submit"}
WIDGET_LABELS = {
    "union_help", "country_choose", "subject", "sending", "privacy", "read_more",
    "thanks_title", "thanks_text", "opt_in_pending", "share", "required", "error_generic",
    "error_offline", "error_closed", "error_origin", "error_duplicate", "error_rate_limited",
}  # fmt: skip


def campaign_variant(slug: str, status: str = "live", extra: str = "") -> str:
    """The sample campaign under another slug/status, with extra top-level keys."""
    head = 'slug = "example-mine-strike"\nstatus = "live"\n'
    assert head in SAMPLE
    return SAMPLE.replace(head, f'slug = "{slug}"\nstatus = "{status}"\n{extra}\n')


def load_campaign(tmp_path: Path, text: str) -> Campaign:
    path = tmp_path / f"variant-{secrets.token_hex(4)}.toml"
    path.write_text(text, encoding="utf-8")
    ((loaded, _created),) = load_files(get_session(), [path])
    return loaded


def stored_actions() -> list[Action]:
    return list(get_session().scalars(select(Action).order_by(Action.id)))


def action_count() -> int:
    return int(get_session().scalar(select(func.count()).select_from(Action)) or 0)


def translated(lang: str, english: str) -> str:
    """What our catalog makes of ``english`` in ``lang`` (English without a catalog)."""
    return str(catalog(lang).gettext(english)) if lang in shipped_languages() else english


def plain_body(message: Any) -> str:
    # SMTP carries CRLF line ends; compare with the text as typed.
    return str(message.get_body(("plain",)).get_content()).replace("\r\n", "\n")


def assert_fresh_challenge(body: dict[str, Any], used_token: str) -> None:
    fresh = body["challenge"]
    assert fresh["token"] != used_token
    issued = read(fresh["token"])
    assert issued is not None
    assert re.search(rf"(?<!\d){issued.number}(?!\d)", fresh["question"])


def assert_json_error(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert isinstance(body, dict)
    return body


# --- GET /api/campaigns/<slug> ---------------------------------------------------


def test_campaign_json_has_every_contract_and_widget_key(
    client: FlaskClient, campaign: Campaign
) -> None:
    response = client.get(f"{URL}?lang=de")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= CONTRACT_KEYS | WIDGET_KEYS
    assert set(body["labels"]) >= CONTRACT_LABELS | WIDGET_LABELS
    assert all(isinstance(v, str) and v.strip() for v in body["labels"].values())


def widget_typedef(name: str) -> set[str]:
    """The keys of the JSDoc ``@typedef {object} <name>`` in the widget source.

    ``npm run typecheck`` (tsc --checkJs, strict) holds the widget to reading only
    the keys its types declare; the tests hold the server to serving them.
    """
    lines = WIDGET_SOURCE.read_text(encoding="utf-8").splitlines()
    start = lines.index(f" * @typedef {{object}} {name}")
    keys = set()
    for line in lines[start + 1 :]:
        declared = re.match(r"\s*\* @property \{[^}]*\} \[?(\w+)", line)
        if declared is None:
            break
        keys.add(declared.group(1))
    return keys


def test_campaign_json_serves_every_key_the_widget_source_reads(
    client: FlaskClient, campaign: Campaign
) -> None:
    campaign_keys = widget_typedef("Campaign")
    label_keys = widget_typedef("FormLabels")
    # Guard against a rename in the widget that would make this test vacuous.
    assert len(label_keys) >= 15 and len(campaign_keys) >= 15, "widget source changed shape"
    assert {"count_text", "challenge", "labels"} <= campaign_keys
    assert {"error_duplicate", "error_rate_limited", "personal_help"} <= label_keys
    body = client.get(URL).get_json()
    assert label_keys <= set(body["labels"])
    # Those two only in a dashboard preview (tests/test_manage_widget_preview.py).
    assert campaign_keys - {"preview", "preview_text"} <= set(body)


def test_campaign_json_in_german(client: FlaskClient, campaign: Campaign) -> None:
    body = client.get(f"{URL}?lang=de").get_json()
    assert body["slug"] == SLUG
    assert body["lang"] == "de"
    assert body["dir"] == "ltr"
    assert body["languages"] == ["en", "de"]
    assert body["status"] == "live"
    assert body["title"] == "Stellt die entlassenen Gewerkschafter wieder ein"
    assert body["summary"].startswith("Bergleute wurden entlassen")
    assert body["subject"] == "Stellt die Gewerkschafter wieder ein"
    assert body["message"] == "Stellt die entlassenen Gewerkschafter wieder ein."
    assert body["message_lang"] == "de"
    # The German text has no body: the fallback's body is shown, rendered.
    assert "<strong>company</strong>" in body["body_html"]
    assert "<li>a list item</li>" in body["body_html"]
    assert body["partner"] == "Example Mineworkers' Union"
    assert body["targets"] == [{"name": "Example Mining Company"}, {"name": "Ministry of Labour"}]
    assert body["count"] == 0
    assert "0" in body["count_text"]
    assert body["goal"] == 5000
    assert body["privacy_url"] == "https://example.org/privacy"
    assert body["url"] == f"http://actions.test/actions/{SLUG}?lang=de"
    assert ["DE", "Deutschland"] in body["countries"]
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code, _name in body["countries"])
    assert body["share"] and all(set(link) == {"name", "url"} for link in body["share"])
    assert any("actions.test" in link["url"] for link in body["share"])
    assert body["labels"]["submit"] == translated("de", "Send the message")
    assert body["labels"]["name"] == translated("de", "Your name")


def test_campaign_json_never_reveals_target_addresses(
    client: FlaskClient, campaign: Campaign
) -> None:
    text = client.get(URL).get_data(as_text=True)
    assert not any(address in text for address in TARGETS)


def test_challenge_question_shows_the_token_number_as_digits(
    client: FlaskClient, campaign: Campaign
) -> None:
    challenge = client.get(f"{URL}?lang=de").get_json()["challenge"]
    issued = read(challenge["token"])
    assert issued is not None
    assert re.fullmatch(r"[0-9]{4}", issued.number)
    assert re.search(rf"(?<!\d){issued.number}(?!\d)", challenge["question"])


def test_every_campaign_answer_issues_a_new_challenge(
    client: FlaskClient, campaign: Campaign
) -> None:
    first = client.get(URL).get_json()["challenge"]["token"]
    second = client.get(URL).get_json()["challenge"]["token"]
    assert first != second


@pytest.mark.parametrize(
    ("query", "accept_language", "expected"),
    [
        ("?lang=de", "", "de"),
        ("?lang=de-AT", "", "de"),
        ("?lang=xx", "", "en"),
        ("?lang=fr", "", "en"),
        ("?lang=fr", "de-CH, de;q=0.9", "de"),
        ("", "de-CH, de;q=0.9, en;q=0.5", "de"),
        ("", "fr, de;q=0.3", "de"),
        ("", "fr", "en"),
        ("?lang=en", "de", "en"),
    ],
)
def test_campaign_language_from_query_then_accept_language_then_fallback(
    client: FlaskClient, campaign: Campaign, query: str, accept_language: str, expected: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    body = client.get(f"{URL}{query}", headers=headers).get_json()
    assert body["lang"] == expected
    titles = {
        "en": "Reinstate the sacked union leaders",
        "de": "Stellt die entlassenen Gewerkschafter wieder ein",
    }
    assert body["title"] == titles[expected]


def test_campaign_json_is_not_cached(client: FlaskClient, campaign: Campaign) -> None:
    response = client.get(URL)
    assert response.headers["Cache-Control"] == "no-store"


def test_campaign_json_counts_actions(client: FlaskClient, campaign: Campaign) -> None:
    assert client.post(ACTIONS, json=action_body(client)).status_code == 201
    body = client.get(URL).get_json()
    assert body["count"] == 1
    assert "1" in body["count_text"]


@pytest.mark.parametrize("host_settings", [True, False])
def test_campaign_json_is_one_object_with_the_host_apps_json_settings(
    app: Flask, client: FlaskClient, campaign: Campaign, host_settings: bool
) -> None:
    # The members kept with the snapshot are encoded once and joined with the
    # count and the challenge: one valid object, whatever the host app's encoder does.
    app.json.sort_keys = host_settings  # type: ignore[attr-defined]
    app.json.ensure_ascii = host_settings  # type: ignore[attr-defined]
    first = client.get(URL)
    assert first.mimetype == "application/json"
    assert first.get_json()["count"] == 0
    assert client.post(ACTIONS, json=action_body(client)).status_code == 201
    text = client.get(URL).get_data(as_text=True)
    body = json.loads(text)
    assert body["count"] == 1
    assert body["title"] and body["countries"] and body["labels"]
    assert read(body["challenge"]["token"]) is not None
    assert body["challenge"]["token"] != first.get_json()["challenge"]["token"]
    assert text.count('"count":') == 1 and text.count('"title":') == 1


def test_right_to_left_language_gets_rtl_dir(client: FlaskClient, tmp_path: Path) -> None:
    text = campaign_variant("rtl-campaign") + '\n[translations.ar]\ntitle = "أعيدوا النقابيين"\n'
    load_campaign(tmp_path, text)
    body = client.get("/actions/api/campaigns/rtl-campaign?lang=ar").get_json()
    assert body["lang"] == "ar"
    assert body["dir"] == "rtl"
    assert body["title"] == "أعيدوا النقابيين"


def test_fixed_message_language_keeps_the_message_in_it(
    client: FlaskClient, campaign: Campaign, tmp_path: Path, mailbox: Mailbox
) -> None:
    load_campaign(tmp_path, campaign_variant("fixed-message", extra='message_lang = "en"'))
    url = "/actions/api/campaigns/fixed-message"
    body = client.get(f"{url}?lang=de").get_json()
    assert body["title"] == "Stellt die entlassenen Gewerkschafter wieder ein"
    assert body["message_lang"] == "en"
    assert body["subject"] == "Reinstate the union leaders now"
    token, answer = api_challenge(client, "fixed-message")
    sent = action_body(client, lang="de", challenge_token=token, challenge_answer=answer)
    assert client.post(f"{url}/actions", json=sent).status_code == 201
    (action,) = stored_actions()
    assert action.lang == "de"
    assert action.subject == "Reinstate the union leaders now"
    assert mailbox.messages[0]["Subject"] == "Reinstate the union leaders now"


def test_closed_campaign_is_still_shown(client: FlaskClient, tmp_path: Path) -> None:
    load_campaign(tmp_path, campaign_variant("closed-one", status="closed"))
    response = client.get("/actions/api/campaigns/closed-one")
    assert response.status_code == 200
    assert response.get_json()["status"] == "closed"


@pytest.mark.parametrize("slug", ["no-such-campaign", "draft-one"])
def test_unknown_or_draft_campaign_is_404_with_an_error(
    client: FlaskClient, tmp_path: Path, slug: str
) -> None:
    load_campaign(tmp_path, campaign_variant("draft-one", status="draft"))
    for response in (
        client.get(f"/actions/api/campaigns/{slug}"),
        client.post(f"/actions/api/campaigns/{slug}/actions", json={"name": "x"}),
    ):
        body = assert_json_error(response, 404)
        assert set(body) == {"error"}
        assert body["error"] == "There is no such campaign, or it is not public yet."


def test_404_error_text_is_in_the_request_language(client: FlaskClient, campaign: Campaign) -> None:
    english = "There is no such campaign, or it is not public yet."
    expected = translated("de", english)
    response = client.get("/actions/api/campaigns/nothing?lang=de")
    assert assert_json_error(response, 404)["error"] == expected
    response = client.post(
        "/actions/api/campaigns/nothing/actions", json={}, headers={"Accept-Language": "de"}
    )
    assert assert_json_error(response, 404)["error"] == expected


# --- POST /api/campaigns/<slug>/actions: 201 ------------------------------------------


def test_action_is_stored_and_mailed_to_every_target(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    response = client.post(ACTIONS, json=action_body(client))
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["count"] == 1
    assert body["opt_in_pending"] is False
    assert set(body) == {"status", "count", "count_text", "opt_in_pending"}
    # One message to each target, each in an envelope of its own.
    assert sorted(rcpt for rcpts, _m in mailbox.received for rcpt in rcpts) == TARGETS
    assert [len(rcpts) for rcpts, _m in mailbox.received] == [1, 1]
    for _rcpt, message in mailbox.received:
        assert message["Reply-To"] == "Ana Kovač <ana@example.org>"
    (action,) = stored_actions()
    assert (action.name, action.email, action.union, action.country) == (
        "Ana Kovač", "ana@example.org", "SSM", "BA",
    )  # fmt: skip
    assert action.opt_in is False


def test_count_in_the_answer_grows_with_each_action(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    first = client.post(ACTIONS, json=action_body(client)).get_json()
    second = client.post(ACTIONS, json=action_body(client, email="bo@example.org")).get_json()
    assert (first["count"], second["count"]) == (1, 2)
    assert len(mailbox.to(TARGETS[0])) == 2


def test_opt_in_sends_a_confirmation_and_says_it_is_pending(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    response = client.post(ACTIONS, json=action_body(client, opt_in=True))
    assert response.status_code == 201
    assert response.get_json()["opt_in_pending"] is True
    assert len(mailbox.to("ana@example.org")) == 1
    assert len(mailbox.to("ceo@mining.example")) == 1
    assert stored_actions()[0].opt_in is True


@pytest.mark.parametrize(
    ("lang", "subject", "message"),
    [
        ("en", "Reinstate the union leaders now",
         "Reinstate the sacked union leaders of the Example mine."),
        ("de", "Stellt die Gewerkschafter wieder ein",
         "Stellt die entlassenen Gewerkschafter wieder ein."),
    ],
)  # fmt: skip
def test_omitted_subject_and_message_default_to_the_campaigns(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox, lang: str, subject: str, message: str
) -> None:
    sent = action_body(client, lang=lang)
    assert "subject" not in sent and "message" not in sent
    assert client.post(ACTIONS, json=sent).status_code == 201
    (action,) = stored_actions()
    assert (action.lang, action.subject, action.message) == (lang, subject, message)
    (mail,) = mailbox.to(TARGETS[0])
    assert mail["Subject"] == subject
    assert message in plain_body(mail)


def test_given_subject_and_message_are_sent(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    sent = action_body(client, subject="My own subject", message="My own words.\nSecond line.")
    assert client.post(ACTIONS, json=sent).status_code == 201
    (mail,) = mailbox.to(TARGETS[0])
    assert mail["Subject"] == "My own subject"
    assert "My own words.\nSecond line." in plain_body(mail)


def test_partner_tag_and_origin_are_stored_with_the_action(
    client: FlaskClient, campaign: Campaign
) -> None:
    sent = action_body(client, partner="ssm-website")
    response = client.post(ACTIONS, json=sent, headers={"Origin": "https://union.example"})
    assert response.status_code == 201
    (action,) = stored_actions()
    assert action.source_origin == "https://union.example"
    assert action.partner_tag == "ssm-website"


def test_action_without_origin_stores_no_origin(client: FlaskClient, campaign: Campaign) -> None:
    assert client.post(ACTIONS, json=action_body(client)).status_code == 201
    (action,) = stored_actions()
    assert (action.source_origin, action.partner_tag) == ("", "")


# --- 400 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("[1, 2]", "application/json"),
        ('"a string"', "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
        ('{"name": "Ana"', "application/json"),
        ("", "application/json"),
        (None, None),
        ('{"name": "Ana"}', "text/plain"),
        ("name=Ana", "application/x-www-form-urlencoded"),
    ],
    ids=["array", "string", "number", "null", "invalid", "empty", "no-body", "text", "form"],
)
def test_body_that_is_not_a_json_object_is_400(
    client: FlaskClient,
    campaign: Campaign,
    mailbox: Mailbox,
    data: str | None,
    content_type: str | None,
) -> None:
    response = client.post(ACTIONS, data=data, content_type=content_type)
    body = assert_json_error(response, 400)
    assert set(body) == {"error"} and body["error"]
    assert action_count() == 0
    assert mailbox.messages == []


# --- 403 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_ALLOWED_ORIGINS": ["https://union.example"]}]
)
def test_disallowed_origin_is_403_and_nothing_is_stored(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    response = client.post(
        ACTIONS, json=action_body(client), headers={"Origin": "https://evil.example"}
    )
    body = assert_json_error(response, 403)
    assert set(body) == {"error"}
    assert not [h for h, _v in response.headers if h.lower().startswith("access-control-")]
    assert action_count() == 0
    assert mailbox.messages == []


# --- 409 ---------------------------------------------------------------------------


def test_same_email_again_is_409_with_count_and_no_second_mail(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    assert client.post(ACTIONS, json=action_body(client)).status_code == 201
    response = client.post(ACTIONS, json=action_body(client, email="  ANA@Example.ORG "))
    body = assert_json_error(response, 409)
    assert set(body) == {"error", "count"}
    assert body["count"] == 1
    assert body["error"]
    assert action_count() == 1
    assert len(mailbox.messages) == len(TARGETS)


# --- 410 ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "de"])
def test_closed_campaign_is_410_in_the_request_language(
    client: FlaskClient, campaign: Campaign, tmp_path: Path, mailbox: Mailbox, lang: str
) -> None:
    load_campaign(tmp_path, campaign_variant("closed-one", status="closed"))
    sent = action_body(client, lang=lang)
    response = client.post("/actions/api/campaigns/closed-one/actions", json=sent)
    body = assert_json_error(response, 410)
    english = "This campaign is closed. Thank you for your support."
    assert body == {"error": translated(lang, english)}
    assert action_count() == 0
    assert mailbox.messages == []


# --- 422: fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"name": 123}, "name"),
        ({"name": ["Ana"]}, "name"),
        ({"email": None}, "email"),
        ({"email": {"address": "ana@example.org"}}, "email"),
        ({"union": ["SSM"]}, "union"),
        ({"country": {"code": "BA"}}, "country"),
        ({"subject": 1.5}, "subject"),
        ({"message": ["a", "b"]}, "message"),
        ({"opt_in": "yes"}, "opt_in"),
        ({"opt_in": 1}, "opt_in"),
        ({"opt_in": []}, "opt_in"),
        ({"lang": 7}, "lang"),
        ({"hp": False}, "hp"),
        ({"partner": {}}, "partner"),
        ({"challenge_answer": 1234}, "challenge"),
        ({"challenge_token": None, "challenge_answer": None}, "challenge"),
    ],
)
def test_field_of_the_wrong_type_is_422_not_500(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox, fields: dict[str, Any], key: str
) -> None:
    response = client.post(ACTIONS, json=action_body(client, **fields))
    body = assert_json_error(response, 422)
    assert key in body["errors"]
    assert all(isinstance(m, str) and m for m in body["errors"][key])
    assert action_count() == 0
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "A" * 201}, "name"),
        ({"name": "Ana\nBcc: x@example.org"}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "ana@example.org\r\nBcc: x@example.org"}, "email"),
        ({"country": "XX"}, "country"),
        ({"country": ""}, "country"),
        ({"union": "U" * 201}, "union"),
        ({"subject": "S" * 301}, "subject"),
        ({"subject": "one\ntwo"}, "subject"),
        ({"message": "M" * 5001}, "message"),
        ({"message": "bell\x07"}, "message"),
        ({"partner": "P" * 101}, "partner"),
    ],
)
def test_invalid_field_is_422_under_its_name(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox, fields: dict[str, Any], key: str
) -> None:
    response = client.post(ACTIONS, json=action_body(client, **fields))
    body = assert_json_error(response, 422)
    assert set(body) == {"errors"}
    assert list(body["errors"]) == [key]
    assert action_count() == 0
    assert mailbox.messages == []


def test_missing_required_fields_are_each_reported(client: FlaskClient, campaign: Campaign) -> None:
    token, answer = api_challenge(client)
    response = client.post(ACTIONS, json={"challenge_token": token, "challenge_answer": answer})
    errors = assert_json_error(response, 422)["errors"]
    assert {"name", "email", "country"} <= set(errors)
    assert "challenge" not in errors


def test_field_errors_keep_the_challenge_usable_for_the_corrected_retry(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    sent = action_body(client, email="not-an-email")
    assert client.post(ACTIONS, json=sent).status_code == 422
    sent["email"] = "ana@example.org"
    assert client.post(ACTIONS, json=sent).status_code == 201
    assert len(mailbox.to(TARGETS[0])) == 1


def test_filled_honeypot_is_422_under_hp(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    response = client.post(ACTIONS, json=action_body(client, hp="http://spam.example"))
    errors = assert_json_error(response, 422)["errors"]
    assert "hp" in errors
    assert action_count() == 0
    assert mailbox.messages == []


def test_unknown_keys_are_ignored(client: FlaskClient, campaign: Campaign) -> None:
    response = client.post(ACTIONS, json=action_body(client, admin=True, count=99))
    assert response.status_code == 201
    assert response.get_json()["count"] == 1


# --- 422: the challenge ------------------------------------------------------------


def _signed_challenge(app: Flask, campaign_id: int, number: str, **options: Any) -> str:
    """A challenge token made outside the app: with another key or back-dated."""
    key = options.get("key", app.config["SECRET_KEY"])
    age = options.get("age", 0)

    class Dated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    payload = {"c": campaign_id, "n": number, "j": secrets.token_urlsafe(12)}
    serializer = URLSafeTimedSerializer(key, salt=str(Purpose.CHALLENGE), signer=Dated)
    return str(serializer.dumps(payload))


def _wrong(client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path) -> dict[str, Any]:
    return action_body(client, challenge_answer="0")


def _missing_token(
    client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path
) -> dict[str, Any]:
    body = action_body(client)
    del body["challenge_token"]
    return body


def _missing_answer(
    client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path
) -> dict[str, Any]:
    body = action_body(client)
    del body["challenge_answer"]
    return body


def _empty_answer(client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path) -> dict[str, Any]:
    return action_body(client, challenge_answer="  ")


def _garbage(client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path) -> dict[str, Any]:
    return action_body(client, challenge_token="not-a-token")


def _reused(client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path) -> dict[str, Any]:
    first = action_body(client, email="first@example.org")
    assert client.post(ACTIONS, json=first).status_code == 201
    return action_body(
        client, challenge_token=first["challenge_token"], challenge_answer=first["challenge_answer"]
    )


def _retried_after_wrong(
    client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path
) -> dict[str, Any]:
    # A wrong answer spends the token: it cannot be tried 9000 times.
    body = action_body(client, challenge_answer="0")
    assert client.post(ACTIONS, json=body).status_code == 422
    body["challenge_answer"] = read(body["challenge_token"]).number  # type: ignore[union-attr]
    return body


def _expired(client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path) -> dict[str, Any]:
    age = int(app.config["URGENTACTION_CHALLENGE_MAX_AGE"]) + 60
    token = _signed_challenge(app, campaign.id, "4273", age=age)
    return action_body(client, challenge_token=token, challenge_answer="4273")


def _forged(client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path) -> dict[str, Any]:
    token = _signed_challenge(app, campaign.id, "4273", key="a key we never had")
    return action_body(client, challenge_token=token, challenge_answer="4273")


def _other_campaign(
    client: FlaskClient, app: Flask, campaign: Campaign, tmp: Path
) -> dict[str, Any]:
    load_campaign(tmp, campaign_variant("another-campaign"))
    token, answer = api_challenge(client, "another-campaign")
    return action_body(client, challenge_token=token, challenge_answer=answer)


@pytest.mark.parametrize(
    "spoil",
    [_wrong, _missing_token, _missing_answer, _empty_answer, _garbage, _reused,
     _retried_after_wrong, _expired, _forged, _other_campaign],
    ids=lambda f: f.__name__.strip("_"),
)  # fmt: skip
def test_every_challenge_failure_is_422_under_challenge_with_a_fresh_one(
    client: FlaskClient,
    app: Flask,
    campaign: Campaign,
    mailbox: Mailbox,
    tmp_path: Path,
    spoil: Any,
) -> None:
    body = spoil(client, app, campaign, tmp_path)
    stored_before, mails_before = action_count(), len(mailbox.messages)
    response = client.post(ACTIONS, json=body)
    answer = assert_json_error(response, 422)
    assert list(answer["errors"]) == ["challenge"]
    assert all(isinstance(m, str) and m for m in answer["errors"]["challenge"])
    assert_fresh_challenge(answer, body.get("challenge_token", ""))
    assert action_count() == stored_before
    assert len(mailbox.messages) == mails_before
    # The fresh challenge from the answer is enough to succeed.
    retry = dict(body, challenge_token=answer["challenge"]["token"])
    retry["challenge_answer"] = read(retry["challenge_token"]).number  # type: ignore[union-attr]
    assert client.post(ACTIONS, json=retry).status_code == 201


@pytest.mark.parametrize("app_config", [{"URGENTACTION_MIN_FILL_SECONDS": 60}])
def test_answer_faster_than_a_person_is_422_under_challenge(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    sent = action_body(client)
    answer = assert_json_error(client.post(ACTIONS, json=sent), 422)
    assert list(answer["errors"]) == ["challenge"]
    assert_fresh_challenge(answer, sent["challenge_token"])
    assert mailbox.messages == []


# --- the embed script --------------------------------------------------------------


def test_widget_script_is_cacheable_and_loadable_from_any_site(client: FlaskClient) -> None:
    with client.get("/actions/widget.js") as response:
        assert response.status_code == 200
        assert response.mimetype in ("text/javascript", "application/javascript")
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        cache = response.cache_control
        assert cache.public and cache.max_age and cache.max_age >= 300
        assert not cache.no_store and not cache.no_cache
        assert b"data-urgentaction" in response.get_data()
        assert "Set-Cookie" not in response.headers


# --- the personal line ----------------------------------------------------------------


def test_campaign_json_labels_the_personal_line_and_says_why_in_each_language(
    client: FlaskClient, campaign: Campaign
) -> None:
    labels = client.get(URL).get_json()["labels"]
    assert labels["personal"] == "A line in your own words (optional)"
    assert "more weight" in labels["personal_help"] and "bulk mail" in labels["personal_help"]
    german = client.get(f"{URL}?lang=de").get_json()["labels"]
    assert german["personal"] == translated("de", labels["personal"]) != labels["personal"]
    assert german["personal_help"] == translated("de", labels["personal_help"])
    assert german["personal_help"] != labels["personal_help"]


def test_personal_line_is_stored_as_one_paragraph_and_mailed_above_the_message(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    sent = action_body(client, personal="  I worked at the mine.\r\n\r\nSo did my father.  ",
                       message="Reinstate them.")  # fmt: skip
    assert client.post(ACTIONS, json=sent).status_code == 201
    (action,) = stored_actions()
    assert (action.personal, action.edited) == ("I worked at the mine. So did my father.", True)
    for target in TARGETS:
        (mail,) = mailbox.to(target)
        assert plain_body(mail).startswith(
            "I worked at the mine. So did my father.\n\nReinstate them.\n\n--\nAna Kovač\n"
        )


@pytest.mark.parametrize(
    ("fields", "edited"),
    [
        ({}, False),
        ({"message": "Reinstate the sacked union leaders of the Example mine."}, False),
        ({"message": "\r\nReinstate the sacked union leaders\r\nof the Example mine.  "}, False),
        ({"message": "Reinstate the sacked union leaders of the Example mine now."}, True),
    ],
)
def test_action_records_whether_the_message_differs_from_the_campaigns(
    client: FlaskClient, campaign: Campaign, fields: dict[str, str], edited: bool
) -> None:
    assert client.post(ACTIONS, json=action_body(client, **fields)).status_code == 201
    (action,) = stored_actions()
    assert (action.personal, action.edited) == ("", edited)


def test_personal_line_errors_are_422_under_personal_in_the_request_language(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    too_long = client.post(ACTIONS, json=action_body(client, lang="de", personal="P" * 501))
    expected = str(catalog("de").gettext("Please use at most %(max)d characters.")) % {"max": 500}
    assert "500" in expected and expected != "Please use at most 500 characters."
    assert assert_json_error(too_long, 422)["errors"] == {"personal": [expected]}
    not_text = client.post(ACTIONS, json=action_body(client, personal=["a", "list"]))
    assert assert_json_error(not_text, 422)["errors"] == {"personal": ["Must be text."]}
    control = client.post(ACTIONS, json=action_body(client, personal="bell\x07"))
    assert list(assert_json_error(control, 422)["errors"]) == ["personal"]
    assert action_count() == 0
    assert mailbox.messages == []
