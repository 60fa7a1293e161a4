"""The OpenAPI document: valid 3.1, complete, and true to the real answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from werkzeug.test import TestResponse

from flask_urgentaction.models import Campaign
from flask_urgentaction.openapi import openapi_document, response_schema

from .conftest import action_body
from .test_api import ACTIONS, SLUG, URL, campaign_variant, load_campaign

MESSAGES_URL = f"/actions/api/campaigns/{SLUG}/messages"

API_PREFIX = "/actions/api"
LIST_PATH = "/campaigns"
CAMPAIGN_PATH = "/campaigns/{slug}"
ACTIONS_PATH = "/campaigns/{slug}/actions"
MESSAGES_PATH = "/campaigns/{slug}/messages"
PUBLISH = "\n[messages]\npublish = true\n"


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def assert_documented(
    document: dict[str, Any], path: str, method: str, response: TestResponse
) -> None:
    schema = response_schema(document, path, method, response.status_code)
    errors = sorted(
        Draft202012Validator(schema).iter_errors(response.get_json()), key=lambda e: e.path
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()


def test_document_is_served_for_any_site_and_names_this_server(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    response = client.get(f"{API_PREFIX}/openapi.json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert document["servers"] == [{"url": f"http://actions.test{API_PREFIX}"}]
    assert document == openapi_document(f"http://actions.test{API_PREFIX}")


def test_every_api_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or rule.rule.endswith("/openapi.json"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix(API_PREFIX))
        # HEAD and OPTIONS (the CORS preflight) are HTTP plumbing, not operations.
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((path, method.lower()))
            assert method.lower() in document["paths"].get(path, {}), f"{method} {path}"
    assert found == {
        (LIST_PATH, "get"), (CAMPAIGN_PATH, "get"), (ACTIONS_PATH, "post"), ("/bounces", "post"),
        (MESSAGES_PATH, "get"), ("/campaigns/{slug}/declarations/{public_id}/signatures", "post"),
    }  # fmt: skip


def test_documented_statuses_are_the_contracts(document: dict[str, Any]) -> None:
    get = document["paths"][CAMPAIGN_PATH]["get"]["responses"]
    post = document["paths"][ACTIONS_PATH]["post"]["responses"]
    assert {"200", "403", "404"} <= set(get)
    assert set(post) == {"201", "400", "403", "404", "409", "410", "413", "422", "429"}
    assert "Retry-After" in post["429"]["headers"]


def test_every_response_schema_is_a_valid_2020_12_schema(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in operation["responses"]:
                schema = response_schema(document, path, method, int(status))
                Draft202012Validator.check_schema(schema)


def test_response_schema_refuses_what_is_not_documented(document: dict[str, Any]) -> None:
    with pytest.raises(KeyError):
        response_schema(document, CAMPAIGN_PATH, "get", 418)
    with pytest.raises(KeyError):
        response_schema(document, "/nothing", "get", 200)


def test_the_request_the_widget_sends_matches_action_request(
    client: FlaskClient, campaign: Campaign, document: dict[str, Any]
) -> None:
    schema = {
        "$ref": "#/components/schemas/ActionRequest",
        "components": document["components"],
    }
    sent = action_body(client, subject="S", message="M", personal="P", partner="ssm")
    assert not list(Draft202012Validator(schema).iter_errors(sent))
    del sent["challenge_token"]
    assert list(Draft202012Validator(schema).iter_errors(sent))


def test_the_personal_line_and_its_labels_are_documented(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    personal = schemas["ActionRequest"]["properties"]["personal"]
    assert personal["type"] == "string"
    assert "500 characters" in personal["description"]
    assert "above the message" in personal["description"]
    labels = schemas["Campaign"]["properties"]["labels"]
    assert {"personal", "personal_help"} <= set(labels["required"])


def test_documented_campaign_keys_are_exactly_the_served_ones(
    client: FlaskClient, campaign: Campaign, document: dict[str, Any]
) -> None:
    # The Campaign schema allows extra keys, so check by hand that none is undocumented.
    served = set(client.get(URL).get_json())
    documented = document["components"]["schemas"]["Campaign"]["properties"]
    # Those two only in a dashboard preview (tests/test_manage_widget_preview.py).
    assert served == set(documented) - {"preview", "preview_text"}


def test_documented_message_keys_are_exactly_the_served_ones(
    client: FlaskClient, campaign: Campaign, document: dict[str, Any], tmp_path: Path
) -> None:
    body = _messages_200(client, tmp_path).get_json()
    schemas = document["components"]["schemas"]
    assert set(body) == set(schemas["MessageList"]["properties"])
    (item,) = body["messages"]
    assert set(item) == set(schemas["PublishedMessage"]["properties"])
    assert set(body["labels"]) == set(schemas["MessageList"]["properties"]["labels"]["required"])


def test_documented_list_keys_are_exactly_the_served_ones(
    client: FlaskClient, campaign: Campaign, document: dict[str, Any]
) -> None:
    body = client.get(f"{API_PREFIX}/campaigns").get_json()
    schemas = document["components"]["schemas"]
    assert set(body) == set(schemas["CampaignList"]["properties"])
    (item,) = body["campaigns"]
    assert set(item) == set(schemas["ListedCampaign"]["properties"])
    assert set(body["labels"]) == set(schemas["CampaignList"]["properties"]["labels"]["required"])


# --- real answers against their documented schema ----------------------------------

Make = Callable[[FlaskClient, Path], TestResponse]


def _list_200(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant("narrow", extra='allowed_origins = ["https://a.example"]'))
    return client.get(f"{API_PREFIX}/campaigns?lang=ar", headers={"Origin": "https://a.example"})


def _list_200_empty(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant(SLUG, status="closed"))
    return client.get(f"{API_PREFIX}/campaigns")


def _list_403(client: FlaskClient, tmp: Path) -> TestResponse:
    client.application.config["URGENTACTION_ALLOWED_ORIGINS"] = ["https://a.example"]
    return client.get(f"{API_PREFIX}/campaigns", headers={"Origin": "https://b.example"})


def _messages_200(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant(SLUG) + PUBLISH)
    body = action_body(client, publish=True, union="", personal="Solidarnost!", lang="de")
    assert client.post(ACTIONS, json=body).status_code == 201
    result = client.application.test_cli_runner().invoke(
        args=["urgentaction", "messages", SLUG, "--approve", "1"]
    )
    assert result.exit_code == 0, result.output
    response = client.get(f"{MESSAGES_URL}?lang=de")
    assert len(response.get_json()["messages"]) == 1
    return response


def _messages_200_empty(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant(SLUG) + PUBLISH)
    return client.get(MESSAGES_URL)


def _messages_403(client: FlaskClient, tmp: Path) -> TestResponse:
    narrow = 'allowed_origins = ["https://a.example"]'
    load_campaign(tmp, campaign_variant(SLUG, extra=narrow) + PUBLISH)
    return client.get(MESSAGES_URL, headers={"Origin": "https://b.example"})


def _messages_404(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.get(MESSAGES_URL)


def _get_200(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.get(f"{URL}?lang=de")


def _get_200_closed(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant("closed-one", status="closed"))
    return client.get("/actions/api/campaigns/closed-one")


def _get_403(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant("narrow", extra='allowed_origins = ["https://a.example"]'))
    return client.get("/actions/api/campaigns/narrow", headers={"Origin": "https://b.example"})


def _get_404(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.get("/actions/api/campaigns/nothing")


def _post_201(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post(ACTIONS, json=action_body(client, opt_in=True))


def _post_400(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post(ACTIONS, data="[]", content_type="application/json")


def _post_403(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant("narrow", extra='allowed_origins = ["https://a.example"]'))
    return client.post(
        "/actions/api/campaigns/narrow/actions",
        json=action_body(client),
        headers={"Origin": "https://b.example"},
    )


def _post_404(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post("/actions/api/campaigns/nothing/actions", json={})


def _post_409(client: FlaskClient, tmp: Path) -> TestResponse:
    assert client.post(ACTIONS, json=action_body(client)).status_code == 201
    return client.post(ACTIONS, json=action_body(client))


def _post_410(client: FlaskClient, tmp: Path) -> TestResponse:
    load_campaign(tmp, campaign_variant("closed-one", status="closed"))
    return client.post("/actions/api/campaigns/closed-one/actions", json=action_body(client))


def _post_413(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post(ACTIONS, json=action_body(client, message="x" * 140_000))


def _post_422_fields(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post(ACTIONS, json=action_body(client, email="x", name=""))


def _post_422_types(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post(ACTIONS, json=action_body(client, name=1, opt_in="yes"))


def _post_422_challenge(client: FlaskClient, tmp: Path) -> TestResponse:
    return client.post(ACTIONS, json=action_body(client, challenge_answer="0"))


@pytest.mark.parametrize(
    ("path", "method", "status", "make"),
    [
        (LIST_PATH, "get", 200, _list_200),
        (LIST_PATH, "get", 200, _list_200_empty),
        (LIST_PATH, "get", 403, _list_403),
        (MESSAGES_PATH, "get", 200, _messages_200),
        (MESSAGES_PATH, "get", 200, _messages_200_empty),
        (MESSAGES_PATH, "get", 403, _messages_403),
        (MESSAGES_PATH, "get", 404, _messages_404),
        (CAMPAIGN_PATH, "get", 200, _get_200),
        (CAMPAIGN_PATH, "get", 200, _get_200_closed),
        (CAMPAIGN_PATH, "get", 403, _get_403),
        (CAMPAIGN_PATH, "get", 404, _get_404),
        (ACTIONS_PATH, "post", 201, _post_201),
        (ACTIONS_PATH, "post", 400, _post_400),
        (ACTIONS_PATH, "post", 403, _post_403),
        (ACTIONS_PATH, "post", 404, _post_404),
        (ACTIONS_PATH, "post", 409, _post_409),
        (ACTIONS_PATH, "post", 410, _post_410),
        (ACTIONS_PATH, "post", 413, _post_413),
        (ACTIONS_PATH, "post", 422, _post_422_fields),
        (ACTIONS_PATH, "post", 422, _post_422_types),
        (ACTIONS_PATH, "post", 422, _post_422_challenge),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_real_answer_matches_its_documented_schema(
    client: FlaskClient,
    campaign: Campaign,
    document: dict[str, Any],
    tmp_path: Path,
    path: str,
    method: str,
    status: int,
    make: Make,
) -> None:
    response = make(client, tmp_path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert_documented(document, path, method, response)


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RATE_LIMIT": "1 per minute"}])
def test_real_429_matches_its_documented_schema(
    client: FlaskClient, campaign: Campaign, document: dict[str, Any]
) -> None:
    client.post(ACTIONS, json={})
    response = client.post(ACTIONS, json=action_body(client))
    assert response.status_code == 429
    assert_documented(document, ACTIONS_PATH, "post", response)
    retry_after = document["paths"][ACTIONS_PATH]["post"]["responses"]["429"]["headers"]
    assert not list(
        Draft202012Validator(retry_after["Retry-After"]["schema"]).iter_errors(
            int(response.headers["Retry-After"])
        )
    )


def test_schema_catches_an_answer_that_breaks_it(document: dict[str, Any]) -> None:
    # The check above is only worth something if a wrong body fails it.
    created = response_schema(document, ACTIONS_PATH, "post", 201)
    assert list(Draft202012Validator(created).iter_errors({"status": "ok", "count": -1}))
    campaign = response_schema(document, CAMPAIGN_PATH, "get", 200)
    assert list(Draft202012Validator(campaign).iter_errors({"slug": SLUG}))
