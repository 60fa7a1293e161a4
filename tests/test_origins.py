"""CORS on the JSON API and which origins may embed a campaign (origins.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from flask_urgentaction.models import Action, Campaign
from flask_urgentaction.origins import (
    allowed,
    form_post_allowed,
    frame_ancestors,
    is_allowed,
    normalize,
    own_origin,
    request_origin,
)
from flask_urgentaction.storage import get_session

from .conftest import Mailbox, action_body, form_data
from .test_api import ACTIONS, URL, action_count, campaign_variant, load_campaign

UNION = "https://union.example"
OTHER = "https://other.example"
EVIL = "https://evil.example"
LISTED = {"URGENTACTION_ALLOWED_ORIGINS": [UNION, OTHER]}


@pytest.fixture
def app_config() -> dict[str, Any]:
    return dict(LISTED)


def cors_headers(response: TestResponse) -> list[str]:
    return [name for name, _v in response.headers if name.lower().startswith("access-control-")]


def preflight(client: FlaskClient, url: str, origin: str, method: str = "POST") -> TestResponse:
    return client.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def assert_cors_for(response: TestResponse, origin: str) -> None:
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "origin" in {v.lower() for v in response.vary}
    assert "Access-Control-Allow-Credentials" not in response.headers


def assert_refused(response: TestResponse) -> None:
    assert response.status_code == 403
    assert cors_headers(response) == []


# --- allowed origins ---------------------------------------------------------------


def test_allowed_origin_reads_the_campaign(client: FlaskClient, campaign: Campaign) -> None:
    response = client.get(URL, headers={"Origin": UNION})
    assert response.status_code == 200
    assert_cors_for(response, UNION)


def test_allowed_origin_takes_an_action(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    response = client.post(ACTIONS, json=action_body(client), headers={"Origin": OTHER})
    assert response.status_code == 201
    assert_cors_for(response, OTHER)
    assert len(mailbox.to("ceo@mining.example")) == 1


@pytest.mark.parametrize("url", [URL, ACTIONS])
def test_preflight_from_an_allowed_origin_is_answered(
    client: FlaskClient, campaign: Campaign, url: str
) -> None:
    response = preflight(client, url, UNION)
    assert response.status_code == 204
    assert_cors_for(response, UNION)
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST"} <= methods
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed_headers
    assert response.get_data() == b""


def test_error_answers_to_an_allowed_origin_are_readable(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    # The widget shows these messages, so the browser must let it read them.
    load_campaign(tmp_path, campaign_variant("closed-one", status="closed"))
    headers = {"Origin": UNION}
    answers = {
        400: client.post(ACTIONS, data="[]", content_type="application/json", headers=headers),
        404: client.post("/actions/api/campaigns/nothing/actions", json={}, headers=headers),
        410: client.post(
            "/actions/api/campaigns/closed-one/actions", json=action_body(client), headers=headers
        ),
        422: client.post(ACTIONS, json=action_body(client, email="x"), headers=headers),
    }
    assert client.post(ACTIONS, json=action_body(client), headers=headers).status_code == 201
    answers[409] = client.post(ACTIONS, json=action_body(client), headers=headers)
    for status, response in answers.items():
        assert response.status_code == status
        assert_cors_for(response, UNION)


def test_request_without_origin_gets_no_cors_headers(
    client: FlaskClient, campaign: Campaign
) -> None:
    # Servers and curl send no Origin; they need no CORS and are not refused.
    response = client.get(URL)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert client.post(ACTIONS, json=action_body(client)).status_code == 201


def test_own_origin_is_allowed_without_being_listed(
    client: FlaskClient, campaign: Campaign
) -> None:
    own = {"Origin": "http://actions.test"}
    response = client.post(ACTIONS, json=action_body(client), headers=own)
    assert response.status_code == 201
    assert_cors_for(response, "http://actions.test")


# --- refused origins ---------------------------------------------------------------


@pytest.mark.parametrize("url", [URL, ACTIONS])
def test_preflight_from_a_disallowed_origin_is_403_without_cors(
    client: FlaskClient, campaign: Campaign, url: str
) -> None:
    assert_refused(preflight(client, url, EVIL))


def test_post_from_a_disallowed_origin_is_403_without_cors(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    response = client.post(ACTIONS, json=action_body(client), headers={"Origin": EVIL})
    assert_refused(response)
    assert set(response.get_json()) == {"error"}
    assert action_count() == 0
    assert mailbox.messages == []


def test_get_from_a_disallowed_origin_is_a_readable_403_without_the_campaign(
    client: FlaskClient, campaign: Campaign
) -> None:
    # Readable on purpose: the widget explains why it cannot work on that page.
    response = client.get(URL, headers={"Origin": EVIL})
    assert response.status_code == 403
    assert response.get_json() == {"error": "This campaign cannot be embedded on this website."}
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("origin", ["null", "file://", "chrome-extension://abc", "union.example"])
@pytest.mark.parametrize("app_config", [{"URGENTACTION_ALLOWED_ORIGINS": "*"}])
def test_origins_that_are_no_web_origin_are_refused_even_with_any(
    client: FlaskClient, campaign: Campaign, origin: str
) -> None:
    assert_refused(preflight(client, ACTIONS, origin))
    assert_refused(client.post(ACTIONS, json=action_body(client), headers={"Origin": origin}))


# --- a campaign's own list ---------------------------------------------------------


def test_campaign_list_narrows_the_global_setting(
    client: FlaskClient, campaign: Campaign, tmp_path: Path, mailbox: Mailbox
) -> None:
    load_campaign(tmp_path, campaign_variant("narrow", extra=f'allowed_origins = ["{UNION}"]'))
    url = "/actions/api/campaigns/narrow"
    body = action_body(client)
    # Allowed globally, but not by this campaign.
    assert_refused(preflight(client, f"{url}/actions", OTHER))
    assert client.get(url, headers={"Origin": OTHER}).status_code == 403
    assert_refused(client.post(f"{url}/actions", json=body, headers={"Origin": OTHER}))
    assert mailbox.messages == []
    # The campaign's own origin still works; the main campaign keeps the global list.
    assert client.get(url, headers={"Origin": UNION}).status_code == 200
    assert client.get(URL, headers={"Origin": OTHER}).status_code == 200


def test_campaign_list_cannot_widen_the_global_setting(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    extra = f'allowed_origins = ["{UNION}", "https://partner.example"]'
    load_campaign(tmp_path, campaign_variant("wider", extra=extra))
    url = "/actions/api/campaigns/wider"
    assert client.get(url, headers={"Origin": "https://partner.example"}).status_code == 403
    assert client.get(url, headers={"Origin": UNION}).status_code == 200


@pytest.mark.parametrize("app_config", [{"URGENTACTION_ALLOWED_ORIGINS": "*"}])
def test_campaign_list_narrows_any(client: FlaskClient, campaign: Campaign, tmp_path: Path) -> None:
    load_campaign(tmp_path, campaign_variant("narrow", extra=f'allowed_origins = ["{UNION}"]'))
    url = "/actions/api/campaigns/narrow"
    assert client.get(url, headers={"Origin": EVIL}).status_code == 403
    assert client.get(url, headers={"Origin": UNION}).status_code == 200


# --- "*" ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://any.example", "http://localhost:8000", "https://xn--bcher-kva.example"]
)
@pytest.mark.parametrize(
    "app_config",
    [{"URGENTACTION_ALLOWED_ORIGINS": "*"}, {"URGENTACTION_ALLOWED_ORIGINS": ["*"]}],
    ids=["star", "star-in-a-list"],
)
def test_any_allows_every_http_origin_and_echoes_it(
    client: FlaskClient, campaign: Campaign, origin: str
) -> None:
    response = client.get(URL, headers={"Origin": origin})
    assert response.status_code == 200
    # The origin itself, not "*": the same code path as a list, and no wildcard.
    assert_cors_for(response, origin)
    assert preflight(client, ACTIONS, origin).status_code == 204
    response = client.post(ACTIONS, json=action_body(client), headers={"Origin": origin})
    assert response.status_code == 201
    assert_cors_for(response, origin)


# --- no cookies --------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{**LISTED, "URGENTACTION_RATE_LIMIT": "5 per minute"}])
def test_the_api_sets_no_cookie_on_any_answer(
    client: FlaskClient, campaign: Campaign, tmp_path: Path
) -> None:
    load_campaign(tmp_path, campaign_variant("closed-one", status="closed"))
    union = {"Origin": UNION}
    responses = [
        client.get(URL, headers=union),
        client.get(URL, headers={"Origin": EVIL}),
        client.get("/actions/api/campaigns/nothing"),
        client.get("/actions/api/openapi.json"),
        preflight(client, ACTIONS, UNION),
        preflight(client, ACTIONS, EVIL),
        client.post(ACTIONS, json=action_body(client), headers={"Origin": EVIL}),
        client.post(ACTIONS, json=action_body(client), headers=union),
        client.post(ACTIONS, json=action_body(client), headers=union),
        client.post(ACTIONS, data="[]", content_type="application/json", headers=union),
        client.post(ACTIONS, json=action_body(client, email="x"), headers=union),
        client.post("/actions/api/campaigns/closed-one/actions", json={}, headers=union),
        client.post(ACTIONS, json=action_body(client, challenge_answer="0"), headers=union),
        client.post(ACTIONS, json={}, headers=union),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 403, 404, 200, 204, 403, 403, 201, 409, 400, 422, 410, 422, 429]
    for response in responses:
        assert "Set-Cookie" not in response.headers


# --- origins.py through a request context ------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://union.example", "https://union.example"),
        ("https://Union.Example/", "https://union.example"),
        ("HTTPS://UNION.EXAMPLE", "https://union.example"),
        (" https://union.example/ ", "https://union.example"),
        ("https://union.example:443", "https://union.example"),
        ("http://union.example:80", "http://union.example"),
        ("https://union.example:8443", "https://union.example:8443"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", ""),
        ("", ""),
        ("ftp://union.example", ""),
        ("union.example", ""),
        ("https://", ""),
        ("https://a.example; script-src *", ""),
        ("https://a.example 'unsafe-inline'", ""),
    ],
)
def test_normalize_origin(given: str, expected: str) -> None:
    assert normalize(given) == expected


def test_configured_origins_are_normalised(app: Flask) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = ["https://Union.Example/", "http://LOCALHOST:8000"]
    with app.test_request_context("/"):
        assert allowed(None) == ["https://union.example", "http://localhost:8000"]
        assert is_allowed("https://union.example", None)
        assert is_allowed("http://localhost:8000", None)
        assert not is_allowed("https://union.example:8443", None)
        assert not is_allowed("http://union.example", None)


def test_a_single_configured_origin_string_works(app: Flask) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = "https://union.example"
    with app.test_request_context("/"):
        assert allowed(None) == [UNION]
        assert is_allowed(UNION, None)
        assert not is_allowed(OTHER, None)


def test_own_origin_is_always_allowed(app: Flask, campaign: Campaign) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = []
    campaign.allowed_origins = [UNION]
    with app.test_request_context("/"):
        assert own_origin() == "http://actions.test"
        assert is_allowed("http://actions.test", campaign)
        assert is_allowed("http://actions.test", None)
        assert not is_allowed(UNION, campaign)  # listed by the campaign, not globally


def test_request_origin_is_the_header_or_empty(app: Flask) -> None:
    with app.test_request_context("/", headers={"Origin": " https://union.example "}):
        assert request_origin() == UNION
    with app.test_request_context("/"):
        assert request_origin() == ""


@pytest.mark.parametrize(
    ("configured", "campaign_list", "expected"),
    [
        ("*", None, "*"),
        ([UNION, OTHER], None, f"'self' {UNION} {OTHER}"),
        ([UNION, OTHER], [UNION], f"'self' {UNION}"),
        ("*", [OTHER], f"'self' {OTHER}"),
        ([UNION], [OTHER], "'self'"),
        ([], None, "'self'"),
        ("*", [], "'self'"),
        (["https://a.example; script-src *", UNION], None, f"'self' {UNION}"),
    ],
)
def test_frame_ancestors(
    app: Flask, campaign: Campaign, configured: Any, campaign_list: Any, expected: str
) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = configured
    campaign.allowed_origins = campaign_list
    with app.test_request_context("/"):
        assert frame_ancestors(campaign) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, True),
        ({"Origin": "http://actions.test"}, True),
        ({"Origin": UNION}, True),
        ({"Origin": EVIL}, False),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True),
    ],
)
def test_form_post_allowed(
    app: Flask, campaign: Campaign, headers: dict[str, str], expected: bool
) -> None:
    with app.test_request_context("/", method="POST", headers=headers):
        assert form_post_allowed(campaign) is expected


def test_html_form_post_from_any_other_site_is_refused_even_with_star(
    app: Flask, client: FlaskClient, campaign: Campaign
) -> None:
    # "*" lets any site embed the widget; it does not let other sites post our form.
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = "*"
    with app.test_request_context("/", method="POST", headers={"Origin": EVIL}):
        assert form_post_allowed(campaign) is False
    response = client.post(
        "/actions/example-mine-strike", data=form_data(client), headers={"Origin": EVIL}
    )
    assert response.status_code == 403
    assert action_count() == 0


@pytest.mark.parametrize("app_config", [LISTED])
@pytest.mark.parametrize(
    ("origin", "stored"),
    [("null", ""), ("http://actions.test", ""), (UNION, UNION)],
)
def test_a_page_form_post_is_attributed_only_to_another_site(
    client: FlaskClient, campaign: Campaign, origin: str, stored: str
) -> None:
    # Our pages send no referrer, so a browser says "null" for their own form.
    page = "/actions/example-mine-strike"
    response = client.post(page, data=form_data(client), headers={"Origin": origin})
    assert response.status_code in (302, 303), response.status_code
    (action,) = get_session().scalars(select(Action)).all()
    assert action.source_origin == stored
