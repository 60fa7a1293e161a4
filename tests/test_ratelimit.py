"""The submission rate limit (ratelimit.py) and its 429 answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_urgentaction.models import Campaign
from flask_urgentaction.ratelimit import RateLimiter

from .conftest import Mailbox, action_body, form_data, make_app
from .test_api import ACTIONS, URL, action_count, translated

LIMIT = 2


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"URGENTACTION_RATE_LIMIT": f"{LIMIT} per minute"}


def from_address(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_submissions_over_the_limit_are_429_with_retry_after(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    for n in range(LIMIT):
        sent = action_body(client, email=f"person{n}@example.org")
        assert client.post(ACTIONS, json=sent).status_code == 201
    response = client.post(ACTIONS, json=action_body(client, email="late@example.org"))
    assert response.status_code == 429
    assert response.get_json() == {
        "error": "Too many messages from your connection. Please try again in a minute."
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert action_count() == LIMIT
    assert len(mailbox.messages) == LIMIT


def test_429_text_is_in_the_request_language(client: FlaskClient, campaign: Campaign) -> None:
    for _ in range(LIMIT):
        client.post(ACTIONS, json={})
    response = client.post(ACTIONS, json=action_body(client, lang="de"))
    assert response.status_code == 429
    english = "Too many messages from your connection. Please try again in a minute."
    assert response.get_json()["error"] == translated("de", english)


def test_429_is_readable_by_an_allowed_origin(client: FlaskClient, campaign: Campaign) -> None:
    origin = {"Origin": "https://union.example"}
    for _ in range(LIMIT):
        client.post(ACTIONS, json={}, headers=origin)
    response = client.post(ACTIONS, json=action_body(client), headers=origin)
    assert response.status_code == 429
    assert response.headers["Access-Control-Allow-Origin"] == "https://union.example"


def test_invalid_submissions_count_too(client: FlaskClient, campaign: Campaign) -> None:
    # Otherwise the spam check could be guessed at any speed.
    assert client.post(ACTIONS, data="[]", content_type="application/json").status_code == 400
    assert client.post(ACTIONS, json=action_body(client, challenge_answer="0")).status_code == 422
    assert client.post(ACTIONS, json=action_body(client)).status_code == 429


def test_reading_the_campaign_is_not_limited(client: FlaskClient, campaign: Campaign) -> None:
    for _ in range(LIMIT + 1):
        client.post(ACTIONS, json={})
    for _ in range(LIMIT * 3):
        assert client.get(URL).status_code == 200


def test_the_limit_is_per_client_address(client: FlaskClient, campaign: Campaign) -> None:
    for _ in range(LIMIT):
        client.post(ACTIONS, json={}, **from_address("198.51.100.1"))
    assert client.post(ACTIONS, json={}, **from_address("198.51.100.1")).status_code == 429
    sent = action_body(client)
    assert client.post(ACTIONS, json=sent, **from_address("198.51.100.2")).status_code == 201


def test_form_and_api_submissions_share_one_limit(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    page = client.post("/actions/example-mine-strike", data=form_data(client))
    assert page.status_code == 303
    sent = action_body(client, email="bo@example.org")
    assert client.post(ACTIONS, json=sent).status_code == 201
    third = form_data(client, email="cy@example.org")
    page = client.post("/actions/example-mine-strike", data=third)
    assert page.status_code == 429
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    assert len(mailbox.messages) == 2


def test_each_app_has_its_own_counter(
    client: FlaskClient, campaign: Campaign, tmp_path: Path, mailbox: Mailbox
) -> None:
    other = make_app(tmp_path / "other", mailbox, URGENTACTION_RATE_LIMIT=f"{LIMIT} per minute")
    for _ in range(LIMIT):
        client.post(ACTIONS, json={})
    assert client.post(ACTIONS, json={}).status_code == 429
    # Same client address, same limit, but a fresh counter in the other app.
    limiter: RateLimiter = other.extensions["urgentaction"].limiter
    with other.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert limiter.hit() is None


# --- RateLimiter through a request context -----------------------------------------


def key_for(app: Flask, address: str) -> str:
    limiter: RateLimiter = app.extensions["urgentaction"].limiter
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
        return limiter.client_key()


def test_client_key_is_a_keyed_hash_not_the_address(app: Flask) -> None:
    key = key_for(app, "203.0.113.7")
    assert "203.0.113.7" not in key
    assert key == key_for(app, "203.0.113.7")
    assert key != key_for(app, "203.0.113.8")
    app.config["SECRET_KEY"] = "another secret"
    assert key != key_for(app, "203.0.113.7")


def test_hit_counts_up_to_the_limit_then_says_how_long_to_wait(app: Flask) -> None:
    limiter = RateLimiter("2 per hour", "memory://")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        assert limiter.hit() is None
        assert limiter.hit() is None
        wait = limiter.hit()
        assert wait is not None and 3500 <= wait <= 3600
        limiter.reset()
        assert limiter.hit() is None


def test_an_async_store_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        RateLimiter("10 per minute", "async+memory://")
