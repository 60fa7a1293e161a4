"""GET /api/campaigns: the live campaigns for partner sites' list widget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from flask_urgentaction.models import Campaign
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, api_challenge
from .test_api import assert_json_error, campaign_variant, load_campaign, translated, widget_typedef

LIST = "/actions/api/campaigns"
SLUG = "example-mine-strike"
# The sample campaign in Arabic as well, as a third translation.
ARABIC = """
[translations.ar]
title = "أعيدوا القادة النقابيين المفصولين إلى عملهم"
summary = "فُصل عمال المناجم لأنهم أسسوا نقابة."
"""


def listed(client: FlaskClient, query: str = "", **headers: str) -> dict[str, Any]:
    response = client.get(LIST + query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def slugs(body: dict[str, Any]) -> list[str]:
    return [item["slug"] for item in body["campaigns"]]


def take_action(client: FlaskClient, slug: str, email: str) -> None:
    token, number = api_challenge(client, slug)
    body = {"name": "Ana Kovač", "email": email, "country": "BA", "lang": "en",
            "challenge_token": token, "challenge_answer": number}  # fmt: skip
    response = client.post(f"{LIST}/{slug}/actions", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)


def test_only_live_campaigns_are_listed_never_drafts_or_closed(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    load_campaign(tmp_path, campaign_variant("draft-one", status="draft"))
    load_campaign(tmp_path, campaign_variant("closed-one", status="closed"))
    load_campaign(tmp_path, campaign_variant("second-live"))
    assert sorted(slugs(listed(client))) == ["example-mine-strike", "second-live"]

    # Closing a campaign takes it off the list at once (the cache follows versions).
    load_campaign(tmp_path, campaign_variant("second-live", status="closed"))
    assert slugs(listed(client)) == [SLUG]
    # And a draft made live joins it.
    load_campaign(tmp_path, campaign_variant("draft-one"))
    assert sorted(slugs(listed(client))) == ["draft-one", "example-mine-strike"]


def test_a_campaign_not_open_yet_or_past_its_closing_time_is_not_listed(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    load_campaign(
        tmp_path, campaign_variant("opens-later", extra="opens_at = 2999-01-01T00:00:00Z")
    )
    load_campaign(
        tmp_path, campaign_variant("closed-by-time", extra="closes_at = 2001-01-01T00:00:00Z")
    )
    load_campaign(tmp_path, campaign_variant("open-now", extra="opens_at = 2001-01-01T00:00:00Z"))
    assert sorted(slugs(listed(client))) == ["example-mine-strike", "open-now"]


def test_an_empty_list_still_carries_its_sentence(client: FlaskClient, campaign: Campaign) -> None:
    campaign.status = "closed"
    get_session().commit()
    body = listed(client, "?lang=de")
    assert body["campaigns"] == []
    assert body["labels"]["empty"] == translated("de", "There are no urgent actions right now.")
    assert body["labels"]["empty"] != "There are no urgent actions right now."


def test_each_campaign_comes_in_its_language_nearest_the_one_asked_for(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    load_campaign(tmp_path, SAMPLE + ARABIC)
    only_english = campaign_variant("english-only").split("[translations.de]")[0]
    load_campaign(tmp_path, only_english)

    body = listed(client, "?lang=de-AT")
    assert (body["lang"], body["dir"]) == ("de", "ltr")
    by_slug = {item["slug"]: item for item in body["campaigns"]}
    german, english = by_slug[SLUG], by_slug["english-only"]
    assert (german["lang"], german["dir"]) == ("de", "ltr")
    assert german["title"] == "Stellt die entlassenen Gewerkschafter wieder ein"
    assert german["url"] == f"http://actions.test/actions/{SLUG}?lang=de"
    # A campaign without German falls back to its own default; the count
    # sentence and labels stay in the list's language.
    assert (english["lang"], english["title"]) == ("en", "Reinstate the sacked union leaders")
    assert english["url"] == "http://actions.test/actions/english-only?lang=en"
    assert english["count_text"] == german["count_text"] == "0 Nachrichten gesendet"
    assert body["labels"] == {
        "title": translated("de", "Urgent actions"),
        "read_more": translated("de", "Read more and take action"),
        "empty": translated("de", "There are no urgent actions right now."),
    }

    # Arabic: the list is right to left, and so is the campaign that has Arabic.
    body = listed(client, "?lang=ar")
    assert (body["lang"], body["dir"]) == ("ar", "rtl")
    by_slug = {item["slug"]: item for item in body["campaigns"]}
    assert (by_slug[SLUG]["lang"], by_slug[SLUG]["dir"]) == ("ar", "rtl")
    assert by_slug[SLUG]["summary"] == "فُصل عمال المناجم لأنهم أسسوا نقابة."
    assert (by_slug["english-only"]["lang"], by_slug["english-only"]["dir"]) == ("en", "ltr")

    # Without ?lang=, the browser's languages decide, as for one campaign.
    body = listed(client, **{"Accept-Language": "de;q=0.9, en;q=0.5"})
    assert body["lang"] == "de"
    assert {item["slug"]: item["lang"] for item in body["campaigns"]} == {
        SLUG: "de", "english-only": "en",
    }  # fmt: skip


def test_counts_are_exact_with_the_right_plural(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    load_campaign(tmp_path, campaign_variant("second-live").replace("goal = 5000", "goal = 10"))
    take_action(client, SLUG, "ana@example.org")
    take_action(client, SLUG, "ben@example.org")
    take_action(client, "second-live", "ana@example.org")

    by_slug = {item["slug"]: item for item in listed(client, "?lang=en")["campaigns"]}
    assert (by_slug[SLUG]["count"], by_slug[SLUG]["count_text"]) == (2, "2 messages sent")
    assert (by_slug["second-live"]["count"], by_slug["second-live"]["count_text"]) == (
        1, "1 message sent",
    )  # fmt: skip
    assert (by_slug[SLUG]["goal"], by_slug["second-live"]["goal"]) == (5000, 10)
    # The same numbers as the campaign's own JSON.
    assert client.get(f"{LIST}/{SLUG}").get_json()["count"] == 2


def test_the_list_reads_stored_counts_in_one_query_never_counting_rows(
    app: Flask, client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    load_campaign(tmp_path, campaign_variant("second-live"))
    take_action(client, SLUG, "ana@example.org")
    listed(client)  # builds the snapshots
    statements: list[str] = []
    engine = app.extensions["urgentaction"].storage.engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        body = listed(client)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert {item["slug"]: item["count"] for item in body["campaigns"]} == {
        SLUG: 1, "second-live": 0,
    }  # fmt: skip
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements
    assert "action_count" in selects[0]
    assert not any("count(" in s.lower() for s in statements), statements


def test_no_personal_data_and_only_the_documented_keys(
    client: FlaskClient, campaign: Campaign
) -> None:
    take_action(client, SLUG, "ana@example.org")
    response = client.get(LIST)
    text = response.get_data(as_text=True)
    assert "ana@example.org" not in text and "Kovač" not in text
    assert "ceo@mining.example" not in text  # nor the targets' addresses
    body = response.get_json()
    # Exactly the keys the list widget's types declare (and tsc holds it to).
    assert set(body) == widget_typedef("CampaignList")
    (item,) = body["campaigns"]
    assert set(item) == widget_typedef("ListedCampaign")
    assert set(body["labels"]) == widget_typedef("ListLabels")


def test_cacheable_briefly_per_origin_and_language_with_an_etag(
    client: FlaskClient, campaign: Campaign
) -> None:
    response = client.get(LIST, headers={"Origin": "https://union.example"})
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert {"Origin", "Accept-Language"} <= set(response.vary)
    etag = response.headers["ETag"]
    again = client.get(LIST, headers={"Origin": "https://union.example", "If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    # A new action changes the count, so the old ETag no longer matches.
    take_action(client, SLUG, "ana@example.org")
    changed = client.get(LIST, headers={"Origin": "https://union.example", "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["campaigns"][0]["count"] == 1


def test_any_origin_gets_cors_under_the_default_setting(
    client: FlaskClient, campaign: Campaign
) -> None:
    response = client.get(LIST, headers={"Origin": "https://union.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://union.example"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Set-Cookie" not in response.headers
    # Without Origin (a server, not a browser) there is nothing to allow.
    assert "Access-Control-Allow-Origin" not in client.get(LIST).headers


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_ALLOWED_ORIGINS": ["https://union.example"]}]
)
def test_an_origin_the_site_refuses_gets_a_readable_403(
    client: FlaskClient, campaign: Campaign
) -> None:
    allowed = client.get(LIST, headers={"Origin": "https://union.example"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://union.example"
    assert slugs(allowed.get_json()) == [SLUG]

    refused = client.get(LIST + "?lang=de", headers={"Origin": "https://elsewhere.example"})
    body = assert_json_error(refused, 403)
    assert body == {
        "error": translated("de", "The list of urgent actions cannot be shown on this website.")
    }
    # Readable by the page, so the widget can say why instead of failing silently.
    assert refused.headers["Access-Control-Allow-Origin"] == "https://elsewhere.example"
    # The server's own pages are always allowed.
    own = client.get(LIST, headers={"Origin": "http://actions.test"})
    assert own.status_code == 200


def test_a_campaign_that_narrows_its_origins_is_listed_only_for_them(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    narrow = 'allowed_origins = ["https://union.example"]'
    load_campaign(tmp_path, campaign_variant("narrow-one", extra=narrow))

    for_union = client.get(LIST, headers={"Origin": "https://union.example"})
    assert sorted(slugs(for_union.get_json())) == ["example-mine-strike", "narrow-one"]
    for_other = client.get(LIST, headers={"Origin": "https://other.example"})
    assert slugs(for_other.get_json()) == [SLUG]
    assert for_other.headers["Access-Control-Allow-Origin"] == "https://other.example"
    # The two answers differ by Origin, so caches keep them apart.
    assert for_union.headers["ETag"] != for_other.headers["ETag"]
    assert "Origin" in for_other.vary
    # Our own pages and clients without Origin see every live campaign.
    own = client.get(LIST, headers={"Origin": "http://actions.test"})
    assert sorted(slugs(own.get_json())) == ["example-mine-strike", "narrow-one"]
    assert sorted(slugs(listed(client))) == ["example-mine-strike", "narrow-one"]


def test_live_only_and_exact_counts_on_sqlite_and_postgresql(
    shared_app: Flask, tmp_path: Path
) -> None:
    client = shared_app.test_client()
    load_campaign(tmp_path, SAMPLE)
    load_campaign(tmp_path, campaign_variant("draft-one", status="draft"))
    load_campaign(tmp_path, campaign_variant("closed-one", status="closed"))
    take_action(client, SLUG, "ana@example.org")
    body = listed(client, "?lang=de")
    assert [(item["slug"], item["count"], item["count_text"]) for item in body["campaigns"]] == [
        (SLUG, 1, "1 Nachricht gesendet")
    ]
