"""The iframe embed over HTTP: framing policy and attribution of the framing page."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction.models import Action
from flask_urgentaction.storage import get_session

from .conftest import form_challenge

EMBED = "/actions/example-mine-strike/embed"
UNION = "https://union.example"


def embed_post(client: FlaskClient, referrer: str, **fields: Any) -> Any:
    page = client.get(EMBED, headers={"Referer": referrer}).get_data(as_text=True)
    token, answer = form_challenge(page)
    data = {
        "name": "Ana", "email": "ana@example.org", "country": "BA", "lang": "en",
        "challenge_token": token, "challenge_answer": answer, "hp": "",
    }  # fmt: skip
    framing = re.search(r'name="embed_origin" value="([^"]*)"', page)
    data["embed_origin"] = framing.group(1) if framing else ""
    data.update(fields)
    return client.post(EMBED, data=data)


def test_embed_may_be_framed_only_by_the_allowed_origins(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = [UNION]
    policy = client.get(EMBED).headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {UNION}" in policy
    # Our own pages are not framable by anyone else.
    page_policy = client.get("/actions/example-mine-strike").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in page_policy and UNION not in page_policy


def test_the_framing_pages_origin_is_stored_with_the_action(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = [UNION]
    assert embed_post(client, UNION + "/solidarity/").status_code == 303
    action = get_session().scalars(select(Action)).one()
    assert action.source_origin == UNION


def test_a_forged_framing_origin_is_not_stored(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    app.config["URGENTACTION_ALLOWED_ORIGINS"] = [UNION]
    response = embed_post(client, UNION + "/", embed_origin="https://evil.example")
    assert response.status_code == 303
    action = get_session().scalars(select(Action)).one()
    assert action.source_origin == ""
